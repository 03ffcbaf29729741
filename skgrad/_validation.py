"""Input validation: arrays of images (or tabular rows) in, float32 tensors out.

Every check on ``X`` and every message a user sees about it lives here.  The
estimators validate once in ``fit``/``transform`` (:func:`check_input`), keep
the validated array as it is (uint8 stays uint8, so large inputs are not copied),
and convert one chunk at a time with :func:`to_tensor`.  torch is imported by the
functions that use it: :mod:`skgrad.metrics` (and through it :mod:`skgrad.iqa` and
``skgrad iqa``) validate with :func:`as_1d_float` without loading torch.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_array

__all__ = ["check_input", "to_tensor", "check_image_shape", "resolve_device", "check_output_memory",
           "check_estimator_params"]


def check_image_shape(image_shape):
    """Validate an ``image_shape`` parameter: ``(H, W)`` or ``(H, W, C)``.

    Returns ``(H, W, C)`` as a tuple of ints, or ``None`` for ``None``.

    >>> check_image_shape((28, 28))
    (28, 28, 1)
    >>> check_image_shape([8, 8, 3])
    (8, 8, 3)
    """
    if image_shape is None:
        return None
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"image_shape must be a tuple (H, W) or (H, W, C) of positive ints, got {image_shape!r}"
        ) from None
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"image_shape must be a tuple (H, W) or (H, W, C) of positive ints, got {image_shape!r}"
        )
    return shape


def check_input(X, *, image_shape=None, require_unit_range=True, estimator_name="estimator"):
    """Validate ``X`` and describe its layout.

    Parameters
    ----------
    X : array-like
        ``(n, H, W, C)`` or ``(n, H, W)`` images, or ``(n, F)`` rows.  uint8
        images are scaled by 1/255 later (in :func:`to_tensor`); float images
        must lie in [0, 1].
    image_shape : tuple or None
        When given, 2-D input ``(n, H*W*C)`` is read as images of this shape
        (row-major ``H, W, C`` order).
    require_unit_range : bool
        Whether non-uint8 values must lie in [0, 1] (images, or any input
        with a binary cross-entropy loss).  Tabular input with a squared-error
        loss may take any finite value.
    estimator_name : str
        Used in messages.

    Returns
    -------
    X : ndarray
        The validated array (not copied when it already was a numeric ndarray).
    sample_shape : tuple
        ``(H, W, C)`` for images, ``(F,)`` for rows.
    scale : float
        1/255 for uint8 input, else 1.

    Examples
    --------
    >>> import numpy as np
    >>> X, shape, scale = check_input(np.zeros((2, 8, 8), dtype=np.uint8))
    >>> shape, scale == 1 / 255
    ((8, 8, 1), True)
    """
    import torch  # here, not at the top: skgrad.metrics uses this module without torch

    if isinstance(X, torch.Tensor):
        raise TypeError(
            f"{estimator_name} takes numpy arrays (or array-likes), not torch tensors; "
            "pass X.cpu().numpy()"
        )
    if hasattr(X, "dtype") and getattr(X, "ndim", None) is not None:
        kind = np.dtype(X.dtype).kind if not hasattr(X, "dtypes") else None
        if kind in ("U", "S"):
            raise TypeError(
                f"{estimator_name} needs numeric images or rows, got an array of strings "
                f"(dtype {X.dtype}); accepted: uint8 images, or float images in [0, 1]"
            )
        if kind == "c":  # ValueError with sklearn's wording: check_complex_data expects it
            raise ValueError(
                f"Complex data not supported: {estimator_name} needs real images or rows, got dtype {X.dtype}; "
                "accepted: uint8 images, or float images in [0, 1]"
            )
        if kind in ("M", "m", "V"):
            raise TypeError(
                f"{estimator_name} needs numeric images or rows, got an array of dtype {X.dtype}; "
                "accepted: uint8 images, or float images in [0, 1]"
            )
    if np.isscalar(X) or getattr(X, "ndim", None) == 0:
        raise ValueError(
            f"{estimator_name} expects X of shape (n, H, W, C), (n, H, W) or (n, F); got a scalar "
            "(0 dimensions). Reshape your data"
        )
    try:
        X = check_array(
            X,
            dtype="numeric",
            allow_nd=True,
            ensure_2d=False,
            ensure_min_samples=1,
            ensure_min_features=1,
            input_name="X",
            ensure_all_finite=False,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, TypeError) or "could not convert" in str(exc):
            dtype = getattr(X, "dtype", None)
            raise TypeError(
                f"{estimator_name} needs numeric images or rows, but X holds values that are not numbers"
                + (f" (dtype {dtype})" if dtype is not None else "")
                + f": {exc}; accepted: uint8 images, or float images in [0, 1]"
            ) from exc
        raise
    if X.ndim < 2:
        raise ValueError(
            f"{estimator_name} expects X of shape (n, H, W, C), (n, H, W) or (n, F); got an array with "
            f"1 dimension, shape {X.shape}. Reshape your data: X[np.newaxis] for a single sample, "
            "X.reshape(-1, 1) for a single feature"
        )
    if X.dtype.kind == "b":
        X = X.astype(np.float32)
    if X.ndim > 4:
        raise ValueError(
            f"{estimator_name} expects X of shape (n, H, W, C), (n, H, W) or (n, F); "
            f"got an array with {X.ndim} dimensions, shape {X.shape}"
        )
    image_shape = check_image_shape(image_shape)
    if X.ndim == 2:
        if image_shape is not None:
            if int(np.prod(image_shape)) != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} columns, which cannot be reshaped to image_shape "
                    f"{image_shape} ({int(np.prod(image_shape))} values per image)"
                )
            X = X.reshape((X.shape[0],) + image_shape)
            sample_shape = image_shape
        else:
            sample_shape = (X.shape[1],)
    else:
        if X.ndim == 3:
            X = X[..., np.newaxis]
        sample_shape = tuple(int(s) for s in X.shape[1:])
        if image_shape is not None and sample_shape != image_shape:
            raise ValueError(
                f"X holds images of shape {sample_shape} (H, W, C) but image_shape={image_shape}"
            )
    is_images = len(sample_shape) == 3
    if min(sample_shape) < 1:
        raise ValueError(
            f"{estimator_name}: each sample must hold at least one value, got samples of shape {sample_shape}"
        )
    if X.dtype.kind == "f":
        lo, hi = float(X.min()), float(X.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            what = "NaN" if np.isnan(lo) or np.isnan(hi) else "infinity"
            raise ValueError(
                f"{estimator_name}: X contains {what}; accepted: finite values "
                + ("(uint8 images, or float images in [0, 1])" if is_images or require_unit_range else "")
            )
    if X.dtype == np.uint8:
        scale = 1.0 / 255.0
    else:
        scale = 1.0
        if require_unit_range or is_images:
            lo, hi = float(X.min()), float(X.max())
            if lo < 0.0 or hi > 1.0:
                what = "images" if is_images else "input with a binary cross-entropy loss"
                raise ValueError(
                    f"{estimator_name}: {X.dtype} {what} must lie in [0, 1] (only uint8 is scaled by 1/255), got values in "
                    f"[{lo:.4g}, {hi:.4g}]; pass uint8 images (scaled by 1/255) or rescale "
                    "X to [0, 1]"
                )
    return X, sample_shape, scale


def to_tensor(X, scale, device, *, flat=False):
    """Convert a validated chunk to a float32 tensor on ``device``.

    Images ``(n, H, W, C)`` become ``(n, C, H, W)`` (or ``(n, H*W*C)`` with
    ``flat=True``); rows ``(n, F)`` stay ``(n, F)``.

    >>> import numpy as np
    >>> to_tensor(np.full((1, 2, 2, 3), 255, np.uint8), 1 / 255, "cpu").shape
    torch.Size([1, 3, 2, 2])
    """
    import torch

    X = np.ascontiguousarray(X)
    if not X.flags.writeable:  # e.g. a read-only memmap; torch wants writable memory
        X = X.copy()
    t = torch.from_numpy(X)
    t = t.to(device=device, dtype=torch.float32, non_blocking=True)
    if scale != 1.0:
        t = t * scale
    if t.ndim == 4:
        t = t.reshape(t.shape[0], -1) if flat else t.permute(0, 3, 1, 2).contiguous()
    return t


def resolve_device(device):
    """Turn a ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks the first CUDA device when there is one, else the CPU.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use device='auto' or 'cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) are present"
            )
    return dev


def as_1d_float(values, name):
    """``values`` as a 1-D float64 array of finite numbers (an ``(n, 1)`` column too).

    For labels, scores and other per-sample vectors of the metrics; ``name``
    names the argument in the ``ValueError``.
    """
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def available_memory_bytes():
    """Memory the system can still give (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_output_memory(n_rows, n_cols, estimator_name, budget=None):
    """Fail early, with advice, when a float32 (n_rows, n_cols) output cannot fit in memory."""
    need = 4 * int(n_rows) * int(n_cols)
    budget = available_memory_bytes() if budget is None else budget
    if budget is not None and need > 0.8 * budget:
        raise MemoryError(
            f"{estimator_name}.transform would return {n_rows} x {n_cols} float32 features "
            f"({need / 2**30:.1f} GiB), more than this machine can hold ({budget / 2**30:.1f} GiB available). "
            "Use reduction='norm' or 'stats', fewer layers, transform fewer samples at a time, or "
            "skgrad.extract.transform_to_npy to write features to disk chunk by chunk."
        )


def _is_int(value, low):
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= low


def _is_real(value):
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and np.isfinite(value)


def check_estimator_params(est):
    """Validate the parameters the two transformers share (``est._check_params``)."""
    import torch

    from ._threads import check_n_threads
    from .models import PRESETS

    name = type(est).__name__
    for pname, low in (("epochs", 0), ("batch_size", 1), ("n_iter_no_change", 1)):
        value = getattr(est, pname)
        if not _is_int(value, low):
            raise ValueError(f"{name}: {pname} must be an int >= {low}, got {value!r}")
    for pname in ("learning_rate", "weight_decay", "tol"):
        value = getattr(est, pname)
        if not _is_real(value) or value < 0:
            raise ValueError(f"{name}: {pname} must be a float >= 0, got {value!r}")
    check_n_threads(est.n_threads, name)
    vf = est.validation_fraction
    if not _is_real(vf) or not 0.0 < vf < 1.0:
        raise ValueError(f"{name}: validation_fraction must be a float in (0, 1), got {vf!r}")
    if not isinstance(est.early_stopping, (bool, np.bool_)):
        raise ValueError(f"{name}: early_stopping must be True or False, got {est.early_stopping!r}")
    if isinstance(est.module, str):
        if est.module not in PRESETS:
            raise ValueError(
                f"{name}: unknown module preset {est.module!r}; choose from {PRESETS} or pass a torch.nn.Module"
            )
    elif isinstance(est.module, type) and issubclass(est.module, torch.nn.Module):
        raise TypeError(
            f"{name}: module={est.module.__name__} is a class; pass an instance, e.g. module={est.module.__name__}()"
        )
    elif not isinstance(est.module, torch.nn.Module):
        raise TypeError(
            f"{name}: module must be one of {PRESETS} or a torch.nn.Module instance, got {type(est.module).__name__}"
        )
    if est.module_kwargs is not None and not isinstance(est.module_kwargs, dict):
        raise TypeError(f"{name}: module_kwargs must be a dict or None, got {type(est.module_kwargs).__name__}")
    if est.module_kwargs and not isinstance(est.module, str):
        raise ValueError(f"{name}: module_kwargs applies to presets only, not to a module instance")
