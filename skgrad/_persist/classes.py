"""The classes a saved file may name, and how each is checked and rebuilt.

* skgrad estimators: subclasses (already imported, never imported by a name read
  from a file) of :class:`~skgrad._base.AutoencoderTransformerBase`,
  :class:`~skgrad.outlier.GradientOutlierDetector`,
  :class:`~skgrad.iqa.SparsePatchAutoencoder` and
  :class:`~skgrad.iqa.PairedGradientTransformer`.  Their parameters are checked by
  name (:mod:`.rules`) and by their own ``_check_params``; their fitted state by
  name and by their own ``_restore`` hook, which rebuilds what ``transform`` needs.
* scikit-learn estimators that skgrad estimators hold (a detector's scaler and
  covariance, a frozen autoencoder): these exact classes only, their parameters
  checked by scikit-learn's own constraints, their fitted attributes by the
  specifications below, then set.
"""
from __future__ import annotations

import functools

import numpy as np

from . import rules
from .values import MAX_VALUES, check_float, check_int, fail, show


def _skgrad_roots():
    """``(abstract bases, concrete classes)`` whose subclasses a file may name."""
    from .._base import AutoencoderTransformerBase
    from ..iqa.autoencoder import SparsePatchAutoencoder
    from ..iqa.paired import PairedGradientTransformer
    from ..outlier import GradientOutlierDetector

    return (AutoencoderTransformerBase,), (GradientOutlierDetector, SparsePatchAutoencoder, PairedGradientTransformer)


def class_key(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def skgrad_classes():
    """``{'module.qualname': class}``: the skgrad estimators and their subclasses defined so far."""
    abstract, concrete = _skgrad_roots()
    found = {class_key(c): c for c in concrete}
    todo = list(abstract + concrete)
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if class_key(sub) not in found:
                found[class_key(sub)] = sub
                todo.append(sub)
    return found


# ------------------------------------------------------------ scikit-learn
def _names(state, required, optional, where):
    missing = sorted(required - set(state))
    unknown = sorted(set(state) - required - optional)
    if missing:
        fail(where, f"misses fitted attribute(s) {missing}")
    if unknown:
        fail(where, f"has fitted attribute(s) {unknown} that this class does not have")


def _vector(value, n, where, positive=False, nonnegative=False):
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != (n,):
        fail(where, f"must be a float array of shape ({n},), got {show(value)}")
    if not np.all(np.isfinite(value)) or (positive and np.any(value <= 0)) or (nonnegative and np.any(value < 0)):
        fail(where, f"must hold finite values{' > 0' if positive else ' >= 0' if nonnegative else ''}")
    return value


def _matrix(value, n, where):
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != (n, n):
        fail(where, f"must be a float array of shape ({n}, {n}), got {show(value)}")
    if not np.all(np.isfinite(value)):
        fail(where, "must hold finite values")
    return value


def _n_features(state, where):
    return check_int(state["n_features_in_"], f"{where}.n_features_in_", 1, MAX_VALUES)


def _feature_names(state, n, where):
    if "feature_names_in_" in state:
        rules.FITTED["feature_names_in_"](state["feature_names_in_"], f"{where}.feature_names_in_")
        if len(state["feature_names_in_"]) != n:
            fail(f"{where}.feature_names_in_", f"must hold n_features_in_={n} names")


def _standard_scaler(est, state, where):
    _names(state, {"n_features_in_", "n_samples_seen_", "mean_", "var_", "scale_"}, {"feature_names_in_"}, where)
    n = _n_features(state, where)
    _feature_names(state, n, where)
    seen = state["n_samples_seen_"]
    if isinstance(seen, np.ndarray):
        if seen.dtype.kind not in "iu" or seen.shape != (n,) or np.any(seen < 0):
            fail(f"{where}.n_samples_seen_", f"must be a number or an int array of shape ({n},) >= 0")
    else:
        check_float(seen, f"{where}.n_samples_seen_", low=0.0)
    for name, used, kw in (("mean_", est.with_mean, {}), ("var_", est.with_std, {"nonnegative": True}),
                           ("scale_", est.with_std, {"positive": True})):
        if state[name] is None:
            if used:
                fail(f"{where}.{name}", f"must be an array when {'with_mean' if name == 'mean_' else 'with_std'}=True")
        else:
            _vector(state[name], n, f"{where}.{name}", **kw)


def _covariance(shrinkage):
    def check(est, state, where):
        required = {"n_features_in_", "location_", "covariance_", "precision_"} | ({"shrinkage_"} if shrinkage else set())
        _names(state, required, {"feature_names_in_"}, where)
        n = _n_features(state, where)
        _feature_names(state, n, where)
        _vector(state["location_"], n, f"{where}.location_")
        _matrix(state["covariance_"], n, f"{where}.covariance_")
        if state["precision_"] is None:
            if est.store_precision:
                fail(f"{where}.precision_", "must be an array when store_precision=True")
        else:
            _matrix(state["precision_"], n, f"{where}.precision_")
        if shrinkage:
            check_float(state["shrinkage_"], f"{where}.shrinkage_", low=0.0, high=1.0)

    return check


def _frozen_params(est, where):
    if class_key(type(est.estimator)) not in skgrad_classes() and type(est.estimator) not in sklearn_specs():
        fail(f"{where}.estimator", f"must be an estimator that save supports, got {type(est.estimator).__name__}", TypeError)


def _frozen(est, state, where):
    _names(state, set(), set(), where)


@functools.lru_cache(maxsize=None)
def sklearn_specs():
    """``{class: (check_params(est, where), check_fitted(est, state, where))}``."""
    from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf, ShrunkCovariance
    from sklearn.preprocessing import StandardScaler

    def constraints(est, where):
        try:
            est._validate_params()
        except (TypeError, ValueError) as exc:
            fail(where, str(exc), TypeError if not isinstance(exc, ValueError) else ValueError)

    specs = {
        StandardScaler: (constraints, _standard_scaler),
        EmpiricalCovariance: (constraints, _covariance(False)),
        ShrunkCovariance: (constraints, _covariance(False)),
        LedoitWolf: (constraints, _covariance(True)),
        OAS: (constraints, _covariance(True)),
    }
    from sklearn.frozen import FrozenEstimator  # scikit-learn >= 1.6, the required version

    specs[FrozenEstimator] = (_frozen_params, _frozen)
    return specs


# ------------------------------------------------------------------- lookup
def lookup(key, where, top=False):
    """The class named ``key`` in the file: an skgrad estimator, or (nested) an allowed scikit-learn one."""
    known = skgrad_classes()
    if isinstance(key, str) and key in known:
        return known[key]
    sklearn = {class_key(c): c for c in sklearn_specs()}
    if not top and isinstance(key, str) and key in sklearn:
        return sklearn[key]
    allowed = sorted(known) + ([] if top else sorted(sklearn))
    fail(
        where,
        f"names class {show(key)}, which is not an estimator that skgrad.persistence loads "
        f"(known: {allowed}); for a subclass of your own, import it before loading",
    )


def is_saveable(cls):
    return class_key(cls) in skgrad_classes() or cls in sklearn_specs()


def check_params(est, params, where):
    """Check the decoded ``params`` (already set on ``est``) with the class's own checks."""
    spec = sklearn_specs().get(type(est))
    if spec is not None:
        spec[0](est, f"{where}.params")
        return
    if hasattr(est, "_check_params"):
        try:
            est._check_params()
        except (TypeError, ValueError) as exc:
            fail(f"{where}.params", str(exc), TypeError if isinstance(exc, TypeError) else ValueError)


def restore(est, state, where):
    """Make ``est`` fitted from its ``state`` (checked by name for an skgrad estimator): its ``_restore``
    hook, or a scikit-learn specification."""
    spec = sklearn_specs().get(type(est))
    if spec is not None:
        spec[1](est, state, f"{where}.fitted")
        for name, value in state.items():
            setattr(est, name, value)
        return est
    try:
        est._restore(state)
    except KeyError as exc:
        fail(f"{where}.fitted", f"misses fitted attribute {exc}")
    except (TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        fail(f"{where}.fitted", f"{type(exc).__name__}: {exc}", TypeError if isinstance(exc, TypeError) else ValueError)
    return est


def fitted_names(est):
    """Names of the public fitted attributes of ``est`` (the estimator's hook when it has one)."""
    if hasattr(est, "_fitted_attributes"):
        return list(est._fitted_attributes())
    return sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("_"))
