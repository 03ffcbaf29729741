"""Save and load fitted skgrad estimators without pickle.

.. warning::

   **Pickle and joblib files run code when they are loaded.**  ``pickle.load``
   and ``joblib.load`` of an skgrad estimator (or of anything else) can execute
   arbitrary code stored in the file: only ever load them from sources you
   trust.  :func:`load` never runs code from the file: it reads JSON
   (``params.json``) and a weights-only PyTorch state dict
   (``torch.load(..., weights_only=True)``), and rebuilds the network from code
   that is already installed (a preset of :mod:`skgrad.models`, or a module
   instance that you pass yourself).

The file written by :func:`save` is a zip archive holding

``params.json``
    the format marker and version, the skgrad version, the estimator's class,
    its parameters (``get_params()``; a user module is recorded by its class
    name only) and its fitted metadata (``sample_shape_``, ``losses_``,
    ``layers_``, ``history_``, ``n_features_in_``, ``input_scale_``,
    ``feature_names_in_``, ...).
``state_dict.pt``
    ``torch.save`` of the trained module's ``state_dict()`` (tensors only,
    saved from the CPU).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from skgrad import GradientFeatureTransformer
>>> from skgrad.persistence import save, load
>>> X = np.random.RandomState(0).randint(0, 256, size=(8, 8, 8, 3), dtype=np.uint8)
>>> est = GradientFeatureTransformer(module="cae", module_kwargs={"channels": (4,)},
...                                  epochs=1, random_state=0, device="cpu").fit(X)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save(est, os.path.join(tmp, "gft.skgrad"))
...     again = load(path)
>>> np.array_equal(again.transform(X), est.transform(X))
True
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import warnings
import zipfile

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import AutoencoderTransformerBase
from ._validation import resolve_device

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

#: Marker stored in ``params.json``: a file without it is not an skgrad save.
FORMAT = "skgrad-estimator"
#: Version of the layout written by :func:`save`; :func:`load` reads versions up to this.
FORMAT_VERSION = 1

_PARAMS = "params.json"
_STATE = "state_dict.pt"

# Every public fitted attribute (ending in "_") is stored as JSON, except the
# module (its state dict), the device and feature_names_in_ (handled
# separately).  The private attributes that only ``transform`` needs are
# rebuilt on load by the estimator's own ``_restore``, never stored.
_NOT_JSON = ("module_", "device_", "feature_names_in_")


# ----------------------------------------------------------------------- JSON
# Every JSON object written here is a one-key tag, so that tuples, dicts,
# RandomState instances and torch devices come back as what they were.  The
# decoder only ever builds these plain values: nothing is imported or called
# by name.
def _encode(value, where):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where}: dict keys must be strings to be saved, got {list(value)!r}")
        return {"__dict__": {k: _encode(v, where) for k, v in value.items()}}
    if isinstance(value, torch.device):
        return {"__torch_device__": str(value)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, gauss = value.get_state()
        return {"__random_state__": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}
    raise TypeError(
        f"{where} = {value!r} ({type(value).__name__}) cannot be stored by skgrad.persistence.save; "
        "use None, numbers, strings, tuples, lists, dicts, a RandomState or a torch.device "
        "(or pickle/joblib, whose files run code when loaded: trusted sources only)"
    )


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"unexpected JSON object with keys {sorted(value)}")
    (tag, body), = value.items()
    if tag == "__tuple__":
        return tuple(_decode(v) for v in body)
    if tag == "__dict__":
        return {k: _decode(v) for k, v in body.items()}
    if tag == "__torch_device__":
        return torch.device(body)
    if tag == "__random_state__":
        name, keys, pos, has_gauss, gauss = body
        rs = np.random.RandomState()
        rs.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        return rs
    if tag == "__user_module__":
        return {"__user_module__": body}  # resolved by load(): needs module=
    raise ValueError(f"unknown JSON tag {tag!r}")


# ------------------------------------------------------------------- classes
def _estimator_classes():
    """Every subclass of AutoencoderTransformerBase defined so far, by 'module.qualname'.

    Only classes that are already imported are candidates: :func:`load` never
    imports a module named in a file.
    """
    found, todo = {}, [AutoencoderTransformerBase]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            key = f"{sub.__module__}.{sub.__qualname__}"
            if key not in found:
                found[key] = sub
                todo.append(sub)
    return found


def _class_key(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


# ---------------------------------------------------------------------- save
def save(estimator, path):
    """Save a fitted skgrad estimator to ``path`` (a zip file) without pickle.

    The file holds JSON (parameters and fitted metadata) and the trained
    module's weights as a PyTorch state dict; :func:`load` reads it back
    without running any code from the file.  Unlike a pickle or joblib file,
    which runs code when loaded and must only be loaded from trusted sources,
    a file written here is safe to load.

    Parameters
    ----------
    estimator : GradientFeatureTransformer, ActivationFeatureTransformer or another AutoencoderTransformerBase subclass
        A fitted estimator.  Its parameters must be JSON-like (numbers,
        strings, tuples, lists, dicts, None), a ``RandomState`` or a
        ``torch.device``; ``module`` may be a preset name or a module instance
        (then only its class name is stored, and :func:`load` needs
        ``module=``).
    path : str or os.PathLike
        The file to write (replaced if it exists).  It is written to a
        temporary file first, so an interrupted save never leaves a partial
        file at ``path``.

    Returns
    -------
    path : str
        ``path``, as a string.

    Raises
    ------
    TypeError
        If ``estimator`` is not an skgrad estimator, or a parameter cannot be
        stored.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : The inverse.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skgrad import ActivationFeatureTransformer
    >>> from skgrad.persistence import save, load
    >>> X = np.random.RandomState(0).rand(20, 6)
    >>> est = ActivationFeatureTransformer(module="dense", epochs=1, random_state=0,
    ...                                    device="cpu").fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(est, os.path.join(tmp, "aft.skgrad"))
    ...     loaded = load(path)
    >>> loaded.layers_, loaded.transform(X).shape
    (['encoder'], (20, 8))
    """
    if not isinstance(estimator, AutoencoderTransformerBase):
        raise TypeError(
            "save takes a fitted skgrad estimator (GradientFeatureTransformer, "
            f"ActivationFeatureTransformer or another AutoencoderTransformerBase), got {type(estimator).__name__}"
        )
    check_is_fitted(estimator, "module_")
    from . import __version__

    params = estimator.get_params(deep=False)
    module = params.get("module")
    encoded = {}
    for key, value in params.items():
        if key == "module" and isinstance(module, torch.nn.Module):
            encoded[key] = {"__user_module__": _class_key(type(module))}
        else:
            encoded[key] = _encode(value, f"parameter {key}")
    fitted = {attr: _encode(getattr(estimator, attr), attr)
              for attr in estimator._fitted_attributes() if attr not in _NOT_JSON}
    fitted["device_"] = str(estimator.device_)
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in estimator.feature_names_in_]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skgrad_version": __version__,
        "torch_version": torch.__version__,
        "class": _class_key(type(estimator)),
        "params": encoded,
        "fitted": fitted,
    }
    output_config = getattr(estimator, "_sklearn_output_config", None)
    if output_config:
        meta["output_config"] = _encode(dict(output_config), "set_output configuration")

    state = {k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".skgrad-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_PARAMS, json.dumps(meta, indent=1))
            zf.writestr(_STATE, buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# ---------------------------------------------------------------------- load
def _not_a_save(path, why):
    return ValueError(f"{path!s} is not an skgrad estimator file written by skgrad.persistence.save: {why}")


def _read(path):
    """(meta dict, state dict) from ``path``; ValueError naming path if it is no skgrad save."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!s}")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        raise _not_a_save(path, "not a zip archive")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [n for n in (_PARAMS, _STATE) if n not in names]
            if missing:
                raise _not_a_save(path, f"the archive has no {' or '.join(missing)}")
            raw_meta = zf.read(_PARAMS)
            raw_state = zf.read(_STATE)
    except zipfile.BadZipFile as exc:
        raise _not_a_save(path, f"a damaged zip archive ({exc})") from exc
    try:
        meta = json.loads(raw_meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_a_save(path, f"{_PARAMS} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _not_a_save(path, f"{_PARAMS} has no format marker {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path!s} was written in skgrad file format version {version!r} "
            f"(by skgrad {meta.get('skgrad_version')}); this skgrad reads versions up to "
            f"{FORMAT_VERSION}: upgrade skgrad"
        )
    try:
        state = torch.load(io.BytesIO(raw_state), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError for anything but plain tensors
        # torch's own message suggests weights_only=False; relay only the reason.
        text = str(exc)
        found = re.search(r"(Unsupported [^\n]*?)(?: Please use|\n|$)", text)
        reason = found.group(1).strip() if found else (text.strip().splitlines() or [""])[0]
        raise ValueError(
            f"{path!s}: refused to load {_STATE}: it is not a weights-only PyTorch state dict "
            f"(torch.load(weights_only=True) rejected it: {type(exc).__name__}: {reason}); nothing in it "
            "was run.  Do not load it with pickle or torch.load(weights_only=False) unless you trust its source"
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _not_a_save(path, f"{_STATE} is not a dict of tensors")
    return meta, state


def load(path, *, device=None, module=None):
    """Load an estimator written by :func:`save`, without running code from the file.

    The parameters and fitted metadata are read as JSON and the weights with
    ``torch.load(..., weights_only=True)``; the network is rebuilt from
    installed code (a preset of :mod:`skgrad.models`, or ``module``).  This is
    the safe alternative to ``pickle.load``/``joblib.load``, which run code
    stored in the file and must only be used on files from trusted sources.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str, torch.device or None, default=None
        Where the loaded module runs (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"auto"``).  ``None``: the device it was fitted on when available
        here, else the CPU (with a warning), as when unpickling.
    module : torch.nn.Module or None, default=None
        Required when the estimator was fitted with a module instance rather
        than a preset: an instance of the same architecture (the file holds
        the weights, not the code).  It is not changed: the trained weights go
        into a deep copy, and ``module`` becomes the loaded estimator's
        ``module`` parameter.  Must be None for a preset.

    Returns
    -------
    estimator : AutoencoderTransformerBase
        A fitted estimator whose ``transform`` gives the same output as the
        one saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not an skgrad save, names a class that is not an skgrad
        estimator, or was fitted with a user module and ``module`` is missing
        or does not fit the saved weights.

    See Also
    --------
    save : The inverse.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from torch import nn
    >>> from skgrad import GradientFeatureTransformer
    >>> from skgrad.persistence import save, load
    >>> class Tiny(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(4, 4)
    ...     def forward(self, x):
    ...         return self.lin(x)
    >>> X = np.random.RandomState(0).rand(10, 4)
    >>> est = GradientFeatureTransformer(module=Tiny(), loss="mse", epochs=1,
    ...                                  random_state=0, device="cpu").fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(est, os.path.join(tmp, "tiny.skgrad"))
    ...     loaded = load(path, module=Tiny())
    >>> np.array_equal(loaded.transform(X), est.transform(X))
    True
    """
    path = os.fspath(path)
    meta, weights = _read(path)
    classes = _estimator_classes()
    key = meta.get("class")
    cls = classes.get(key) if isinstance(key, str) else None
    if cls is None:
        raise ValueError(
            f"{path!s} names class {key!r}, which is not an skgrad estimator defined in this session "
            f"(known: {sorted(classes)}); for a subclass of your own, import it before loading"
        )
    try:
        params = {k: _decode(v) for k, v in meta["params"].items()}
        fitted = {k: _decode(v) for k, v in meta["fitted"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _not_a_save(path, f"malformed {_PARAMS} ({type(exc).__name__}: {exc})") from exc

    saved_module = params.get("module")
    user_module = isinstance(saved_module, dict) and "__user_module__" in saved_module
    if user_module:
        if module is None:
            raise ValueError(
                f"{path!s} holds an estimator fitted with a user module ({saved_module['__user_module__']}), "
                "whose code is not stored in the file; pass module=<an instance of the same architecture>, "
                f"e.g. load({path!r}, module=MyAutoencoder(...))"
            )
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module instance, got {type(module).__name__}")
        params["module"] = module
    elif module is not None:
        raise ValueError(
            f"{path!s} holds an estimator fitted with the preset module={saved_module!r}, which load rebuilds "
            "itself; do not pass module="
        )

    try:
        est = cls(**params)
        saved_device = fitted.pop("device_")
        sample_shape = tuple(fitted["sample_shape_"])
    except (KeyError, TypeError) as exc:
        raise _not_a_save(path, f"parameters or fitted metadata do not match {key} ({exc})") from exc
    state = dict(fitted)
    if "feature_names_in_" in fitted:
        state["feature_names_in_"] = np.asarray(fitted["feature_names_in_"], dtype=object)
    if "output_config" in meta:
        est._sklearn_output_config = _decode(meta["output_config"])
    for attr in ("sample_shape_", "image_shape_"):
        if isinstance(state.get(attr), list):  # tolerate files written without tuple tags
            state[attr] = tuple(state[attr])

    # The device: explicit, or the fitted one when it exists here.
    if device is not None:
        dev = resolve_device(device)
    else:
        dev = torch.device(saved_device)
        if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
            warnings.warn(
                f"{path!s} was fitted on {dev}, which is not available here; it now runs on the CPU",
                UserWarning,
                stacklevel=2,
            )
            dev = torch.device("cpu")

    # Building a preset draws its initial weights: keep the caller's torch RNG untouched.
    with torch.random.fork_rng(devices=[]):
        net = est._new_module(sample_shape)
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        what = f"module={type(module).__name__}" if user_module else f"the rebuilt preset {est.module!r}"
        raise ValueError(
            f"{path!s}: the saved weights do not fit {what}"
            + (" (pass an instance of the architecture that was fitted)" if user_module else "")
            + f": {exc}"
        ) from exc
    state.update(module_=net.to(dev), device_=dev)
    try:
        est._restore(state)
    except (KeyError, TypeError, AttributeError) as exc:
        raise _not_a_save(path, f"fitted metadata do not match {key} ({type(exc).__name__}: {exc})") from exc
    except ValueError as exc:
        raise ValueError(
            f"{path!s}: {exc}" + (": pass module= of the architecture that was fitted" if user_module else "")
        ) from exc
    return est
