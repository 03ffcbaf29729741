"""Average ranks of a float64 vector, faster than :func:`scipy.stats.rankdata`.

Used by the one Spearman correlation (:mod:`._correlation`), whose largest
inputs are the pooled feature vectors of the full-reference quality scores:
307,200 values (UNIQUE) and 614,400 (gradients) for a 512x384 pair with the
authors' 400-unit model.

Measured gain, ``python benchmarks/bench_ranks.py --weights
ImageNet_Weights_YGCr.mat`` (both methods interleaved in one run, median of 15,
the real feature vectors of a 512x384 pair and the authors' weights; 2 CPU
cores, x86-64, numpy 2.4.6; 2026-11-30):

=================  ========  =================  ========================  =====
input              values    ``average_ranks``  ``scipy.stats.rankdata``  ratio
=================  ========  =================  ========================  =====
gradient features  614,400   62 ms              76 ms                     1.23x
UNIQUE features    307,200   29 ms              37 ms                     1.30x
=================  ========  =================  ========================  =====

(1.33x and 1.41x on another pair, astronaut with blur.)  End to end, one
``gradient_quality`` call on that machine, loaded by other jobs: 267 ms with
these ranks, 305 ms with ``rankdata`` (1.14x).  Ranking with a plain
``np.argsort`` is *slower* than ``rankdata``: the gain comes from
:func:`argsort` packing each index into the low bits of the value's
order-preserving integer image, so that one SIMD sort of 64-bit integers
replaces an indirect sort.
"""
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

__all__ = ["argsort", "average_ranks", "average_ranks_pair"]

#: Vectors at least this long are ranked two at a time in two threads (numpy
#: releases the GIL while it sorts).
PARALLEL_SIZE = 50_000


@lru_cache(maxsize=8)
def _uint64_range(n):
    """Read-only ``np.arange(n, dtype=np.uint64)``, cached per length."""
    indices = np.arange(n, dtype=np.uint64)
    indices.flags.writeable = False
    return indices


def _ordered_keys(bits_of_values, negative):
    """The order-preserving unsigned image of float64 bit patterns."""
    if negative:
        # negative floats: flip every bit; others: flip the sign bit
        return bits_of_values ^ (np.uint64(1 << 63) | (np.uint64(0) - (bits_of_values >> np.uint64(63))))
    # the bit patterns of non-negative floats are already ordered
    return bits_of_values.copy()


def argsort(values):
    """``np.argsort`` of a float64 vector (ties in any order), several times faster.

    The order-preserving 64-bit integer image of each value loses as many low bits
    as the index needs and the index is stored there instead; one (SIMD) sort of
    these keys sorts by (truncated value, index).  Values that differ only in the
    dropped bits (relative differences below about ``2**(bits - 52)``) may come
    out of order: those short runs are found and re-sorted exactly, so the result
    is an exact ascending order.  NaNs are not supported.
    """
    n = values.size
    bits = max(1, int(n - 1).bit_length())
    if bits > 30:
        return np.argsort(values)
    index_mask = np.uint64((1 << bits) - 1)
    negative = bool(np.signbit(values).any())
    keys = _ordered_keys(values.view(np.uint64), negative)
    keys &= ~index_mask
    keys |= _uint64_range(n)
    keys.sort()
    order = np.bitwise_and(keys, index_mask, out=keys).view(np.intp)
    ordered = values[order]
    bad = np.flatnonzero(ordered[1:] < ordered[:-1])
    if bad.size:
        if bad.size > n // 64:
            return np.argsort(values)
        # equal truncated keys form contiguous runs; re-sort the runs with a bad
        # pair by the exact values
        truncated = _ordered_keys(values.view(np.uint64)[order], negative)
        truncated &= ~index_mask
        starts = np.searchsorted(truncated, truncated[bad], side="left")
        stops = np.searchsorted(truncated, truncated[bad], side="right")
        for start, stop in set(zip(starts.tolist(), stops.tolist())):
            run = order[start:stop]
            order[start:stop] = run[np.argsort(values[run], kind="stable")]
    return order


def average_ranks(values):
    """1-based ranks with ties averaged, as ``scipy.stats.rankdata(values)``.

    ``values`` is a 1-D float64 array without NaN.
    """
    n = values.size
    order = argsort(values)
    ordered = values[order]
    boundary = np.empty(n + 1, dtype=bool)
    boundary[0] = boundary[-1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=boundary[1:-1])
    edges = np.flatnonzero(boundary)               # starts of tie groups, then n
    ranks = np.empty(n)
    if edges.size == n + 1:                        # no ties
        ranks[order] = np.arange(1.0, n + 1.0)
    else:
        average = 0.5 * (edges[:-1] + edges[1:] + 1)   # mean of the 1-based ranks
        group = np.cumsum(boundary[:-1], dtype=np.intp)
        group -= 1
        ranks[order] = average.take(group)
    return ranks


@lru_cache(maxsize=1)
def _executor():
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="skgrad-ranks")


def average_ranks_pair(x, y):
    """``(average_ranks(x), average_ranks(y))``; long vectors in two threads."""
    if x.size < PARALLEL_SIZE:
        return average_ranks(x), average_ranks(y)
    future = _executor().submit(average_ranks, x)
    ry = average_ranks(y)
    return future.result(), ry
