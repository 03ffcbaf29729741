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
