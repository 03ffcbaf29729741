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


#: Modules that hold the suite's longest tests (each 10-40 s on the 2-core CI machine: the
#: README and the docs pages as written, the demo, the examples, CLI runs in subprocesses,
#: the persistence fuzzer, a dask cluster), most expensive first.  They are collected
#: first, so that with two pytest-xdist workers a long test never starts when the other
#: worker has nothing left to do: longest first, with ``--dist worksteal`` (the Makefile's)
#: moving queued short tests to whichever worker falls idle, keeps the two ends together.
HEAVY_FIRST = ("tests/test_readme.py", "tests/test_cli.py", "tests/iqa/test_paired.py", "tests/test_docs.py",
               "tests/test_examples.py", "tests/test_persistence_fuzz.py", "tests/test_dask.py",
               "tests/test_outlier.py", "tests/test_benchmarks.py", "tests/test_pipelines.py")


def pytest_collection_modifyitems(session, config, items):
    root = Path(__file__).resolve().parents[1]

    def rank(item):
        try:
            rel = Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        except ValueError:
            return len(HEAVY_FIRST)
        return HEAVY_FIRST.index(rel) if rel in HEAVY_FIRST else len(HEAVY_FIRST)

    order = {id(item): k for k, item in enumerate(items)}
    items.sort(key=lambda item: (rank(item), order[id(item)]))
