"""A sample's features do not depend on the other samples: order, subsets, batch size.

scikit-learn's own checks (``check_methods_sample_order_invariance``,
``check_methods_subset_invariance``) compare at rtol 1e-7, which only bitwise
equal float32 results meet.  ``transform`` pads every chunk to ``batch_size`` so
that each sample goes through kernels of one shape, which makes the results
bitwise equal on the kernels we can test (AVX-512, AVX2, and the emulated SSE4
path that ``make test`` runs).  These tests state the guarantee that holds on
any CPU: equality up to float32 rounding, per block of features, which still
catches any real order bug (a sample given another sample's features is off by
O(1) of the block's scale).  ``make test`` runs this file on the emulated kernels too.
"""
import numpy as np
import pytest

from numerics import assert_allclose_blocks
from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad.datasets import load_digits_images
from skgrad.outlier import GradientOutlierDetector


@pytest.fixture(scope="module")
def images():
    digits = load_digits_images(size=28).images[:90]
    return np.repeat(digits[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def rows():
    return np.random.RandomState(0).rand(70, 12)


def _estimators():
    return [
        ("vae-gradients", "images", GradientFeatureTransformer(epochs=2, batch_size=16, random_state=0, device="cpu")),
        ("vae-stats", "images",
         GradientFeatureTransformer(epochs=2, batch_size=16, reduction="stats", random_state=0, device="cpu")),
        ("vae-activations", "images", ActivationFeatureTransformer(epochs=2, batch_size=16, random_state=0, device="cpu")),
        ("dense-gradients", "rows",
         GradientFeatureTransformer(module="dense", epochs=2, batch_size=16, random_state=0, device="cpu")),
        ("dense-activations", "rows",
         ActivationFeatureTransformer(module="dense", epochs=2, batch_size=16, random_state=0, device="cpu")),
    ]


@pytest.mark.parametrize("name, data, est", _estimators(), ids=[e[0] for e in _estimators()])
def test_features_independent_of_order_subsets_and_batch_size(request, name, data, est):
    X = request.getfixturevalue(data)
    est.fit(X)
    names = est.get_feature_names_out()
    ref = est.transform(X)
    perm = np.random.RandomState(1).permutation(len(X))
    assert_allclose_blocks(est.transform(X[perm]), ref[perm], names)
    subset = perm[: len(X) // 3]
    assert_allclose_blocks(est.transform(X[subset]), ref[subset], names)
    for i in (0, len(X) - 1):  # one sample alone, first and last
        assert_allclose_blocks(est.transform(X[i : i + 1]), ref[i : i + 1], names)
    for bs in (1, 7, 128):
        est.set_params(batch_size=bs)
        assert_allclose_blocks(est.transform(X), ref, names)
    est.set_params(batch_size=16)
    # the test can fail: a sample given its neighbour's features is far off
    with pytest.raises(AssertionError):
        assert_allclose_blocks(ref[np.roll(np.arange(len(X)), 1)], ref, names)


def test_detector_scores_independent_of_order_and_subsets(images):
    det = GradientOutlierDetector(
        GradientFeatureTransformer(epochs=2, batch_size=16, random_state=0, device="cpu"), random_state=0
    ).fit(images[:60])
    X = images[60:]
    ref = det.score_samples(X)
    perm = np.random.RandomState(2).permutation(len(X))
    # one block: the score; float32 features amplified by the standardised Mahalanobis form
    assert_allclose_blocks(det.score_samples(X[perm])[:, None], ref[perm][:, None], [slice(0, 1)])
    assert_allclose_blocks(det.score_samples(X[perm[:7]])[:, None], ref[perm[:7]][:, None], [slice(0, 1)])
    assert_allclose_blocks(det.score_samples(X[:1])[:, None], ref[:1][:, None], [slice(0, 1)])
