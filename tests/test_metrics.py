"""Tests for skgrad.metrics against hand-computed cases and scipy / sklearn / brute-force oracles.

OOD convention under test: scores are normality scores (higher = more in-distribution)
and the inliers are the positive class.
"""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from skgrad import GradientFeatureTransformer
from skgrad import metrics
from skgrad.metrics import _iqa
from skgrad.datasets import load_real_digits
from skgrad.distortions import apply_challenge
from skgrad.metrics import (
    aupr_in,
    aupr_out,
    auroc,
    detection_error,
    fit_logistic5,
    fpr_at_95_tpr,
    iqa_report,
    krocc,
    logistic5,
    ood_accuracy,
    ood_report,
    ood_scorer,
    plcc,
    rmse,
    srocc,
)
from skgrad.outlier import GradientOutlierDetector


# --------------------------------------------------------------------------- #
# OOD: hand-computed cases (normality scores, inliers positive)
# --------------------------------------------------------------------------- #
def test_ood_report_hand_case_four_scores():
    # y: 1 = outlier. Inliers .9 .6; outliers .65 .2 (normality scores).
    # AUROC: inlier above outlier in (.9>.65) (.9>.2) (.6>.2), not (.6<.65): 3/4
    # ROC (fpr, tpr), thresholds .9 .65 .6 .2: (0,0) (0,.5) (.5,.5) (.5,1) (1,1)
    # FPR at 95% TPR: keeping both inliers needs t = .6, which accepts .65: 1/2
    # detection error min .5(1-tpr)+.5fpr = .25 (at (0,.5) and (.5,1))
    # AP-in: .9(+) .65(-) .6(+): .5*1 + .5*(2/3) = 5/6
    # AP-out on -s: .2(+) .6(-) .65(+): .5*1 + .5*(2/3) = 5/6
    # accuracy at .5 (inlier if >= .5): only the outlier .65 is wrong: 3/4
    r = ood_report([0, 0, 1, 1], [0.9, 0.6, 0.65, 0.2])
    assert r == pytest.approx(
        {
            "accuracy": 0.75,
            "auroc": 0.75,
            "fpr_at_95_tpr": 0.5,
            "detection_error": 0.25,
            "aupr_in": 5 / 6,
            "aupr_out": 5 / 6,
        }
    )


def test_ood_report_hand_case_asymmetric():
    # inliers .9 .8 .1, outlier .5 (y: 1 = outlier)
    # AUROC: 2 of the 3 inliers above the outlier -> 2/3
    # FPR at 95% TPR: keeping all 3 inliers needs t = .1, which accepts the outlier -> 1.
    #   (The outliers-positive convention on -s would give 1/3 here: the two differ.)
    # ROC (fpr, tpr): (0,0) (0,1/3) (0,2/3) (1,2/3) (1,1): detection error .5*(1/3) = 1/6
    # AP-in: .9(+) .8(+) .5(-) .1(+): 1/3*1 + 1/3*1 + 1/3*3/4 = 11/12
    # AP-out on -s: .1(-) .5(+) ...: precision 1/2 at recall 1 -> 1/2
    # accuracy at .5: .1 rejected (wrong), .5 accepted (>=, wrong): 2 of 4
    y, s = [0, 0, 0, 1], [0.9, 0.8, 0.1, 0.5]
    r = ood_report(y, s)
    assert r["auroc"] == pytest.approx(2 / 3)
    assert r["fpr_at_95_tpr"] == pytest.approx(1.0)
    assert r["detection_error"] == pytest.approx(1 / 6)
    assert r["aupr_in"] == pytest.approx(11 / 12)
    assert r["aupr_out"] == pytest.approx(0.5)
    assert r["accuracy"] == pytest.approx(0.5)
    # the single-metric functions agree
    assert auroc(y, s) == pytest.approx(2 / 3)
    assert fpr_at_95_tpr(y, s) == pytest.approx(1.0)
    assert detection_error(y, s) == pytest.approx(1 / 6)
    assert aupr_in(y, s) == pytest.approx(11 / 12)
    assert aupr_out(y, s) == pytest.approx(0.5)
    assert ood_accuracy(y, s) == pytest.approx(0.5)


def test_ood_report_ties_across_classes():
    # inliers .5 .8, outliers .5 .1; the tie counts 1/2: (.5 + 1 + 1 + 1)/4
    r = ood_report([0, 1, 0, 1], [0.5, 0.5, 0.8, 0.1])
    assert r["auroc"] == pytest.approx(0.875)
    # keeping both inliers needs t = .5, which accepts the tied outlier
    assert r["fpr_at_95_tpr"] == pytest.approx(0.5)
    assert r["detection_error"] == pytest.approx(0.25)


def test_accuracy_threshold_is_inclusive_and_adjustable():
    # a score equal to the threshold is an inlier (a detector's predict: outlier iff < 0)
    assert ood_accuracy([0, 1], [0.5, 0.2]) == 1.0
    assert ood_accuracy([0, 1], [0.5, 0.2], threshold=0.6) == 0.5  # both rejected
    assert ood_accuracy([0, 1], [0.5, 0.2], threshold=0.2) == 0.5  # both accepted
    assert ood_report([0, 1], [0.5, 0.2], threshold=0.6)["accuracy"] == 0.5
    # on a decision function with threshold 0, as IsolationForest.predict
    assert ood_accuracy([1, -1, 1], [0.0, -1e-9, 3.0], threshold=0) == 1.0


def test_outlier_label_auto_explicit_and_errors():
    s = [0.9, 0.6, 0.65, 0.2]
    ref = ood_report([0, 0, 1, 1], s)
    # {-1, 1}: a detector's labels, -1 = outlier
    assert ood_report([1, 1, -1, -1], s) == pytest.approx(ref)
    assert ood_report(np.array([False, False, True, True]), s) == pytest.approx(ref)
    assert ood_report([0.0, 0.0, 1.0, 1.0], s) == pytest.approx(ref)
    # an explicit outlier_label always wins
    assert ood_report(["in", "in", "out", "out"], s, outlier_label="out") == pytest.approx(ref)
    assert ood_report([1, 1, 0, 0], s, outlier_label=0) == pytest.approx(ref)
    assert auroc([0, 0, 1, 1], s, outlier_label=0) == pytest.approx(1 - ref["auroc"])
    assert auroc([1, 1, -1, -1], s, outlier_label=1) == pytest.approx(1 - ref["auroc"])
    # "auto" cannot tell these
    for y in (["in", "in", "out", "out"], [0, 0, 2, 2], [1, 1, 2, 2]):
        with pytest.raises(ValueError, match="outlier_label="):
            ood_report(y, s)
    with pytest.raises(ValueError, match="not a label of y_true"):
        ood_report([0, 0, 1, 1], s, outlier_label=-1)
    with pytest.raises(ValueError, match="not a label of y_true"):
        ood_report(["in", "in", "out", "out"], s, outlier_label=1)


def test_outliers_positive_on_the_negated_score_gives_the_same_ranking_metrics():
    # AUROC, detection error and the AUPRs do not depend on which class is positive,
    # as long as the score is negated with it; FPR at 95% TPR does.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, int), np.ones(25, int)]  # 1 = outlier
    s = np.r_[rng.normal(1, 1, 40), rng.normal(0, 1, 25)]
    assert auroc(y, s) == pytest.approx(roc_auc_score(y == 1, -s))
    assert aupr_out(y, s) == pytest.approx(average_precision_score(y == 1, -s))
    assert aupr_in(y, s) == pytest.approx(average_precision_score(y == 0, s))
    # inliers positive on s == outliers positive on -s, as the brute force sweeps both
    assert detection_error(y, s) == pytest.approx(_brute_force(y == 1, -s)[1])


def _brute_force(is_positive, s):
    """Independent oracle: sweep every threshold 'accept if score >= t' (positives
    should be accepted); returns (FPR at TPR >= 0.95, min 0.5 (1 - TPR) + 0.5 FPR)."""
    pos = np.asarray(is_positive, bool)
    s = np.asarray(s, float)
    pts = [(0.0, 0.0)]  # accept nothing
    for t in np.unique(s):
        acc = s >= t
        pts.append((acc[~pos].mean(), acc[pos].mean()))
    fpr95 = min(f for f, t in pts if t >= 0.95)
    det = min(0.5 * (1 - t) + 0.5 * f for f, t in pts)
    return fpr95, det


def _average_precision(is_positive, s):
    """Independent oracle: sum over distinct thresholds of (R_k - R_k-1) P_k."""
    pos = np.asarray(is_positive, bool)
    s = np.asarray(s, float)
    ap, prev_recall = 0.0, 0.0
    for t in np.unique(s)[::-1]:
        acc = s >= t
        recall = (acc & pos).sum() / pos.sum()
        ap += (recall - prev_recall) * (acc & pos).sum() / acc.sum()
        prev_recall = recall
    return ap


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(0, 6), min_size=2, max_size=25),
    st.lists(st.integers(0, 6), min_size=2, max_size=25),
)
def test_ood_metrics_match_brute_force_and_mann_whitney(inl, outl):
    # integer normality scores make many ties; y: 1 = outlier
    y = np.r_[np.zeros(len(inl)), np.ones(len(outl))]
    s = np.r_[inl, outl].astype(float)
    r = ood_report(y, s, threshold=3)
    fpr95, det = _brute_force(y == 0, s)
    assert r["fpr_at_95_tpr"] == pytest.approx(fpr95)
    assert r["detection_error"] == pytest.approx(det)
    u = stats.mannwhitneyu(inl, outl, alternative="two-sided").statistic
    assert r["auroc"] == pytest.approx(u / (len(inl) * len(outl)))
    assert r["aupr_in"] == pytest.approx(_average_precision(y == 0, s))
    assert r["aupr_out"] == pytest.approx(_average_precision(y == 1, -s))
    assert r["accuracy"] == pytest.approx(np.mean((s >= 3) == (y == 0)))


def test_ood_validation_errors():
    with pytest.raises(ValueError, match="both classes"):
        ood_report([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        ood_report([-1, -1], [0.1, 0.2], outlier_label=-1)
    with pytest.raises(ValueError, match="binary"):
        ood_report([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="lengths"):
        ood_report([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        ood_report([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="1-dimensional"):
        ood_report([[0, 1], [1, 0]], [[0.1, 0.2], [0.3, 0.4]])
    for f in (auroc, fpr_at_95_tpr, detection_error, aupr_in, aupr_out, ood_accuracy):
        with pytest.raises(ValueError, match="both classes"):
            f([0, 0], [0.1, 0.2])


# --------------------------------------------------------------------------- #
# OOD scorers: every estimator kind against an independent oracle
# --------------------------------------------------------------------------- #
SCORERS = {
    "auroc": metrics.auroc_scorer,
    "fpr_at_95_tpr": metrics.fpr95_scorer,
    "detection_error": metrics.detection_error_scorer,
    "aupr_in": metrics.aupr_in_scorer,
    "aupr_out": metrics.aupr_out_scorer,
    "accuracy": ood_scorer("accuracy"),
}

#: label encodings: (inlier label, outlier label, outlier_label= for the scorer)
ENCODINGS = {
    "01": (0, 1, "auto"),
    "pm1": (1, -1, "auto"),
    "str": ("clean", "distorted", "distorted"),
}


def _oracle(y, normality, predicted_outlier, outlier):
    """The six metrics from sklearn.metrics and the brute-force sweeps, inliers positive."""
    inl = np.asarray(y) != outlier
    fpr95, det = _brute_force(inl, normality)
    return {
        "auroc": roc_auc_score(inl, normality),
        "fpr_at_95_tpr": -fpr95,  # lower is better: the scorers negate it
        "detection_error": -det,
        "aupr_in": average_precision_score(inl, normality),
        "aupr_out": average_precision_score(~inl, -np.asarray(normality)),
        "accuracy": np.mean(np.asarray(predicted_outlier) == ~inl),
    }


def _check_scorers(est, X, y, expected, outlier_label):
    for name, scorer in SCORERS.items():
        if outlier_label != "auto":
            scorer = ood_scorer(name, outlier_label=outlier_label)
        assert scorer(est, X, y) == pytest.approx(expected[name], rel=1e-12, abs=1e-12), name


@pytest.fixture(scope="module")
def ood_data():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(0, 1, (60, 3)), rng.normal(1.0, 1, (60, 3))]
    is_outlier = np.r_[np.zeros(60, bool), np.ones(60, bool)]
    return X, is_outlier


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "make",
    [
        lambda: make_pipeline(StandardScaler(), LogisticRegression()),  # both methods
        lambda: GaussianNB(),  # predict_proba only
        lambda: make_pipeline(StandardScaler(), LinearSVC()),  # decision_function only
    ],
    ids=["logistic_pipeline", "gaussian_nb", "linear_svc_pipeline"],
)
def test_scorers_on_classifiers_match_the_oracle(ood_data, make, encoding):
    X, is_outlier = ood_data
    inlier, outlier, outlier_label = ENCODINGS[encoding]
    y = np.where(is_outlier, outlier, inlier)
    clf = make().fit(X, y)
    classes = list(clf.classes_)
    if hasattr(clf, "decision_function"):  # higher = more like classes_[1]
        d = clf.decision_function(X)
        normality = d if classes[1] == inlier else -d
    else:
        normality = clf.predict_proba(X)[:, classes.index(inlier)]
    expected = _oracle(y, normality, clf.predict(X) == outlier, outlier)
    expected["accuracy"] = accuracy_score(y, clf.predict(X))  # the same, said another way
    assert expected["auroc"] > 0.8  # a case where the sign matters
    _check_scorers(clf, X, y, expected, outlier_label)
    # accuracy at a threshold: on the probability of being an inlier when there is one
    p_in = clf.predict_proba(X)[:, classes.index(inlier)] if hasattr(clf, "predict_proba") else normality
    for thr in (0.3, 0.5):
        scorer = ood_scorer("accuracy", threshold=thr, outlier_label=outlier_label)
        assert scorer(clf, X, y) == pytest.approx(np.mean((p_in >= thr) == ~is_outlier))


def test_classifier_ranking_comes_from_the_decision_function_not_saturated_probabilities():
    # A steep logistic regression: far on the inlier side, P(outlier) underflows and
    # 1 - P(outlier) is exactly 1.0 for all four test points, a 4-way tie.
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(-5, 1, (50, 1)), rng.normal(5, 1, (50, 1))]
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    clf = LogisticRegression(C=1e6).fit(X, y)
    X_test = np.array([[-100.0], [-80.0], [-90.0], [-70.0]])
    y_test = np.array([0, 0, 1, 1])  # normality order -100 > -90 > -80 > -70: 3 of 4 pairs
    assert np.all(1.0 - clf.predict_proba(X_test)[:, 1] == 1.0)
    assert roc_auc_score(y_test == 0, -clf.decision_function(X_test)) == 0.75
    assert metrics.auroc_scorer(clf, X_test, y_test) == 0.75  # not 0.5, the tie


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_scorers_on_isolation_forest_match_the_oracle(ood_data, encoding):
    X, is_outlier = ood_data
    inlier, outlier, outlier_label = ENCODINGS[encoding]
    det = IsolationForest(random_state=0).fit(X[~is_outlier][:40])  # clean only
    X_test, y = X[40:], np.where(is_outlier[40:], outlier, inlier)
    expected = _oracle(y, det.decision_function(X_test), det.predict(X_test) == -1, outlier)
    assert expected["auroc"] > 0.7  # a case where the sign matters
    _check_scorers(det, X_test, y, expected, outlier_label)
    # accuracy at threshold 0 on decision_function is predict's rule
    assert ood_scorer("accuracy", threshold=0.0, outlier_label=outlier_label)(det, X_test, y) == pytest.approx(
        expected["accuracy"]
    )


@pytest.fixture(scope="module")
def digit_detector():
    """GradientOutlierDetector on 200 clean 14x14 digits; test: 100 held-out clean + darkened copies."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        b = load_real_digits(size=14)
        images = b.images[np.random.RandomState(0).permutation(len(b.images))[:300], ..., None]
        det = GradientOutlierDetector(
            GradientFeatureTransformer(epochs=10, device="cpu", random_state=0), random_state=0
        ).fit(images[:200])
        clean = images[200:]
        X_test = np.concatenate([clean, apply_challenge(clean, "darkening", 5, random_state=1)])
        is_outlier = np.r_[np.zeros(len(clean), bool), np.ones(len(clean), bool)]
        yield det, X_test, is_outlier, det.decision_function(X_test), det.predict(X_test)
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_scorers_on_the_gradient_outlier_detector_match_the_oracle(digit_detector, encoding):
    det, X_test, is_outlier, decision, pred = digit_detector
    inlier, outlier, outlier_label = ENCODINGS[encoding]
    y = np.where(is_outlier, outlier, inlier)
    expected = _oracle(y, decision, pred == -1, outlier)
    _check_scorers(det, X_test, y, expected, outlier_label)
    # the case: darkened digits are outliers, the true AUROC is high, not 1 - it
    assert metrics.auroc_scorer(det, X_test, np.where(is_outlier, 1, 0)) > 0.9


def test_detector_without_a_score_and_other_estimators_are_refused(ood_data):
    X, is_outlier = ood_data
    y = is_outlier.astype(int)
    lof = LocalOutlierFactor(novelty=False).fit(X)
    with pytest.raises(TypeError, match="LocalOutlierFactor.*novelty=True"):
        metrics.auroc_scorer(lof, X, y)
    gft = GradientFeatureTransformer(epochs=0, device="cpu")
    for est in (gft, StandardScaler().fit(X), LinearRegression().fit(X, y)):
        for scorer in SCORERS.values():
            with pytest.raises(TypeError, match=f"need an outlier detector.*classifier.*{type(est).__name__} is neither"):
                scorer(est, X, y)
    # a classifier that does not know the outliers' label
    clf = LogisticRegression().fit(X, np.where(is_outlier, 2, 0))
    with pytest.raises(ValueError, match="classes_"):
        metrics.auroc_scorer(clf, X, y)  # y: 1 = outlier, but the classifier knows 0 and 2


def test_scorer_label_errors_and_repr(ood_data):
    X, is_outlier = ood_data
    yl = np.where(is_outlier, "out", "in")
    clf = LogisticRegression().fit(X, yl)
    with pytest.raises(ValueError, match="outlier_label="):
        metrics.auroc_scorer(clf, X, yl)
    assert ood_scorer("auroc", outlier_label="out")(clf, X, yl) > 0.8
    with pytest.raises(ValueError, match="unknown OOD metric"):
        ood_scorer("f1")
    with pytest.raises(ValueError, match="threshold"):
        ood_scorer("accuracy", threshold="0.5")
    assert repr(metrics.fpr95_scorer) == "ood_scorer('fpr_at_95_tpr')"
    assert repr(ood_scorer("accuracy", outlier_label="out", threshold=0.5)) == (
        "ood_scorer('accuracy', outlier_label='out', threshold=0.5)"
    )


def test_scorers_in_model_selection(ood_data):
    X, is_outlier = ood_data
    y = is_outlier.astype(int)
    scores = cross_val_score(LogisticRegression(), X, y, cv=3, scoring=metrics.fpr95_scorer)
    assert scores.shape == (3,) and np.all(scores <= 0) and np.all(scores >= -1)
    # A model that cannot rank (constant probabilities: AUROC 0.5, FPR95 1) must lose
    # to one that can, on either metric.  (A tiny C would not do: a heavily regularised
    # logistic regression still ranks by the same direction, AUROC 0.840 vs 0.842.)
    pipe = Pipeline([("clf", LogisticRegression())])
    for refit in ("auroc", "fpr95"):
        gs = GridSearchCV(
            pipe,
            {"clf": [DummyClassifier(), LogisticRegression()]},
            scoring={"fpr95": metrics.fpr95_scorer, "auroc": metrics.auroc_scorer},
            refit=refit,
            cv=3,
        ).fit(X, y)
        assert isinstance(gs.best_params_["clf"], LogisticRegression), refit
        dummy = [isinstance(p["clf"], DummyClassifier) for p in gs.cv_results_["params"]].index(True)
        assert gs.cv_results_["mean_test_auroc"][dummy] == 0.5
        assert gs.cv_results_["mean_test_fpr95"][dummy] == -1.0
        assert gs.cv_results_["mean_test_auroc"][1 - dummy] > 0.8


# --------------------------------------------------------------------------- #
# IQA
# --------------------------------------------------------------------------- #
def test_logistic5_formula_by_hand():
    # b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5 at x = b3 + ln(3)/b2:
    # 1/(1+3) = 1/4 -> b1/4 + b4 x + b5
    b = (2.0, 0.5, 1.0, 0.3, -1.0)
    x = 1.0 + np.log(3.0) / 0.5
    assert float(logistic5(x, *b)) == pytest.approx(2.0 * 0.25 + 0.3 * x - 1.0)
    # huge arguments do not overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(logistic5(np.array([-1e6, 1e6]), 1.0, 50.0, 0.0, 0.0, 0.0)).all()


def test_fit_logistic5_recovers_noise_free_curve():
    x = np.linspace(0.0, 1.0, 40)
    y = logistic5(x, 5.0, 12.0, 0.55, 0.8, 3.0)
    b = fit_logistic5(x, y)
    assert np.max(np.abs(logistic5(x, *b) - y)) < 1e-5
    # the same for a badly scaled x (UNIQUE-like scores near 1)
    xs = 0.99 + 0.01 * x
    b = fit_logistic5(xs, y)
    assert np.max(np.abs(logistic5(xs, *b) - y)) < 1e-4


def test_plcc_one_and_rmse_zero_when_mos_is_logistic_of_prediction():
    rng = np.random.RandomState(1)
    x = rng.uniform(-3, 3, 80)
    mos = logistic5(x, 4.0, -2.0, 0.3, 0.1, 5.0)  # decreasing, non-linear
    r = iqa_report(mos, x)
    assert r["plcc"] == pytest.approx(1.0, abs=1e-8)
    assert r["rmse"] == pytest.approx(0.0, abs=1e-5)
    assert stats.pearsonr(x, mos).statistic > -0.999  # a line would not do it


def test_rank_correlations_match_scipy_and_are_invariant_to_monotone_maps():
    rng = np.random.RandomState(2)
    mos = rng.uniform(0, 9, 50)
    pred = np.exp(mos / 3.0) + 7.0  # strictly increasing transform
    r = iqa_report(mos, pred)
    assert r["srocc"] == pytest.approx(1.0, abs=1e-12)
    assert r["krocc"] == pytest.approx(1.0, abs=1e-12)
    noisy = mos + rng.normal(0, 2, 50)
    noisy[:5] = noisy[5]  # ties
    r = iqa_report(mos, noisy)
    assert r["srocc"] == pytest.approx(stats.spearmanr(noisy, mos).statistic)
    assert r["krocc"] == pytest.approx(stats.kendalltau(noisy, mos).statistic)
    assert srocc(mos, noisy) == pytest.approx(r["srocc"])
    assert krocc(mos, noisy) == pytest.approx(r["krocc"])
    assert plcc(mos, noisy) == pytest.approx(r["plcc"])
    assert rmse(mos, noisy) == pytest.approx(r["rmse"])


def test_krocc_hand_case():
    # one discordant pair of 6: (6 - 1 - 1) / 6... tau = (C - D)/6 = (5 - 1)/6
    assert krocc([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    # srocc: d = (0,0,1,1): 1 - 6*2/(4*15) = 0.8
    assert srocc([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)


def test_higher_is_better_false_flips_rank_signs_only():
    rng = np.random.RandomState(3)
    q = rng.uniform(0, 1, 40)
    dmos = 100 - 60 * q + rng.normal(0, 5, 40)  # lower DMOS = better
    r_dmos = iqa_report(dmos, q, higher_is_better=False)
    assert r_dmos["srocc"] == pytest.approx(-stats.spearmanr(q, dmos).statistic)
    assert r_dmos["srocc"] > 0.8
    r_raw = iqa_report(dmos, q)
    assert r_raw["srocc"] == pytest.approx(-r_dmos["srocc"])
    assert r_raw["plcc"] == pytest.approx(r_dmos["plcc"])
    assert r_raw["rmse"] == pytest.approx(r_dmos["rmse"])


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(8, 60))
def test_logistic_fit_never_worse_than_a_line(seed, n):
    # the line is in the logistic family and Q is linear in (b1, b4, b5):
    # at the least-squares optimum PLCC^2 = 1 - SSE/SST >= pearson(x, y)^2
    rng = np.random.RandomState(seed)
    x = rng.normal(size=n) * rng.choice([1e-3, 1.0, 1e3])
    y = rng.normal(size=n) + rng.choice([0.0, 2.0]) * np.tanh(x / np.std(x))
    r = iqa_report(y, x)
    slope, icpt = np.polyfit(x, y, 1)
    line_rmse = np.sqrt(np.mean((slope * x + icpt - y) ** 2))
    assert r["rmse"] <= line_rmse * (1 + 1e-9) + 1e-12
    assert r["plcc"] >= abs(stats.pearsonr(x, y).statistic) - 1e-7


def test_outlier_ratio_against_scipy_fit():
    rng = np.random.RandomState(4)
    x = np.linspace(0, 1, 40)
    y = logistic5(x, 4.0, 10.0, 0.5, 1.0, 2.0) + rng.normal(0, 0.2, 40)
    # oracle residuals: scipy's curve_fit from the VQEG start values
    p, _ = optimize.curve_fit(
        lambda t, *b: b[0] * (0.5 - 1 / (1 + np.exp(b[1] * (t - b[2])))) + b[3] * t + b[4],
        x, y, p0=[y.max(), y.min(), x.mean(), 0.1, 0.1], maxfev=20000,
    )
    res = np.abs(logistic5(x, *p) - y)
    # first 10 residuals exceed 2 sigma, the other 30 stay within it
    std = np.where(np.arange(40) < 10, res / 2 * 0.8, res / 2 * 1.25)
    assert iqa_report(y, x, std)["outlier_ratio"] == pytest.approx(0.25)
    assert iqa_report(y, x, np.zeros(40))["outlier_ratio"] == pytest.approx(1.0)
    assert iqa_report(y, x, np.full(40, 10.0))["outlier_ratio"] == 0.0
    assert "outlier_ratio" not in iqa_report(y, x)


def test_fit_falls_back_to_line_with_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(_iqa.optimize, "curve_fit", broken)
    monkeypatch.setattr(_iqa.optimize, "least_squares", broken)
    x = np.arange(10.0)
    y = 3 * x + 1 + np.sin(x)
    with pytest.warns(UserWarning, match="linear fit"):
        b = fit_logistic5(x, y)
    assert logistic5(x, *b) == pytest.approx(np.polyval(np.polyfit(x, y, 1), x))


def test_iqa_validation():
    with pytest.raises(ValueError, match="lengths"):
        iqa_report([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        iqa_report([1, 2], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        iqa_report([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="y_std"):
        iqa_report([1, 2, 3], [1, 2, 3], [1, 1])


def test_iqa_scorers_with_a_regressor():
    rng = np.random.RandomState(5)
    X = rng.normal(size=(60, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(0, 0.5, 60)
    reg = LinearRegression().fit(X, y)
    pred = reg.predict(X)
    assert metrics.srocc_scorer(reg, X, y) == pytest.approx(stats.spearmanr(pred, y).statistic)
    assert metrics.krocc_scorer(reg, X, y) == pytest.approx(stats.kendalltau(pred, y).statistic)
    assert metrics.plcc_scorer(reg, X, y) == pytest.approx(iqa_report(y, pred)["plcc"])
    assert metrics.rmse_scorer(reg, X, y) == pytest.approx(-iqa_report(y, pred)["rmse"])
    cv = cross_val_score(LinearRegression(), X, y, cv=3, scoring=metrics.srocc_scorer)
    assert np.all(cv > 0.8)


def test_fpr95_authors_convention_is_the_grid_threshold_with_tpr_closest_to_95():
    """The authors' cal_metric: thresholds np.arange(0, 1, 0.05), inliers positive, the threshold
    whose TPR is nearest 0.95 (the first on a tie).  Hand example: 20 inliers 0.0125, 0.0625, ...
    (one per 0.05 bin) and 10 outliers 0.01, 0.05, ..., 0.37; at t = 0.05 the TPR is 19/20 = 0.95
    exactly, and 9 outliers (all but 0.01) are accepted."""
    inliers = 0.0125 + 0.05 * np.arange(20)
    outliers = 0.01 + 0.04 * np.arange(10)
    y = np.r_[np.zeros(20), np.ones(10)]
    s = np.r_[inliers, outliers]
    assert fpr_at_95_tpr(y, s, convention="authors") == pytest.approx(np.mean(outliers >= 0.05)) == 0.9
    # exact: the highest threshold keeping >= 95 % of inliers is the second inlier, 0.0625
    assert fpr_at_95_tpr(y, s) == pytest.approx(np.mean(outliers >= 0.0625)) == pytest.approx(0.8)
    # random scores: a direct oracle over the grid
    rng = np.random.RandomState(0)
    for _ in range(20):
        y = (rng.rand(200) < 0.4).astype(int)
        s = np.clip(rng.beta(2, 2, 200) + 0.3 * (y == 0), 0, 1)
        grid = np.arange(0.0, 1.0, 0.05)
        tpr = np.array([np.mean(s[y == 0] >= t) for t in grid])
        best = grid[np.argmin(np.abs(tpr - 0.95))]
        assert fpr_at_95_tpr(y, s, convention="authors") == np.mean(s[y == 1] >= best)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fpr_at_95_tpr([0, 1], [-0.5, 2.0], convention="authors")
    with pytest.raises(ValueError, match="convention"):
        fpr_at_95_tpr([0, 1], [0.5, 0.2], convention="paper")
