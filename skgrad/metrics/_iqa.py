"""IQA evaluation: the VQEG logistic mapping, rank and linear correlations, scorers.

Public in :mod:`skgrad.metrics`, whose docstring states the convention.
"""
import warnings

import numpy as np
from scipy import optimize, special, stats
from sklearn.metrics import make_scorer

from .._validation import as_1d_float as _as_1d_float
from ._correlation import pearson, spearman

__all__ = [
    "logistic5",
    "fit_logistic5",
    "iqa_report",
    "srocc",
    "krocc",
    "plcc",
    "rmse",
    "srocc_scorer",
    "krocc_scorer",
    "plcc_scorer",
    "rmse_scorer",
]


# --------------------------------------------------------------------------- #
# IQA: VQEG logistic mapping
# --------------------------------------------------------------------------- #
def logistic5(x, b1, b2, b3, b4, b5):
    """VQEG 5-parameter logistic ``b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5``.

    Evaluated overflow-free with :func:`scipy.special.expit`.

    Parameters
    ----------
    x : array-like
        Objective scores.
    b1, b2, b3, b4, b5 : float
        Parameters.

    Returns
    -------
    ndarray
        Mapped scores, same shape as ``x``.

    Examples
    --------
    >>> float(logistic5(0.0, 2.0, 1.0, 0.0, 0.0, 1.0))
    1.0
    >>> float(logistic5(1.0, 0.0, 1.0, 0.0, 3.0, 1.0))
    4.0
    """
    x = np.asarray(x, dtype=np.float64)
    # 1 / (1 + exp(z)) == expit(-z)
    return b1 * (0.5 - special.expit(-b2 * (x - b3))) + b4 * x + b5


def _sse(params, x, y):
    with np.errstate(all="ignore"):
        r = logistic5(x, *params) - y
    s = float(np.dot(r, r))
    return s if np.isfinite(s) else np.inf


def fit_logistic5(x, y, *, maxfev=2000):
    """Least-squares fit of :func:`logistic5` mapping objective ``x`` to subjective ``y``.

    :func:`scipy.optimize.curve_fit` is started from the customary VQEG initial
    values ``[max(y), min(y), mean(x), 0.1, 0.1]`` and ``[10, 0, mean(x), 0.1,
    0.1]`` and, for robustness to the scale of ``x``, from a few starts fitted
    on standardised data (mapped back exactly). The solution with the smallest
    squared error wins. The straight line (``b1 = 0``) is part of the family,
    so the result never fits worse than the least-squares line. When no start
    converges within ``maxfev`` evaluations (the optimum may lie at infinity),
    the best iterate of :func:`scipy.optimize.least_squares` continued from the
    standardised starts is used; when even that fails, a :class:`UserWarning`
    is issued and the line is returned.

    Parameters
    ----------
    x : array-like of shape (n_samples,)
        Objective scores.
    y : array-like of shape (n_samples,)
        Subjective scores (MOS or DMOS).
    maxfev : int, default=2000
        Maximum function evaluations per start.

    Returns
    -------
    ndarray of shape (5,)
        ``b1 .. b5``.

    Examples
    --------
    >>> x = np.linspace(0, 1, 20)
    >>> y = logistic5(x, 4.0, 8.0, 0.5, 1.0, 2.0)
    >>> b = fit_logistic5(x, y)
    >>> bool(np.allclose(logistic5(x, *b), y, atol=1e-6))
    True
    """
    x = _as_1d_float(x, "x")
    y = _as_1d_float(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x and y have different lengths ({len(x)} != {len(y)})")
    if len(x) < 2:
        raise ValueError("at least 2 samples are needed to fit the logistic mapping")

    # least-squares line, expressed in the logistic family (b1 = 0)
    if np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
    else:
        slope, intercept = 0.0, float(np.mean(y))
    linear = np.array([0.0, 0.0, float(np.mean(x)), slope, intercept])
    if len(x) < 5 or np.ptp(x) == 0:
        return linear

    mx, sx = float(np.mean(x)), float(np.std(x))
    my, sy = float(np.mean(y)), float(np.std(y)) or 1.0
    xs, ys = (x - mx) / sx, (y - my) / sy
    sign = 1.0 if np.corrcoef(x, y)[0, 1] >= 0 else -1.0

    def _from_std(p):
        b1, b2, b3, b4, b5 = p
        return np.array([b1 * sy, b2 / sx, b3 * sx + mx, b4 * sy / sx, (b5 - b4 * mx / sx) * sy + my])

    starts = [
        (x, y, [np.max(y), np.min(y), mx, 0.1, 0.1], None),
        (x, y, [10.0, 0.0, mx, 0.1, 0.1], None),
    ]
    for b2 in (1.0, 3.0):
        for b3 in (-0.5, 0.0, 0.5):
            starts.append((xs, ys, [2.0 * sign, b2, b3, 0.0, 0.0], _from_std))

    best, best_sse = None, np.inf
    for xx, yy, p0, back in starts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"):
                    p, _ = optimize.curve_fit(logistic5, xx, yy, p0=p0, maxfev=maxfev)
        except (RuntimeError, ValueError, optimize.OptimizeWarning, FloatingPointError):
            continue
        if back is not None:
            p = back(p)
        if not np.all(np.isfinite(p)):
            continue
        sse = _sse(p, x, y)
        if sse < best_sse:
            best, best_sse = p, sse

    if best is None:
        # every curve_fit start stopped without converging (typically the
        # optimum lies at infinity, e.g. a step or a huge b1 along a concave
        # curve): continue the standardised starts with least_squares, the
        # solver under curve_fit, and keep its best iterate
        for xx, yy, p0, back in starts[2:4]:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with np.errstate(all="ignore"):
                        res = optimize.least_squares(
                            lambda b: logistic5(xx, *b) - yy, p0, max_nfev=maxfev
                        )
            except (RuntimeError, ValueError, FloatingPointError):
                continue
            p = back(res.x)
            if np.all(np.isfinite(p)):
                sse = _sse(p, x, y)
                if sse < best_sse:
                    best, best_sse = p, sse
    if best is None:
        warnings.warn(
            "the 5-parameter logistic fit failed from every start; using a linear fit",
            UserWarning,
            stacklevel=2,
        )
        return linear
    if _sse(linear, x, y) < best_sse:
        return linear
    return np.asarray(best, dtype=np.float64)


#: The parameters and return type the four correlation metrics share (numpydoc).
_PARAMETERS = """    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Subjective and objective scores.

    Returns
    -------
    float
"""


def _doc(func):
    """Fill the shared sections into a metric's docstring."""
    func.__doc__ = func.__doc__.replace("%(parameters)s", _PARAMETERS)
    return func


def _check_iqa(y_true, y_pred):
    y_true = _as_1d_float(y_true, "y_true")
    y_pred = _as_1d_float(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred have different lengths ({len(y_true)} != {len(y_pred)})"
        )
    if len(y_true) < 3:
        raise ValueError("IQA metrics need at least 3 samples")
    return y_true, y_pred


@_doc
def srocc(y_true, y_pred):
    """Spearman rank-order correlation (equal to :func:`scipy.stats.spearmanr`).

    ``nan`` when either vector is constant (the correlation is undefined).

%(parameters)s
    Examples
    --------
    >>> srocc([1, 2, 3, 4], [10, 20, 30, 1000])
    1.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    return spearman(y_pred, y_true)


@_doc
def krocc(y_true, y_pred):
    """Kendall rank-order correlation (:func:`scipy.stats.kendalltau`, tau-b).

%(parameters)s
    Examples
    --------
    >>> round(krocc([1, 2, 3, 4], [1, 2, 4, 3]), 4)
    0.6667
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    return float(stats.kendalltau(y_pred, y_true).statistic)


@_doc
def plcc(y_true, y_pred):
    """Pearson correlation after the 5-parameter logistic mapping.

%(parameters)s
    Examples
    --------
    >>> x = np.linspace(0, 1, 10)
    >>> round(plcc(logistic5(x, 4.0, 8.0, 0.5, 1.0, 2.0), x), 6)
    1.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    q = logistic5(y_pred, *fit_logistic5(y_pred, y_true))
    return pearson(q, y_true)


@_doc
def rmse(y_true, y_pred):
    """Root-mean-square error after the 5-parameter logistic mapping.

%(parameters)s        In the units of ``y_true``.

    Examples
    --------
    >>> x = np.linspace(0, 1, 10)
    >>> round(rmse(2 * x + 1, x), 6)
    0.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    q = logistic5(y_pred, *fit_logistic5(y_pred, y_true))
    return float(np.sqrt(np.mean((q - y_true) ** 2)))


def iqa_report(y_true, y_pred, y_std=None, *, higher_is_better=True):
    """IQA evaluation following VQEG practice.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Subjective scores (MOS, or DMOS with ``higher_is_better=False``).
    y_pred : array-like of shape (n_samples,)
        Objective quality scores, taken as "higher = better quality".
    y_std : array-like of shape (n_samples,), optional
        Standard deviation of each image's subjective scores; enables
        ``outlier_ratio``.
    higher_is_better : bool, default=True
        Whether a higher ``y_true`` means better quality (MOS). With ``False``
        (DMOS) the signs of ``srocc`` and ``krocc`` are flipped, so that a good
        quality predictor scores positive on either kind of ground truth.
        ``plcc``, ``rmse`` and ``outlier_ratio`` do not depend on it: the
        logistic mapping is fitted onto ``y_true`` as given.

    Returns
    -------
    dict
        ``plcc`` and ``rmse`` (after :func:`fit_logistic5` of ``y_pred`` onto
        ``y_true``), ``srocc`` (Spearman, as :func:`scipy.stats.spearmanr`), ``krocc``
        (:func:`scipy.stats.kendalltau`), ``n`` and, when ``y_std`` is given,
        ``outlier_ratio``: the share of images with
        ``|Q(y_pred_i) - y_true_i| > 2 * y_std_i``.

    Examples
    --------
    >>> x = np.linspace(0, 1, 12)
    >>> mos = logistic5(x, 4.0, 8.0, 0.5, 1.0, 2.0)
    >>> r = iqa_report(mos, x)
    >>> round(r["plcc"], 6), r["srocc"], round(r["rmse"], 6)
    (1.0, 1.0, 0.0)
    >>> iqa_report(-mos, x, higher_is_better=False)["srocc"]
    1.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    params = fit_logistic5(y_pred, y_true)
    q = logistic5(y_pred, *params)
    sign = 1.0 if higher_is_better else -1.0
    report = {
        "plcc": pearson(q, y_true),
        "srocc": sign * spearman(y_pred, y_true),
        "krocc": sign * float(stats.kendalltau(y_pred, y_true).statistic),
        "rmse": float(np.sqrt(np.mean((q - y_true) ** 2))),
        "n": int(len(y_true)),
    }
    if y_std is not None:
        y_std = _as_1d_float(y_std, "y_std")
        if len(y_std) != len(y_true):
            raise ValueError(
                f"y_std and y_true have different lengths ({len(y_std)} != {len(y_true)})"
            )
        if np.any(y_std < 0):
            raise ValueError("y_std must be non-negative")
        report["outlier_ratio"] = float(np.mean(np.abs(q - y_true) > 2.0 * y_std))
    return report


#: SROCC scorer for regressors predicting the subjective score (``predict``).
srocc_scorer = make_scorer(srocc, response_method="predict")
#: KROCC scorer (``predict``).
krocc_scorer = make_scorer(krocc, response_method="predict")
#: PLCC-after-logistic scorer (``predict``).
plcc_scorer = make_scorer(plcc, response_method="predict")
#: RMSE-after-logistic scorer; greater_is_better=False (scikit-learn negates it).
rmse_scorer = make_scorer(rmse, response_method="predict", greater_is_better=False)
