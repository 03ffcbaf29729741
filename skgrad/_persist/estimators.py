"""Estimators in typed JSON: how :mod:`skgrad.persistence` writes and reads the ``__estimator__`` nodes.

A node is ``{"class", "id", "params", "fitted", "output_config"}``; its class is
looked up in an allow-list (:mod:`.classes`), its values are decoded and checked
(:mod:`.values`, :mod:`.rules`), its torch modules are rebuilt by the estimator's
``_new_module`` hook and their weights checked against it, and the estimator is made
fitted by its ``_restore`` hook (or, for an allowed scikit-learn class, by setting the
checked attributes).
"""
from __future__ import annotations

import warnings

import torch

from .._validation import resolve_device
from . import archive, classes, rules
from .archive import ARRAYS, PARAMS, STATE
from .values import ModuleSlot, decode, encode, fail, show

_MAX_ESTIMATORS = 256
_NODE_KEYS = {"class", "id", "params", "fitted", "output_config"}
_OUTPUT_CONFIG = {"transform", "fit_transform"}


# ---------------------------------------------------------------------- save
class Writer:
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
            if classes.class_key(type(est)) in classes.skgrad_classes():
                live = {k: getattr(est, k) for k in names if not isinstance(getattr(est, k), torch.nn.Module)}
                rules.check_fitted(live, f"{where}.fitted")
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


# ---------------------------------------------------------------------- load
class Reader:
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
        if not where.endswith(".params.module"):
            fail(where, "a user module can only be an estimator's module parameter")
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

    def target_device(self, saved):
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


def _holds_slot(value):
    """Whether ``value`` is or holds a fitted module (only a fitted attribute may be one)."""
    if isinstance(value, ModuleSlot):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_slot(v) for v in value)
    return isinstance(value, dict) and any(_holds_slot(v) for v in value.values())


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
        if got.dtype.is_floating_point and not bool(torch.isfinite(got).all()):
            fail(slot.where, f"{key} holds NaN or infinite values: not the weights of a trained model")
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
    if any(_holds_slot(v) for v in params.values()):
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
        slots = [k for k, v in state.items() if isinstance(v, ModuleSlot)]
        if any(_holds_slot(v) for k, v in state.items() if k not in slots):
            fail(f"{where}.fitted", "a fitted module can only be a fitted attribute of its own")
        if not sklearn:
            rules.check_fitted(state, f"{where}.fitted")
            rules.check_together(params, state, where)
        for name in slots:
            state[name] = _rebuild_module(est, state, state[name], ctx, where)
        if isinstance(state.get("device_"), torch.device):
            state["device_"] = ctx.target_device(state["device_"])
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


def from_version_1(path, meta):
    """The estimator node of a version-1 file (a transformer; its weights without a prefix)."""
    node = {k: meta[k] for k in ("class", "params", "fitted", "output_config") if k in meta}
    cls = classes.lookup(node.get("class"), f"{path!s}: {PARAMS}: class", top=True)
    from .._base import AutoencoderTransformerBase

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
