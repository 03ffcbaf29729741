"""Fuzz test of skgrad.persistence.load: valid files mutated at random, each loaded in a subprocess.

For every mutated file the only outcomes allowed are a clean load, after which the
estimator works on sensible data (``transform``; for transformers also one more
``warm_start`` epoch; ``score_samples``/``predict`` for the detector), or a
``ValueError``/``TypeError`` at load whose message names the file.  A crash (the
subprocess dies), a hang (a case over its time limit), another exception type, or
an estimator that loads and then fails is a finding.

The mutations are deterministic (seeded by the seed file's name): typed JSON values
replaced by other types, huge, negative, NaN, nested or slightly changed values; keys
dropped or added; members and the zip truncated or overwritten with random bytes;
members missing, renamed, extra or duplicated; zip headers that declare huge sizes
and zip bombs; tensors and arrays with huge declared shapes, wrong shapes or dtypes;
plus the case of issue 11: a RandomState position of 10**6.

All cases run in one subprocess, restarted after a case that killed it.
"""
from __future__ import annotations

import collections
import copy
import io
import json
import pickle
import random
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
WORKER = HERE / "persistence_fuzz_worker.py"
N_RANDOM = 45  # random mutations per seed file, on top of the targeted ones
CASE_TIMEOUT = 30  # seconds for one load and use (the slowest take about 1 s)


# ----------------------------------------------------------------- seeds
def _seeds(tmp, need_fitting=True):
    """{name: (file bytes, kind, data name)} and {data name: npz path}; the version-1 files need no fitting."""
    expected = np.load(DATA / "v1_expected.npz")
    images = expected["images"]
    rows = expected["rows"]
    grey = np.random.RandomState(2).randint(0, 256, size=(20, 8, 8), dtype=np.uint8)
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255).astype(np.uint8)
    pairs = np.stack([ref, noisy], axis=1)
    data = {}
    for name, X in (("images", images), ("rows", rows), ("grey", grey), ("pairs", pairs)):
        data[name] = str(tmp / f"{name}.npz")
        np.savez(data[name], X=X)

    seeds = {
        "v1-gradient": ((DATA / "v1_gradient_cae.skgrad").read_bytes(), "transformer", "images"),
        "v1-activation": ((DATA / "v1_activation_dense.skgrad").read_bytes(), "transformer", "rows"),
    }
    if not need_fitting:
        return seeds, data
    from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
    from skgrad.iqa import PairedGradientTransformer, SparsePatchAutoencoder
    from skgrad.outlier import GradientOutlierDetector
    from skgrad.persistence import save

    cae = {"module": "cae", "module_kwargs": {"channels": (4,)}, "device": "cpu", "batch_size": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = {
            "gradient": (GradientFeatureTransformer(epochs=2, random_state=np.random.RandomState(3), **cae)
                         .fit(images), "transformer", "images"),
            "activation": (ActivationFeatureTransformer(module="dense", loss="mse", early_stopping=False,
                                                        module_kwargs={"hidden_sizes": (4,), "latent_dim": 2},
                                                        epochs=2, batch_size=4, random_state=0, device="cpu")
                           .fit(rows), "transformer", "rows"),
            "detector": (GradientOutlierDetector(GradientFeatureTransformer(epochs=1, **cae), random_state=0)
                         .fit(grey), "detector", "grey"),
            "iqa": (PairedGradientTransformer(
                model=SparsePatchAutoencoder(n_hidden=4, n_patches=100, max_iter=3, random_state=0),
                scales=(1, 0.5), random_state=0).fit(pairs), "pairs", "pairs"),
        }
    for name, (est, kind, data_name) in fitted.items():
        seeds[name] = (Path(save(est, tmp / f"{name}.skgrad")).read_bytes(), kind, data_name)
    return seeds, data


GROUPS = {"v1": ["v1-gradient", "v1-activation"], "transformers": ["gradient", "activation"],
          "detector-iqa": ["detector", "iqa"]}


# ------------------------------------------------------------ zip helpers
def _unzip(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _zip(members):
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # duplicate names, on purpose
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _replace(members, name, data):
    return [(n, data if n == name else d) for n, d in members]


def _declare_size(raw, name, size):
    """The zip ``raw`` with the central directory declaring ``size`` uncompressed bytes for ``name``."""
    raw = bytearray(raw)
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46: at + 46 + name_len].decode() == name:
            struct.pack_into("<I", raw, at + 24, size)
            return bytes(raw)
        at = raw.find(b"PK\x01\x02", at + 4)
    raise AssertionError(name)


# --------------------------------------------------------- tensor helpers
class _Storage:
    def __init__(self, numel):
        self.numel = numel


class _Tensor:
    """Pickles as a float tensor whose declared size and storage need not match its data record."""

    def __init__(self, numel, size):
        self.storage, self.size = _Storage(numel), tuple(size)

    def __reduce__(self):
        stride = tuple(int(np.prod(self.size[i + 1:])) for i in range(len(self.size)))
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.size, stride, False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
        return None


def _crafted_state(keys, numel, size):
    """A torch.save zip whose tensor ``keys[0]`` declares ``size`` (storage of ``numel``) over 16 bytes."""
    payload = io.BytesIO()
    _Pickler(payload, protocol=2).dump({k: _Tensor(numel, size) for k in keys[:1]})
    template = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, template)
    out = []
    for name, data in _unzip(template.getvalue()):
        if name.endswith("data.pkl"):
            data = payload.getvalue()
        out.append((name, data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in out:
            zf.writestr(name, data)
    return buf.getvalue()


def _torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _run_code():  # what a pickle payload would call
    raise SystemExit("a payload ran")


class _Payload:
    def __reduce__(self):
        return (_run_code, ())


def _npy(array=None, header=None, data=b""):
    if header is not None:
        head = repr(header).encode() + b" " * (60 - len(repr(header))) + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head + data
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _npz_with(raw_npz, key, npy):
    return _zip(_replace(_unzip(raw_npz), f"{key}.npy", npy))


# ----------------------------------------------------------- JSON helpers
def _paths(node, path=()):
    """Paths to every value of the JSON tree (long lists: first two and last items)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        idx = range(len(node)) if len(node) <= 8 else (0, 1, len(node) - 1)
        for i in idx:
            yield path + (i,)
            yield from _paths(node[i], path + (i,))


def _set(meta, path, value):
    meta = copy.deepcopy(meta)
    node = meta
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return meta


_DELETE = object()


def _deep(depth, leaf=1):
    node = leaf
    for i in range(depth):
        node = [node] if i % 2 else {"__tuple__": [node]}
    return node


def _replacements(value, rng):
    other = [None, True, "x", "", [], {}, [1, 2], {"__tuple__": [1]}, {"__dict__": {}}, 3, 0.5, {"__evil__": 1},
             {"__ndarray__": "a999"}, {"__estimator_ref__": 99}, {"__torch_module__": "m9"}, {"a": 1, "b": 2}]
    huge = [10**6, 2**31, 2**63, 10**40, 1e308, float("inf"), "x" * 5000]
    negative = [-1, -(2**31), -1e-9, -0.5]
    nan = [float("nan"), float("-inf")]
    nested = [_deep(40), _deep(10), {"__dict__": {"a": _deep(30)}}]
    near = []
    if isinstance(value, bool):
        near = [not value, int(value)]
    elif isinstance(value, int):
        near = [value + 1, value - 1, 0, float(value)]
    elif isinstance(value, float):
        near = [value * 2, -value, 0.0, int(value)]
    elif isinstance(value, str):
        near = [value + "x", value.upper(), "cuda:99" if value == "cpu" else "cpu"]
    elif isinstance(value, list) and value:
        near = [value[:-1], value + value[:1], value[::-1]]
    family = rng.choice([other, huge, negative, nan, nested] + [near] * 3 if near else [other, huge, negative, nan, nested])
    return rng.choice(family)


def _meta(members):
    return json.loads(dict(members)["params.json"])


def _with_meta(members, meta):
    return _replace(members, "params.json", json.dumps(meta).encode())


# --------------------------------------------------------------- mutations
def _targeted(raw):
    """(name, file bytes) of the mutations every seed file gets."""
    members = _unzip(raw)
    names = [n for n, _ in members]
    meta = _meta(members)
    cases = []
    rs = [p for p in _paths(meta) if p[-1] == "__random_state__"]
    for path in rs[:1]:
        state = _set(meta, path + (2,), 10**6)
        cases.append(("issue 11: RandomState pos = 10**6", _zip(_with_meta(members, state))))
        for label, sub, value in (("pos -1", (2,), -1), ("pos 625", (2,), 625), ("name PCG64", (0,), "PCG64"),
                                  ("key 2**32", (1, 5), 2**32), ("key -1", (1, 0), -1), ("key 1.5", (1, 3), 1.5),
                                  ("has_gauss 2", (3,), 2), ("gauss NaN", (4,), float("nan")),
                                  ("gauss str", (4,), "x"), ("623 keys", (1,), list(range(623)))):
            cases.append((f"random state {label}", _zip(_with_meta(members, _set(meta, path + sub, value)))))
    for path in [p for p in _paths(meta) if p[-1] == "__torch_device__"][:1]:
        for value in ("cuda:99", "tpu", "cuda:-1", "meta", 5, "cpu:0:0"):
            cases.append((f"device {value!r}", _zip(_with_meta(members, _set(meta, path, value)))))
    for path in [p for p in _paths(meta) if p[-1] == "sample_shape_"][:1]:
        for value in ({"__tuple__": [8, 8, 10**6]}, {"__tuple__": [0]}, {"__tuple__": [1, 2]},
                      {"__tuple__": [2**16, 2**16, 3]}, [8, 8, 3.5]):
            cases.append((f"sample_shape_ {json.dumps(value)[:40]}", _zip(_with_meta(members, _set(meta, path, value)))))
    # the zip and its members
    whole = raw
    cases += [("empty file", b""), ("random bytes", random.Random(0).randbytes(3000)),
              ("zip truncated to half", whole[: len(whole) // 2]), ("zip without its end", whole[:-10])]
    for name in names:
        data = dict(members)[name]
        cases += [(f"{name} truncated", _zip(_replace(members, name, data[: len(data) // 3]))),
                  (f"{name} missing", _zip([(n, d) for n, d in members if n != name])),
                  (f"{name} renamed", _zip([(n + ".bak" if n == name else n, d) for n, d in members])),
                  (f"{name} twice", _zip(members + [(name, data)])),
                  (f"{name} declares 3 GiB", _declare_size(whole, name, 3 * 2**30))]
    cases.append(("extra member", _zip(members + [("evil.py", b"import os")])))
    cases.append(("params.json over 64 MiB", _zip(_replace(members, "params.json", b" " * (65 * 2**20)))))
    cases.append(("params.json zip bomb", _zip(_replace(members, "params.json", b" " * (5 * 2**20)))))
    cases.append(("params.json nested 100000 deep", _zip(_replace(
        members, "params.json", b'{"format": "skgrad-estimator", "format_version": 2, "estimator": '
        + b"[" * 100000 + b"]" * 100000 + b"}"))))
    if "state_dict.pt" in names:
        state = torch.load(io.BytesIO(dict(members)["state_dict.pt"]), weights_only=True)
        keys = list(state)
        first = keys[0]
        for label, new in (("huge declared shape", _crafted_state(keys, 2**40, (2**20, 2**20))),
                           ("shape beyond storage", _crafted_state(keys, 4, (2**20,))),
                           ("wrong shape", _torch_bytes({**state, first: torch.zeros(3)})),
                           ("int tensor", _torch_bytes({**state, first: state[first].long()})),
                           ("complex tensor", _torch_bytes({**state, first: state[first].to(torch.complex64)})),
                           ("list, not tensor", _torch_bytes({**state, first: [1.0, 2.0]})),
                           ("payload", _torch_bytes({**state, first: _Payload()})),
                           ("missing tensor", _torch_bytes({k: v for k, v in state.items() if k != first})),
                           ("legacy format", b"\x80\x02" + dict(members)["state_dict.pt"][10:200])):
            cases.append((f"state_dict.pt {label}", _zip(_replace(members, "state_dict.pt", new))))
    if "arrays.npz" in names:
        npz = dict(members)["arrays.npz"]
        key = "a0"
        for label, npy in (("huge declared shape", _npy(header={"descr": "<f8", "fortran_order": False,
                                                                "shape": (2**40, 2**20)}, data=b"\0" * 64)),
                           ("object array", _npy(np.array([{"a": 1}], dtype=object))),
                           ("complex array", _npy(np.zeros(3, dtype=complex))),
                           ("wrong shape", _npy(np.zeros((2, 2)))),
                           ("int instead of float", _npy(np.arange(3))),
                           ("truncated", _npy(np.zeros(100))[:90])):
            cases.append((f"arrays.npz {label}", _zip(_replace(members, "arrays.npz", _npz_with(npz, key, npy)))))
    return cases


def _random(raw, rng, n):
    """``n`` random mutations of the seed file ``raw``."""
    members = _unzip(raw)
    meta = _meta(members)
    paths = list(_paths(meta))
    cases = []
    for k in range(n):
        what = rng.choices(["value", "delete", "add", "flip", "truncate", "zip-truncate", "zip-flip"],
                           weights=[55, 10, 5, 10, 10, 5, 5])[0]
        if what in ("value", "delete", "add"):
            path = rng.choice(paths)
            if what == "value":
                new = _set(meta, path, _replacements(_get(meta, path), rng))
            elif what == "delete" and isinstance(path[-1], str):
                new = _set(meta, path, _DELETE)
            else:
                parent = path[:-1]
                target = _get(meta, parent) if parent else meta
                new = _set(meta, parent + ("zz_unknown",), 1) if isinstance(target, dict) else _set(meta, path, [1])
            label = f"{what} at {'.'.join(map(str, path))[:90]}"
            cases.append((label, _zip(_with_meta(members, new))))
        elif what in ("flip", "truncate"):
            name, data = rng.choice(members)
            data = bytearray(data)
            if what == "flip":
                for _ in range(rng.randint(1, 8)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            else:
                del data[rng.randrange(len(data)):]
            cases.append((f"{what} {name}", _zip(_replace(members, name, bytes(data)))))
        else:
            data = bytearray(raw)
            if what == "zip-flip":
                for _ in range(rng.randint(1, 8)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            else:
                del data[rng.randrange(len(data)):]
            cases.append((what, bytes(data)))
    return cases


def _get(meta, path):
    node = meta
    for key in path:
        node = node[key]
    return node


# --------------------------------------------------------------- the test
def _run_cases(manifest, results, n_cases, deadline=240):
    """Run the worker from case 0; after a death, again from the next case.  {i: outcome}."""
    outcomes, start = {}, 0
    results.write_text("")
    while start < n_cases:
        proc = subprocess.run([sys.executable, str(WORKER), str(manifest), str(results), str(start)],
                              capture_output=True, text=True, timeout=deadline)
        records = [json.loads(line) for line in results.read_text().splitlines()]
        for r in records:
            if r["status"] != "start":
                outcomes[r["i"]] = r
        started = [r["i"] for r in records if r["status"] == "start"]
        dead = [i for i in started if i not in outcomes]
        if not dead:
            assert proc.returncode == 0, proc.stderr[-3000:]
            break
        i = dead[0]
        timed_out = "Timeout" in proc.stderr
        outcomes[i] = {"i": i, "status": "hang" if timed_out else "crash",
                       "message": f"exit status {proc.returncode}: {proc.stderr[-1500:]}"}
        start = i + 1
    return outcomes


def _selected_groups(request):
    """The groups whose test was collected (``-k v1`` builds and runs the version-1 cases only)."""
    groups = {item.callspec.params["group"] for item in request.session.items
              if getattr(item, "module", None) is request.module and hasattr(item, "callspec")}
    return [g for g in GROUPS if g in groups] or list(GROUPS)


@pytest.fixture(scope="module")
def fuzz(request, tmp_path_factory):
    """Every case of the selected groups, run in one worker: (cases, outcomes)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    groups = _selected_groups(request)
    files, data = _seeds(tmp, need_fitting=groups != ["v1"])
    cases = []
    for group in groups:
        for seed in GROUPS[group]:
            raw, kind, data_name = files[seed]
            rng = random.Random(f"skgrad-fuzz-{seed}")
            for k, (label, blob) in enumerate(_targeted(raw) + _random(raw, rng, N_RANDOM)):
                path = tmp / f"{seed}-{k:03d}.skgrad"
                path.write_bytes(blob)
                cases.append({"file": str(path), "kind": kind, "data": data_name, "group": group,
                              "label": f"{seed}: {label}"})
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"cases": cases, "data": data, "timeout": CASE_TIMEOUT}))
    return cases, _run_cases(manifest, tmp / "results.jsonl", len(cases))


@pytest.mark.parametrize("group", list(GROUPS))
def test_mutated_files_load_cleanly_or_fail_with_a_message(group, fuzz):
    cases, outcomes = fuzz
    mine = [(i, c) for i, c in enumerate(cases) if c["group"] == group]
    assert mine and all(i in outcomes for i, _ in mine)
    bad = []
    for i, case in mine:
        out = outcomes[i]
        name = Path(case["file"]).name
        if out["status"] in ("ValueError", "TypeError"):
            if name not in out["message"] or len(out["message"]) < len(case["file"]) + 10:
                bad.append(f"{case['label']}: {out['status']} without the file's name and a reason: {out['message']}")
        elif out["status"] != "ok":
            bad.append(f"{case['label']}: {out['status']}: {out['message'][:600]}\n{out.get('trace', '')[-1500:]}")
    counts = collections.Counter(outcomes[i]["status"] for i, _ in mine)
    assert not bad, f"{len(bad)} of {len(mine)} mutated files ({dict(counts)}):\n" + "\n".join(bad)
    # both kinds of outcome occur: the cases reach past the first checks
    assert counts["ok"] >= 5 and counts["ValueError"] >= len(mine) // 2, dict(counts)
    for i, case in mine:
        if case["label"].endswith("issue 11: RandomState pos = 10**6"):
            assert outcomes[i]["status"] == "ValueError"
            assert "random_state.pos: must be an int in [0, 624], got 1000000" in outcomes[i]["message"]
