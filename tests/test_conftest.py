"""tests/conftest.py itself: tests that need ../shared skip in a user's clone but fail
in CI (``CI=true``) when it is missing, and the summary of skips groups them by reason.

Each case runs a tiny test file with a copy of conftest.py in a fresh folder
(``<tmp>/clone/tests``), whose ``../shared`` (``<tmp>/shared``) is absent unless
the test creates it.
"""
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

TINY = '''
import pytest


def test_reads_shared(shared_dir):
    assert (shared_dir / "data" / "iqa-parity" / "scores.tsv").read_text() == "table"


def test_plain():
    pass


@pytest.mark.skip(reason="an optional extra is absent")
def test_optional_a():
    pass


@pytest.mark.skip(reason="an optional extra is absent")
def test_optional_b():
    pass
'''


def _clone(pytester, shared_files=()):
    tests = pytester.path / "clone" / "tests"
    tests.mkdir(parents=True)
    (tests / "conftest.py").write_text(CONFTEST.read_text())
    (tests / "test_tiny.py").write_text(TINY)
    shared = pytester.path / "shared"
    for name in shared_files:
        (shared / name).parent.mkdir(parents=True, exist_ok=True)
        (shared / name).write_text("table")
    return tests, shared


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch):
    # the tiny runs need no third-party plugin; loading them (hypothesis, ...) takes seconds
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _run(pytester, tests):
    return pytester.runpytest_subprocess(str(tests), "-p", "no:cacheprovider", "-rs")


def test_missing_shared_skips_with_its_reason_in_a_users_clone(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    tests, shared = _clone(pytester)
    result = _run(pytester, tests)
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines([
        "*= skipped: 3 tests, 2 reasons =*",
        "   2 x an optional extra is absent",
        f"   1 x reference data directory {shared} (../shared beside the checkout) is absent",
    ])
    assert result.ret == 0


@pytest.mark.parametrize("ci", ["true", "True"])
def test_missing_shared_fails_in_ci(pytester, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    tests, shared = _clone(pytester)
    result = _run(pytester, tests)
    result.assert_outcomes(passed=1, skipped=2, errors=1)
    result.stdout.fnmatch_lines([
        f"*CI=true and the reference data directory {shared} (../shared beside the checkout) is absent: "
        "CI must run the parity tests*provide ../shared*",
        "*= skipped: 2 tests, 1 reason =*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_missing_shared_file_is_named(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    tests, _ = _clone(pytester, shared_files=["data/iqa-parity/scores.tsv"])
    result = _run(pytester, tests)
    result.assert_outcomes(passed=1, skipped=2, errors=1)
    result.stdout.fnmatch_lines(["*CI=true and the data/unique/ImageNet_Weights_YGCr.mat missing from *shared*"])


@pytest.mark.parametrize("ci", [None, "true"])
def test_present_shared_runs_the_tests(pytester, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    tests, _ = _clone(pytester, shared_files=["data/iqa-parity/scores.tsv", "data/unique/ImageNet_Weights_YGCr.mat"])
    result = _run(pytester, tests)
    result.assert_outcomes(passed=2, skipped=2)
    assert result.ret == 0


def test_no_summary_section_without_skips(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    tests, _ = _clone(pytester)
    result = pytester.runpytest_subprocess(str(tests / "test_tiny.py::test_plain"), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "skipped:" not in result.stdout.str()


# ------------------------------------------------------------ the order of the tests
def _conftest_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("skgrad_tests_conftest", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_halves_keep_each_heavy_module_whole_on_one_worker():
    """The first n // 2 items go to one pytest-xdist worker (worksteal): each half must
    start with its heavy modules, whole, and end with the short tests a steal moves."""
    conftest = _conftest_module()
    heavy = list(conftest.HEAVY)
    items = [(name, k) for name in ["tests/a.py", *heavy[::-1], "tests/b.py"] for k in range(3)]
    items += [("tests/c.py", k) for k in range(200)]
    ordered = conftest._two_halves(items, lambda item: item[0])
    assert sorted(ordered) == sorted(items)
    half = len(items) // 2
    first, second = ordered[:half], ordered[half:]
    for name in heavy:                    # whole, in one half, in collection order
        where = [i for i, item in enumerate(ordered) if item[0] == name]
        assert where == list(range(where[0], where[0] + 3)) and (where[0] < half) == (where[-1] < half)
        assert [ordered[i][1] for i in where] == [0, 1, 2]
    for part in (first, second):          # heavy first, longest first, then the short tests
        kinds = [item[0] in conftest.HEAVY for item in part]
        assert kinds == sorted(kinds, reverse=True) and kinds[0] and not kinds[-1]
        costs = [conftest.HEAVY[item[0]] for item in part if item[0] in conftest.HEAVY]
        assert costs == sorted(costs, reverse=True)
    shares = [sum(conftest.HEAVY[n] for n in {item[0] for item in part} if n in conftest.HEAVY)
              for part in (first, second)]
    assert abs(shares[0] - shares[1]) <= max(conftest.HEAVY.values()) and sum(shares) == sum(conftest.HEAVY.values())
    # light tests keep their order across the halves
    light = [item for item in ordered if item[0] not in conftest.HEAVY]
    assert light == [item for item in items if item[0] not in conftest.HEAVY]
    # too few tests for two halves (e.g. -k chose heavy ones): heavy first, nothing lost
    few = [(name, 0) for name in heavy] + [("tests/a.py", 0)]
    assert sorted(conftest._two_halves(few, lambda item: item[0])) == sorted(few)


@pytest.mark.parametrize("workers, cores, preset, expected", [
    ("2", 2, None, "1"), ("2", 8, None, "4"), ("3", 2, None, "1"), (None, 2, None, None), ("2", 2, "3", "3")])
def test_each_xdist_worker_gets_its_share_of_the_cores(monkeypatch, workers, cores, preset, expected):
    conftest = _conftest_module()
    for var, value in (("PYTEST_XDIST_WORKER_COUNT", workers), ("OMP_NUM_THREADS", preset)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    monkeypatch.setattr(conftest, "_cores", lambda: cores)
    conftest.pytest_configure(None)
    import os

    assert os.environ.get("OMP_NUM_THREADS") == expected
