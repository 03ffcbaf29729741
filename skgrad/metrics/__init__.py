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
scores.  A correlation of a constant vector is undefined: ``nan``.
:func:`psnr` compares two images (``inf`` when they are identical).

Modules: ``_ood`` (OOD metrics), ``_ood_scorers`` (their scorers), ``_iqa``
(IQA metrics and scorers), ``_correlation`` (the one Pearson, Spearman and
PSNR of skgrad, used everywhere), ``_ranks`` (fast average ranks).
"""
from ._correlation import psnr
from ._iqa import (
    fit_logistic5,
    iqa_report,
    krocc,
    krocc_scorer,
    logistic5,
    plcc,
    plcc_scorer,
    rmse,
    rmse_scorer,
    srocc,
    srocc_scorer,
)
from ._ood import aupr_in, aupr_out, auroc, detection_error, fpr_at_95_tpr, ood_accuracy, ood_report
from ._ood_scorers import (
    aupr_in_scorer,
    aupr_out_scorer,
    auroc_scorer,
    detection_error_scorer,
    fpr95_scorer,
    ood_scorer,
)

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
    "psnr",
    "srocc_scorer",
    "krocc_scorer",
    "plcc_scorer",
    "rmse_scorer",
]
