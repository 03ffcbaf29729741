"""Ranks of the pooled quality features, computed in memory kept from one pair to the next.

A score is ``|Spearman(reference, distorted)| ** 10`` of two thresholded feature
vectors: 614,400 values each for a 512x384 pair with the authors' 400-unit model.
Ranking them is most of a score's cost, and apart from the integer sort itself
most of that was fresh memory: :func:`skgrad.metrics._ranks.average_ranks`
allocates some ten vectors of the input's length per call, and the kernel zeroes
every new page (about 5,000 page faults per call, a third of its 60 ms on the
2-core development machine).  The pooled features allow what a general routine
cannot:

* they are scratch arrays of ours, and non-negative after thresholding: their
  float64 bit patterns are already order-preserving integer keys;
* they are ranked again and again at one length (every pair of a database): the
  working vectors of a :class:`Workspace` serve every call.

The method and the ranks are those of :func:`skgrad.metrics._ranks.average_ranks`
(and :func:`scipy.stats.rankdata`): each key holds the value's bit pattern, less
the low bits that the index takes; one integer sort; the rare runs that the
truncation leaves out of order are re-sorted exactly; tied values get the mean of
their ranks.  The tests compare both, bit for bit.

The ranks are returned *centred*.  Average ranks always sum to ``n (n + 1) / 2``,
so their mean is exactly ``(n + 1) / 2`` and the centred ranks are exact
multiples of 1/2: the first step of Pearson's correlation, done once per vector.
:func:`rank_correlation` is Pearson's correlation of two such vectors, the same
arithmetic as :func:`skgrad.metrics._correlation.pearson` on the ranks, i.e.
:func:`skgrad.metrics.spearman`.
"""
import threading

import numpy as np

from ..metrics._ranks import _uint64_range


class Workspace:
    """Working vectors kept for the next call: grown when a longer input comes,
    never shrunk (55 MB for a 512x384 image with 400 hidden units; a thread that
    scores pairs keeps two, one lent to its worker thread)."""

    def __init__(self):
        self._buffers = {}

    def get(self, name, n, dtype):
        """A vector of ``n`` items of ``dtype`` (its contents are garbage)."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < n or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(n, dtype=dtype)
        return buffer[:n]


_LOCAL = threading.local()


def workspaces():
    """This thread's two :class:`Workspace` objects: one for its own image of a
    pair, one lent to the worker thread that processes the other image (so two
    calling threads never share one)."""
    pair = getattr(_LOCAL, "pair", None)
    if pair is None:
        pair = _LOCAL.pair = (Workspace(), Workspace())
    return pair


def _run_edge(bits, order, high, key, start, direction):
    """The end of the run of keys equal to ``key`` that contains ``start``, found
    in windows that double in size (runs are short)."""
    size, n = 8, order.size
    while True:
        if direction < 0:
            low = max(0, start - size)
            differ = np.flatnonzero((bits[order[low:start]] & high) != key)
            if differ.size or low == 0:
                return low + differ[-1] + 1 if differ.size else 0
            start = low
        else:
            high_end = min(n, start + size)
            differ = np.flatnonzero((bits[order[start:high_end]] & high) != key)
            if differ.size or high_end == n:
                return start + differ[0] if differ.size else n
            start = high_end
        size *= 2


#: Half-width of the window in which :func:`_resort_runs` looks for a run's ends.
_WINDOW = 16


def _resort_runs(values, order, mask, bad):
    """Re-sort exactly, in place, the runs of equal truncated keys in ``order``
    that hold an inversion (at positions ``bad`` and ``bad + 1``)."""
    bits, high, n = values.view(np.uint64), ~mask, order.size
    if bad.size > 256:                    # many: find every run at once
        truncated = bits[order] & high
        runs = zip(np.searchsorted(truncated, truncated[bad], side="left").tolist(),
                   np.searchsorted(truncated, truncated[bad], side="right").tolist())
    else:                                 # few, short runs: look around each inversion
        position = bad[:, None] + np.arange(-_WINDOW, _WINDOW + 2)
        inside = (position >= 0) & (position < n)
        keys = bits[order[np.clip(position, 0, n - 1)]] & high
        same = inside & (keys == keys[:, _WINDOW, None])        # column _WINDOW is bad
        left = ~same[:, _WINDOW::-1]                            # from bad leftwards
        right = ~same[:, _WINDOW + 1:]                          # from bad + 1 rightwards
        runs = []
        for k, has_left, n_left, has_right, n_right in zip(
                bad.tolist(), left.any(axis=1).tolist(), left.argmax(axis=1).tolist(),
                right.any(axis=1).tolist(), right.argmax(axis=1).tolist()):
            key = bits[order[k]] & high
            start = k - n_left + 1 if has_left else _run_edge(bits, order, high, key, k, -1)
            stop = k + 1 + n_right if has_right else _run_edge(bits, order, high, key, k + 2, 1)
            runs.append((start, stop))
    for start, stop in set(runs):
        run = order[start:stop]
        order[start:stop] = run[np.argsort(values[run], kind="stable")]


#: Longest vector :func:`centred_ranks` takes: the index must fit in the low bits
#: of a key.
MAX_SIZE = 2 ** 30


def centred_ranks(values, workspace, out, common=()):
    """Average ranks minus their mean ``(n + 1) / 2`` of a float64 vector.

    Parameters
    ----------
    values : ndarray of shape (n,), float64
        Non-negative values or ``+inf`` (no NaN, no ``-0.0``), C-contiguous, ``n <=
        MAX_SIZE``.
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
    n = values.size
    mask = np.uint64((1 << max(1, int(n - 1).bit_length())) - 1)
    keys = workspace.get("keys", n, np.uint64)
    np.bitwise_and(values.view(np.uint64), ~mask, out=keys)
    np.bitwise_or(keys, _uint64_range(n), out=keys)        # the index in the low bits
    equal, counts = [], []
    if common:
        keep = workspace.get("keep", n, np.bool_)
        keep[:] = True
        for k, value in enumerate(common):
            equal.append(np.equal(values, value, out=workspace.get(f"equal{k}", n, np.bool_)))
            counts.append(int(np.count_nonzero(equal[-1])))
            keep ^= equal[-1]             # the common values are distinct
        m = n - sum(counts)
        keys = np.compress(keep, keys, out=workspace.get("rest", n, np.uint64)[:m])
    m = keys.size
    keys.sort()
    order = np.bitwise_and(keys, mask, out=keys).view(np.intp)
    ordered = np.take(values, order, out=workspace.get("ordered", n, np.float64)[:m])
    flags = workspace.get("flags", n + 1, np.bool_)[:m + 1]   # True where a tie group starts
    if np.less(ordered[1:], ordered[:-1], out=flags[1:m]).any():
        # values equal but for the index's bits, out of order
        _resort_runs(values, order, mask, np.flatnonzero(flags[1:m]))
        np.take(values, order, out=ordered)
    flags[0] = flags[m] = True
    np.not_equal(ordered[1:], ordered[:-1], out=flags[1:m])
    n_edges = int(np.count_nonzero(flags))
    # (vectors sized by their bound, n, not by this call's count: one allocation)
    edges = np.compress(flags, _uint64_range(n + 1)[:m + 1].view(np.intp),  # starts of the
                        out=workspace.get("edges", n + 1, np.intp)[:n_edges])  # groups, then m
    # a group [s, e) of the sorted rest has the mean rank (s + e + 1) / 2 plus the
    # number of common values below it; less (n + 1) / 2: exact half-integers
    centred = np.add(edges[:-1], edges[1:], out=workspace.get("centred", n, np.float64)[:n_edges - 1])
    centred *= 0.5
    centred -= n / 2
    below = np.searchsorted(ordered, common).tolist()   # the rest below each common value
    for position, count in zip(below, counts):
        centred[np.searchsorted(edges[:-1], position):] += count
    group = np.cumsum(flags[:m], dtype=np.intp, out=workspace.get("group", n, np.intp)[:m])
    group -= 1
    np.take(centred, group, out=ordered)
    out[order] = ordered
    for k, value in enumerate(common):    # mean rank of a block: below + (count + 1) / 2
        np.copyto(out, below[k] + sum(counts[:k]) + counts[k] / 2 - n / 2, where=equal[k])
    return out


def rank_correlation(centred, other_centred):
    """Pearson's correlation of two centred rank vectors (Spearman's rho); ``nan``
    when undefined (fewer than 2 values, or all values tied)."""
    if centred.size < 2:
        return float("nan")
    denominator = np.sqrt((centred @ centred) * (other_centred @ other_centred))
    if not denominator > 0:
        return float("nan")
    return float(np.clip((centred @ other_centred) / denominator, -1.0, 1.0))
