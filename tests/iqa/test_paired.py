"""PairedGradientTransformer on real photographs (built-in sample photos).

scikit-learn's ``parametrize_with_checks``/``check_estimator`` is not applicable:
its checks feed 2-D numeric matrices, while this transformer takes
``(n, 2, H, W, 3)`` uint8 image pairs or ``(n, 2)`` path pairs.  The API contract
it would check (clone, get/set_params, fitted state, feature names, set_output)
is tested explicitly below.
"""
import copy
import csv
import warnings

import numpy as np

from skgrad.datasets import center_crop_resize as _crop
from skgrad.distortions import PHOTO_DISTORTIONS, apply_photo_distortion as _distort
import pytest
from PIL import Image
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from threadpoolctl import threadpool_limits

from numerics import PARITY_ATOL
from skgrad.datasets import load_sample_photos
from skgrad.iqa import (PairedGradientTransformer, SparsePatchAutoencoder,
                        activation_quality, gradient_quality)
from skgrad.metrics import srocc_scorer

WIDTH, HEIGHT = 192, 144          # 4 patches per image at the coarsest scale
#: Pixel-based distortions (as the parity pairs in shared/data/iqa-parity were
#: made), 5 levels each, increasingly severe.
LEVELS = PHOTO_DISTORTIONS
#: Features that are 0 for an identical pair (all others are 1).
ZERO = ("gradient_log_norm_ratio", "reconstruction_log_ratio",
        "heavy_unit_fraction_change")






def _base_name(name):
    return name.rsplit("_s", 1)[0]


@pytest.fixture(scope="module")
def photos():
    # china, flower (training) then astronaut, chelsea, coffee, rocket (test)
    photos = load_sample_photos()
    if len(photos) < 6:
        pytest.skip("needs scikit-image's sample photos (astronaut, chelsea, ...)")
    return [_crop(p, WIDTH, HEIGHT) for p in photos]


@pytest.fixture(scope="module")
def model(photos):
    """A small autoencoder fitted on china and flower only (never a test reference)."""
    ae = SparsePatchAutoencoder(n_hidden=32, n_patches=3000, max_iter=40, random_state=0)
    with threadpool_limits(limits=1, user_api="blas"):
        return ae.fit(photos[:2])


@pytest.fixture(scope="module")
def graded(photos, model):
    """Two test references x 4 distortion types x levels 1-5, and their features."""
    pairs, meta = [], []
    for ref_id in (2, 3):
        for kind in LEVELS:
            for level in range(1, 6):
                pairs.append([photos[ref_id], _distort(photos[ref_id], kind, level, ref_id)])
                meta.append((ref_id, kind, level))
    X = np.asarray(pairs)
    pgt = PairedGradientTransformer(model=model).fit(X)
    return X, meta, pgt, pgt.transform(X)


def test_identical_pairs_are_perfect(photos, model):
    X = np.stack([np.stack([p, p]) for p in photos[2:]])
    pgt = PairedGradientTransformer(model=model).fit(X)
    features = pgt.transform(X)
    names = pgt.get_feature_names_out()
    assert features.shape == (4, 60) and np.isfinite(features).all()
    for j, name in enumerate(names):
        base = _base_name(name)
        if base in ZERO:
            np.testing.assert_array_equal(features[:, j], 0.0, err_msg=name)
        else:
            np.testing.assert_allclose(features[:, j], 1.0, rtol=0, atol=1e-12,
                                       err_msg=name)


def test_features_degrade_monotonically_with_level(graded):
    _, meta, pgt, features = graded
    names = list(pgt.get_feature_names_out())
    similarity = [j for j, n in enumerate(names)
                  if _base_name(n) not in ZERO]
    meta = np.array(meta, dtype=object)
    rhos = []                                  # (ref, type) x similarity feature
    for ref_id in (2, 3):
        for kind in LEVELS:
            rows = (meta[:, 0] == ref_id) & (meta[:, 1] == kind)
            levels = meta[rows, 2].astype(int)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", stats.ConstantInputWarning)
                rhos.append([stats.spearmanr(levels, features[rows, j]).statistic
                             for j in similarity])
    # a feature constant over the 5 levels (undefined rho) counts as no trend
    with np.errstate(invalid="ignore"):
        mean_rho = np.nan_to_num(np.array(rhos), nan=0.0).mean(axis=0)
    # every similarity feature falls with the level on average ...
    assert (mean_rho < 0).all(), dict(zip(np.array(names)[similarity], mean_rho))
    # ... and most fall (almost) perfectly monotonically
    assert np.mean(mean_rho <= -0.8) >= 0.75
    # the paper's two scores at the default scale: strictly in every group
    for name in ("gradient_score_s1", "activation_score_s1"):
        assert mean_rho[similarity.index(names.index(name))] <= -0.9


def test_scores_equal_quality_functions(graded, model):
    """Score columns == the independently tested (Octave parity) functions; at a
    relative scale r they equal the functions with a model of scale ``r * 0.5``."""
    X, _, pgt, features = graded
    names = list(pgt.get_feature_names_out())
    rows = [0, 7, 13, 19]
    for relative in (1, 0.5, 0.25):
        scaled = copy.deepcopy(model)
        scaled.scale = model.scale * relative
        for i in rows:
            ref, dist = X[i]
            assert features[i, names.index(f"gradient_score_s{relative:g}")] == \
                pytest.approx(gradient_quality(reference=ref, distorted=dist, model=scaled), rel=1e-12, abs=1e-15)
            assert features[i, names.index(f"activation_score_s{relative:g}")] == \
                pytest.approx(activation_quality(reference=ref, distorted=dist, model=scaled), rel=1e-12, abs=1e-15)


def test_path_pairs_equal_array_pairs(graded, tmp_path):
    X, _, pgt, features = graded
    rows = [0, 9, 18, 27, 36]
    paths = []
    for i in rows:
        pair = []
        for j in range(2):
            path = tmp_path / f"pair{i}_{j}.png"
            Image.fromarray(X[i, j]).save(path)
            pair.append(path if j else str(path))       # Path and str both work
        paths.append(pair)
    lazy = pgt.transform(np.asarray(paths, dtype=object))
    np.testing.assert_array_equal(lazy, features[rows])
    # the same as plain lists, and in parallel (clone() would drop the fitted
    # model's weights: pass the fitted model itself)
    parallel = PairedGradientTransformer(model=pgt.model_, n_jobs=2).fit(paths)
    parallel = parallel.transform(paths)
    np.testing.assert_array_equal(parallel, features[rows])


def test_pairs_of_different_sizes_are_rejected(photos, model, tmp_path):
    small = tmp_path / "small.png"
    big = tmp_path / "big.png"
    Image.fromarray(photos[2][:128, :160]).save(small)
    Image.fromarray(photos[2]).save(big)
    pgt = PairedGradientTransformer(model=model).fit([[big, big]])
    with pytest.raises(ValueError, match=r"pair 1.*\(144, 192, 3\).*\(128, 160, 3\)"):
        pgt.transform([[big, big], [big, small]])
    with pytest.raises(ValueError, match="too small"):
        pgt.transform([[photos[2][:40, :40], photos[2][:40, :40]]])


def test_grid_search_with_group_kfold_never_mixes_references(photos):
    small = [_crop(p, 128, 96) for p in photos]
    X, y, groups = [], [], []
    for ref_id in range(6):
        for kind in ("noise", "blur"):
            for level in (1, 3, 5):
                X.append([small[ref_id], _distort(small[ref_id], kind, level, ref_id)])
                y.append(5.0 - level)           # quality label: lower level is better
                groups.append(ref_id)
    X, y, groups = np.asarray(X), np.asarray(y), np.asarray(groups)
    cv = GroupKFold(n_splits=3)
    for train, test in cv.split(X, y, groups):
        assert set(groups[train]).isdisjoint(groups[test])
        assert len(set(groups[test])) == 2
    pipeline = make_pipeline(
        PairedGradientTransformer(
            model=SparsePatchAutoencoder(n_hidden=16, n_patches=1000, max_iter=20),
            scales=(1, 0.5), random_state=0),
        StandardScaler(), SVR())
    seen = []

    def scorer(estimator, X_test, y_test):
        seen.append(estimator[0].n_training_references_)  # the fold's fitted autoencoder
        return srocc_scorer(estimator, X_test, y_test)

    search = GridSearchCV(pipeline, {"svr__C": [1.0, 10.0]}, cv=cv, scoring=scorer)
    search.fit(X, y, groups=groups)
    # each fold's autoencoder saw only the 4 references of its training folds (2
    # candidates x 3 folds), the refitted one all 6
    assert seen == [4] * 6
    assert search.best_estimator_[0].n_training_references_ == 6
    # Every candidate ranks the distortion levels of references it never saw: SROCC
    # 0.926 (C=1) and 0.936 (C=10) measured; ~0 when the features do not follow the
    # distortion (shuffled labels).
    assert (search.cv_results_["mean_test_score"] >= 0.85).all(), search.cv_results_["mean_test_score"]


def test_fitted_model_is_used_as_is(photos, model):
    X = np.stack([np.stack([photos[2], _distort(photos[2], "blur", 2)])])
    W1 = model.W1_.copy()
    pgt = PairedGradientTransformer(model=model).fit(X)
    assert pgt.model_ is model and pgt.n_training_references_ == 0
    np.testing.assert_array_equal(model.W1_, W1)
    # clone() drops fitted state: a bare fitted model becomes a template that is
    # refitted; FrozenEstimator keeps the weights through clone()
    frozen_sklearn = pytest.importorskip("sklearn.frozen")
    frozen = clone(PairedGradientTransformer(
        model=frozen_sklearn.FrozenEstimator(model))).fit(X)
    assert frozen.model_ is model and frozen.n_training_references_ == 0
    np.testing.assert_array_equal(frozen.transform(X), pgt.transform(X))


def test_model_none_fits_on_distinct_references(photos, monkeypatch):
    import skgrad.iqa.paired as paired

    small = [_crop(p, 96, 72) for p in photos]
    X = np.asarray([[small[0], small[0]], [small[0], small[1]], [small[1], small[0]]])
    pgt = PairedGradientTransformer(scales=(1,), random_state=0).fit(X)
    assert pgt.n_training_references_ == 2
    params = pgt.model_.get_params()
    assert {k: params[k] for k in paired.DEFAULT_AUTOENCODER} == paired.DEFAULT_AUTOENCODER
    assert pgt.model_.n_iter_ >= 1 and pgt.model_.random_state == 0
    # the seed reaches the model: the same random_state, the same weights; another, others
    # (at 5 L-BFGS iterations: seeding does not need the default's 100, fitted above)
    monkeypatch.setitem(paired.DEFAULT_AUTOENCODER, "max_iter", 5)
    first, again, other = (PairedGradientTransformer(scales=(1,), random_state=seed).fit(X) for seed in (0, 0, 1))
    assert first.model_.max_iter == 5
    np.testing.assert_array_equal(again.model_.W1_, first.model_.W1_)
    assert not np.array_equal(other.model_.W1_, first.model_.W1_)


def test_authors_weights_from_path_match_octave(shared_dir):
    """``model`` as the .mat path; scale-1 scores against the authors' Octave code."""
    parity = shared_dir / "data" / "iqa-parity"
    rows = [r for r in csv.DictReader((parity / "scores.tsv").open(), delimiter="\t")
            if r["reference"] == "astronaut.png"][:2]
    pairs = [[parity / r["reference"], parity / r["distorted"]] for r in rows]
    weights = shared_dir / "data" / "unique" / "ImageNet_Weights_YGCr.mat"
    pgt = clone(PairedGradientTransformer(model=str(weights), scales=(1,))).fit(pairs)
    assert pgt.model_.n_hidden == 400 and pgt.n_training_references_ == 0
    features = pgt.transform(pairs)
    expected = [[float(r["gradient_quality"]), float(r["unique_activation_quality"])]
                for r in rows]
    np.testing.assert_allclose(features[:, :2], expected, rtol=0, atol=PARITY_ATOL)


def test_sklearn_api(photos, model):
    pgt = PairedGradientTransformer(model=model, scales=(1, 0.5), n_jobs=1,
                                    random_state=3)
    params = pgt.get_params(deep=False)
    assert params == {"model": model, "scales": (1, 0.5), "n_jobs": 1,
                      "random_state": 3}
    cloned = clone(pgt)
    assert cloned.get_params(deep=False)["scales"] == (1, 0.5)
    assert "model__n_hidden" in pgt.get_params(deep=True)
    X = np.stack([np.stack([photos[2], _distort(photos[2], "noise", 3)])])
    with pytest.raises(NotFittedError):
        pgt.transform(X)
    with pytest.raises(NotFittedError):
        pgt.get_feature_names_out()
    out = pgt.set_params(scales=(1,)).fit(X).set_output(transform="pandas").transform(X)
    assert list(out.columns) == list(pgt.get_feature_names_out())
    assert out.shape == (1, 20) and out.columns[0] == "gradient_score_s1"


@pytest.mark.parametrize("params, X, error, match", [
    ({"scales": ()}, None, ValueError, "scales"),
    ({"scales": (1, 1)}, None, ValueError, "distinct"),
    ({"scales": (1, -0.5)}, None, ValueError, "positive"),
    ({"model": 3}, None, TypeError, "model must be"),
    ({}, np.zeros((2, 3, 16, 16, 3), np.uint8), ValueError, r"\(n_pairs, 2, H, W, 3\)"),
    ({}, np.zeros((2, 2, 16, 16, 3), np.float32), TypeError, "uint8"),
    ({}, [["a.png"]], ValueError, "pair 0 must be"),
    ({}, [], ValueError, "no pairs"),
])
def test_invalid_input(params, X, error, match, model):
    if X is None:
        X = [["a.png", "b.png"]]
    with pytest.raises(error, match=match):
        PairedGradientTransformer(**{"model": model, **params}).fit(X)
