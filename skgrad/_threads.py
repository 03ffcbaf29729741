"""How many CPU threads torch may use for skgrad's own work, and restoring the caller's setting.

Why: torch's OpenMP threads spin while they wait for each other.  The kernels of
these small autoencoders last microseconds, so when another process holds one of
the cores, a thread that loses its core stalls the others at every kernel: on a
2-core machine with one busy process, ``transform`` fell from about 12,000 to
3,100 images/s with torch's 2 threads, while 1 thread ran at 7,000 (measured by
``benchmarks/bench_busy.py``).  On an idle machine 2 threads are 1.6x faster
than 1.  No single count is right: ``n_threads="auto"`` uses the cores that
other processes leave free.

Why not ``OMP_WAIT_POLICY=PASSIVE``: it must be set before torch first starts,
which a library imported after torch cannot do, and it cost half of the idle
throughput (12,300 to 6,100 images/s, same benchmark).

The rules of ``"auto"``:

- the caller's explicit choice wins: with ``OMP_NUM_THREADS`` or
  ``MKL_NUM_THREADS`` in the environment (joblib's workers set them), or a
  ``torch.set_num_threads`` made after skgrad's estimators were first imported,
  torch's setting is left as it is (a count set before that is taken as the
  most ``"auto"`` may use);
- small work (``transform`` of at most 2 batches, ``fit`` of at most 16 batches
  times ``epochs``) runs on 1 thread: threads cost more than they gain;
- otherwise the number of cores that other processes left idle over the last
  moments (Linux ``/proc/stat``, less this process's own CPU time), at least 1
  and at most torch's setting.  ``transform`` re-reads it about every second, so a
  long extraction follows the machine's load; its output does not depend on the
  thread count (tested).  ``fit`` decides once, at its start, and records the
  count in ``n_threads_``: training's floating-point sums depend on it.

Every change is undone when skgrad's call returns, also on errors; concurrent
calls from several threads (e.g. Dask's threaded scheduler) share one setting and
the last to finish restores the caller's.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import threading
import time

import torch

__all__ = ["check_n_threads", "torch_threads", "ThreadPolicy"]

#: torch's intra-op thread count when skgrad was first imported: a later change is the user's.
_BASELINE = torch.get_num_threads()
_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Seconds between two readings of the machine's load during a long transform.
_RECHECK_S = 1.0
#: Calls with at most this many batches are small: they run on 1 thread, without reading the load
#: (threads would cost more than they gain).  fit counts batches per epoch times epochs.
_SMALL_FIT = 16
_SMALL_TRANSFORM = 2

#: The clocks, as names of this module (the tests replace them to simulate a machine's load).
_now, _cpu_time, _sleep = time.monotonic, time.process_time, time.sleep

_lock = threading.Lock()
_depth = 0
_saved = None


def check_n_threads(n_threads, name="estimator"):
    """Validate the ``n_threads`` parameter: "auto", None or a positive int."""
    if n_threads is None or (isinstance(n_threads, str) and n_threads == "auto"):
        return n_threads
    if isinstance(n_threads, numbers.Integral) and not isinstance(n_threads, bool) and n_threads >= 1:
        return int(n_threads)
    raise ValueError(f"{name}: n_threads must be 'auto', None or a positive int, got {n_threads!r}")


def user_threads():
    """The thread count the user chose explicitly, or None when torch runs on its default."""
    current = _saved if _depth else torch.get_num_threads()
    if any(os.environ.get(v) for v in _ENV_VARS) or current != _BASELINE:
        return current
    return None


def _cpu_ticks():
    """``(busy, total)`` clock ticks of the CPUs this process may run on, from ``/proc/stat``; None elsewhere."""
    try:
        allowed = os.sched_getaffinity(0)
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except (OSError, AttributeError, ValueError):
        return None
    busy = total = 0
    seen = 0
    for line in lines:
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        try:
            cpu = int(name[3:])
            values = [int(v) for v in fields[:8]]
        except ValueError:
            return None
        if cpu not in allowed or len(values) < 5:
            continue
        idle = values[3] + values[4]  # idle + iowait; steal (another VM on our core) counts as busy
        total += sum(values)
        busy += sum(values) - idle
        seen += 1
    return (busy, total, seen) if seen else None


class _LoadMeter:
    """Cores left idle by OTHER processes: the machine's busy time less this process's own CPU time."""

    def __init__(self):
        self.restart()

    def restart(self):
        self.ticks, self.own, self.t = _cpu_ticks(), _cpu_time(), _now()

    def elapsed(self):
        return _now() - self.t

    def free_cores(self):
        """Idle cores not counting this process since the last reading (a float; None when unknown)."""
        before, own, t = self.ticks, self.own, self.t
        self.restart()
        if before is None or self.ticks is None:
            return None
        d_busy, d_total = self.ticks[0] - before[0], self.ticks[1] - before[1]
        elapsed = self.t - t
        if d_total <= 0 or elapsed <= 0:
            return None
        n_cpus = self.ticks[2]
        busy = n_cpus * d_busy / d_total  # cores busy on average, this process included
        others = max(0.0, busy - (self.own - own) / elapsed)
        return n_cpus - others


#: The last reading: (_now(), free cores), reused by calls that start within _RECHECK_S.
_last = None
#: One meter for the process: each reading covers the time since the previous one, so a call
#: usually finds a reading ready (the window since skgrad's import, or since its last call).
_METER = _LoadMeter()
_meter_lock = threading.Lock()
#: A window shorter than this says too little (clock ticks are 10 ms); a longer one is stale.
_MIN_WINDOW, _MAX_WINDOW = 0.1, 5.0


def _remember(free):
    global _last
    if free is not None:
        _last = (_now(), free)
    return free


def _recent_free():
    if _last is not None and _now() - _last[0] < _RECHECK_S:
        return _last[1]
    return None


def read_free_cores(wait):
    """Cores that other processes left idle over the meter's window (a float, None when unknown).

    A window under 0.1 s is too short to read: ``wait=True`` then pauses 50 ms to
    read one (``fit``), ``wait=False`` returns None (``transform`` reads later).
    A window over 5 s is stale: the meter restarts.
    """
    with _meter_lock:
        elapsed = _METER.elapsed()
        if _MIN_WINDOW <= elapsed <= _MAX_WINDOW:
            return _remember(_METER.free_cores())
        if elapsed > _MAX_WINDOW or elapsed < 0:
            _METER.restart()
        if not wait:
            return None
    _sleep(0.05)
    with _meter_lock:
        return _remember(_METER.free_cores())


def _count(free, cap):
    """Threads for ``free`` idle cores (rounded), between 1 and ``cap``."""
    return max(1, min(int(cap), int(round(free))))


def _set(n):
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextlib.contextmanager
def torch_threads(n):
    """Run the block with torch on ``n`` intra-op threads (None: as it is), then restore the caller's count."""
    global _depth, _saved
    if n is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = torch.get_num_threads()
            _set(n)
        elif n < torch.get_num_threads():
            _set(n)  # concurrent calls share one global setting: the most modest wins
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(_saved)
                _saved = None


def _retarget(n):
    """Change the count inside a ``torch_threads`` block (with concurrent calls: never above another's)."""
    with _lock:
        if _depth == 1 or n < torch.get_num_threads():
            _set(n)


class ThreadPolicy:
    """The ``n_threads`` parameter applied to one call: a context manager; ``step()`` between batches.

    Parameters
    ----------
    n_threads : "auto", None or int
        The estimator's parameter.
    n_batches : int
        Batches the call will run (small work runs on 1 thread).
    adaptive : bool
        Re-read the load between batches (``transform``: its output does not
        depend on the count); False decides once at the start (``fit``).
    """

    def __init__(self, n_threads, n_batches, *, adaptive):
        self.n_threads = n_threads
        self.n_batches = int(n_batches)
        self.adaptive = adaptive
        self.count = None  # the count in use (None: torch's setting untouched)
        self._following = False
        self._known = False

    def _decide(self):
        n = self.n_threads
        if n is None or user_threads() is not None:
            return None
        if not isinstance(n, str):
            return int(n)
        if self.n_batches <= (_SMALL_TRANSFORM if self.adaptive else _SMALL_FIT):
            return 1
        free = _recent_free()
        if free is None:
            free = read_free_cores(wait=not self.adaptive)
        if self.adaptive:
            self._following, self._known = True, free is not None
            return 1 if free is None else _count(free, _BASELINE)
        return None if free is None else _count(free, _BASELINE)  # None: no /proc/stat

    def __enter__(self):
        self.count = self._decide()
        self._cm = torch_threads(self.count)
        self._cm.__enter__()
        return self

    def step(self):
        """Between two batches: follow the load (adaptive calls only), read every ~second."""
        if not self._following:
            return
        if self._known and _METER.elapsed() < _RECHECK_S:
            return
        free = read_free_cores(wait=False)
        if free is not None:
            self._known = True
            n = _count(free, _BASELINE)
            if n != self.count:
                self.count = n
                _retarget(n)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
