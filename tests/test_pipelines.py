"""skgrad inside ordinary scikit-learn pipelines, cross-validation and grid search,
on real handwritten digits."""
import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer


@pytest.fixture(scope="module")
def digits():
    """160 real 8x8 digits as uint8 greyscale images."""
    return (load_digits().images[:160] * (255 / 16)).round().astype(np.uint8)


def blur(images, sigma):
    return np.clip(ndimage.gaussian_filter(images.astype(float), (0, sigma, sigma)), 0, 255).round().astype(np.uint8)


def test_cross_val_score_detects_blurred_digits(digits):
    X = np.concatenate([digits, blur(digits, 1.0)])
    y = np.r_[np.zeros(len(digits)), np.ones(len(digits))]
    pipe = make_pipeline(
        GradientFeatureTransformer(epochs=3, batch_size=32, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0), scoring="roc_auc")
    assert scores.shape == (3,)
    assert scores.min() > 0.9, scores


def test_grid_search_over_a_transformer_parameter_and_svr_C(digits):
    """Regress the blur strength of a digit from its gradient features."""
    rng = np.random.RandomState(0)
    sigmas = rng.uniform(0.0, 1.5, len(digits))
    X = np.stack([blur(im[None], s)[0] for im, s in zip(digits, sigmas)])
    pipe = make_pipeline(
        GradientFeatureTransformer(epochs=2, batch_size=32, random_state=0),
        StandardScaler(),
        SVR(),
    )
    grid = GridSearchCV(
        pipe,
        {"gradientfeaturetransformer__reduction": [None, "stats"], "svr__C": [0.1, 10.0]},
        cv=KFold(2, shuffle=True, random_state=0),
    )
    grid.fit(X, sigmas)
    assert set(grid.cv_results_["param_svr__C"]) == {0.1, 10.0}
    assert grid.best_score_ > 0.5, grid.best_score_  # R^2 of the blur strength on held-out digits
    pred = grid.predict(X[:5])
    assert pred.shape == (5,)


def test_activation_pipeline_runs_in_cross_validation(digits):
    X = np.concatenate([digits, blur(digits, 1.0)])
    y = np.r_[np.zeros(len(digits)), np.ones(len(digits))]
    pipe = make_pipeline(ActivationFeatureTransformer(epochs=2, random_state=0), LogisticRegression(max_iter=500))
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(2, shuffle=True, random_state=0))
    assert np.all((scores >= 0) & (scores <= 1))
