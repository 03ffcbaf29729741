"""GradientOutlierDetector: real behaviour on real digits, and scikit-learn's API checks."""
import numpy as np
import pytest
import torch
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from skgrad import GradientFeatureTransformer
from skgrad.datasets import load_digits_images, load_real_digits
from skgrad.distortions import apply_challenge
from skgrad.outlier import GradientOutlierDetector


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny networks here gain nothing from intra-op threads, and on a loaded
    2-core machine contending threads make training ~10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits():
    """Real handwritten digits (MNIST-5k, else sklearn digits), shuffled: 1000 to fit, 300 held out."""
    bunch = load_real_digits()
    idx = np.random.RandomState(0).permutation(len(bunch.images))[:1300]
    images = bunch.images[idx][..., None]  # (n, 28, 28, 1) uint8
    return images[:1000], images[1000:]


def _gft(**kwargs):
    # 20 epochs: on 800 training images the default 10 (~125 Adam steps) leaves the VAE
    # undertrained for some seeds (see docs/ood.md)
    return GradientFeatureTransformer(epochs=20, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def fitted(digits):
    train, _ = digits
    return GradientOutlierDetector(_gft(), random_state=0).fit(train)


def _auroc_outlier(det, clean, distorted):
    """AUROC of -score_samples with the distorted samples as the positive (outlier) class."""
    s = np.r_[det.score_samples(clean), det.score_samples(distorted)]
    y = np.r_[np.zeros(len(clean)), np.ones(len(distorted))]
    return roc_auc_score(y, -s)


@pytest.mark.parametrize(
    "challenge, level, min_auroc",
    [
        ("noise", 5, 0.95),  # larger gradients than clean digits
        ("darkening", 5, 0.9),  # SMALLER gradients: the score must be two-sided
        ("dirty_lens", 3, 0.9),
    ],
)
def test_distorted_digits_score_lower_than_held_out_clean(fitted, digits, challenge, level, min_auroc):
    _, test = digits
    distorted = apply_challenge(test, challenge, level, random_state=1)
    assert _auroc_outlier(fitted, test, distorted) > min_auroc


def test_cosine_method_scores_noise_lower(digits):
    train, test = digits
    det = GradientOutlierDetector(_gft(), method="cosine", random_state=0)
    det.fit(train)
    scores = det.score_samples(test)
    assert np.all(scores >= -1 - 1e-9) and np.all(scores <= 1 + 1e-9)
    noisy = apply_challenge(test, "noise", 5, random_state=1)
    assert _auroc_outlier(det, test, noisy) > 0.9


def test_mahalanobis_score_matches_independent_computation(fitted, digits):
    """The score is recomputed from the transformer's gradients with numpy and LedoitWolf."""
    train, test = digits
    det = fitted
    names = det.transformer_.get_feature_names_out()
    prefixes = np.array([n.rsplit("[", 1)[0] for n in names])
    blocks = list(dict.fromkeys(prefixes))
    assert blocks == ["bce:up.6.weight", "kld:down.6.weight"] == det.blocks_

    def summary(G, means):
        cols = [np.log(np.linalg.norm(G[:, prefixes == b], axis=1) + 1e-12) for b in blocks]
        for b, m in zip(blocks, means):
            g = G[:, prefixes == b]
            cols.append(g @ m / (np.linalg.norm(g, axis=1) * np.linalg.norm(m)))
        return np.stack(cols, axis=1)

    G_val = det.transformer_.transform(train[det.validation_indices_]).astype(np.float64)
    means = [G_val[:, prefixes == b].mean(axis=0) for b in blocks]
    S = summary(G_val, means)
    mu, sd = S.mean(axis=0), S.std(axis=0)
    cov = LedoitWolf().fit((S - mu) / sd)
    G_test = det.transformer_.transform(test).astype(np.float64)
    Z = (summary(G_test, means) - mu) / sd - cov.location_
    expected = -np.einsum("ij,jk,ik->i", Z, cov.precision_, Z)
    np.testing.assert_allclose(det.score_samples(test), expected, rtol=1e-6, atol=1e-6)


def test_validation_split_holds_samples_out_of_training():
    """The autoencoder is trained on the complement of validation_indices_ only."""
    X = load_digits_images(size=16).images[:100, :, :, None]
    det = GradientOutlierDetector(
        GradientFeatureTransformer(epochs=1, device="cpu", random_state=5), validation_fraction=0.3, random_state=0
    ).fit(X)
    idx = det.validation_indices_
    assert len(idx) == 30 and len(np.unique(idx)) == 30 and 0 <= idx.min() and idx.max() < 100
    held = np.zeros(len(X), bool)
    held[idx] = True
    oracle = GradientFeatureTransformer(epochs=1, device="cpu", random_state=5).fit(X[~held])
    np.testing.assert_array_equal(det.transformer_.transform(X[:20]), oracle.transform(X[:20]))
    # with validation_fraction=0 every sample is used for both
    det0 = GradientOutlierDetector(
        GradientFeatureTransformer(epochs=1, device="cpu", random_state=5), validation_fraction=0.0
    ).fit(X)
    np.testing.assert_array_equal(det0.validation_indices_, np.arange(100))
    oracle = GradientFeatureTransformer(epochs=1, device="cpu", random_state=5).fit(X)
    np.testing.assert_array_equal(det0.transformer_.transform(X[:20]), oracle.transform(X[:20]))


def test_predict_and_decision_function_consistent(fitted, digits):
    _, test = digits
    X = np.concatenate([test[:50], apply_challenge(test[:50], "noise", 5, random_state=0)])
    scores = fitted.score_samples(X)
    decision = fitted.decision_function(X)
    pred = fitted.predict(X)
    np.testing.assert_allclose(decision, scores - fitted.offset_)
    np.testing.assert_array_equal(pred, np.where(decision < 0, -1, 1))
    assert set(np.unique(pred)) <= {-1, 1}
    assert (pred[50:] == -1).mean() > (pred[:50] == -1).mean()


@pytest.mark.parametrize("contamination", [0.05, 0.25])
def test_contamination_sets_fraction_of_training_outliers(contamination):
    X = load_digits_images(size=16).images[:200, :, :, None]
    det = GradientOutlierDetector(
        GradientFeatureTransformer(epochs=2, device="cpu"), contamination=contamination, random_state=0
    ).fit(X)
    frac = np.mean(det.predict(X) == -1)
    assert abs(frac - contamination) <= 1 / len(X)
    np.testing.assert_allclose(det.offset_, np.percentile(det.score_samples(X), 100 * contamination))


def test_not_fitted():
    det = GradientOutlierDetector()
    X = np.zeros((2, 28, 28), np.uint8)
    for method in (det.score_samples, det.decision_function, det.predict):
        with pytest.raises(NotFittedError):
            method(X)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(method="knn"), "method"),
        (dict(contamination=0.0), "contamination"),
        (dict(contamination=0.7), "contamination"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(validation_fraction=-0.1), "validation_fraction"),
        (dict(transformer=GradientFeatureTransformer(reduction="norm")), "reduction"),
    ],
)
def test_invalid_parameters(params, match):
    X = np.zeros((10, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=match):
        GradientOutlierDetector(**params).fit(X)


def test_transformer_is_cloned_and_seeded():
    X = load_digits_images(size=16).images[:60, :, :, None]
    gft = GradientFeatureTransformer(epochs=1, device="cpu")
    det = GradientOutlierDetector(gft, random_state=3).fit(X)
    assert not hasattr(gft, "module_") and gft.random_state is None
    again = GradientOutlierDetector(gft, random_state=3).fit(X)
    np.testing.assert_array_equal(det.score_samples(X[:10]), again.score_samples(X[:10]))


# scikit-learn's API checks, on 2-D input with the dense preset
_DENSE = GradientFeatureTransformer(module="dense", epochs=2, batch_size=16, device="cpu")
ESTIMATORS = [
    GradientOutlierDetector(_DENSE),
    GradientOutlierDetector(_DENSE, method="cosine", validation_fraction=0.0),
]

# Expected failures, each with its reason.
EXPECTED_FAILED = {
    # The transformer's float32 gradients come from torch's batched kernels, which round
    # differently for different batch sizes (relative differences ~1e-7 between transforming
    # X at once and in pieces); the standardised log-norm/cosine/Mahalanobis score amplifies
    # them to ~1e-6 relative, above the check's rtol of 1e-7.  Scores are still per-sample:
    # no value depends on the other samples beyond float32 rounding.
    "check_methods_subset_invariance": "float32 rounding of batched torch kernels, amplified by the score",
}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible(estimator, check):
    check(estimator)
