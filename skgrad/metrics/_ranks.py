"""Average ranks of a float64 vector (ties averaged), faster than :func:`scipy.stats.rankdata`.

The one ranking of skgrad: behind the one Spearman correlation
(:mod:`._correlation`) and the full-reference quality scores
(:mod:`skgrad.iqa`), whose inputs are the largest: 307,200 values (UNIQUE) and
614,400 (gradients) per image of a 512x384 pair with the authors' 400-unit model.

The method, in one place (:func:`_sorted_order`, then :func:`centred_ranks`):

* each float64's bit pattern becomes an order-preserving unsigned 64-bit key (a
  non-negative float's pattern already is one; a negative one -- ``-0.0`` too --
  has every bit flipped), and the index takes the key's low bits: one (SIMD) sort
  of these integers sorts by (truncated value, index), where a plain
  ``np.argsort`` (an indirect sort) is *slower* than ``rankdata``; the sort is
  NumPy's quicksort, or, on CPUs that run its AVX-512 variant slowly (AMD Zen 4),
  a radix pass and a merge (:func:`_sort_keys`, timed once per process);
* values that differ only in the dropped bits form short runs that may come out
  of order: those with an inversion are found and re-sorted exactly;
* tied values (compared as floats: ``-0.0 == 0.0``) get the mean of their ranks.

The ranks are computed *centred*, less their mean ``(n + 1) / 2`` (average ranks
sum to ``n (n + 1) / 2``): exact multiples of 1/2, the first step of Pearson's
correlation (:func:`rank_correlation`), done once per vector; :func:`average_ranks`
is the same arithmetic less 0.  The quality scores rank vector after vector of one
length: their working vectors are kept in a :class:`Workspace` from one call to
the next, which spares the page faults of fresh memory (a third of a call's time
on the 2-core development machine), and the values that many entries hold exactly
(``common``) are counted rather than sorted.

Measured gain, ``python benchmarks/bench_ranks.py --weights
ImageNet_Weights_YGCr.mat`` (both methods interleaved in one run, median of 15,
the real feature vectors of a 512x384 pair and the authors' weights; 2 CPU
cores of an AMD Zen 4, x86-64, numpy 2.4.6, an idle machine, 2026-11-30):

=================  ========  =================  ========================  ===========
input              values    ``average_ranks``  ``scipy.stats.rankdata``  ratio
=================  ========  =================  ========================  ===========
gradient features  614,400   36 ms              73 ms                     2.02x
UNIQUE features    307,200   17 ms              29 ms                     1.78x
=================  ========  =================  ========================  ===========

(Before the radix pass, on the same machine loaded by other jobs: 53-68 ms and
20-25 ms, 1.30-1.46x and 1.54-1.71x.)
"""
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
import math
import threading
import time

import numpy as np

__all__ = ["Workspace", "argsort", "average_ranks", "average_ranks_pair", "centred_ranks",
           "rank_correlation"]

#: Vectors at least this long are ranked two at a time in two threads (numpy
#: releases the GIL while it sorts).
PARALLEL_SIZE = 50_000
#: Longest vector whose index fits in the low bits of a key; longer ones are
#: sorted by ``np.argsort``.
MAX_SIZE = 2 ** 30
_SIGN = np.uint64(1 << 63)


@lru_cache(maxsize=8)
def _uint64_range(n):
    """Read-only ``np.arange(n, dtype=np.uint64)``, cached per length."""
    indices = np.arange(n, dtype=np.uint64)
    indices.flags.writeable = False
    return indices


class Workspace:
    """Working vectors kept for the next call: grown when a longer input comes,
    never shrunk (55 MB for a 512x384 image with 400 hidden units; a thread that
    scores pairs keeps two, one lent to its worker thread).  The objective of
    :meth:`skgrad.iqa.SparsePatchAutoencoder.fit` keeps its arrays in one too,
    for the iterations of one fit."""

    def __init__(self):
        self._buffers = {}

    def get(self, name, shape, dtype):
        """An array of ``dtype`` (its contents are garbage): a vector of ``shape``
        items, or, for a tuple ``shape``, the start of the vector in that shape."""
        n = math.prod(shape) if isinstance(shape, tuple) else shape
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < n or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(n, dtype=dtype)
        return buffer[:n].reshape(shape) if isinstance(shape, tuple) else buffer[:n]


def _order_keys(values, out):
    """The order-preserving unsigned image of float64 bit patterns with a sign bit:
    negative floats have every bit flipped, the others their sign bit."""
    np.right_shift(values.view(np.int64), 63, out=out.view(np.int64))   # 0 or all ones
    out |= _SIGN
    out ^= values.view(np.uint64)
    return out


def _run_edge(keys, order, high, key, start, direction):
    """The end of the run of keys equal to ``key`` that contains ``start``, found
    in windows that double in size (runs are short)."""
    size, n = 8, order.size
    while True:
        if direction < 0:
            low = max(0, start - size)
            differ = np.flatnonzero((keys[order[low:start]] & high) != key)
            if differ.size or low == 0:
                return low + differ[-1] + 1 if differ.size else 0
            start = low
        else:
            high_end = min(n, start + size)
            differ = np.flatnonzero((keys[order[start:high_end]] & high) != key)
            if differ.size or high_end == n:
                return start + differ[0] if differ.size else n
            start = high_end
        size *= 2


#: Half-width of the window in which :func:`_resort_runs` looks for a run's ends.
_WINDOW = 16


def _resort_runs(values, keys, order, mask, bad):
    """Re-sort exactly, in place, the runs of equal truncated keys in ``order``
    that hold an inversion (at positions ``bad`` and ``bad + 1``); ``keys`` is
    the order-preserving image of ``values``."""
    high, n = ~mask, order.size
    if bad.size > 256:                    # many: find every run at once
        truncated = keys[order] & high
        runs = zip(np.searchsorted(truncated, truncated[bad], side="left").tolist(),
                   np.searchsorted(truncated, truncated[bad], side="right").tolist())
    else:                                 # few, short runs: look around each inversion
        position = bad[:, None] + np.arange(-_WINDOW, _WINDOW + 2)
        inside = (position >= 0) & (position < n)
        window = keys[order[np.clip(position, 0, n - 1)]] & high
        same = inside & (window == window[:, _WINDOW, None])    # column _WINDOW is bad
        left = ~same[:, _WINDOW::-1]                            # from bad leftwards
        right = ~same[:, _WINDOW + 1:]                          # from bad + 1 rightwards
        runs = []
        for k, has_left, n_left, has_right, n_right in zip(
                bad.tolist(), left.any(axis=1).tolist(), left.argmax(axis=1).tolist(),
                right.any(axis=1).tolist(), right.argmax(axis=1).tolist()):
            key = keys[order[k]] & high
            start = k - n_left + 1 if has_left else _run_edge(keys, order, high, key, k, -1)
            stop = k + 1 + n_right if has_right else _run_edge(keys, order, high, key, k + 2, 1)
            runs.append((start, stop))
    for start, stop in set(runs):
        run = order[start:stop]
        order[start:stop] = run[np.argsort(values[run], kind="stable")]


#: Inputs with at least this many keys may be sorted by :func:`_bucket_sort` (the size
#: of the keys its timing uses is twice this); shorter ones by ``ndarray.sort``.
BUCKET_MIN = 1 << 16
_DIGIT_BITS = 16


def _bucket_sort(keys, workspace):
    """The sorted copy of the unsigned 64-bit ``keys``, in a working vector of
    ``workspace``: one stable pass of NumPy's radix sort (which it uses for 16-bit
    integers) on the top 16 bits of the keys' range, then NumPy's stable sort
    (timsort), which merges the nearly sorted result in about linear time."""
    n = keys.size
    low = keys.min()
    shift = np.uint64(max(0, int(keys.max() - low).bit_length() - _DIGIT_BITS))
    spread = np.subtract(keys, low, out=workspace.get("bucketed", n, np.uint64))
    np.right_shift(spread, shift, out=spread)
    digit = workspace.get("digit", n, np.uint16)
    np.copyto(digit, spread, casting="unsafe")            # < 2**16: exact
    bucketed = np.take(keys, np.argsort(digit, kind="stable"), out=spread, mode="clip")
    bucketed.sort(kind="stable")
    return bucketed


def _time_sorts():
    """Whether :func:`_bucket_sort` beats ``ndarray.sort`` on this CPU, timed once per
    process on 2**17 random keys (best of 3, interleaved; about 20 ms).

    ``ndarray.sort`` of 64-bit integers is NumPy's SIMD quicksort (x86-simd-sort).
    Its AVX-512 variant stores with ``vpcompressq``, which AMD's Zen 4 cores run
    in microcode: there it takes 21 ms for 460,000 keys, against 5 ms for the AVX2
    variant on the same core and 11 ms for :func:`_bucket_sort` (measured on the
    2-core development machine, numpy 2.4; numpy/x86-simd-sort issue 6).  On the
    CPUs x86-simd-sort was tuned for, the quicksort is the faster.  Either sort
    gives the same result (the keys are distinct), so the choice changes no score."""
    keys = np.random.default_rng(0).integers(0, 1 << 63, BUCKET_MIN * 2, dtype=np.uint64)
    best = {"sort": np.inf, "bucket": np.inf}
    workspace = Workspace()
    for _ in range(3):
        for name in best:
            work = keys.copy()
            start = time.perf_counter()
            if name == "sort":
                work.sort()
            else:
                _bucket_sort(work, workspace)
            best[name] = min(best[name], time.perf_counter() - start)
    return best["bucket"] < best["sort"]


_choice_lock = threading.Lock()
_choice = None


def _bucket_sort_is_faster():
    """:func:`_time_sorts`, once per process (other threads wait for its answer)."""
    global _choice
    if _choice is None:
        with _choice_lock:
            if _choice is None:
                _choice = _time_sorts()
    return _choice


def _sort_keys(keys, workspace):
    """``keys`` (unsigned 64-bit, distinct) in ascending order: sorted in place, or a
    sorted working vector of ``workspace``, whichever sort is faster on this CPU."""
    if keys.size >= BUCKET_MIN and _bucket_sort_is_faster():
        return _bucket_sort(keys, workspace)
    keys.sort()
    return keys


def _sorted_order(values, workspace, keep=None, m=None):
    """``(order, ordered)``: the indices of ``values`` in ascending order of value
    (ties in any order; only those where ``keep`` is True, ``m`` of them, when
    ``keep`` is given) and ``values[order]``, both working vectors of ``workspace``."""
    n = values.size
    if n > MAX_SIZE:
        order = np.argsort(values) if keep is None else np.flatnonzero(keep)
        if keep is not None:
            order = order[np.argsort(values[order])]
        return order, values[order]
    mask = np.uint64((1 << max(1, int(n - 1).bit_length())) - 1)
    keys = workspace.get("keys", n, np.uint64)
    negative = n > 0 and values.view(np.int64).min() < 0     # a sign bit set: -0.0 too
    if negative:
        _order_keys(values, keys)
        keys &= ~mask
    else:                                 # non-negative: the bit patterns are ordered
        np.bitwise_and(values.view(np.uint64), ~mask, out=keys)
    np.bitwise_or(keys, _uint64_range(n), out=keys)         # the index in the low bits
    if keep is not None:
        keys = np.compress(keep, keys, out=workspace.get("rest", n, np.uint64)[:m])
    m = keys.size
    keys = _sort_keys(keys, workspace)
    order = np.bitwise_and(keys, mask, out=keys).view(np.intp)
    # (mode="clip": with "raise", the default, np.take buffers its output)
    ordered = np.take(values, order, out=workspace.get("ordered", n, np.float64)[:m], mode="clip")
    inverted = workspace.get("flags", n + 1, np.bool_)[:max(m - 1, 0)]
    if np.less(ordered[1:], ordered[:-1], out=inverted).any():
        # values equal but for the index's bits, out of order
        bad = np.flatnonzero(inverted)
        if bad.size > max(256, m // 64):  # too many runs for a loop: one exact sort of
            order[:] = order[np.argsort(ordered, kind="stable")]  # the nearly sorted values
        else:
            image = values.view(np.uint64)
            if negative:
                image = _order_keys(values, np.empty(n, np.uint64))
            _resort_runs(values, image, order, mask, bad)
        np.take(values, order, out=ordered, mode="clip")
    return order, ordered


def argsort(values):
    """``np.argsort`` of a float64 vector without NaN (ties in any order), several
    times faster: the sort of :func:`centred_ranks`."""
    return _sorted_order(values, Workspace())[0]


def centred_ranks(values, workspace, out, common=()):
    """Average ranks minus their mean ``(n + 1) / 2`` of a float64 vector.

    Ties are averaged as by :func:`scipy.stats.rankdata` (``-0.0`` and ``0.0`` are
    tied); the results are exact multiples of 1/2.

    Parameters
    ----------
    values : ndarray of shape (n,), float64
        No NaN; C-contiguous.  Not modified.
    workspace : Workspace
        Its working vectors are overwritten.
    out : ndarray of shape (n,), float64
        Receives the result (not one of ``workspace``'s working vectors).
    common : tuple of float, ascending
        Values that many entries hold exactly (0 after thresholding; ``pi`` and
        ``2 pi``, the argument of every positive logit): they are counted, not
        sorted, which spares a quarter of the sort for the gradient features.

    Returns
    -------
    out : ndarray of shape (n,), float64
    """
    return _ranks_less(values, workspace, out, common, (values.size + 1) / 2)


def _ranks_less(values, workspace, out, common, less):
    """The average ranks of ``values`` less ``less`` (a multiple of 1/2) into ``out``:
    :func:`centred_ranks`, whose parameters these are, or the ranks themselves."""
    n = values.size
    equal, counts, keep, m = [], [], None, n
    if common:
        keep = workspace.get("keep", n, np.bool_)
        keep[:] = True
        for k, value in enumerate(common):
            equal.append(np.equal(values, value, out=workspace.get(f"equal{k}", n, np.bool_)))
            counts.append(int(np.count_nonzero(equal[-1])))
            keep ^= equal[-1]             # the common values are distinct
        m = n - sum(counts)
    order, ordered = _sorted_order(values, workspace, keep, m)
    flags = workspace.get("flags", n + 1, np.bool_)[:m + 1]   # True where a tie group starts
    flags[0] = flags[m] = True
    np.not_equal(ordered[1:], ordered[:-1], out=flags[1:m])
    n_edges = int(np.count_nonzero(flags))
    # (vectors sized by their bound, n, not by this call's count: one allocation)
    edges = np.compress(flags, _uint64_range(n + 1)[:m + 1].view(np.intp),  # starts of the
                        out=workspace.get("edges", n + 1, np.intp)[:n_edges])  # groups, then m
    # a group [s, e) of the sorted rest has the mean rank (s + e + 1) / 2 plus the
    # number of common values below it; less ``less``: exact half-integers
    centred = np.add(edges[:-1], edges[1:], out=workspace.get("centred", n, np.float64)[:n_edges - 1])
    centred *= 0.5
    centred -= less - 0.5
    below = np.searchsorted(ordered, common).tolist()   # the rest below each common value
    for position, count in zip(below, counts):
        centred[np.searchsorted(edges[:-1], position):] += count
    if n_edges <= m:                      # ties: each value takes its group's rank
        group = np.cumsum(flags[:m], dtype=np.intp, out=workspace.get("group", n, np.intp)[:m])
        group -= 1
        centred = np.take(centred, group, out=ordered, mode="clip")
    out[order] = centred
    for k, value in enumerate(common):    # mean rank of a block: below + (count + 1) / 2
        np.copyto(out, below[k] + sum(counts[:k]) + (counts[k] + 1) / 2 - less, where=equal[k])
    return out


def average_ranks(values):
    """1-based ranks with ties averaged, as ``scipy.stats.rankdata(values)``, bit
    for bit: the arithmetic of :func:`centred_ranks`, less 0 instead of the mean.

    ``values`` is a 1-D float64 array without NaN.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    return _ranks_less(values, Workspace(), np.empty(values.size), (), 0.0)


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


def rank_correlation(centred, other_centred):
    """Pearson's correlation of two centred rank vectors (Spearman's rho, the same
    arithmetic as :func:`._correlation.pearson` on the ranks); ``nan`` when
    undefined (fewer than 2 values, or all values tied)."""
    if centred.size < 2:
        return float("nan")
    denominator = np.sqrt((centred @ centred) * (other_centred @ other_centred))
    if not denominator > 0:
        return float("nan")
    return float(np.clip((centred @ other_centred) / denominator, -1.0, 1.0))
