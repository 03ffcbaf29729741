"""``n_threads``: the thread count skgrad's calls run with, the caller's setting restored after.

The module below records ``torch.get_num_threads()`` at each forward pass: what torch
really ran with, seen from inside the call, is the oracle.  The machine's load is
simulated by replacing the ``/proc/stat`` reader, so these tests do not depend on
what else this machine runs.
"""
import threading

import numpy as np
import pytest
import torch
from torch import nn

import skgrad._threads as threads_mod
from numerics import assert_allclose_blocks
from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer


class Recorder(nn.Module):
    """A small dense autoencoder that records the torch thread count of each forward pass."""

    def __init__(self, n=12, fail=False):
        super().__init__()
        self.enc = nn.Linear(n, 4)
        self.dec = nn.Linear(4, n)
        self.fail = fail
        self.seen = []

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        if self.fail and not self.training:
            raise RuntimeError("boom")
        return torch.sigmoid(self.dec(torch.relu(self.enc(x))))


@pytest.fixture
def rows():
    return np.random.RandomState(0).rand(600, 12).astype(np.float32)


@pytest.fixture
def caller_threads(monkeypatch):
    """The caller runs torch on 2 threads, skgrad's default; restored after the test."""
    before = torch.get_num_threads()
    for var in threads_mod._ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads_mod, "_BASELINE", 2)
    monkeypatch.setattr(threads_mod, "_last", None)
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def _load(monkeypatch, others):
    """Simulate a 2-CPU machine on which other processes use ``others`` cores: the fake
    /proc/stat counters advance with the wall clock, this process's CPU time stays still."""
    clock = {"t": 0.0}

    def fake_ticks():
        clock["t"] += 0.2
        t = clock["t"]
        return (int(others * 100 * t), int(2 * 100 * t), 2)

    monkeypatch.setattr(threads_mod, "_cpu_ticks", fake_ticks)
    monkeypatch.setattr(threads_mod, "_cpu_time", lambda: 0.0)

    def monotonic():  # each reading of the clock moves it on: a transform's batches take time
        clock["t"] += 0.05
        return clock["t"]

    monkeypatch.setattr(threads_mod, "_now", monotonic)
    monkeypatch.setattr(threads_mod, "_sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    monkeypatch.setattr(threads_mod, "_METER", threads_mod._LoadMeter())


def _gft(module, **kw):
    return GradientFeatureTransformer(module=module, loss="mse", epochs=2, batch_size=16, random_state=0,
                                      device="cpu", early_stopping=False, **kw)


def test_an_int_is_used_inside_and_the_callers_count_restored_after(rows, caller_threads):
    rec = Recorder()
    est = _gft(rec, n_threads=1)
    est.fit(rows)
    assert est.module_ is not rec  # fit trains a copy: record on the fitted module from here
    assert est.n_threads_ == 1 and torch.get_num_threads() == 2
    est.module_.seen = []
    est.transform(rows)
    assert set(est.module_.seen) == {1} and torch.get_num_threads() == 2


def test_the_callers_count_is_restored_when_a_call_fails(rows, caller_threads):
    est = _gft(Recorder(), n_threads=1).fit(rows)
    est.module_.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        est.transform(rows)
    assert est.module_.seen and set(est.module_.seen) == {1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("how", ["env", "torch"])
def test_auto_respects_the_users_own_setting(rows, caller_threads, monkeypatch, how):
    """OMP_NUM_THREADS in the environment, or torch.set_num_threads after skgrad's import:
    auto leaves torch's count alone, even for small work and a busy machine."""
    _load(monkeypatch, others=1.0)
    if how == "env":
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        expected = 2
    else:
        torch.set_num_threads(3)
        expected = 3
    est = _gft(Recorder()).fit(rows[:40])  # small work: auto alone would pick 1
    assert set(est.module_.seen) == {expected} and est.n_threads_ == expected
    est.module_.seen = []
    est.transform(rows)
    assert set(est.module_.seen) == {expected} and torch.get_num_threads() == expected


def test_none_leaves_torch_alone(rows, caller_threads, monkeypatch):
    _load(monkeypatch, others=1.0)
    est = _gft(Recorder(), n_threads=None).fit(rows[:40])
    est.module_.seen = []
    est.transform(rows)
    assert set(est.module_.seen) == {2}


def test_auto_runs_small_work_on_one_thread(rows, caller_threads, monkeypatch):
    _load(monkeypatch, others=0.0)  # an idle machine: the size alone decides
    est = _gft(Recorder()).fit(rows[:48])  # 3 batches x 2 epochs <= 16
    assert est.n_threads_ == 1 and set(est.module_.seen) == {1}
    est.module_.seen = []
    est.transform(rows[:32])  # 2 batches
    assert set(est.module_.seen) == {1} and torch.get_num_threads() == 2


@pytest.mark.parametrize("others, expected", [(0.0, 2), (0.3, 2), (1.0, 1), (1.6, 1), (2.0, 1)])
def test_auto_uses_the_cores_other_processes_leave_idle(rows, caller_threads, monkeypatch, others, expected):
    _load(monkeypatch, others=others)
    est = _gft(Recorder()).fit(rows)  # 38 batches x 2 epochs: read the load
    assert est.n_threads_ == expected
    assert set(est.module_.seen) == {expected}
    assert torch.get_num_threads() == 2


def test_transform_follows_the_load_as_it_runs(rows, caller_threads, monkeypatch):
    """A long transform starts on 1 thread (nothing known yet), then uses the idle cores."""
    _load(monkeypatch, others=0.0)
    est = _gft(Recorder(), n_threads=1).fit(rows)
    est.set_params(n_threads="auto")
    monkeypatch.setattr(threads_mod, "_last", None)
    est.module_.seen = []
    est.transform(rows)
    seen = est.module_.seen
    assert seen[0] == 1 and seen[-1] == 2, seen
    assert torch.get_num_threads() == 2


def test_refit_with_n_threads_equal_to_n_threads_gives_the_same_weights(rows, caller_threads):
    a = _gft("dense").fit(rows)
    b = _gft("dense", n_threads=a.n_threads_).fit(rows)
    for p, q in zip(a.module_.parameters(), b.module_.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("cls", [GradientFeatureTransformer, ActivationFeatureTransformer])
def test_features_do_not_depend_on_the_thread_count(caller_threads, cls):
    """What lets transform change its thread count as it runs: features agree up to
    float32 rounding (tests/numerics.py) between 1 and 2 threads."""
    X = np.random.RandomState(1).randint(0, 256, size=(200, 28, 28, 3), dtype=np.uint8)
    est = cls(epochs=1, batch_size=32, random_state=0, device="cpu", early_stopping=False).fit(X)
    one = est.set_params(n_threads=1).transform(X)
    two = est.set_params(n_threads=2).transform(X)
    assert_allclose_blocks(two, one, list(est.get_feature_names_out()))


def test_concurrent_calls_restore_the_callers_count(rows, caller_threads):
    est = _gft("dense", n_threads=1).fit(rows)
    errors = []

    def work():
        try:
            for _ in range(5):
                est.transform(rows)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors and torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "many", True])
def test_bad_n_threads_is_a_clear_error(rows, bad):
    with pytest.raises(ValueError, match="n_threads must be 'auto', None or a positive int"):
        _gft("dense", n_threads=bad).fit(rows)


def test_the_load_reader_reads_this_machine():
    """On Linux, /proc/stat gives the CPUs this process may use."""
    ticks = threads_mod._cpu_ticks()
    if ticks is None:
        pytest.skip("no /proc/stat on this system: n_threads='auto' uses torch's own setting")
    import os

    assert ticks[2] == len(os.sched_getaffinity(0)) and 0 <= ticks[0] <= ticks[1]
