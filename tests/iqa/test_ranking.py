"""The ranks behind the pooled scores (skgrad.metrics._ranks.centred_ranks) against scipy and the
project's general ranking, bit for bit, and the scores' rank correlation against
skgrad.metrics.spearman."""
from concurrent.futures import ThreadPoolExecutor
import time

import numpy as np
import pytest
from scipy import stats

from skgrad.iqa import SparsePatchAutoencoder, gradient_quality, pooled_score, quality_scores
from skgrad.metrics._ranks import Workspace, centred_ranks, rank_correlation
from skgrad.metrics._correlation import spearman
from skgrad.metrics._ranks import average_ranks

COMMONS = [(), (0.0,), (0.0, np.pi, 2 * np.pi), (np.pi,), (1.0, 2 * np.pi)]


def _features(seed, n=None):
    """Non-negative vectors like the thresholded features: many exact zeros, pi and
    2 pi, values equal but for their last bits (which the keys' truncation mixes
    up: the exact re-sorting runs), infinities."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000)) if n is None else n
    v = np.abs(rng.normal(size=n)) * 10.0 ** float(rng.integers(-3, 4))
    v[rng.random(n) < 0.3] = 0.0
    v[rng.random(n) < 0.1] = np.pi
    v[rng.random(n) < 0.1] = 2 * np.pi
    near = rng.random(n) < 0.2
    v[near] *= 1 + 1e-15
    v[rng.random(n) < 0.01] = np.inf
    return v


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("common", COMMONS, ids=str)
def test_centred_ranks_are_scipy_ranks_less_their_mean(seed, common):
    v = _features(seed)
    before = v.copy()
    ranks = centred_ranks(v, Workspace(), np.empty(v.size), common)
    np.testing.assert_array_equal(ranks + (v.size + 1) / 2, stats.rankdata(v))
    general = average_ranks(v)
    np.testing.assert_array_equal(ranks, general - general.mean())  # the mean is exact
    np.testing.assert_array_equal(v, before)                        # the input is kept


@pytest.mark.parametrize("n_base", [30, 3000])   # few inversions (run by run), many (all at once)
def test_the_keys_truncation_is_repaired(n_base):
    """Values equal in all but their lowest bits share a key: without the exact
    re-sorting of such runs, some would be ranked out of order."""
    rng = np.random.default_rng(3)
    base = rng.random(n_base) + 1.0
    v = np.concatenate([base, base * (1 + 2.0 ** -50), base * (1 + 2.0 ** -51)])
    rng.shuffle(v)
    ranks = centred_ranks(v, Workspace(), np.empty(v.size))
    np.testing.assert_array_equal(ranks + (v.size + 1) / 2, stats.rankdata(v))


def test_long_runs_of_one_key_are_repaired():
    """A run of equal truncated keys longer than the window looked at around an
    inversion: three values equal but for their last bits, in index order largest
    first and smallest last, between other values; the run's ends are found
    further out, and the run is re-sorted from end to end."""
    rng = np.random.default_rng(5)
    high, middle, low = 1.5 * (1 + 2.0 ** -50), 1.5 * (1 + 2.0 ** -51), 1.5
    for n_tied in (40, 300):
        v = np.concatenate([rng.random(200), [high], np.full(n_tied, middle), [low], rng.random(200) + 2.0])
        ranks = centred_ranks(v, Workspace(), np.empty(v.size))
        np.testing.assert_array_equal(ranks + (v.size + 1) / 2, stats.rankdata(v))


@pytest.mark.parametrize("bucket", [False, True], ids=["quicksort", "bucket-sort"])
def test_long_vectors_by_either_sort_are_scipy_ranks(bucket, monkeypatch):
    """Vectors past BUCKET_MIN take the sort this CPU runs faster; each gives scipy's
    ranks exactly (negative values, zeros, pi, near-ties, infinities; 300,000 values)."""
    from skgrad.metrics import _ranks

    monkeypatch.setattr(_ranks, "_bucket_sort_is_faster", lambda: bucket)
    rng = np.random.default_rng(11)
    v = _features(7, 300_000)
    v[rng.random(v.size) < 0.2] *= -1.0
    v[:1000] = -0.0
    assert v.size >= 4 * _ranks.BUCKET_MIN
    for common in ((), (0.0, np.pi, 2 * np.pi)):
        ranks = centred_ranks(v, Workspace(), np.empty(v.size), common)
        np.testing.assert_array_equal(ranks + (v.size + 1) / 2, stats.rankdata(v))


@pytest.mark.parametrize("layout", ["uniform", "one bucket", "far outlier", "two clusters", "sorted", "reversed"])
def test_bucket_sort_sorts_any_layout_of_keys(layout):
    """The radix pass spreads the keys' range over 2**16 buckets; however the keys
    crowd into few of them, the result is np.sort's."""
    from skgrad.metrics._ranks import BUCKET_MIN, _bucket_sort

    rng = np.random.default_rng(2)
    n = 2 * BUCKET_MIN + 3
    keys = {
        "uniform": rng.integers(0, 1 << 64, n, dtype=np.uint64),
        "one bucket": rng.integers(0, 1 << 20, n, dtype=np.uint64) + np.uint64(1 << 62),
        "far outlier": np.append(rng.integers(0, 1 << 30, n - 1, dtype=np.uint64), np.uint64((1 << 64) - 1)),
        "two clusters": np.where(rng.random(n) < 0.5, np.uint64(5), np.uint64(1 << 63))
        + rng.integers(0, 1 << 12, n, dtype=np.uint64),
        "sorted": np.arange(n, dtype=np.uint64) * np.uint64(977),
        "reversed": np.arange(n, dtype=np.uint64)[::-1].copy(),
    }[layout]
    expected = np.sort(keys)
    before = keys.copy()
    np.testing.assert_array_equal(_bucket_sort(keys, Workspace()), expected)
    np.testing.assert_array_equal(keys, before)


def test_the_faster_sort_is_timed_once_even_from_concurrent_threads(monkeypatch):
    from skgrad.metrics import _ranks

    assert isinstance(_ranks._time_sorts(), bool)
    calls = []

    def timed():
        calls.append(1)
        time.sleep(0.05)          # the other threads arrive while it is timing
        return True

    monkeypatch.setattr(_ranks, "_time_sorts", timed)
    monkeypatch.setattr(_ranks, "_choice", None)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _ranks._bucket_sort_is_faster(), range(8)))
    assert answers == [True] * 8 and len(calls) == 1


def test_a_workspace_serves_longer_then_shorter_vectors():
    workspace = Workspace()
    for n in (50, 4000, 7, 4000, 1, 2):
        v = _features(n, n)
        ranks = centred_ranks(v, workspace, np.empty(n), (0.0, np.pi, 2 * np.pi))
        np.testing.assert_array_equal(ranks + (n + 1) / 2, stats.rankdata(v))


@pytest.mark.parametrize("seed", range(10))
def test_rank_correlation_is_spearman(seed):
    x, y = _features(seed, 3000), _features(seed + 50, 3000)
    rx = centred_ranks(x, Workspace(), np.empty(x.size), (0.0,))
    ry = centred_ranks(y, Workspace(), np.empty(y.size), (0.0,))
    assert rank_correlation(rx, ry) == pytest.approx(spearman(x, y), rel=1e-14, abs=1e-15)
    assert rank_correlation(rx, ry) == pytest.approx(stats.spearmanr(x, y).statistic, rel=1e-12)
    constant = centred_ranks(np.full(10, 0.5), Workspace(), np.empty(10))
    assert np.isnan(rank_correlation(constant, rx[:10]))
    assert np.isnan(rank_correlation(rx[:1], ry[:1]))


def test_pooled_score_with_negative_threshold_ranks_negative_values():
    """Values in [threshold, 0) keep their sign: the keys must order negative values too."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=500)
    a_t, b_t = np.where(a < -0.5, 0, a), np.where(b < -0.5, 0, b)
    expected = abs(stats.spearmanr(a_t, b_t).statistic) ** 3
    assert pooled_score(a, b, threshold=-0.5, exponent=3) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(pooled_score([1.0, np.nan, 2.0], [1.0, 2.0, 3.0]))


def test_concurrent_calls_from_several_threads_give_the_sequential_scores():
    """Each calling thread has its own working memory, also for the image its
    worker thread processes: concurrent pairs never mix.  (Their last bits may
    differ: the one-BLAS-thread limit is the first caller's, and lapses when it
    returns while the others still run -- hence 1e-12, far below the 1e-3 that
    separates these pairs' scores.)"""
    rng = np.random.default_rng(0)
    model = SparsePatchAutoencoder(n_hidden=16, n_patches=500, max_iter=10, random_state=0)
    model.fit([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    refs = [rng.integers(0, 256, (48 + 16 * (i % 3), 64, 3), dtype=np.uint8) for i in range(6)]
    dists = [np.clip(r + rng.normal(0, 5 + 5 * i, r.shape), 0, 255).astype(np.uint8)
             for i, r in enumerate(refs)]
    expected = [quality_scores(reference=r, distorted=d, model=model) for r, d in zip(refs, dists)]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda rd: quality_scores(reference=rd[0], distorted=rd[1], model=model),
                                zip(refs, dists)))
            for name in ("unique", "gradient"):
                np.testing.assert_allclose([g[name] for g in got], [e[name] for e in expected],
                                           rtol=1e-12, atol=0)
    gradient = sorted(s["gradient"] for s in expected)
    assert np.min(np.diff(gradient)) > 1e-3
    assert gradient_quality(reference=refs[0], distorted=dists[0], model=model) == expected[0]["gradient"]
