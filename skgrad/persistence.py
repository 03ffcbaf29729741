"""Save and load fitted skgrad estimators without pickle.

.. warning::

   **Pickle and joblib files run code when they are loaded.**  ``pickle.load``
   and ``joblib.load`` of an skgrad estimator (or of anything else) can execute
   arbitrary code stored in the file: only ever load them from sources you
   trust.  :func:`load` never runs code from the file and never imports or calls
   anything by a name read from it: it reads JSON, numpy arrays
   (``np.load(allow_pickle=False)``) and weights-only PyTorch state dicts
   (``torch.load(weights_only=True)``), checks every value before it reaches
   numpy or torch, and rebuilds each estimator from code that is already
   installed.

:func:`save` covers the transformers (:class:`~skgrad.GradientFeatureTransformer`,
:class:`~skgrad.ActivationFeatureTransformer` and their subclasses), the
detector :class:`~skgrad.outlier.GradientOutlierDetector`, and the IQA
estimators :class:`~skgrad.iqa.SparsePatchAutoencoder` and
:class:`~skgrad.iqa.PairedGradientTransformer`.  An estimator is stored as its
class, its parameters (``get_params()``) and its fitted attributes, recursively
for the estimators it holds; scikit-learn estimators inside (a detector's
``StandardScaler`` and ``LedoitWolf``, a ``FrozenEstimator``) are accepted from a
fixed list of classes only.  The file is a zip archive holding

``params.json``
    the format marker and version, the skgrad and torch versions, and the
    estimator as typed JSON (``{"__estimator__": {"class": ..., "params": ...,
    "fitted": ...}}``); a user module is recorded by its class name only.
``arrays.npz``
    the numpy arrays of fitted attributes (when there are any).
``state_dict.pt``
    ``torch.save`` of the trained modules' ``state_dict()`` (tensors only, saved
    from the CPU; when there are any).

Files of format version 1 (transformers saved by skgrad before the detector and
the IQA estimators were covered) still load.  A damaged or crafted file gets a
``ValueError`` (a ``TypeError`` for a value of the wrong type) naming the file,
its member and the offending key.

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
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._persist import archive, classes, rules
from ._persist.archive import ARRAYS, PARAMS, STATE
from ._persist.values import ModuleSlot, decode, encode, fail, show
from ._validation import resolve_device

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

#: Marker stored in ``params.json``: a file without it is not an skgrad save.
FORMAT = "skgrad-estimator"
#: Version of the layout written by :func:`save`; :func:`load` reads versions 1 up to this.
FORMAT_VERSION = 2

_MAX_ESTIMATORS = 256
_NODE_KEYS = {"class", "id", "params", "fitted", "output_config"}
_OUTPUT_CONFIG = {"transform", "fit_transform"}


# ---------------------------------------------------------------------- save
class _Writer:
    """Collects the arrays and weights that the JSON refers to while an estimator is encoded."""

    def __init__(self):
        self.arrays, self.weights, self.ids, self.keep, self.n_modules = {}, {}, {}, [], 0

    def array(self, value):
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        return key

    def module(self, module, where):
        fail(where, "a torch module can only be an estimator's module parameter or a fitted attribute", TypeError)

    def estimator(self, est, where):
        if not classes.is_saveable(type(est)):
            fail(where, f"{type(est).__name__} is not an estimator that skgrad.persistence saves", TypeError)
        if id(est) in self.ids:  # the same object twice (a fitted model passed as a parameter)
            return {"__estimator_ref__": self.ids[id(est)]}
        node = {"class": classes.class_key(type(est)), "id": len(self.ids), "params": {}, "fitted": None}
        self.ids[id(est)] = node["id"]
        self.keep.append(est)  # ids stay unique while encoding
        params = est.get_params(deep=False)
        for name, value in params.items():
            if isinstance(value, torch.nn.Module):
                node["params"][name] = {"__user_module__": classes.class_key(type(value))}
            else:
                node["params"][name] = encode(value, f"{where}.params.{name}", self)
        if classes.class_key(type(est)) in classes.skgrad_classes():  # what load would refuse, save refuses
            rules.check_params(dict(params), f"{where}.params")
            classes.check_params(est, params, where)
            rules.check_together(params, vars(est), where)
        names = classes.fitted_names(est)
        if names:
            node["fitted"] = {name: self._fitted(est, name, f"{where}.fitted.{name}") for name in names}
        config = getattr(est, "_sklearn_output_config", None)
        if config:
            node["output_config"] = encode(dict(config), f"{where}.output_config", self)
        return {"__estimator__": node}

    def _fitted(self, est, name, where):
        value = getattr(est, name)
        if not isinstance(value, torch.nn.Module):
            return encode(value, where, self)
        if not hasattr(est, "_new_module"):
            fail(where, f"{type(est).__name__} holds a torch module but has no _new_module hook to rebuild it", TypeError)
        prefix = f"m{self.n_modules}"
        self.n_modules += 1
        for key, tensor in value.state_dict().items():
            self.weights[f"{prefix}/{key}"] = tensor.detach().cpu()
        return {"__torch_module__": prefix}


def save(estimator, path):
    """Save a fitted skgrad estimator to ``path`` (a zip file) without pickle.

    The file holds JSON (class, parameters and fitted attributes), the numpy
    arrays of the fitted attributes (``.npz``) and the trained modules' weights
    (a PyTorch state dict); :func:`load` reads it back without running any code
    from the file.  Unlike a pickle or joblib file, which runs code when loaded
    and must only be loaded from trusted sources, a file written here is safe
    to load.

    Parameters
    ----------
    estimator : GradientFeatureTransformer, ActivationFeatureTransformer, GradientOutlierDetector, SparsePatchAutoencoder or PairedGradientTransformer
        A fitted estimator (or a subclass of one of these).  Its parameters and
        fitted attributes must be None, numbers, strings, tuples, lists, dicts,
        numpy arrays, a ``RandomState``, a ``torch.device`` or estimators that
        save supports; ``module`` may be a preset name or a module instance
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
        If ``estimator`` is not an estimator that save supports, or a value in
        it cannot be stored.
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
    if classes.class_key(type(estimator)) not in classes.skgrad_classes():
        raise TypeError(
            "save takes a fitted skgrad estimator (GradientFeatureTransformer, ActivationFeatureTransformer, "
            "GradientOutlierDetector, SparsePatchAutoencoder, PairedGradientTransformer or a subclass), "
            f"got {type(estimator).__name__}"
        )
    check_is_fitted(estimator)
    from . import __version__

    writer = _Writer()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skgrad_version": __version__,
        "torch_version": torch.__version__,
        "estimator": writer.estimator(estimator, "estimator"),
    }
    members = {PARAMS: json.dumps(meta, indent=1).encode("utf-8")}
    if writer.arrays:
        buf = io.BytesIO()
        np.savez(buf, **writer.arrays)
        members[ARRAYS] = buf.getvalue()
    if writer.weights:
        buf = io.BytesIO()
        torch.save(writer.weights, buf)
        members[STATE] = buf.getvalue()
    return archive.write(path, members)


# ---------------------------------------------------------------------- load
class _Reader:
    """What the typed JSON refers to: arrays, weights, the user's module, estimators decoded so far."""

    def __init__(self, path, members, module, device, version):
        self.path = path
        self.members = members
        self.arrays = archive.Arrays(path, members.get(ARRAYS))
        self._weights = None
        self.flat_weights = version == 1  # version 1: one module, keys without a prefix
        self.module, self.module_used, self.preset = module, False, None
        self.device = None if device is None else resolve_device(device)
        self.estimators, self.n_estimators = {}, 0

    def array(self, key, where):
        return self.arrays.get(key, where)

    def weights(self, prefix, where):
        if STATE not in self.members:
            fail(where, f"refers to the weights of a module, but the file has no {STATE}")
        if self._weights is None:
            self._weights = archive.load_state(self.path, self.members[STATE])
        if self.flat_weights:
            return dict(self._weights)
        start = f"{prefix}/"
        return {k[len(start):]: v for k, v in self._weights.items() if k.startswith(start)}

    def user_module(self, name, where):
        if self.module is None:
            raise ValueError(
                f"{self.path!s} holds an estimator fitted with a user module ({name}), whose code is not stored "
                f"in the file; pass module=<an instance of the same architecture>, e.g. "
                f"load({self.path!r}, module=MyAutoencoder(...))"
            )
        if not isinstance(self.module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module instance, got {type(self.module).__name__}")
        self.module_used = True
        return self.module

    def estimator(self, body, where, depth, top=False):
        self.n_estimators += 1
        if self.n_estimators > _MAX_ESTIMATORS:
            fail(where, f"the file holds more than {_MAX_ESTIMATORS} estimators")
        return _decode_estimator(body, where, self, depth, top)

    def estimator_ref(self, ident, where):
        if ident not in self.estimators:
            fail(where, f"refers to estimator {ident}, which the file does not define before")
        return self.estimators[ident]

    def target_device(self, saved, where):
        """The device a loaded module runs on: load's ``device``, else the fitted one when it exists here."""
        if self.device is not None:
            return self.device
        if saved.type == "cuda" and (not torch.cuda.is_available() or (saved.index or 0) >= torch.cuda.device_count()):
            warnings.warn(
                f"{self.path!s} was fitted on {saved}, which is not available here; it now runs on the CPU",
                UserWarning,
                stacklevel=5,
            )
            return torch.device("cpu")
        return saved


def _rebuild_module(est, state, slot, ctx, where):
    """The fitted module: rebuilt by ``est._new_module``, weights checked against it, then loaded."""
    if not hasattr(est, "_new_module"):
        fail(slot.where, f"{type(est).__name__} holds no torch module")
    if "sample_shape_" not in state:
        fail(f"{where}.fitted", "misses sample_shape_, which the module is built for")
    shape = state["sample_shape_"]
    user = not isinstance(getattr(est, "module", None), str)
    what = f"module={type(est.module).__name__}" if user else f"the rebuilt preset {est.module!r}"
    if not user:
        ctx.preset = ctx.preset or est.module
    weights = ctx.weights(slot.prefix, slot.where)
    try:  # on the meta device: a crafted parameter cannot allocate anything here
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            expected = est._new_module(shape).state_dict()
    except Exception as exc:  # the preset's own checks, or torch's on absurd sizes
        fail(f"{where}.params", f"the module cannot be built for samples of shape {shape}: {type(exc).__name__}: {exc}")
    hint = " (pass an instance of the architecture that was fitted)" if user else ""
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        fail(slot.where, f"the saved weights do not fit {what}{hint}: missing {show(missing)}, unexpected {show(unexpected)}")
    for key, ref in expected.items():
        got = weights[key]
        if tuple(got.shape) != tuple(ref.shape):
            fail(slot.where, f"the saved weights do not fit {what}{hint}: {key} has shape {tuple(got.shape)}, "
                             f"the module's {tuple(ref.shape)}")
        if got.dtype.is_floating_point != ref.dtype.is_floating_point or (
                not ref.dtype.is_floating_point and got.dtype != ref.dtype):
            fail(slot.where, f"the saved weights do not fit {what}: {key} has dtype {got.dtype}, the module's {ref.dtype}")
    with torch.random.fork_rng(devices=[]):  # building a preset draws its initial weights
        net = est._new_module(shape)
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        fail(slot.where, f"the saved weights do not fit {what}{hint}: {exc}")
    return net


def _decode_estimator(body, where, ctx, depth, top=False):
    if not isinstance(body, dict):
        fail(where, f"must be a JSON object, got {type(body).__name__}", TypeError)
    unknown = sorted(set(body) - _NODE_KEYS)
    if unknown:
        fail(where, f"has unknown key(s) {show(unknown)}")
    cls = classes.lookup(body.get("class"), f"{where}.class", top)
    sklearn = cls in classes.sklearn_specs()
    node = body.get("params")
    if not isinstance(node, dict):
        fail(f"{where}.params", f"must be a JSON object, got {type(node).__name__}", TypeError)
    known = set(cls._get_param_names())
    if set(node) - known:
        fail(f"{where}.params", f"has parameter(s) {sorted(set(node) - known)} that {cls.__name__} does not take")
    params = {k: decode(v, f"{where}.params.{k}", ctx, depth + 1) for k, v in node.items()}
    if any(isinstance(v, ModuleSlot) for v in params.values()):
        fail(f"{where}.params", "a parameter cannot be a fitted module")
    if not sklearn:
        rules.check_params(params, f"{where}.params")
    est = cls(**params)
    classes.check_params(est, params, where)

    node = body.get("fitted")
    if node is None and top:
        fail(f"{where}.fitted", "is missing: a saved estimator is fitted")
    if node is not None:
        if not isinstance(node, dict):
            fail(f"{where}.fitted", f"must be a JSON object or null, got {type(node).__name__}", TypeError)
        state = {k: decode(v, f"{where}.fitted.{k}", ctx, depth + 1) for k, v in node.items()}
        if not sklearn:
            rules.check_fitted(state, f"{where}.fitted")
            rules.check_together(params, state, where)
        slots = [k for k, v in state.items() if isinstance(v, ModuleSlot)]
        for name in slots:
            state[name] = _rebuild_module(est, state, state[name], ctx, where)
        if isinstance(state.get("device_"), torch.device):
            state["device_"] = ctx.target_device(state["device_"], f"{where}.fitted.device_")
            for name in slots:
                state[name] = state[name].to(state["device_"])
        classes.restore(est, state, where)
    config = body.get("output_config")
    if config is not None:
        config = decode(config, f"{where}.output_config", ctx, depth + 1)
        if not isinstance(config, dict) or not set(config) <= _OUTPUT_CONFIG or not all(
                v in ("default", "pandas", "polars") for v in config.values()):
            fail(f"{where}.output_config", f"must map 'transform' to 'default', 'pandas' or 'polars', got {show(config)}")
        est._sklearn_output_config = config
    ident = body.get("id")
    if ident is not None:
        if not isinstance(ident, int) or isinstance(ident, bool) or ident in ctx.estimators:
            fail(f"{where}.id", f"must be a new int, got {show(ident)}")
        ctx.estimators[ident] = est
    return est


def _from_version_1(path, meta):
    """The estimator node of a version-1 file (a transformer; its weights without a prefix)."""
    node = {k: meta[k] for k in ("class", "params", "fitted", "output_config") if k in meta}
    cls = classes.lookup(node.get("class"), f"{path!s}: {PARAMS}: class", top=True)
    from ._base import AutoencoderTransformerBase

    if not issubclass(cls, AutoencoderTransformerBase):
        raise archive.not_a_save(path, f"a version-1 file holds a transformer, not {cls.__name__}")
    fitted = node.get("fitted")
    if not isinstance(fitted, dict):
        raise archive.not_a_save(path, f"{PARAMS} has no fitted attributes")
    fitted = dict(fitted)
    if "module_" in fitted:
        raise archive.not_a_save(path, f"{PARAMS}: a version-1 file has no fitted module_ entry")
    if isinstance(fitted.get("device_"), str):
        fitted["device_"] = {"__torch_device__": fitted["device_"]}
    if isinstance(fitted.get("feature_names_in_"), list):
        fitted["feature_names_in_"] = {"__str_array__": fitted["feature_names_in_"]}
    for attr in ("sample_shape_", "image_shape_"):
        if isinstance(fitted.get(attr), list):  # files written without tuple tags
            fitted[attr] = {"__tuple__": fitted[attr]}
    fitted["module_"] = {"__torch_module__": ""}
    node["fitted"] = fitted
    return node


def load(path, *, device=None, module=None):
    """Load an estimator written by :func:`save`, without running code from the file.

    The parameters and fitted attributes are read as JSON and checked, the
    arrays with ``np.load(allow_pickle=False)`` and the weights with
    ``torch.load(..., weights_only=True)``; each module is rebuilt from
    installed code (a preset of :mod:`skgrad.models`, or ``module``) and its
    weights are checked against it before they are loaded.  This is the safe
    alternative to ``pickle.load``/``joblib.load``, which run code stored in
    the file and must only be used on files from trusted sources.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str, torch.device or None, default=None
        Where the loaded modules run (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"auto"``).  ``None``: the device they were fitted on when available
        here, else the CPU (with a warning), as when unpickling.
    module : torch.nn.Module or None, default=None
        Required when the estimator was fitted with a module instance rather
        than a preset: an instance of the same architecture (the file holds
        the weights, not the code).  It is not changed: the trained weights go
        into a deep copy, and ``module`` becomes the ``module`` parameter of
        each estimator that had one.  Must be None for a preset.

    Returns
    -------
    estimator : object
        A fitted estimator of the class that was saved, whose ``transform``
        (or ``score_samples``) gives the same output as the one saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not an skgrad save, is damaged, names a class that load
        does not accept, holds a value outside its range, or was fitted with a
        user module and ``module`` is missing or does not fit the saved
        weights.  The message names the file, its member and the key.
    TypeError
        If a value in the file, or ``module``, has the wrong type.

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
    members = archive.read_members(path)
    meta = archive.parse_json(path, members[PARAMS])
    if meta.get("format") != FORMAT:
        raise archive.not_a_save(path, f"{PARAMS} has no format marker {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise archive.not_a_save(path, f"{PARAMS} has no valid format_version (got {show(version)})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!s} was written in skgrad file format version {version!r} "
            f"(by skgrad {show(meta.get('skgrad_version'))}); this skgrad reads versions up to "
            f"{FORMAT_VERSION}: upgrade skgrad"
        )
    if version == 1:
        if STATE not in members or ARRAYS in members:
            raise archive.not_a_save(path, f"a version-1 file holds {PARAMS} and {STATE}, got {sorted(members)}")
        node = _from_version_1(path, meta)
    else:
        node = meta.get("estimator")
        if not isinstance(node, dict) or set(node) != {"__estimator__"}:
            raise archive.not_a_save(path, f"{PARAMS} has no estimator")
        node = node["__estimator__"]
    ctx = _Reader(path, members, module, device, version)
    est = ctx.estimator(node, f"{path!s}: {PARAMS}: estimator", 0, top=True)
    if module is not None and not ctx.module_used:
        raise ValueError(
            f"{path!s} holds an estimator fitted with the preset module={ctx.preset!r}, which load rebuilds "
            "itself; do not pass module="
        )
    return est
