"""The one Pearson, Spearman and PSNR of skgrad (skgrad.metrics._correlation) and the
fast ranks behind Spearman (skgrad.metrics._ranks), against scipy and by hand."""
import warnings

import numpy as np
import pytest
from scipy import stats

from skgrad.metrics import psnr, srocc
from skgrad.metrics._correlation import pearson, spearman
from skgrad.metrics._ranks import argsort as _argsort
from skgrad.metrics._ranks import average_ranks as _average_ranks
from skgrad.metrics._ranks import Workspace, average_ranks_pair, centred_ranks

_spearman = spearman


def _tricky_vectors(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 4000))
    v = rng.normal(size=n) * 10.0 ** float(rng.integers(-3, 4))
    v[rng.random(n) < 0.3] = 0.0
    v[rng.random(n) < 0.05] = -0.0
    v[rng.random(n) < 0.1] = np.pi
    near = rng.random(n) < 0.2
    v[near] = v[near] * (1 + 1e-15)        # values equal up to the last bits
    return v


@pytest.mark.parametrize("seed", range(12))
def test_ranks_and_spearman_match_scipy(seed):
    x, y = _tricky_vectors(seed), _tricky_vectors(seed + 100)
    n = min(x.size, y.size)
    x, y = x[:n], y[:n]
    np.testing.assert_array_equal(_average_ranks(x), stats.rankdata(x))
    order = _argsort(x)
    assert np.all(np.diff(x[order]) >= 0)
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    if n > 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
        assert _spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic,
                                                rel=1e-10, abs=1e-12)


def test_argsort_resolves_near_ties_in_long_vectors():
    # more than 2**16 values: the packed keys then drop 17+ mantissa bits, so
    # neighbours 1 ulp apart collide and must be re-sorted exactly
    rng = np.random.default_rng(3)
    base = rng.random(1000)
    x = np.concatenate([base, np.nextafter(base, 2), np.nextafter(base, -1),
                        rng.random(70_000)])
    rng.shuffle(x)
    order = _argsort(x)
    assert np.all(np.diff(x[order]) >= 0)
    np.testing.assert_array_equal(_average_ranks(x), stats.rankdata(x))


EDGE_VECTORS = {
    "empty": [],
    "one": [-3.5],
    "two tied zeros": [-0.0, 0.0],
    "two": [0.0, -1e-300],
    "signed zeros, ties, infinities": [0.0, -0.0, 2.0, -np.inf, -2.0, np.inf, -0.0, 2.0, -2.0,
                                       np.inf, 5e-324, -5e-324, 0.0, -np.inf, 1.0],
    "all equal negatives": [-7.25] * 5,
    "no negatives but -0.0": [1.0, -0.0, 0.0, 2.0, -0.0, 0.5],
}


@pytest.mark.parametrize("values", EDGE_VECTORS.values(), ids=EDGE_VECTORS.keys())
def test_average_ranks_of_edge_vectors_are_rankdata(values):
    """-0.0 and 0.0 tie, as in rankdata; infinities, subnormals, lengths 0 to 2."""
    x = np.array(values, dtype=np.float64)
    ranks = _average_ranks(x)
    assert ranks.dtype == np.float64 and ranks.shape == x.shape
    np.testing.assert_array_equal(ranks, stats.rankdata(x))
    ordered = x[_argsort(x)]
    assert np.all(ordered[1:] >= ordered[:-1])       # (np.diff of two infinities is nan)
    np.testing.assert_array_equal(centred_ranks(x, Workspace(), np.empty(x.size), (0.0, 2.0)),
                                  stats.rankdata(x) - (x.size + 1) / 2)


# few inversions (runs found around each), more (runs found at once), very many
# (one exact sort of everything)
@pytest.mark.parametrize("n_base, n_random", [(20, 10), (1000, 70_000), (3000, 1000)])
def test_near_ties_of_negative_values_are_resolved(n_base, n_random):
    """Negative keys are the values' bits flipped: their truncation mixes up
    neighbours 1 ulp apart too, and the runs are re-sorted exactly."""
    rng = np.random.default_rng(7)
    base = -rng.random(n_base) - 1.0
    x = np.concatenate([base, np.nextafter(base, 0), np.nextafter(base, -2),
                        rng.normal(size=n_random), [-0.0, 0.0, -np.inf, np.inf]])
    rng.shuffle(x)
    ordered = x[_argsort(x)]
    assert np.all(ordered[1:] >= ordered[:-1])
    np.testing.assert_array_equal(_average_ranks(x), stats.rankdata(x))
    np.testing.assert_array_equal(centred_ranks(x, Workspace(), np.empty(x.size), (0.0,)),
                                  stats.rankdata(x) - (x.size + 1) / 2)


@pytest.mark.parametrize("seed", range(6))
def test_pearson_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=50)
    y = 0.3 * x + rng.normal(size=50)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-12)


def test_the_one_rule_for_undefined_correlations():
    """nan, without a warning, for a constant vector, a NaN, or fewer than 2 values."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for func in (pearson, spearman):
            assert np.isnan(func([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
            assert np.isnan(func([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))
            assert np.isnan(func([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]))
            assert np.isnan(func([1.0], [2.0]))
        assert np.isnan(pearson([1.0, np.inf, 3.0], [1.0, 2.0, 3.0]))
        assert np.isnan(srocc([1, 2, 3, 4], [5, 5, 5, 5]))  # the public metric follows it
    # infinite values are ordered: Spearman ranks them
    assert spearman([1.0, np.inf, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2, 3], [1, 2])


def test_long_vectors_are_ranked_in_two_threads_with_the_same_result():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=60_000), rng.normal(size=60_000)
    rx, ry = average_ranks_pair(x, y)
    np.testing.assert_array_equal(rx, stats.rankdata(x))
    np.testing.assert_array_equal(ry, stats.rankdata(y))


def test_psnr_by_hand_and_inf_for_identical_images():
    a = np.zeros((2, 3, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # MSE = 100 / 18
    assert psnr(a, b) == pytest.approx(10 * np.log10(255.0**2 * 18 / 100), rel=1e-12)
    assert psnr(b, a) == psnr(a, b)
    assert psnr(a, a) == np.inf
    assert psnr(a / 255.0, b / 255.0, data_range=1.0) == pytest.approx(psnr(a, b), rel=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[:1])
