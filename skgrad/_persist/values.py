"""Typed values in JSON, and the checks of single decoded values.

Every JSON object written is a one-key tag, so that tuples, dicts, RandomState
instances, torch devices, arrays, modules and nested estimators come back as
what they were.  :func:`decode` builds only these kinds, checking each before it
reaches numpy or torch; the tags that need the rest of the file (arrays,
modules, estimators) are resolved through the caller's context.  Every failure
is a ``ValueError`` (a ``TypeError`` where the type is wrong) whose message
starts with ``where``: the file, its member and the key.
"""
from __future__ import annotations

import math
import numbers
import re

import numpy as np
import torch

#: Nesting of tags and lists that a file may use (a detector's file uses about 10).
MAX_DEPTH = 32
#: Bounds of a sample or image shape: each side, and the values per sample.
MAX_SIDE = 2**16
MAX_VALUES = 2**28
#: Longest list, tuple, dict or string accepted where no other bound applies.
MAX_ITEMS = 2**24

_MT_KEYS = 624
_DEVICE = re.compile(r"(cpu|cuda)(:[0-9]{1,4})?")


def show(value, width=60):
    """A short repr of a decoded value for messages."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def fail(where, message, kind=ValueError):
    raise kind(f"{where}: {message}")


# ------------------------------------------------------------------ scalars
def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, where, low=None, high=None):
    """An int (not a bool) in [low, high]."""
    if not is_int(value):
        fail(where, f"must be an int, got {show(value)} ({type(value).__name__})", TypeError)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        fail(where, f"must be an int {bounds}, got {show(value)}")
    return value


def check_float(value, where, *, finite=True, low=None, high=None, low_open=False):
    """A real number (not a bool), returned as a float; finite unless ``finite=False``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        fail(where, f"must be a number, got {show(value)} ({type(value).__name__})", TypeError)
    value = float(value)
    if finite and not math.isfinite(value):
        fail(where, f"must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        fail(where, f"must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        fail(where, f"must be <= {high}, got {value!r}")
    return value


def check_bool(value, where):
    if not isinstance(value, (bool, np.bool_)):
        fail(where, f"must be true or false, got {show(value)} ({type(value).__name__})", TypeError)
    return bool(value)


def check_str(value, where, choices=None):
    if not isinstance(value, str):
        fail(where, f"must be a string, got {show(value)} ({type(value).__name__})", TypeError)
    if choices is not None and value not in choices:
        fail(where, f"must be one of {sorted(choices)}, got {show(value)}")
    return value


def check_sequence(value, where, kinds=(list, tuple), min_len=0, max_len=MAX_ITEMS):
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        fail(where, f"must be a {names}, got {show(value)} ({type(value).__name__})", TypeError)
    if not min_len <= len(value) <= max_len:
        fail(where, f"must hold {min_len} to {max_len} items, got {len(value)}")
    return value


def check_str_list(value, where, kinds=(list,), min_len=1):
    check_sequence(value, where, kinds, min_len=min_len)
    for i, item in enumerate(value):
        check_str(item, f"{where}[{i}]")
    return value


def check_shape(value, where, lengths=(1, 3)):
    """A sample shape: a tuple of ``lengths`` positive ints, each <= 2**16, <= 2**28 values."""
    check_sequence(value, where, (tuple,))
    if len(value) not in lengths:
        fail(where, f"must be a tuple of {' or '.join(map(str, lengths))} ints, got {show(value)}")
    shape = tuple(check_int(s, f"{where}[{i}]", 1, MAX_SIDE) for i, s in enumerate(value))
    if math.prod(shape) > MAX_VALUES:
        fail(where, f"holds {math.prod(shape)} values per sample, more than {MAX_VALUES}")
    return shape


def check_device(value, where):
    """A torch.device of type cpu or cuda (from a tag or a string such as 'cuda:1')."""
    if isinstance(value, torch.device):
        value = str(value)
    check_str(value, where)
    if not _DEVICE.fullmatch(value):
        fail(where, f"must be a device 'cpu', 'cuda' or 'cuda:N', got {show(value)}")
    return torch.device(value)


def check_random_state(body, where):
    """A numpy RandomState from ``[name, keys, pos, has_gauss, gauss]``, each part checked."""
    check_sequence(body, where, (list,))
    if len(body) != 5:
        fail(where, f"must be [name, keys, pos, has_gauss, gauss], got {len(body)} items")
    name, keys, pos, has_gauss, gauss = body
    check_str(name, f"{where}.name", {"MT19937"})
    check_sequence(keys, f"{where}.keys", (list,))
    if len(keys) != _MT_KEYS:
        fail(f"{where}.keys", f"must hold exactly {_MT_KEYS} ints, got {len(keys)}")
    for i, key in enumerate(keys):
        if not is_int(key) or not 0 <= key < 2**32:
            check_int(key, f"{where}.keys[{i}]", 0, 2**32 - 1)
    pos = check_int(pos, f"{where}.pos", 0, _MT_KEYS)
    has_gauss = check_int(has_gauss, f"{where}.has_gauss", 0, 1)
    gauss = check_float(gauss, f"{where}.gauss")
    rs = np.random.RandomState()
    rs.set_state(("MT19937", np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    return rs


# --------------------------------------------------------------------- tags
class ModuleSlot:
    """A fitted torch module, rebuilt by its estimator (it needs the estimator's hooks)."""

    def __init__(self, prefix, where):
        self.prefix = prefix
        self.where = where


def encode(value, where, ctx):
    """JSON for ``value``; arrays, modules and estimators go through ``ctx``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if is_int(value):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, f"{where}[{i}]", ctx) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]", ctx) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            fail(where, f"dict keys must be strings to be saved, got {list(value)!r}", TypeError)
        return {"__dict__": {k: encode(v, f"{where}.{k}", ctx) for k, v in value.items()}}
    if isinstance(value, torch.device):
        return {"__torch_device__": str(value)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, gauss = value.get_state()
        return {"__random_state__": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}
    if isinstance(value, np.ndarray):
        if value.dtype == object and all(isinstance(v, str) for v in value.ravel()) and value.ndim == 1:
            return {"__str_array__": value.tolist()}
        if value.dtype.kind not in "biuf" or value.dtype.byteorder == ">":
            fail(where, f"an array of dtype {value.dtype} cannot be stored (numbers and strings only)", TypeError)
        return {"__ndarray__": ctx.array(value)}
    if isinstance(value, torch.nn.Module):
        return ctx.module(value, where)
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return ctx.estimator(value, where)
    fail(
        where,
        f"{show(value)} ({type(value).__name__}) cannot be stored by skgrad.persistence.save; use None, "
        "numbers, strings, tuples, lists, dicts, arrays, a RandomState, a torch.device or an estimator "
        "that save supports (or pickle/joblib, whose files run code when loaded: trusted sources only)",
        TypeError,
    )


def decode(node, where, ctx, depth=0):
    """The value of a JSON node, each part checked; ``ctx`` resolves arrays, modules and estimators."""
    if depth > MAX_DEPTH:
        fail(where, f"is nested more than {MAX_DEPTH} levels deep")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        check_sequence(node, where, (list,))
        return [decode(v, f"{where}[{i}]", ctx, depth + 1) for i, v in enumerate(node)]
    if not isinstance(node, dict) or len(node) != 1:
        keys = sorted(node) if isinstance(node, dict) else type(node).__name__
        fail(where, f"a JSON object here must be one type tag such as {{'__tuple__': [...]}}, got keys {show(keys)}")
    ((tag, body),) = node.items()
    if tag == "__tuple__":
        check_sequence(body, f"{where}.{tag}", (list,))
        return tuple(decode(v, f"{where}[{i}]", ctx, depth + 1) for i, v in enumerate(body))
    if tag == "__dict__":
        if not isinstance(body, dict):
            fail(f"{where}.{tag}", f"must be a JSON object, got {type(body).__name__}", TypeError)
        check_sequence(list(body), f"{where}.{tag}")
        return {k: decode(v, f"{where}.{k}", ctx, depth + 1) for k, v in body.items()}
    if tag == "__torch_device__":
        return check_device(body, where)
    if tag == "__random_state__":
        return check_random_state(body, where)
    if tag == "__str_array__":
        check_str_list(body, where, min_len=0)
        return np.asarray(body, dtype=object)
    if tag == "__ndarray__":
        return ctx.array(check_str(body, where), where)
    if tag == "__user_module__":
        return ctx.user_module(check_str(body, where), where)
    if tag == "__torch_module__":
        return ModuleSlot(check_str(body, where), where)
    if tag == "__estimator__":
        return ctx.estimator(body, where, depth + 1)
    if tag == "__estimator_ref__":
        return ctx.estimator_ref(check_int(body, where, 0), where)
    fail(where, f"unknown type tag {show(tag)}")
