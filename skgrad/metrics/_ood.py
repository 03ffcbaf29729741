"""OOD detection metrics of normality scores (higher = more in-distribution).

Public in :mod:`skgrad.metrics`, whose docstring states the convention and the
definitions once.
"""
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from .._validation import as_1d_float

__all__ = ["auroc", "fpr_at_95_tpr", "detection_error", "aupr_in", "aupr_out", "ood_accuracy", "ood_report"]


def _resolve_outlier_label(y_true, outlier_label):
    """Validate binary labels; return (y_true array, the label of the outliers)."""
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-dimensional, got shape {y_true.shape}")
    labels = np.unique(y_true).tolist()
    if len(labels) > 2:
        raise ValueError(
            f"y_true must be binary (inliers / outliers), got {len(labels)} classes: {labels[:10]}"
        )
    if len(labels) < 2:
        raise ValueError(
            "OOD metrics need both classes in y_true (inliers and outliers); "
            f"got only the label {labels[0] if labels else None!r}"
        )
    if isinstance(outlier_label, str) and outlier_label == "auto":
        if set(labels) == {-1, 1}:
            return y_true, -1
        if set(labels) == {0, 1}:  # also {False, True} and {0.0, 1.0}
            return y_true, 1
        raise ValueError(
            f"cannot tell which label of y_true marks the outliers (labels {labels}): "
            "outlier_label='auto' knows {-1, 1} (outliers -1, as a detector's predict) and "
            "{0, 1} (outliers 1); pass outlier_label= with the outliers' label"
        )
    if outlier_label not in labels:
        raise ValueError(
            f"outlier_label={outlier_label!r} is not a label of y_true ({labels}); "
            "OOD metrics need both classes (inliers and outliers) in y_true"
        )
    return y_true, outlier_label


def _check_ood_inputs(y_true, y_score, outlier_label):
    """Return (is_inlier bool array, normality scores float array)."""
    y_true, outlier_label = _resolve_outlier_label(y_true, outlier_label)
    scores = as_1d_float(y_score, "y_score")
    if len(y_true) != len(scores):
        raise ValueError(
            f"y_true and y_score have different lengths ({len(y_true)} != {len(scores)})"
        )
    return y_true != outlier_label, scores


def _roc(is_inlier, scores):
    """ROC points with the inliers positive, thresholds decreasing (``score >= t``)."""
    fpr, tpr, _ = roc_curve(is_inlier, scores, drop_intermediate=False)
    return fpr, tpr


def _fpr95(fpr, tpr):
    # roc_curve's thresholds decrease: the first point with TPR >= 0.95 is the
    # highest threshold that keeps 95% of the inliers, and the lowest FPR there
    return float(fpr[np.argmax(tpr >= 0.95)])


def _detection_error(fpr, tpr):
    return float(np.min(0.5 * (1.0 - tpr) + 0.5 * fpr))


#: The parameters every OOD metric shares (numpydoc), filled in by :func:`_doc`.
_PARAMETERS = """    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels; ``outlier_label`` marks the outliers, the other label the inliers.
    y_score : array-like of shape (n_samples,)
        Normality scores: higher = more normal (in-distribution).
    outlier_label : "auto", int, bool or str, default="auto"
        Label of the outliers in ``y_true``.  ``"auto"``: -1 for the labels
        {-1, 1}, 1 for {0, 1} or {False, True}; other labels need it given.
"""


def _doc(func):
    """Fill the shared parameters into a metric's docstring."""
    func.__doc__ = func.__doc__.replace("%(parameters)s", _PARAMETERS)
    return func


def _auroc(is_inlier, scores):
    return float(roc_auc_score(is_inlier, scores))


def _aupr_in(is_inlier, scores):
    return float(average_precision_score(is_inlier, scores))


def _aupr_out(is_inlier, scores):
    return float(average_precision_score(~is_inlier, -scores))


def _accuracy(is_inlier, scores, threshold):
    return float(np.mean((scores >= threshold) == is_inlier))


# --------------------------------------------------------------------------- #
# OOD metrics
# --------------------------------------------------------------------------- #
@_doc
def auroc(y_true, y_score, *, outlier_label="auto"):
    """Area under the ROC curve with the inliers as the positive class.

    The probability that a random inlier gets a higher normality score than a
    random outlier (ties count one half), by
    :func:`sklearn.metrics.roc_auc_score`.  Equal to the AUROC with the outliers
    positive and the score negated.

%(parameters)s
    Returns
    -------
    float
        In [0, 1]; 0.5 is chance, higher is better.

    Examples
    --------
    Inliers (label 0) score 0.9 and 0.6, outliers (1) 0.65 and 0.2: the inlier
    is above the outlier in 3 of the 4 pairs.

    >>> auroc([0, 0, 1, 1], [0.9, 0.6, 0.65, 0.2])
    0.75
    >>> auroc([1, 1, -1, -1], [0.9, 0.6, 0.65, 0.2])  # a detector's labels: -1 = outlier
    0.75
    """
    return _auroc(*_check_ood_inputs(y_true, y_score, outlier_label))


#: The authors' threshold grid for FPR at 95% TPR (their ``np.arange(0, 1, 0.05)``).
AUTHORS_THRESHOLDS = np.arange(0.0, 1.0, 0.05)


def _fpr95_authors(is_inlier, scores):
    """The authors' FPR at 95% TPR: over the grid, the threshold whose TPR is closest to 0.95
    (the lowest one on a tie), and the FPR there."""
    if scores.min() < 0.0 or scores.max() > 1.0:
        raise ValueError(
            "convention='authors' takes scores in [0, 1] (a probability of being an inlier), got scores in "
            f"[{scores.min():.4g}, {scores.max():.4g}]; use convention='exact' for other scores"
        )
    inl, out = scores[is_inlier], scores[~is_inlier]
    best, fpr95 = np.inf, None
    for t in AUTHORS_THRESHOLDS:
        tpr = np.mean(inl >= t)
        if abs(tpr - 0.95) < best:
            best, fpr95 = abs(tpr - 0.95), float(np.mean(out >= t))
    return fpr95


@_doc
def fpr_at_95_tpr(y_true, y_score, *, outlier_label="auto", convention="exact"):
    """Share of outliers accepted when 95% of the inliers are (FPR at 95% TPR).

    The inliers are the positive class.  ``convention="exact"``: at the highest
    threshold ``t`` that keeps at least 95% of the inliers (``score >= t``), the
    share of outliers that also score ``>= t``, exact over all thresholds of
    :func:`sklearn.metrics.roc_curve`.  ``convention="authors"``: as the
    paper's authors compute it on their classifier's probability of being an
    inlier: over the thresholds 0, 0.05, ..., 0.95 only, the one whose TPR is
    closest to 0.95 (the lowest on a tie), whose TPR may be above or below 0.95.

%(parameters)s    convention : {"exact", "authors"}, default="exact"
        Which definition (see above); ``"authors"`` needs scores in [0, 1].

    Returns
    -------
    float
        FPR in [0, 1]; lower is better.

    Examples
    --------
    Inliers 0.9, 0.8, 0.3, outliers 0.4, 0.1: keeping all three inliers needs
    ``t = 0.3``, which accepts the outlier 0.4 too.

    >>> fpr_at_95_tpr([0, 0, 0, 1, 1], [0.9, 0.8, 0.3, 0.4, 0.1])
    0.5

    On the authors' grid, TPR 1 (closest to 0.95) holds up to ``t = 0.3``;
    the first such grid point, ``t = 0``, accepts both outliers.

    >>> fpr_at_95_tpr([0, 0, 0, 1, 1], [0.9, 0.8, 0.3, 0.4, 0.1], convention="authors")
    1.0
    """
    if convention not in ("exact", "authors"):
        raise ValueError(f"convention must be 'exact' or 'authors', got {convention!r}")
    is_inlier, scores = _check_ood_inputs(y_true, y_score, outlier_label)
    if convention == "authors":
        return _fpr95_authors(is_inlier, scores)
    return _fpr95(*_roc(is_inlier, scores))


@_doc
def detection_error(y_true, y_score, *, outlier_label="auto"):
    """Minimum detection error ``min_t 0.5 (1 - TPR(t)) + 0.5 FPR(t)``.

    The mean of the share of inliers rejected and the share of outliers
    accepted, minimised over all points of the ROC curve (every distinct
    threshold, and "accept nothing"): the best balanced error.  The inliers are
    the positive class; the value is the same with the outliers positive and
    the score negated.

%(parameters)s
    Returns
    -------
    float
        Error in [0, 0.5]; lower is better.

    Examples
    --------
    Inliers 0.9, 0.8, 0.7, 0.3, outliers 0.4, 0.1: ``t = 0.7`` rejects one
    inlier of four and accepts no outlier, ``0.5 * 1/4 + 0.5 * 0``.

    >>> detection_error([0, 0, 0, 0, 1, 1], [0.9, 0.8, 0.7, 0.3, 0.4, 0.1])
    0.125
    """
    is_inlier, scores = _check_ood_inputs(y_true, y_score, outlier_label)
    return _detection_error(*_roc(is_inlier, scores))


@_doc
def aupr_in(y_true, y_score, *, outlier_label="auto"):
    """Area under the precision-recall curve with the inliers as positives.

    :func:`sklearn.metrics.average_precision_score` of the inlier indicator
    against the normality score.

%(parameters)s
    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    Ranked by score: 0.9 (inlier), 0.65 (outlier), 0.6 (inlier), 0.2 (outlier);
    precision 1 at the first inlier and 2/3 at the second:
    ``0.5 * 1 + 0.5 * 2/3 = 5/6``.

    >>> round(aupr_in([0, 0, 1, 1], [0.9, 0.6, 0.65, 0.2]), 4)
    0.8333
    """
    return _aupr_in(*_check_ood_inputs(y_true, y_score, outlier_label))


@_doc
def aupr_out(y_true, y_score, *, outlier_label="auto"):
    """Area under the precision-recall curve with the outliers as positives.

    :func:`sklearn.metrics.average_precision_score` of the outlier indicator
    against the negated normality score.

%(parameters)s
    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    Ranked from the least normal: 0.1 (inlier), 0.5 (outlier), 0.8 and 0.9
    (inliers); the one outlier comes second: precision 1/2.

    >>> aupr_out([0, 0, 0, 1], [0.9, 0.8, 0.1, 0.5])
    0.5
    """
    return _aupr_out(*_check_ood_inputs(y_true, y_score, outlier_label))


@_doc
def ood_accuracy(y_true, y_score, *, threshold=0.5, outlier_label="auto"):
    """Accuracy when a sample is predicted an inlier if ``score >= threshold``.

    The rule of scikit-learn's detectors (``predict`` says outlier when
    ``decision_function < 0``: use ``threshold=0`` on a ``decision_function``)
    and of the paper's authors (in-distribution when the probability of being
    in-distribution is at least 0.5, the default).

%(parameters)s    threshold : float, default=0.5
        Samples scoring at least ``threshold`` are predicted inliers.

    Returns
    -------
    float
        Share of samples predicted right, in [0, 1].

    Examples
    --------
    Inliers 0.9, 0.8, 0.1, outlier 0.5: at 0.5 the inlier 0.1 is rejected and
    the outlier 0.5 (equal to the threshold) accepted; 2 of 4 right.

    >>> ood_accuracy([0, 0, 0, 1], [0.9, 0.8, 0.1, 0.5])
    0.5
    >>> ood_accuracy([0, 0, 0, 1], [0.9, 0.8, 0.1, 0.5], threshold=0.6)
    0.75
    """
    return _accuracy(*_check_ood_inputs(y_true, y_score, outlier_label), threshold)


@_doc
def ood_report(y_true, y_score, *, threshold=0.5, outlier_label="auto"):
    """All OOD detection metrics of the paper at once.

    ``y_score`` is a normality score (higher = more in-distribution) and the
    inliers are the positive class; see the module docstring for the
    definitions.

%(parameters)s    threshold : float, default=0.5
        Threshold for ``accuracy``: samples scoring at least ``threshold`` are
        predicted inliers (0.5 for a probability of being an inlier, 0 for a
        detector's ``decision_function``).

    Returns
    -------
    dict
        ``accuracy`` (:func:`ood_accuracy` at ``threshold``), ``auroc``
        (:func:`auroc`), ``fpr_at_95_tpr`` (share of outliers accepted at the
        highest threshold keeping 95% of the inliers, :func:`fpr_at_95_tpr`),
        ``detection_error`` (``min 0.5 (1 - TPR) + 0.5 FPR`` over ROC points,
        :func:`detection_error`), ``aupr_in`` (inliers positive) and
        ``aupr_out`` (outliers positive, score negated), all floats.

    Raises
    ------
    ValueError
        If ``y_true`` holds a single class or more than two, if
        ``outlier_label`` is not one of its labels (or ``"auto"`` cannot tell),
        if the shapes do not match, or if scores are not finite.

    Examples
    --------
    Labels 1 = outlier; inliers score 0.9 and 0.6, outliers 0.65 and 0.2.
    AUROC: 3 of 4 (inlier, outlier) pairs in order.  Keeping both inliers
    needs ``t = 0.6``, which accepts the outlier 0.65: FPR 0.5.  At ``t = 0.9``
    half the inliers are rejected and no outlier accepted: detection error
    0.25.  At 0.5 only the outlier 0.65 is wrong: accuracy 0.75.

    >>> r = ood_report([0, 0, 1, 1], [0.9, 0.6, 0.65, 0.2])
    >>> r["auroc"], r["fpr_at_95_tpr"], r["detection_error"], r["accuracy"]
    (0.75, 0.5, 0.25, 0.75)
    """
    is_inlier, scores = _check_ood_inputs(y_true, y_score, outlier_label)
    fpr, tpr = _roc(is_inlier, scores)
    return {
        "accuracy": _accuracy(is_inlier, scores, threshold),
        "auroc": _auroc(is_inlier, scores),
        "fpr_at_95_tpr": _fpr95(fpr, tpr),
        "detection_error": _detection_error(fpr, tpr),
        "aupr_in": _aupr_in(is_inlier, scores),
        "aupr_out": _aupr_out(is_inlier, scores),
    }
