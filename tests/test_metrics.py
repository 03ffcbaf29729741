"""Tests for skgrad.metrics against hand-computed cases and scipy / brute-force oracles."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC

from skgrad import metrics
from skgrad.metrics import (
    aupr_in,
    aupr_out,
    detection_error,
    fit_logistic5,
    fpr_at_95_tpr,
    iqa_report,
    krocc,
    logistic5,
    ood_report,
    ood_scorer,
    plcc,
    rmse,
    srocc,
)


# --------------------------------------------------------------------------- #
# OOD: hand-computed cases
# --------------------------------------------------------------------------- #
def test_ood_report_hand_case_four_scores():
    # inliers 0.1, 0.4; outliers 0.35, 0.8.
    # ROC points (fpr, tpr): (0,0) (0,.5) (.5,.5) (.5,1) (1,1)
    # pairs out>in: (.35>.1) (.8>.1) (.8>.4) -> 3 of 4 -> AUROC 0.75
    # first TPR >= .95 at threshold .35 with FPR .5
    # detection error min .5(1-tpr)+.5fpr = .25 (at (0,.5) and (.5,1))
    # AP-out: ranks .8(+) .4(-) .35(+): .5*1 + .5*(2/3) = 5/6
    # AP-in (negated scores): .1(+) .35(-) .4(+): .5*1 + .5*(2/3) = 5/6
    # accuracy at .5: only .8 flagged -> 3 of 4 right
    r = ood_report([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
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
    # inliers .1 .2 .9, outlier .5
    # AUROC: outlier beats 2 of 3 inliers -> 2/3
    # TPR reaches 1 at threshold .5 where 1 inlier (.9) is above -> FPR 1/3
    # ROC (fpr,tpr): (0,0) (1/3,0) (1/3,1) (2/3,1) (1,1): det. err. min = 1/6
    # AP-out: .9(-) .5(+) -> precision 1/2 at recall 1 -> 1/2
    # AP-in on -s: .1(+) .2(+) .5(-) .9(+): 1/3*1 + 1/3*1 + 1/3*3/4 = 11/12
    # accuracy at .5 (strictly above): flags .9 only -> 2 of 4 right
    y, s = [0, 0, 0, 1], [0.1, 0.2, 0.9, 0.5]
    r = ood_report(y, s)
    assert r["auroc"] == pytest.approx(2 / 3)
    assert r["fpr_at_95_tpr"] == pytest.approx(1 / 3)
    assert r["detection_error"] == pytest.approx(1 / 6)
    assert r["aupr_out"] == pytest.approx(0.5)
    assert r["aupr_in"] == pytest.approx(11 / 12)
    assert r["accuracy"] == pytest.approx(0.5)
    # the single-metric functions agree
    assert fpr_at_95_tpr(y, s) == pytest.approx(1 / 3)
    assert detection_error(y, s) == pytest.approx(1 / 6)
    assert aupr_in(y, s) == pytest.approx(11 / 12)
    assert aupr_out(y, s) == pytest.approx(0.5)


def test_ood_report_ties_across_classes():
    # inliers .5 .2, outliers .5 .9; tie counts 1/2: (1 + .5 + 1 + 1)/4
    r = ood_report([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    assert r["auroc"] == pytest.approx(0.875)
    # threshold .5 flags both outliers and the tied inlier
    assert r["fpr_at_95_tpr"] == pytest.approx(0.5)
    assert r["detection_error"] == pytest.approx(0.25)


def test_accuracy_threshold_is_strict_and_adjustable():
    y = [0, 1, 1]
    s = [0.5, 0.5, 0.7]
    assert ood_report(y, s)["accuracy"] == pytest.approx(2 / 3)
    assert ood_report(y, s, threshold=0.4)["accuracy"] == pytest.approx(2 / 3)
    assert ood_report(y, s, threshold=0.6)["accuracy"] == pytest.approx(2 / 3)
    assert ood_report([0, 1], [0.2, 0.7], threshold=0.8)["accuracy"] == pytest.approx(0.5)


def test_pos_label_and_string_labels():
    s = [0.1, 0.4, 0.35, 0.8]
    ref = ood_report([0, 0, 1, 1], s)
    assert ood_report(["in", "in", "out", "out"], s, pos_label="out") == pytest.approx(ref)
    # outliers coded 0: same numbers
    assert ood_report([1, 1, 0, 0], s, pos_label=0) == pytest.approx(ref)


def _brute_force(y, s):
    """Independent oracle: sweep every threshold 'flag if score >= t'."""
    y = np.asarray(y, bool)
    s = np.asarray(s, float)
    pts = [(0.0, 0.0)]
    for t in np.unique(s):
        flag = s >= t
        pts.append((flag[~y].mean(), flag[y].mean()))
    fpr95 = min(f for f, t in pts if t >= 0.95)
    det = min(0.5 * (1 - t) + 0.5 * f for f, t in pts)
    return fpr95, det


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(0, 6), min_size=2, max_size=25),
    st.lists(st.integers(0, 6), min_size=2, max_size=25),
)
def test_ood_metrics_match_brute_force_and_mann_whitney(inl, outl):
    # integer scores make many ties
    y = np.r_[np.zeros(len(inl)), np.ones(len(outl))]
    s = np.r_[inl, outl].astype(float)
    r = ood_report(y, s)
    fpr95, det = _brute_force(y, s)
    assert r["fpr_at_95_tpr"] == pytest.approx(fpr95)
    assert r["detection_error"] == pytest.approx(det)
    u = stats.mannwhitneyu(outl, inl, alternative="two-sided").statistic
    assert r["auroc"] == pytest.approx(u / (len(inl) * len(outl)))


def test_ood_validation_errors():
    with pytest.raises(ValueError, match="both classes"):
        ood_report([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        ood_report([0, 0, 2], [0.1, 0.2, 0.3])  # pos_label 1 absent
    with pytest.raises(ValueError, match="binary"):
        ood_report([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="lengths"):
        ood_report([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        ood_report([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="1-dimensional"):
        ood_report([[0, 1], [1, 0]], [[0.1, 0.2], [0.3, 0.4]])


# --------------------------------------------------------------------------- #
# OOD scorers
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def ood_data():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(0, 1, (60, 3)), rng.normal(1.0, 1, (60, 3))]
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    return X, y


def test_scorers_use_decision_function_or_predict_proba(ood_data):
    X, y = ood_data
    lr = LogisticRegression().fit(X, y)
    dec = lr.decision_function(X)
    assert metrics.auroc_scorer(lr, X, y) == pytest.approx(ood_report(y, dec)["auroc"])
    assert metrics.fpr95_scorer(lr, X, y) == pytest.approx(-ood_report(y, dec)["fpr_at_95_tpr"])
    assert metrics.detection_error_scorer(lr, X, y) == pytest.approx(
        -ood_report(y, dec)["detection_error"]
    )
    assert metrics.aupr_in_scorer(lr, X, y) == pytest.approx(ood_report(y, dec)["aupr_in"])
    assert metrics.aupr_out_scorer(lr, X, y) == pytest.approx(ood_report(y, dec)["aupr_out"])
    # accuracy uses the probability threshold 0.5 -> same as predict()
    assert ood_scorer("accuracy")(lr, X, y) == pytest.approx(np.mean(lr.predict(X) == y))
    # an estimator with predict_proba only
    nb = GaussianNB().fit(X, y)
    assert not hasattr(nb, "decision_function")
    proba = nb.predict_proba(X)[:, 1]
    assert metrics.fpr95_scorer(nb, X, y) == pytest.approx(-fpr_at_95_tpr(y, proba))
    # an estimator with decision_function only
    svc = LinearSVC().fit(X, y)
    assert metrics.auroc_scorer(svc, X, y) == pytest.approx(
        ood_report(y, svc.decision_function(X))["auroc"]
    )


def test_scorer_pos_label_first_class_negates_decision_function(ood_data):
    X, y = ood_data
    y2 = np.where(y == 1, 1, 2)  # outliers = 1 = classes_[0]
    lr = LogisticRegression().fit(X, y2)
    dec = lr.decision_function(X)  # higher = more class 2 = inlier
    expected = stats.mannwhitneyu(-dec[y2 == 1], -dec[y2 == 2]).statistic / (60 * 60)
    assert ood_scorer("auroc", pos_label=1)(lr, X, y2) == pytest.approx(expected)
    yl = np.where(y == 1, "out", "in")
    lr = LogisticRegression().fit(X, yl)
    assert ood_scorer("auroc", pos_label="out")(lr, X, yl) == pytest.approx(
        ood_report(y, lr.decision_function(X))["auroc"]
    )


def test_scorers_in_model_selection(ood_data):
    X, y = ood_data
    scores = cross_val_score(LogisticRegression(), X, y, cv=3, scoring=metrics.fpr95_scorer)
    assert scores.shape == (3,) and np.all(scores <= 0) and np.all(scores >= -1)
    # a useless model (huge regularisation on shuffled features) must lose
    gs = GridSearchCV(
        LogisticRegression(),
        {"C": [1e-8, 1.0]},
        scoring={"fpr95": metrics.fpr95_scorer, "auroc": metrics.auroc_scorer},
        refit="auroc",
        cv=3,
    ).fit(X, y)
    assert set(gs.cv_results_) >= {"mean_test_fpr95", "mean_test_auroc"}
    with pytest.raises(ValueError, match="unknown OOD metric"):
        ood_scorer("f1")


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

    monkeypatch.setattr(metrics.optimize, "curve_fit", broken)
    monkeypatch.setattr(metrics.optimize, "least_squares", broken)
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
