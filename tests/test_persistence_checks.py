"""skgrad.persistence.load on crafted files: each check, with the message that names the file and the key.

One test (or parameter) per check, so that each can be seen to fail when its check is
removed; tests/test_persistence_fuzz.py then mutates files at random.
"""
import io
import json
import math
import struct
import zipfile

import numpy as np
import pytest
import torch

from skgrad import GradientFeatureTransformer
from skgrad._persist import archive, values
from skgrad.iqa import PairedGradientTransformer, SparsePatchAutoencoder
from skgrad.outlier import GradientOutlierDetector
from skgrad.persistence import load, save

NODE = ("estimator", "__estimator__")  # the top estimator in params.json
RS = NODE + ("params", "random_state", "__random_state__")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good files: a transformer (with a RandomState parameter) and a detector."""
    tmp = tmp_path_factory.mktemp("good")
    X = np.random.RandomState(0).randint(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    cae = dict(module="cae", module_kwargs={"channels": (4,)}, device="cpu", batch_size=4, epochs=1)
    gft = GradientFeatureTransformer(random_state=np.random.RandomState(3), **cae).fit(X)
    det = GradientOutlierDetector(GradientFeatureTransformer(**cae), random_state=0).fit(X)
    return {"gft": save(gft, tmp / "gft.skgrad"), "det": save(det, tmp / "det.skgrad"), "X": X}


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(out, members):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _craft(good, out, path=None, value=None, edit=None):
    """``good`` with the JSON value at ``path`` replaced (or ``edit(meta)`` applied), written to ``out``."""
    members = _members(good)
    meta = json.loads(members["params.json"])
    if path is not None:
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    if edit is not None:
        edit(meta)
    members["params.json"] = json.dumps(meta).encode()
    return _write(out, members)


def _refused(path, match, kind=ValueError):
    with pytest.raises(kind, match=match) as info:
        load(path)
    assert str(path) in str(info.value)  # every message names the file
    return info.value


# ---------------------------------------------------------------- RandomState
@pytest.mark.parametrize("sub, value, kind, match", [
    ((2,), 10**6, ValueError, r"random_state.pos: must be an int in \[0, 624\], got 1000000"),  # issue 11
    ((2,), -1, ValueError, r"random_state.pos: must be an int in \[0, 624\], got -1"),
    ((2,), 1.5, TypeError, r"random_state.pos: must be an int, got 1.5"),
    ((0,), "PCG64", ValueError, r"random_state.name: must be one of \['MT19937'\]"),
    ((1,), list(range(623)), ValueError, r"random_state.keys: must hold exactly 624 ints, got 623"),
    ((1, 7), 2**32, ValueError, r"random_state.keys\[7\]: must be an int in \[0, 4294967295\]"),
    ((1, 0), -1, ValueError, r"random_state.keys\[0\]: must be an int in \[0, 4294967295\]"),
    ((1, 3), "x", TypeError, r"random_state.keys\[3\]: must be an int"),
    ((3,), 2, ValueError, r"random_state.has_gauss: must be an int in \[0, 1\]"),
    ((4,), float("nan"), ValueError, r"random_state.gauss: must be a finite number, got nan"),
    ((4,), float("inf"), ValueError, r"random_state.gauss: must be a finite number"),
])
def test_random_state_is_checked_before_numpy(files, tmp_path, sub, value, kind, match):
    path = _craft(files["gft"], tmp_path / "rs.skgrad", RS + sub, value)
    _refused(path, "params.json: estimator.params." + match, kind)


def test_valid_random_state_is_restored_exactly(files, tmp_path):
    meta = json.loads(_members(files["gft"])["params.json"])
    state = meta["estimator"]["__estimator__"]["params"]["random_state"]["__random_state__"]
    state[2] = 624  # the last valid position: the next draw regenerates the keys
    est = load(_craft(files["gft"], tmp_path / "ok.skgrad", RS + (2,), 624))
    rs = np.random.RandomState()
    rs.set_state((state[0], np.asarray(state[1], dtype=np.uint32), 624, state[3], state[4]))
    assert est.random_state.randint(2**31, size=5).tolist() == rs.randint(2**31, size=5).tolist()


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("where, value, kind", [
    (NODE + ("fitted", "device_", "__torch_device__"), "tpu", ValueError),
    (NODE + ("fitted", "device_", "__torch_device__"), "cuda:-1", ValueError),
    (NODE + ("fitted", "device_", "__torch_device__"), "meta", ValueError),
    (NODE + ("fitted", "device_"), "cpu", TypeError),  # a plain string, not a device tag
    (NODE + ("params", "device"), "gpu", ValueError),
    (NODE + ("params", "device"), 0, TypeError),
])
def test_devices_are_cpu_or_cuda(files, tmp_path, where, value, kind):
    path = _craft(files["gft"], tmp_path / "dev.skgrad", where, value)
    _refused(path, r"params.json: estimator\.(fitted|params)\.device_?: must be a (device|string|torch device)", kind)


# ------------------------------------------------------------------- shapes
@pytest.mark.parametrize("value, match", [
    ({"__tuple__": [8, 8, 2**17]}, r"sample_shape_\[2\]: must be an int in \[1, 65536\]"),
    ({"__tuple__": [2**15, 2**15, 3]}, r"sample_shape_: holds 3221225472 values per sample, more than 268435456"),
    ({"__tuple__": [0]}, r"sample_shape_\[0\]: must be an int in \[1, 65536\]"),
    ({"__tuple__": [8, 8]}, r"sample_shape_: must be a tuple of 1 or 3 ints"),
    ([8, 8, 3], r"sample_shape_: must be a tuple, got \[8, 8, 3\]"),
    ({"__tuple__": [8, 8, 1]}, r"n_features_in_: must be the product of sample_shape_ \(8, 8, 1\), got 192"),
])
def test_shapes_are_sane_and_consistent(files, tmp_path, value, match):
    path = _craft(files["gft"], tmp_path / "shape.skgrad", NODE + ("fitted", "sample_shape_"), value)
    _refused(path, r"estimator\.fitted\." + match, TypeError if isinstance(value, list) else ValueError)


def test_image_shape_must_match_sample_shape(files, tmp_path):
    path = _craft(files["gft"], tmp_path / "img.skgrad", NODE + ("fitted", "image_shape_"), None)
    _refused(path, r"estimator.fitted.image_shape_: must be sample_shape_ for images, else None")


# --------------------------------------------------------------- parameters
@pytest.mark.parametrize("name, value, kind, match", [
    ("epochs", -1, ValueError, r"epochs must be an int >= 0, got -1"),  # the estimator's own _check_params
    ("learning_rate", float("nan"), ValueError, r"learning_rate must be a float >= 0, got nan"),
    ("early_stopping", 1, ValueError, r"early_stopping must be True or False"),
    ("module", "resnet", ValueError, r"unknown module preset 'resnet'"),
    ("batch_size", 2**17, ValueError, r"batch_size: must be an int in \[1, 65536\]"),
    ("random_state", 2**32, ValueError, r"random_state: must be an int in \[0, 4294967295\]"),
    ("random_state", "seed", TypeError, r"random_state: must be an int"),
    ("image_shape", {"__tuple__": [8, 0]}, ValueError, r"image_shape\[1\]: must be an int in \[1, 65536\]"),
    ("loss", "l1", ValueError, r"loss: unknown loss 'l1'"),
    ("warm_start", "yes", TypeError, r"warm_start: must be true or false"),
    ("module_kwargs", {"__dict__": {"channels": {"__tuple__": [10**9]}}}, ValueError,
     r"module_kwargs.channels\[0\]: must be an int in \[1, 65536\]"),
    ("layers", {"__dict__": {"bce": 5}}, TypeError, r"layers.bce: must be a list or tuple"),
    ("no_such_param", 1, ValueError, r"has parameter\(s\) \['no_such_param'\] that GradientFeatureTransformer does not take"),
])
def test_parameters_are_checked(files, tmp_path, name, value, kind, match):
    path = _craft(files["gft"], tmp_path / "p.skgrad", NODE + ("params", name), value)
    _refused(path, r"params.json: estimator\.params.*?" + match, kind)


# -------------------------------------------------------- fitted attributes
@pytest.mark.parametrize("name, value, kind, match", [
    ("n_features_in_", "192", TypeError, r"n_features_in_: must be an int"),
    ("n_features_out_", 0, ValueError, r"n_features_out_: must be an int >= 1"),
    ("n_features_out_", 5, ValueError, r"n_features_out_=.* but the saved one had 5"),  # _restore's own check
    ("losses_", {"__tuple__": ["bce", "l1"]}, ValueError, r"losses_\[1\]: must be one of"),
    ("losses_", ["bce"], TypeError, r"losses_: must be a tuple"),
    ("history_", ["nan"], TypeError, r"history_\[0\]: must be a number"),
    ("history_", [1.0, 2.0], ValueError, r"history_: must hold n_epochs_=1 values, got 2"),
    ("validation_history_", "x", TypeError, r"validation_history_: must be a list"),
    ("n_epochs_", 10**6, ValueError, r"history_: must hold n_epochs_=1000000 values"),
    ("best_epoch_", 2, ValueError, r"best_epoch_: must be <= n_epochs_=1"),
    ("best_epoch_", True, TypeError, r"best_epoch_: must be an int"),
    ("layers_", {"__dict__": {"bce": [3]}}, TypeError, r"layers_.bce\[0\]: must be a string"),
    ("variational_", 1, TypeError, r"variational_: must be true or false"),
    ("input_scale_", -1.0, ValueError, r"input_scale_: must be > 0.0"),
    ("module_", {"__torch_module__": "m7"}, ValueError, r"module_: the saved weights do not fit .*missing"),
    ("module_", "cae", TypeError, r"module_: must be a torch module \(tagged __torch_module__\)"),
])
def test_fitted_attributes_are_checked(files, tmp_path, name, value, kind, match):
    path = _craft(files["gft"], tmp_path / "f.skgrad", NODE + ("fitted", name), value)
    _refused(path, r"params.json: estimator.fitted.*" + match, kind)


def test_a_missing_fitted_attribute_is_refused(files, tmp_path):
    path = _craft(files["gft"], tmp_path / "m.skgrad", edit=lambda m: m["estimator"]["__estimator__"]["fitted"].pop("history_"))
    _refused(path, r"estimator.fitted: ValueError: the fitted state misses attribute\(s\) \['history_'\]")
    path = _craft(files["gft"], tmp_path / "u.skgrad", NODE + ("fitted",), None)
    _refused(path, r"estimator.fitted: is missing: a saved estimator is fitted")


# ------------------------------------------------------------------ tensors
def _torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _state(path):
    return torch.load(io.BytesIO(_members(path)["state_dict.pt"]), weights_only=True)


def _with_state(good, out, state_bytes):
    members = _members(good)
    members["state_dict.pt"] = state_bytes
    return _write(out, members)


def test_tensor_shapes_are_checked_before_load_state_dict(files, tmp_path, monkeypatch):
    state = _state(files["gft"])
    key = next(k for k in state if k.endswith("weight"))
    state[key] = torch.zeros(2, 3)
    calls = []
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda *a, **k: calls.append(a))
    path = _with_state(files["gft"], tmp_path / "t.skgrad", _torch_bytes(state))
    _refused(path, rf"estimator.fitted.module_: the saved weights do not fit the rebuilt preset 'cae': "
                   rf"{key[3:]} has shape \(2, 3\)")
    assert calls == []  # refused before the weights reached the module


@pytest.mark.parametrize("dtype", [torch.complex64, torch.bool, torch.int64])
def test_tensors_are_float(files, tmp_path, dtype):
    state = _state(files["gft"])
    key = next(iter(state))
    state[key] = state[key].to(dtype)
    path = _with_state(files["gft"], tmp_path / "d.skgrad", _torch_bytes(state))
    if dtype == torch.int64:  # integers only where the module has an integer buffer: a preset has none
        _refused(path, rf"module_: the saved weights do not fit the rebuilt preset 'cae': {key[3:]} has dtype "
                       r"torch.int64, the module's torch.float32")
    else:
        _refused(path, rf"state_dict.pt: tensor '{key}' has dtype {dtype}.*only dense float tensors")
    state[key] = torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(0), (3,), check_invariants=True)
    path = _with_state(files["gft"], tmp_path / "s.skgrad", _torch_bytes(state))
    _refused(path, rf"state_dict.pt: tensor '{key}' has dtype .* layout torch.sparse_coo")


def test_a_huge_declared_tensor_shape_is_refused_without_allocating_it(files, tmp_path):
    from test_persistence_fuzz import _crafted_state

    keys = list(_state(files["gft"]))
    path = _with_state(files["gft"], tmp_path / "h.skgrad", _crafted_state(keys, 2**40, (2**20, 2**20)))
    _refused(path, r"refused to load state_dict.pt.*record size")
    path = _with_state(files["gft"], tmp_path / "legacy.skgrad", b"\x80\x02" + b"\0" * 100)
    _refused(path, r"state_dict.pt: not a PyTorch zip file")


# ----------------------------------------------------------- zip and members
def test_member_sizes_are_checked_before_inflating(files, tmp_path, monkeypatch):
    members = _members(files["gft"])
    monkeypatch.setitem(archive.LIMITS, "state_dict.pt", len(members["state_dict.pt"]) - 1)
    _refused(files["gft"], r"state_dict.pt: the member inflates to \d+ bytes, more than the \d+ bytes accepted")
    monkeypatch.undo()
    # a header that declares 3 GiB: refused from the central directory alone
    raw = bytearray(open(files["gft"], "rb").read())
    at = raw.find(b"PK\x01\x02")
    while raw[at + 46: at + 46 + 13] != b"state_dict.pt":
        at = raw.find(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", raw, at + 24, 3 * 2**30)
    path = tmp_path / "declared.skgrad"
    path.write_bytes(bytes(raw))
    _refused(path, r"state_dict.pt: the member inflates to 3221225472 bytes, more than the 2147483648")


def test_zip_bomb_is_refused(files, tmp_path):
    members = _members(files["gft"])
    members["params.json"] = members["params.json"] + b" " * (4 * 2**20)  # 4 MiB that deflate ~1000 times
    path = _write(tmp_path / "bomb.skgrad", members)
    _refused(path, r"params.json: the member inflates \d+ times .* which suggests a zip bomb")


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update({"evil.py": b"import os"}), r"unexpected member\(s\) \['evil.py'\]"),
    (lambda m: m.pop("state_dict.pt"), r"estimator.fitted.module_: refers to the weights of a module, but the file has no state_dict.pt"),
    (lambda m: m.pop("params.json"), r"the archive has no params.json"),
])
def test_wrong_or_missing_members(files, tmp_path, change, match):
    members = _members(files["gft"])
    change(members)
    _refused(_write(tmp_path / "w.skgrad", members), match)


def test_duplicate_member_is_refused(files, tmp_path):
    members = _members(files["gft"])
    path = tmp_path / "dup.skgrad"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as zf:
        for name, data in list(members.items()) + [("params.json", members["params.json"])]:
            zf.writestr(name, data)
    _refused(path, r"the archive holds 'params.json' twice")


# --------------------------------------------------------------------- JSON
def test_json_nesting_is_bounded(files, tmp_path):
    deep = 1
    for _ in range(values.MAX_DEPTH + 5):
        deep = {"__tuple__": [deep]}
    path = _craft(files["gft"], tmp_path / "deep.skgrad", NODE + ("params", "module_kwargs"), deep)
    _refused(path, r"params.module_kwargs(\[0\])+: is nested more than 32 levels deep")
    members = _members(files["gft"])
    members["params.json"] = b"[" * 200000 + b"]" * 200000
    _refused(_write(tmp_path / "rec.skgrad", members), r"params.json is nested too deeply")


@pytest.mark.parametrize("value, match", [
    ({"__evil__": 1}, r"unknown type tag '__evil__'"),
    ({"__tuple__": [1], "x": 2}, r"must be one type tag"),
    ({"__estimator_ref__": 5}, r"refers to estimator 5, which the file does not define before"),
    ({"__ndarray__": "a0"}, r"refers to array 'a0', but the file has no arrays.npz"),
    ({"__user_module__": "os.system"}, r"params.inlier_label: a user module can only be an estimator's module parameter"),
    ([{"__torch_module__": "m0"}], r"estimator.params: a parameter cannot be a fitted module"),
])
def test_unknown_or_dangling_tags(files, tmp_path, value, match):
    _refused(_craft(files["gft"], tmp_path / "tag.skgrad", NODE + ("params", "inlier_label"), value), match)


# -------------------------------------------------- arrays, nested estimators
def _with_array(good, out, key, npy):
    members = _members(good)
    npz = {n: d for n, d in _npz_members(members["arrays.npz"]).items()}
    npz[f"{key}.npy"] = npy
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in npz.items():
            zf.writestr(name, data)
    members["arrays.npz"] = buf.getvalue()
    return _write(out, members)


def _npz_members(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def test_array_headers_are_checked_before_reading(files, tmp_path):
    header = repr({"descr": "<f8", "fortran_order": False, "shape": (2**40,)}).encode()
    huge = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + 1) + header + b"\n" + b"\0" * 64
    _refused(_with_array(files["det"], tmp_path / "h.skgrad", "a0", huge),
             r"arrays.npz: a0.npy \(referred to at .*\): ValueError: the header declares 8796093022208 bytes")
    _refused(_with_array(files["det"], tmp_path / "o.skgrad", "a0", _npy(np.array([None], dtype=object))),
             r"arrays.npz: a0.npy .*dtype object is not accepted")


def test_nested_estimators_are_checked(files, tmp_path):
    fitted = NODE + ("fitted",)
    cov = fitted + ("covariance_", "__estimator__")
    _refused(_craft(files["det"], tmp_path / "c.skgrad", cov + ("class",), "sklearn.decomposition._pca.PCA"),
             r"estimator.fitted.covariance_.class: names class 'sklearn.decomposition._pca.PCA'")
    _refused(_craft(files["det"], tmp_path / "s.skgrad", cov + ("fitted", "shrinkage_"), 2.0),
             r"covariance_.fitted.shrinkage_: must be <= 1.0")
    _refused(_craft(files["det"], tmp_path / "p.skgrad", cov + ("params", "store_precision"), "yes"),
             r"covariance_.params: The 'store_precision' parameter of LedoitWolf must be")
    _refused(_craft(files["det"], tmp_path / "x.skgrad", cov + ("fitted", "extra_"), 1),
             r"covariance_.fitted: has fitted attribute\(s\) \['extra_'\] that this class does not have")
    _refused(_craft(files["det"], tmp_path / "b.skgrad", fitted + ("blocks_",), ["bce:other"]),
             r"estimator.fitted: ValueError: blocks_ \['bce:other'\] are not the transformer's blocks")
    _refused(_craft(files["det"], tmp_path / "t.skgrad", fitted + ("transformer_", "__estimator__", "fitted",
                                                                  "n_epochs_"), 7),
             r"estimator.fitted.transformer_.fitted.history_: must hold n_epochs_=7 values")
    _refused(_craft(files["det"], tmp_path / "o.skgrad", fitted + ("offset_",), float("inf")),
             r"estimator.fitted.offset_: must be a finite number")


def test_iqa_weights_are_checked(tmp_path):
    model = SparsePatchAutoencoder(n_hidden=3)
    model._set_params_vector(np.zeros(2 * 3 * 192 + 3 + 192), 192)
    model.loss_, model.n_iter_ = math.nan, 0
    good = save(PairedGradientTransformer(model=model).fit(np.zeros((1, 2, 64, 64, 3), np.uint8)),
                tmp_path / "pgt.skgrad")
    spa = NODE + ("params", "model", "__estimator__")
    _refused(_craft(good, tmp_path / "ps.skgrad", spa + ("params", "patch_size"), 4),
             r"params.model.fitted: ValueError: W1_ must be a finite float array of shape \(3, 48\)")
    _refused(_craft(good, tmp_path / "sc.skgrad", spa + ("params", "scale"), 1e6),
             r"params.model.params: scale must be a number in \(0, 4\]")
    _refused(_craft(good, tmp_path / "s.skgrad", NODE + ("fitted", "scales_", "__tuple__", 0), 1e6),
             r"estimator.fitted: ValueError: scales must be a non-empty sequence of distinct positive numbers, "
             r"each at most 4; got \(1000000.0, 0.5, 0.25\)")


def _array_key(good, path):
    node = json.loads(_members(good)["params.json"])
    for key in path:
        node = node[key]
    return node["__ndarray__"]


@pytest.mark.parametrize("path, array, match", [
    # the fixture's detector describes a sample by 5 numbers: 1 gradient norm, 1 loss, 3 image statistics
    (("scaler_", "__estimator__", "fitted", "scale_"), np.zeros(5), r"scaler_.fitted.scale_: must hold finite values > 0"),
    (("scaler_", "__estimator__", "fitted", "mean_"), np.zeros(3), r"scaler_.fitted.mean_: must be a float array of shape \(5,\)"),
    (("covariance_", "__estimator__", "fitted", "covariance_"), np.full((5, 5), np.inf),
     r"covariance_.fitted.covariance_: must hold finite values"),
    (("validation_indices_",), np.array([-1, 2]), r"estimator.fitted.validation_indices_: must hold indices >= 0"),
    (("validation_indices_",), np.zeros(2), r"validation_indices_: must be a 1-D array of kind 'iu'"),
    (("mean_gradients_", 0), np.full(4, np.nan), r"mean_gradients_\[0\]: must hold finite values only"),
    (("mean_gradients_", 0), np.zeros(5), r"estimator.fitted: ValueError: mean_gradients_ must hold one vector per block"),
])
def test_detector_arrays_are_checked(files, tmp_path, path, array, match):
    key = _array_key(files["det"], NODE + ("fitted",) + path)
    _refused(_with_array(files["det"], tmp_path / "a.skgrad", key, _npy(array)), match)


@pytest.mark.parametrize("name, value, match", [
    ("scaler_", None, r"scaler_ must be fitted for method='mahalanobis'"),
    ("n_features_in_", 3, r"n_features_in_ must be the transformer's, 192"),
    ("feature_names_in_", {"__str_array__": [f"x{i}" for i in range(192)]}, r"feature_names_in_ must be the transformer's"),
    ("transformer_", {"__estimator_ref__": 0}, r"refers to estimator 0, which the file does not define before"),
    ("transformer_", {"__estimator__": {"class": "skgrad.transformers.GradientFeatureTransformer", "params": {}}},
     r"transformer_: must be a fitted GradientFeatureTransformer, but the file holds no fitted state for it"),
])
def test_detector_state_must_fit_together(files, tmp_path, name, value, match):
    path = _craft(files["det"], tmp_path / "d.skgrad", NODE + ("fitted", name), value)
    _refused(path, match)


def test_scaler_and_covariance_follow_their_parameters(files, tmp_path):
    sc = NODE + ("fitted", "scaler_", "__estimator__")
    _refused(_craft(files["det"], tmp_path / "m.skgrad", sc + ("fitted", "mean_"), None),
             r"scaler_.fitted.mean_: must be an array when with_mean=True")
    cov = NODE + ("fitted", "covariance_", "__estimator__")
    _refused(_craft(files["det"], tmp_path / "p.skgrad", cov + ("fitted", "precision_"), None),
             r"covariance_.fitted.precision_: must be an array when store_precision=True")
    _refused(_craft(files["det"], tmp_path / "s.skgrad", sc + ("fitted", "n_samples_seen_"), -3),
             r"scaler_.fitted.n_samples_seen_: must be >= 0.0")


def test_output_config_is_checked(files, tmp_path):
    path = _craft(files["gft"], tmp_path / "o.skgrad", NODE + ("output_config",), {"__dict__": {"transform": "evil"}})
    _refused(path, r"estimator.output_config: must map 'transform' to 'default', 'pandas' or 'polars'")


def test_user_module_with_integer_buffers(tmp_path):
    """BatchNorm keeps an int64 counter: integer tensors load where the rebuilt module has them."""
    from torch import nn

    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.norm, self.dec = nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 4)

        def forward(self, x):
            return self.dec(torch.relu(self.norm(self.enc(x))))

    X = np.random.RandomState(0).rand(20, 4)
    est = GradientFeatureTransformer(module=Normed(), loss="mse", epochs=1, device="cpu").fit(X)
    path = save(est, tmp_path / "bn.skgrad")
    loaded = load(path, module=Normed())
    assert loaded.module_.norm.num_batches_tracked.dtype == torch.int64
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    state = _state(path)
    state["m0/norm.num_batches_tracked"] = state["m0/norm.num_batches_tracked"].int()  # int32, not int64
    with pytest.raises(ValueError, match=r"norm.num_batches_tracked has dtype torch.int32, the module's torch.int64"):
        load(_with_state(path, tmp_path / "i32.skgrad", _torch_bytes(state)), module=Normed())


def test_batch_padding_is_bounded():
    from skgrad._persist import rules

    rules.check_together({"batch_size": 2**15}, {"n_features_in_": 2**13}, "f")
    with pytest.raises(ValueError, match=r"f.params.batch_size: batch_size \* n_features_in_ = 536870912 values"):
        rules.check_together({"batch_size": 2**16}, {"n_features_in_": 2**13}, "f")


def test_a_user_module_tag_is_resolved_only_as_a_module_parameter(files, tmp_path):
    path = _craft(files["gft"], tmp_path / "um.skgrad", NODE + ("params", "module"), {"__user_module__": "os.system"})
    _refused(path, r"holds an estimator fitted with a user module \(os.system\).*pass module=")
    path = _craft(files["gft"], tmp_path / "fm.skgrad", NODE + ("fitted", "history_"), [{"__torch_module__": "m0"}])
    _refused(path, r"estimator.fitted: a fitted module can only be a fitted attribute of its own")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(files, tmp_path, bad):
    """NaN/inf weights are no trained model: transform would give NaN features and a
    warm-start fit would diverge at once."""
    state = _state(files["gft"])
    key = next(k for k, v in state.items() if v.dtype.is_floating_point)
    state[key] = state[key].clone()
    state[key].view(-1)[0] = bad
    path = _with_state(files["gft"], tmp_path / "nan.skgrad", _torch_bytes(state))
    _refused(path, rf"{key[3:]} holds NaN or infinite values")
