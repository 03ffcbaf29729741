"""Scikit-learn scorers for the OOD metrics, right for detectors and classifiers.

Public in :mod:`skgrad.metrics`, whose docstring states the convention.
"""
import numbers

import numpy as np
from sklearn.base import is_classifier, is_outlier_detector

from ._ood import (
    _resolve_outlier_label,
    aupr_in,
    aupr_out,
    auroc,
    detection_error,
    fpr_at_95_tpr,
    ood_accuracy,
)

__all__ = [
    "ood_scorer",
    "auroc_scorer",
    "fpr95_scorer",
    "detection_error_scorer",
    "aupr_in_scorer",
    "aupr_out_scorer",
]

_OOD_METRICS = {
    # name: (function, greater_is_better)
    "auroc": (auroc, True),
    "fpr_at_95_tpr": (fpr_at_95_tpr, False),
    "detection_error": (detection_error, False),
    "aupr_in": (aupr_in, True),
    "aupr_out": (aupr_out, True),
    "accuracy": (ood_accuracy, True),
}


def _estimator_kind(estimator):
    """``"detector"`` or ``"classifier"``; a TypeError for any other estimator."""
    if is_outlier_detector(estimator):
        return "detector"
    if is_classifier(estimator):
        return "classifier"
    raise TypeError(
        "the OOD scorers need an outlier detector (scikit-learn's OutlierMixin, e.g. "
        "GradientOutlierDetector or IsolationForest) or a binary classifier, or a pipeline "
        f"ending in one; {type(estimator).__name__} is neither. Put one after the transformer, "
        "e.g. make_pipeline(GradientFeatureTransformer(), StandardScaler(), LogisticRegression())"
    )


def _binary_classes(estimator, outlier_label):
    classes = list(getattr(estimator, "classes_", []))
    if len(classes) != 2 or outlier_label not in classes:
        raise ValueError(
            f"the OOD scorers need a binary classifier with the outliers' label {outlier_label!r} "
            f"among its classes; {type(estimator).__name__} has classes_ {classes}"
        )
    return classes


def _normality(estimator, kind, X, outlier_label, *, probability_first):
    """Normality score (higher = more normal) of ``X`` from a fitted detector or classifier."""
    if kind == "detector":
        for method in ("decision_function", "score_samples"):
            if hasattr(estimator, method):
                return getattr(estimator, method)(X)
        raise TypeError(
            f"the OOD scorers need decision_function or score_samples from the outlier detector "
            f"{type(estimator).__name__}, which has neither (LocalOutlierFactor needs novelty=True)"
        )
    classes = _binary_classes(estimator, outlier_label)
    has_proba, has_decision = hasattr(estimator, "predict_proba"), hasattr(estimator, "decision_function")
    if has_proba and (probability_first or not has_decision):
        return 1.0 - np.asarray(estimator.predict_proba(X))[:, classes.index(outlier_label)]
    if has_decision:
        score = np.asarray(estimator.decision_function(X))  # higher = more like classes_[1]
        return -score if classes[1] == outlier_label else score
    raise TypeError(
        f"the OOD scorers need predict_proba or decision_function from the classifier "
        f"{type(estimator).__name__}, which has neither"
    )


def _predicted_outlier(estimator, kind, X, outlier_label):
    """Whether ``predict`` calls each sample an outlier."""
    pred = np.asarray(estimator.predict(X))
    if kind == "detector":
        if not set(np.unique(pred).tolist()) <= {-1, 1}:
            raise ValueError(
                f"the outlier detector {type(estimator).__name__} predicted labels other than "
                f"+1 (inlier) and -1 (outlier): {np.unique(pred)[:10].tolist()}"
            )
        return pred == -1
    _binary_classes(estimator, outlier_label)
    return pred == outlier_label


class _OODScorer:
    """``scorer(estimator, X, y)`` for one OOD metric; made by :func:`ood_scorer`."""

    def __init__(self, metric, outlier_label, threshold):
        self.metric = metric
        self.outlier_label = outlier_label
        self.threshold = threshold

    def __call__(self, estimator, X, y_true):
        func, greater = _OOD_METRICS[self.metric]
        sign = 1.0 if greater else -1.0
        kind = _estimator_kind(estimator)
        y_true, outlier_label = _resolve_outlier_label(y_true, self.outlier_label)
        if self.metric == "accuracy" and self.threshold is None:
            predicted = _predicted_outlier(estimator, kind, X, outlier_label)
            return sign * float(np.mean(predicted == (y_true == outlier_label)))
        # A threshold is meant for a probability.  Ranks come from the decision
        # function when there is one: probabilities saturate at 0 and 1 and tie.
        score = _normality(estimator, kind, X, outlier_label, probability_first=self.metric == "accuracy")
        kwargs = {"threshold": self.threshold} if self.metric == "accuracy" else {}
        return sign * func(y_true, score, outlier_label=outlier_label, **kwargs)

    def __repr__(self):
        args = [repr(self.metric)]
        if not (isinstance(self.outlier_label, str) and self.outlier_label == "auto"):
            args.append(f"outlier_label={self.outlier_label!r}")
        if self.threshold is not None:
            args.append(f"threshold={self.threshold!r}")
        return f"ood_scorer({', '.join(args)})"


def ood_scorer(metric, *, outlier_label="auto", threshold=None):
    """A scikit-learn scorer for one OOD metric, right for every estimator kind.

    ``scorer(estimator, X, y)`` takes a normality score (higher = more normal)
    from the fitted estimator and computes ``metric`` with the inliers as the
    positive class (see :func:`ood_report`):

    - an outlier detector (scikit-learn's ``OutlierMixin``, e.g.
      :class:`~skgrad.outlier.GradientOutlierDetector`,
      :class:`~sklearn.ensemble.IsolationForest`, or a pipeline ending in
      one): its ``decision_function`` (else ``score_samples``);
    - a binary classifier (or a pipeline ending in one, e.g.
      ``make_pipeline(GradientFeatureTransformer(), StandardScaler(),
      LogisticRegression())``): its signed ``decision_function``, higher for
      the class that is not ``outlier_label``; without one, the probability of
      not being the outlier class, ``1 - predict_proba[:, outlier column]``
      (the decision function comes first because probabilities saturate at 0
      and 1 and tie, which blurs the ranking);
    - any other estimator (a plain transformer, a regressor): ``TypeError``.

    ``"accuracy"`` with ``threshold=None`` counts the estimator's own
    ``predict``: -1 is an outlier for a detector, ``outlier_label`` for a
    classifier.  With a number, a sample is an inlier when its normality score
    is at least ``threshold``: the probability of not being the outlier class
    for a classifier with ``predict_proba`` (else its signed
    ``decision_function``), a detector's ``decision_function``.

    Metrics where lower is better (``fpr_at_95_tpr``, ``detection_error``) are
    negated, as scikit-learn's ``greater_is_better=False`` scorers, so that
    model selection maximises every scorer.

    Parameters
    ----------
    metric : {"auroc", "fpr_at_95_tpr", "detection_error", "aupr_in", \
"aupr_out", "accuracy"}
        Metric name (a key of :func:`ood_report`).
    outlier_label : "auto", int, bool or str, default="auto"
        Label of the outliers in ``y``.  ``"auto"``: -1 for the labels
        {-1, 1} (a detector's convention), 1 for {0, 1} or {False, True};
        other labels (e.g. strings) need it given.  A classifier must have
        been fitted with the same labels.
    threshold : float or None, default=None
        Used by ``"accuracy"`` only (see above).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, usable as ``scoring=`` in
        :class:`~sklearn.model_selection.GridSearchCV` and
        :func:`~sklearn.model_selection.cross_val_score`.

    Raises
    ------
    ValueError
        At creation, for an unknown metric or a bad ``threshold``; when
        called, for labels that are not binary, lack a class, or where
        ``"auto"`` cannot tell the outliers.
    TypeError
        When called on an estimator that is neither an outlier detector nor a
        classifier.

    Examples
    --------
    A classifier with outliers labelled 1: its decision function rises with
    ``x``, so both inliers are more normal than both outliers.

    >>> from sklearn.linear_model import LogisticRegression
    >>> X = [[0.0], [0.2], [0.9], [1.0]]
    >>> y = [0, 0, 1, 1]
    >>> clf = LogisticRegression().fit(X, y)
    >>> ood_scorer("auroc")(clf, X, y)
    1.0
    >>> ood_scorer("fpr_at_95_tpr")(clf, X, y)  # negated: lower FPR is better
    -0.0
    >>> yl = ["in", "in", "out", "out"]
    >>> ood_scorer("auroc", outlier_label="out")(LogisticRegression().fit(X, yl), X, yl)
    1.0

    A detector, with its own labels (-1 = outlier): the far points are the
    least normal.

    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> train = np.random.RandomState(0).normal(size=(200, 1))
    >>> det = IsolationForest(random_state=0).fit(train)
    >>> auroc_scorer(det, [[0.0], [0.1], [8.0], [-8.0]], [1, 1, -1, -1])
    1.0
    >>> ood_scorer("accuracy")(det, [[0.0], [0.1], [8.0], [-8.0]], [1, 1, -1, -1])
    1.0
    """
    if metric not in _OOD_METRICS:
        raise ValueError(f"unknown OOD metric {metric!r}; valid: {sorted(_OOD_METRICS)}")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not np.isfinite(threshold)
    ):
        raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
    return _OODScorer(metric, outlier_label, threshold)


#: AUROC scorer (:func:`auroc`, inliers positive); greater is better.
auroc_scorer = ood_scorer("auroc")
#: FPR-at-95%-TPR scorer (:func:`fpr_at_95_tpr`); negated (lower FPR is better).
fpr95_scorer = ood_scorer("fpr_at_95_tpr")
#: Detection-error scorer (:func:`detection_error`); negated (lower error is better).
detection_error_scorer = ood_scorer("detection_error")
#: AUPR-in scorer (:func:`aupr_in`, inliers positive); greater is better.
aupr_in_scorer = ood_scorer("aupr_in")
#: AUPR-out scorer (:func:`aupr_out`, outliers positive); greater is better.
aupr_out_scorer = ood_scorer("aupr_out")
