"""Evaluation metrics for out-of-distribution (OOD) detection and image quality assessment.

OOD convention
--------------
A score is a **normality score**: the higher, the more normal (in-distribution).
This is scikit-learn's convention for outlier detectors (``score_samples``,
``decision_function``; ``predict`` gives +1 for inliers and -1 for outliers),
and the paper authors' (their classifier outputs the probability of being
in-distribution, and their metrics take the inliers as the positive class).
To evaluate an *outlier* score (higher = more outlying, e.g. a classifier's
probability of the outlier class ``p``), pass ``-score`` or ``1 - p``.

``y_true`` marks the outliers with ``outlier_label``.  The default ``"auto"``
takes -1 for the labels {-1, 1} (a detector's ``predict``) and 1 for {0, 1} or
{False, True} ("is outlier"); other labels need ``outlier_label=``.  Both
classes must be present.

The inliers are the positive class; TPR is the share of inliers accepted and
FPR the share of outliers accepted at a threshold ``t`` (``score >= t``):

- **AUROC**: area under the ROC curve (:func:`sklearn.metrics.roc_auc_score`),
  the probability that a random inlier scores above a random outlier; equal to
  the AUROC with the outliers positive and the score negated;
- **FPR at 95% TPR**: the share of outliers accepted at the highest threshold
  that keeps at least 95% of the inliers, exact over all thresholds
  (:func:`sklearn.metrics.roc_curve`);
- **detection error**: ``min_t 0.5 (1 - TPR(t)) + 0.5 FPR(t)``;
- **AUPR-in**: average precision (:func:`sklearn.metrics.average_precision_score`)
  with the inliers positive and the score as it is; **AUPR-out**: with the
  outliers positive and the score negated;
- **accuracy** at ``threshold``: a sample is predicted an inlier when
  ``score >= threshold`` (0.5 on a probability of being an inlier; 0 on a
  detector's ``decision_function``, as its ``predict``).

The scorers (:func:`ood_scorer`) take the normality score from any estimator
kind: an outlier detector's ``decision_function``, a classifier's signed
``decision_function`` or probability of not being the outlier class.  Those of
the lower-is-better metrics (FPR at 95% TPR, detection error) return the value
negated, as scikit-learn's ``greater_is_better=False`` scorers.

IQA convention
--------------
``y_true`` are subjective scores (MOS or DMOS) and ``y_pred`` objective scores.
PLCC and RMSE are computed after the VQEG 5-parameter logistic mapping of
``y_pred`` onto ``y_true`` (:func:`fit_logistic5`); SROCC and KROCC on the raw
scores.
"""
import warnings

import numpy as np
from scipy import optimize, special, stats
from sklearn.metrics import make_scorer

from ._ood_metrics import (
    aupr_in,
    aupr_out,
    auroc,
    detection_error,
    fpr_at_95_tpr,
    ood_accuracy,
    ood_report,
)
from ._ood_scorers import (
    aupr_in_scorer,
    aupr_out_scorer,
    auroc_scorer,
    detection_error_scorer,
    fpr95_scorer,
    ood_scorer,
)
from ._validation import as_1d_float as _as_1d_float

__all__ = [
    "ood_report",
    "auroc",
    "fpr_at_95_tpr",
    "detection_error",
    "aupr_in",
    "aupr_out",
    "ood_accuracy",
    "ood_scorer",
    "auroc_scorer",
    "fpr95_scorer",
    "detection_error_scorer",
    "aupr_in_scorer",
    "aupr_out_scorer",
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


def srocc(y_true, y_pred):
    """Spearman rank-order correlation (:func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Subjective and objective scores.

    Returns
    -------
    float

    Examples
    --------
    >>> srocc([1, 2, 3, 4], [10, 20, 30, 1000])
    1.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    return float(stats.spearmanr(y_pred, y_true).statistic)


def krocc(y_true, y_pred):
    """Kendall rank-order correlation (:func:`scipy.stats.kendalltau`, tau-b).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Subjective and objective scores.

    Returns
    -------
    float

    Examples
    --------
    >>> round(krocc([1, 2, 3, 4], [1, 2, 4, 3]), 4)
    0.6667
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    return float(stats.kendalltau(y_pred, y_true).statistic)


def plcc(y_true, y_pred):
    """Pearson correlation after the 5-parameter logistic mapping.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Subjective and objective scores.

    Returns
    -------
    float

    Examples
    --------
    >>> x = np.linspace(0, 1, 10)
    >>> round(plcc(logistic5(x, 4.0, 8.0, 0.5, 1.0, 2.0), x), 6)
    1.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    q = logistic5(y_pred, *fit_logistic5(y_pred, y_true))
    return _pearson(q, y_true)


def rmse(y_true, y_pred):
    """Root-mean-square error after the 5-parameter logistic mapping.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Subjective and objective scores.

    Returns
    -------
    float
        In the units of ``y_true``.

    Examples
    --------
    >>> x = np.linspace(0, 1, 10)
    >>> round(rmse(2 * x + 1, x), 6)
    0.0
    """
    y_true, y_pred = _check_iqa(y_true, y_pred)
    q = logistic5(y_pred, *fit_logistic5(y_pred, y_true))
    return float(np.sqrt(np.mean((q - y_true) ** 2)))


def _pearson(a, b):
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.pearsonr(a, b).statistic)


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
        ``y_true``), ``srocc`` (:func:`scipy.stats.spearmanr`), ``krocc``
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
        "plcc": _pearson(q, y_true),
        "srocc": sign * float(stats.spearmanr(y_pred, y_true).statistic),
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
