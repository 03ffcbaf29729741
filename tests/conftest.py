"""Shared pytest fixtures, and a summary of what was skipped and why."""
import os
from collections import Counter
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: The read-only reference data beside the checkout (``../shared``).  Tests that
#: need it skip with a reason when it is absent from a user's clone; in CI
#: (``CI=true``, as ``.ci/run`` is run) they fail instead.  The package never reads it.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: The files of ``../shared`` the tests read.
SHARED_FILES = ("data/unique/ImageNet_Weights_YGCr.mat", "data/iqa-parity/scores.tsv")


def in_ci():
    """Whether the suite runs in CI (``CI=true``, as GitHub Actions, GitLab and .ci/run set)."""
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture(scope="session")
def shared_dir():
    missing = [name for name in SHARED_FILES if not (SHARED / name).is_file()]
    if missing:
        what = (f"reference data directory {SHARED} (../shared beside the checkout) is absent"
                if not SHARED.is_dir() else f"{', '.join(missing)} missing from {SHARED}")
        if in_ci():
            pytest.fail(f"CI=true and the {what}: CI must run the parity tests against the authors' "
                        "reference data; provide ../shared (or unset CI to skip them)", pytrace=False)
        pytest.skip(what)
    return SHARED


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pytest_configure(config):
    """Each pytest-xdist worker gets its share of the cores: ``OMP_NUM_THREADS`` (torch,
    the BLAS libraries and the subprocesses the tests start) is cores // workers, at
    least 1, unless the caller set it, as scikit-learn's own conftest limits its workers.

    With the Makefile's two workers on the 2-core CI machine, torch's default of two
    threads per worker cost 15-20 s and 40 s of CPU (four runs of one commit in one
    hour: 167-172 s, against 150 and 154 s with one thread each): the tests train
    and run small models whose kernels last microseconds, and a thread that waits for
    another without a core wastes its own.  Set before any test module imports torch;
    the subprocesses the tests start inherit it.  The ``"auto"`` thread policy (which
    leaves torch's count as the caller set it) is tested in
    tests/test_threads.py with the variable removed.
    """
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and workers.isdigit() and int(workers) > 0:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores() // int(workers))))


def _skip_reason(report):
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def pytest_terminal_summary(terminalreporter):
    """One section: every skip reason with how many tests it skipped, most frequent first."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons = Counter(_skip_reason(report) for report in skipped)
    terminalreporter.write_sep("=", f"skipped: {_plural(len(skipped), 'test')}, {_plural(len(reasons), 'reason')}")
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line(f"{count:4d} x {reason}")


#: Modules that hold the suite's longest tests, with their rough cost in seconds with two
#: pytest-xdist workers on the 2-core CI machine (2026-12-01): the README and the docs pages
#: as written, the demo, the examples, CLI runs in subprocesses, a dask cluster, the
#: persistence fuzzer.  Only the order and rough size matter (see :func:`_two_halves`).
HEAVY = {"tests/test_cli.py": 64, "tests/test_readme.py": 35, "tests/test_docs.py": 32,
         "tests/test_examples.py": 24, "tests/test_outlier.py": 20, "tests/test_benchmarks.py": 20,
         "tests/test_dask.py": 18, "tests/iqa/test_paired.py": 14, "tests/test_persistence_fuzz.py": 12,
         "tests/test_pipelines.py": 9, "tests/iqa/test_database.py": 7, "tests/test_cure.py": 5}


def _two_halves(items, module):
    """``items`` in the order that keeps two pytest-xdist workers busy to the end.

    ``--dist worksteal`` (the Makefile's) gives the first ``n // 2`` items to one worker
    and the rest to the other; a worker that runs out steals the second half of the
    other's queue.  So each half starts with its share of the :data:`HEAVY` modules,
    longest first (dealt, longest first, to the half with less so far), and ends with the
    short tests, which a steal takes first: a heavy module is not split between the
    workers, which would build its module-scoped fixtures (a dask cluster, fitted models)
    twice, and no long test starts when the other worker has nothing left to do.
    """
    names = [module(item) for item in items]
    heavy, share = ([], []), [0, 0]
    for name in sorted(HEAVY, key=HEAVY.get, reverse=True):
        members = [item for item, of in zip(items, names) if of == name]
        if members:
            k = share.index(min(share))
            share[k] += HEAVY[name]
            heavy[k].extend(members)
    light = [item for item, of in zip(items, names) if of not in HEAVY]
    first = len(items) // 2 - len(heavy[0])
    if first < 0 or len(heavy[1]) > len(items) - len(items) // 2:   # e.g. -k selected heavy tests only
        return heavy[0] + heavy[1] + light
    return heavy[0] + light[:first] + heavy[1] + light[first:]


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected: the halves are of what runs
def pytest_collection_modifyitems(session, config, items):
    root = Path(__file__).resolve().parents[1]

    def module(item):
        try:
            return Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        except ValueError:
            return None

    items[:] = _two_halves(items, module)
