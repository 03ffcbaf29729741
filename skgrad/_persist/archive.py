"""The zip archive of a saved estimator: its members, their size limits, and reading them.

``params.json`` holds the JSON; ``state_dict.pt`` the torch weights (read with
``torch.load(weights_only=True)``); ``arrays.npz`` the numpy arrays (read with
``np.load(allow_pickle=False)``).  Each member's size is checked before it is
inflated, each array's header before the array is allocated, and each tensor's
type before it is used.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
import zipfile
import zlib

import numpy as np
import torch

PARAMS = "params.json"
STATE = "state_dict.pt"
ARRAYS = "arrays.npz"

#: The most bytes a member may inflate to: JSON stays small, weights and arrays may be large.
LIMITS = {PARAMS: 64 * 2**20, STATE: 2 * 2**30, ARRAYS: 2 * 2**30}
#: A member over 1 MiB that inflates more than this many times is taken for a zip bomb
#: (JSON, weights and arrays written by save compress far less).
MAX_RATIO = 100
_RATIO_FLOOR = 2**20
_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# integer buffers (BatchNorm's num_batches_tracked) are read where the rebuilt module has the same dtype
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def not_a_save(path, why):
    return ValueError(f"{path!s} is not an skgrad estimator file written by skgrad.persistence.save: {why}")


def _check_size(info, where, limit):
    if info.flag_bits & 0x1:
        raise ValueError(f"{where}: the member is encrypted")
    if info.file_size > limit:
        raise ValueError(
            f"{where}: the member inflates to {info.file_size} bytes, more than the {limit} bytes accepted"
        )
    if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ValueError(
            f"{where}: the member inflates {info.file_size / max(info.compress_size, 1):.0f} times "
            f"({info.compress_size} -> {info.file_size} bytes), which suggests a zip bomb; refused"
        )


def _members(zf, where):
    """``{name: ZipInfo}``, refusing duplicate names."""
    infos = {}
    for info in zf.infolist():
        if info.filename in infos:
            raise ValueError(f"{where}: the archive holds {info.filename!r} twice")
        infos[info.filename] = info
    return infos


def read_members(path):
    """``{name: bytes}`` of the members of ``path``; ValueError naming the file and member otherwise."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!s}")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        raise not_a_save(path, "not a zip archive")
    out = {}
    name = None
    try:
        with zipfile.ZipFile(path) as zf:
            infos = _members(zf, path)
            if PARAMS not in infos:
                raise not_a_save(path, f"the archive has no {PARAMS}")
            unknown = sorted(set(infos) - set(LIMITS))
            if unknown:
                raise not_a_save(path, f"unexpected member(s) {unknown} (an skgrad file holds {sorted(LIMITS)})")
            for name, info in infos.items():
                _check_size(info, f"{path!s}: {name}", LIMITS[name])
                with zf.open(info) as fh:
                    out[name] = fh.read(LIMITS[name] + 1)
    except _ERRORS as exc:
        if str(exc).startswith(str(path)):
            raise
        where = f"{name} in " if name else ""
        raise not_a_save(path, f"{where}a damaged zip archive ({type(exc).__name__}: {exc})") from exc
    return out


def parse_json(path, raw):
    """The JSON object in ``params.json``."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise not_a_save(path, f"{PARAMS} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise not_a_save(path, f"{PARAMS} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise not_a_save(path, f"{PARAMS} is not a JSON object")
    return meta


def load_state(path, raw):
    """``{name: tensor}`` from ``state_dict.pt``, loaded weights-only; dense float (or integer) tensors only.

    Each tensor's shape and dtype are then checked against the rebuilt module (floats
    where it has floats, the same integer dtype where it has an integer buffer)."""
    where = f"{path!s}: {STATE}"
    if not raw.startswith(b"PK\x03\x04"):  # torch.save's zip layout; the legacy layout is not read
        raise ValueError(f"{where}: not a PyTorch zip file (torch.save)")
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError for anything but plain tensors, RuntimeError, ...
        # torch's own message suggests weights_only=False; relay only the reason.
        text = str(exc)
        found = re.search(r"(Unsupported [^\n]*?)(?: Please use|\n|$)", text)
        reason = found.group(1).strip() if found else (text.strip().splitlines() or [""])[0]
        raise ValueError(
            f"{path!s}: refused to load {STATE}: it is not a weights-only PyTorch state dict "
            f"(torch.load(weights_only=True) rejected it: {type(exc).__name__}: {reason[:300]}); nothing in it "
            "was run.  Do not load it with pickle or torch.load(weights_only=False) unless you trust its source"
        ) from exc
    if not isinstance(state, dict):
        raise not_a_save(path, f"{STATE} is not a dict of tensors")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise not_a_save(path, f"{STATE} is not a dict of tensors (entry {key!r:.60})")
        if value.layout != torch.strided or value.is_quantized or value.dtype not in _FLOAT_DTYPES + _INT_DTYPES:
            raise ValueError(
                f"{where}: tensor {key!r} has dtype {value.dtype} and layout {value.layout}; "
                "only dense float tensors (and integer buffers) are accepted"
            )
    return state


class Arrays:
    """The arrays of ``arrays.npz``; each header is checked before its array is read."""

    def __init__(self, path, raw):
        self.where = f"{path!s}: {ARRAYS}"
        self.npz = None
        if raw is None:
            return
        try:
            npz = np.load(io.BytesIO(raw), allow_pickle=False)
        except Exception as exc:  # numpy raises several types on damaged files
            raise ValueError(f"{self.where}: not a readable .npz archive ({type(exc).__name__}: {exc})") from exc
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError(f"{self.where}: not an .npz archive")
        self.npz = npz
        self.infos = _members(npz.zip, self.where)

    def get(self, key, where):
        """The array stored under ``key`` (referred to at ``where`` in params.json)."""
        if self.npz is None:
            raise ValueError(f"{where}: refers to array {key!r}, but the file has no {ARRAYS}")
        info = self.infos.get(f"{key}.npy")
        if info is None:
            raise ValueError(f"{where}: refers to array {key!r}, which {ARRAYS} does not hold")
        place = f"{self.where}: {info.filename}"
        try:
            _check_size(info, place, LIMITS[ARRAYS])
            raw = self.npz.zip.read(info)
            fh = io.BytesIO(raw)
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version} is not read")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh, max_header_size=10000)
            if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
                raise ValueError(f"dtype {dtype} is not accepted (numbers only)")
            if len(shape) > 8 or not all(isinstance(s, int) and s >= 0 for s in shape):
                raise ValueError(f"shape {shape!r:.80} is not accepted")
            need = math.prod(shape) * dtype.itemsize
            if need != len(raw) - fh.tell():
                raise ValueError(f"the header declares {need} bytes of data, the member holds {len(raw) - fh.tell()}")
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except Exception as exc:  # damaged members: zlib.error, EOFError, ValueError, ...
            if str(exc).startswith(place):
                raise
            raise ValueError(f"{place} (referred to at {where}): {type(exc).__name__}: {exc}") from exc


def write(path, members):
    """Write ``{name: bytes}`` as a zip at ``path``, through a temporary file (never a partial file)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    # open(..., "xb") rather than mkstemp, so that the file gets the usual permissions (umask)
    tmp = os.path.join(directory, f".skgrad-{os.getpid()}-{secrets.token_hex(8)}.tmp")
    try:
        with open(tmp, "xb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
