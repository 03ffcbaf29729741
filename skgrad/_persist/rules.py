"""What a decoded parameter or fitted attribute of an skgrad estimator may be, by its name.

The names are skgrad's and scikit-learn's vocabulary (``random_state``,
``n_features_in_``, ``history_``, ...), whichever estimator holds them.  An
attribute whose name is not listed is still saved and loaded: its value is then
checked by kind only (see :mod:`.values`), and by the estimator's ``_restore``
hook, which checks how the attributes fit together.  So an estimator that gains
an attribute of a known kind needs no change here.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..losses import LOSSES, check_loss
from .values import (
    MAX_VALUES,
    ModuleSlot,
    check_bool,
    check_device,
    check_float,
    check_int,
    check_sequence,
    check_shape,
    check_str,
    check_str_list,
    fail,
    is_int,
    show,
)

_SMALL = 2**16  # sizes in module_kwargs (channels, hidden sizes, latent dimension)
MAX_BATCH = 2**16


def _optional(rule):
    def check(value, where):
        return None if value is None else rule(value, where)

    return check


def _pos_int(value, where):
    return check_int(value, where, 1)


def _count(value, where):
    return check_int(value, where, 0)


def _finite(value, where):
    return check_float(value, where)


def _float(value, where):  # NaN allowed (e.g. the loss of weights read from a .mat file)
    return check_float(value, where, finite=False)


def _positive(value, where):
    return check_float(value, where, low=0.0, low_open=True)


def _float_list(finite):
    def check(value, where):
        check_sequence(value, where, (list,), max_len=2**22)
        return [check_float(v, f"{where}[{i}]", finite=finite) for i, v in enumerate(value)]

    return check


def _losses(value, where):
    check_sequence(value, where, (tuple,), min_len=1, max_len=len(LOSSES))
    for i, name in enumerate(value):
        check_str(name, f"{where}[{i}]", set(LOSSES))
    if len(set(value)) != len(value):
        fail(where, f"must name distinct losses, got {show(value)}")
    return value


def _layers_(value, where):
    """Fitted layers: a list of names, or {loss: list of names}."""
    if isinstance(value, dict):
        check_sequence(list(value), where, min_len=1, max_len=len(LOSSES))
        for loss, names in value.items():
            check_str(loss, f"{where} key", set(LOSSES))
            check_str_list(names, f"{where}.{loss}")
        return value
    return check_str_list(value, where)


def _device(value, where):
    if not isinstance(value, torch.device):
        fail(where, f"must be a torch device (tagged __torch_device__), got {show(value)}", TypeError)
    return check_device(value, where)


def _module(value, where):
    if not isinstance(value, ModuleSlot):
        fail(where, f"must be a torch module (tagged __torch_module__), got {show(value)}", TypeError)
    return value


def _array(kinds, ndim):
    def check(value, where):
        if not isinstance(value, np.ndarray):
            fail(where, f"must be an array (tagged __ndarray__), got {show(value)}", TypeError)
        if value.dtype.kind not in kinds or value.ndim != ndim:
            fail(where, f"must be a {ndim}-D array of kind {kinds!r}, got dtype {value.dtype}, shape {value.shape}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            fail(where, "must hold finite values only")
        return value

    return check


def _indices(value, where):
    value = _array("iu", 1)(value, where)
    if value.size and value.min() < 0:
        fail(where, "must hold indices >= 0")
    return value


def _array_list(value, where):
    check_sequence(value, where, (list,), min_len=1)
    return [_array("f", 1)(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _scales(value, where):
    check_sequence(value, where, (tuple,), min_len=1, max_len=64)
    return tuple(_positive(v, f"{where}[{i}]") for i, v in enumerate(value))


def _str_names(value, where):
    if not isinstance(value, np.ndarray) or value.dtype != object or value.ndim != 1:
        fail(where, f"must be an array of strings (tagged __str_array__), got {show(value)}", TypeError)
    return value


def _fitted_estimator(value, where):
    if not (hasattr(value, "get_params") and hasattr(value, "fit")):
        fail(where, f"must be an estimator (tagged __estimator__), got {show(value)}", TypeError)
    if not any(k.endswith("_") and not k.startswith("_") for k in vars(value)):
        fail(where, f"must be a fitted {type(value).__name__}, but the file holds no fitted state for it")
    return value


#: Fitted attributes of skgrad estimators, by name.
FITTED = {
    "n_features_in_": _pos_int,
    "n_features_out_": _pos_int,
    "feature_names_in_": _str_names,
    "losses_": _losses,
    "history_": _float_list(finite=False),  # NaN when training diverged
    "validation_history_": _optional(_float_list(finite=False)),  # NaN for epochs without validation
    "n_epochs_": _count,
    "n_threads_": _optional(_pos_int),
    "best_epoch_": _optional(_pos_int),
    "layers_": _layers_,
    "sample_shape_": check_shape,
    "image_shape_": _optional(lambda v, w: check_shape(v, w, lengths=(3,))),
    "input_scale_": _positive,
    "variational_": check_bool,
    "device_": _device,
    "module_": _module,
    "offset_": _finite,
    "loss_": _float,
    "n_iter_": _count,
    "n_training_references_": _count,
    "scales_": _scales,
    "blocks_": check_str_list,
    "validation_indices_": _indices,
    "mean_gradients_": _array_list,
    "transformer_": _fitted_estimator,
    "model_": _fitted_estimator,
    "scaler_": _optional(_fitted_estimator),
    "covariance_": _optional(_fitted_estimator),
}


def check_fitted(state, where):
    """Check each known attribute of ``state`` (in place), then how the known ones agree."""
    for name, value in state.items():
        if name in FITTED:
            state[name] = FITTED[name](value, f"{where}.{name}")
    get = state.get
    if "feature_names_in_" in state and "n_features_in_" in state and len(get("feature_names_in_")) != get("n_features_in_"):
        fail(f"{where}.feature_names_in_", f"must hold n_features_in_={get('n_features_in_')} names")
    if "sample_shape_" in state:
        shape = state["sample_shape_"]
        if "n_features_in_" in state and get("n_features_in_") != math.prod(shape):
            fail(f"{where}.n_features_in_", f"must be the product of sample_shape_ {shape}, got {get('n_features_in_')}")
        if "image_shape_" in state and get("image_shape_") != (shape if len(shape) == 3 else None):
            fail(f"{where}.image_shape_", f"must be sample_shape_ for images, else None; got {show(get('image_shape_'))}")
    if "n_epochs_" in state:
        n = state["n_epochs_"]
        for name in ("history_", "validation_history_"):
            if get(name) is not None and len(get(name)) != n:
                fail(f"{where}.{name}", f"must hold n_epochs_={n} values, got {len(get(name))}")
        if get("best_epoch_") is not None and get("best_epoch_") > n:
            fail(f"{where}.best_epoch_", f"must be <= n_epochs_={n}, got {get('best_epoch_')}")
    return state


# --------------------------------------------------------------- parameters
def _random_state(value, where):
    if value is None or isinstance(value, np.random.RandomState):
        return value
    return check_int(value, where, 0, 2**32 - 1)


def _device_param(value, where):
    if isinstance(value, str) and value == "auto":
        return value
    device = check_device(value, where)
    return device if isinstance(value, torch.device) else value


def _image_shape(value, where):
    check_sequence(value, where, (tuple, list))
    if len(value) not in (2, 3):
        fail(where, f"must be (H, W) or (H, W, C), got {show(value)}")
    check_shape(tuple(value) + (1,) * (3 - len(value)), where, lengths=(3,))
    return value


def _loss(value, where):
    if isinstance(value, str) and value == "auto":
        return value
    if not isinstance(value, (str, tuple, list)):
        fail(where, f"must be 'auto', a loss name or a tuple of them, got {show(value)}", TypeError)
    check_sequence(value, where, (str, tuple, list), max_len=64)
    try:
        check_loss(value)
    except (TypeError, ValueError) as exc:
        fail(where, str(exc), type(exc))
    return value


def _label(value, where):
    if value is None or isinstance(value, (bool, str)) or is_int(value):
        return value
    return check_float(value, where)


def _verbose(value, where):
    return check_bool(value, where) if isinstance(value, bool) else check_int(value, where, 0, 100)


def _kwarg_value(value, where):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (tuple, list)):
        check_sequence(value, where, max_len=64)
        for i, v in enumerate(value):
            check_int(v, f"{where}[{i}]", 1, _SMALL)
        return value
    if is_int(value):
        return check_int(value, where, 1, _SMALL)
    return check_float(value, where)


def _module_kwargs(value, where):
    if not isinstance(value, dict):
        fail(where, f"must be a dict or None, got {show(value)}", TypeError)
    check_sequence(list(value), where, max_len=64)
    for key, item in value.items():
        _kwarg_value(item, f"{where}.{key}")
    return value


def _layers(value, where):
    """The layers parameter: "auto", a name, a list of names, or {loss: name or names}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        check_sequence(list(value), where, min_len=1, max_len=len(LOSSES))
        for loss, names in value.items():
            if not isinstance(names, str):
                check_str_list(names, f"{where}.{loss}", kinds=(list, tuple))
        return value
    return check_str_list(value, where, kinds=(list, tuple))


def _n_jobs(value, where):
    value = check_int(value, where, -1024, 1024)
    if value == 0:
        fail(where, "must not be 0")
    return value


def _n_threads(value, where):
    if isinstance(value, str) and value == "auto" or value is None:
        return value
    return check_int(value, where, 1, 1024)


def _batch_size(value, where):
    # transform pads every chunk to batch_size samples: a huge one would allocate that many
    return check_int(value, where, 1, MAX_BATCH)


def _scales_param(value, where):
    return check_sequence(value, where, (tuple, list), min_len=1, max_len=64)


#: Parameters of skgrad estimators, by name, that their ``_check_params`` leaves to ``fit``
#: (or checks without an upper bound).
PARAMS = {
    "batch_size": _batch_size,
    "scales": _scales_param,
    "random_state": _random_state,
    "device": _device_param,
    "image_shape": _optional(_image_shape),
    "loss": _loss,
    "inlier_label": _label,
    "verbose": _verbose,
    "warm_start": check_bool,
    "module_kwargs": _optional(_module_kwargs),
    "layers": _layers,
    "n_jobs": _optional(_n_jobs),
    "n_threads": _n_threads,
}


def check_params(params, where):
    """Check each known parameter in ``params`` (in place)."""
    for name, value in params.items():
        if name in PARAMS:
            params[name] = PARAMS[name](value, f"{where}.{name}")
    return params


def check_together(params, state, where):
    """Bounds that join a parameter and a fitted attribute."""
    if is_int(params.get("batch_size")) and is_int(state.get("n_features_in_")):
        values = params["batch_size"] * state["n_features_in_"]
        if values > MAX_VALUES:
            fail(f"{where}.params.batch_size", f"batch_size * n_features_in_ = {values} values per padded chunk, "
                                               f"more than {MAX_VALUES}")
