"""scikit-learn's own API checks on both transformers (2-D input, dense preset)."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer

ESTIMATORS = [
    GradientFeatureTransformer(module="dense", epochs=2, batch_size=16, device="cpu"),
    GradientFeatureTransformer(module="dense", epochs=2, batch_size=16, reduction="stats", device="cpu"),
    ActivationFeatureTransformer(module="dense", epochs=2, batch_size=16, device="cpu"),
]

# Expected failures, each with its reason (none at present).
EXPECTED_FAILED = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible(estimator, check):
    check(estimator)
