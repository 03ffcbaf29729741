"""The documentation: every public name is in the API reference, the HTML build is
warning-free, and the code of every user-guide page runs and gives what it shows."""
import doctest
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE_PAGES = sorted((DOCS / "guide").glob("*.rst"))
#: Every page of the guide: the reST pages and the Markdown pages of measured results.
ALL_GUIDE_PAGES = sorted([*GUIDE_PAGES, *(DOCS / "guide").glob("*.md")])
#: Pages whose ``>>>`` examples are run: the user guide and the front page.
CODE_PAGES = [DOCS / "index.rst", *GUIDE_PAGES]

#: Public modules whose ``__all__`` must be documented in docs/api.rst.
PUBLIC_MODULES = [
    "skgrad",
    "skgrad.models",
    "skgrad.losses",
    "skgrad.extract",
    "skgrad.metrics",
    "skgrad.distortions",
    "skgrad.datasets",
    "skgrad.iqa",
    "skgrad.outlier",
    "skgrad.persistence",
    "skgrad.dask",
    "skgrad.demo",
    "skgrad.cure",
    "skgrad.report",
    "skgrad.cli",
]

#: The pages the user guide must have (the index links them).
REQUIRED_GUIDE_PAGES = ["concepts", "ood", "iqa", "custom_autoencoder", "performance", "scaling", "ood_results",
                        "iqa_results", "performance_results"]


def _api_text():
    return (DOCS / "api.rst").read_text(encoding="utf-8")


def _documented_names(module_name):
    """Names docs/api.rst documents for ``module_name``: the entries of the
    ``autosummary`` lists under its ``.. currentmodule::``, plus names written out
    in full as ``module_name.name`` (e.g. ``skgrad.__version__``)."""
    text = _api_text()
    names = set()
    current = None
    in_autosummary = False
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            current, in_autosummary = m.group(1), False
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line.strip() and not line.startswith(" "):
            in_autosummary = False
        elif in_autosummary and line.strip() and not line.strip().startswith(":"):
            if current == module_name:
                names.add(line.strip().lstrip("~"))
    names.update(re.findall(re.escape(module_name) + r"\.(\w+)", text))
    return names


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_in_the_api_reference(module_name):
    module = importlib.import_module(module_name)
    public = list(getattr(module, "__all__", []))
    assert public, f"{module_name} has no __all__"
    documented = _documented_names(module_name)
    missing = [n for n in public if n not in documented]
    assert not missing, (
        f"public names of {module_name} missing from docs/api.rst: {missing} "
        f"(add them to the autosummary list under '.. currentmodule:: {module_name}')"
    )


def test_api_checker_sees_a_missing_name():
    """The check above fails when a name is missing (guards the parser itself)."""
    documented = _documented_names("skgrad.metrics")
    assert "srocc" in documented and "ood_report" in documented
    assert "no_such_metric" not in documented
    assert "GradientOutlierDetector" not in documented  # documented under skgrad.outlier


def test_index_links_every_guide_page():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    names = {p.stem for p in ALL_GUIDE_PAGES}
    for page in REQUIRED_GUIDE_PAGES:
        assert page in names, f"docs/guide/{page}.rst is missing"
    for page in names:
        assert f"guide/{page}" in index, f"docs/index.rst does not link guide/{page}"
    assert "api" in index


@pytest.fixture
def one_thread():
    """One torch and BLAS thread: the guide's small models run much faster on a shared
    machine (several OpenMP threads spin against each other) and reproducibly."""
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):  # numpy/scipy BLAS likewise
            yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("page", CODE_PAGES, ids=[p.stem for p in CODE_PAGES])
def test_page_code_runs(page, one_thread, tmp_path, monkeypatch):
    """Every ``>>>`` example of the page runs and prints what the page shows."""
    monkeypatch.chdir(tmp_path)  # pages that write files write them here
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    parser = doctest.DocTestParser()
    text = page.read_text(encoding="utf-8")
    test = parser.get_doctest(text, {"__name__": f"guide_{page.stem}"}, page.name, str(page), 0)
    assert test.examples, f"{page.name} has no runnable examples"
    runner = doctest.DocTestRunner(optionflags=flags)
    out = io.StringIO()
    t0 = time.perf_counter()
    runner.run(test, out=out.write)
    elapsed = time.perf_counter() - t0
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{page.name}: {result.failed} of {result.attempted} examples failed\n{out.getvalue()}"
    assert elapsed < 60, f"{page.name} took {elapsed:.0f} s; keep guide examples small"


@pytest.fixture(scope="module", autouse=True)
def docs_build(request, tmp_path_factory):
    """The sphinx build of test_docs_build_without_warnings, started when this module
    starts (if that test is selected): it runs in its own process while the page
    examples run here on one thread.  Yields ``(process, output dir, start time, log)``
    or None."""
    if not any(getattr(getattr(item, "module", None), "__name__", None) == __name__
               and item.originalname == "test_docs_build_without_warnings" for item in request.session.items):
        yield None
        return
    if importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("numpydoc") is None:
        yield None  # the test says which is missing
        return
    tmp = tmp_path_factory.mktemp("docs-build")
    src = tmp / "docs"
    # Build a copy, so that autosummary's generated stubs and the output stay out of
    # the checkout; the package is imported from the checkout.
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "generated"))
    out = tmp / "html"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env["OMP_NUM_THREADS"] = "1"
    log = open(tmp / "sphinx.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(src), str(out)],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    yield proc, out, time.perf_counter(), log
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def test_docs_build_without_warnings(docs_build):
    """``sphinx -W`` (warnings are errors) builds the HTML, offline, in a copy of docs/."""
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("sphinx is not installed (pip install 'skgrad[docs]')")
    if importlib.util.find_spec("numpydoc") is None:
        pytest.skip("numpydoc is not installed (pip install 'skgrad[docs]')")
    proc, out, t0, log = docs_build
    try:
        proc.wait(timeout=max(1.0, 300 - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        pytest.fail("the docs build did not finish within 300 s")
    elapsed = time.perf_counter() - t0
    log.seek(0)
    output = log.read()
    assert proc.returncode == 0, f"sphinx failed (rc {proc.returncode}):\n{output[-9000:]}"
    assert "WARNING" not in output and "ERROR" not in output, output[-6000:]
    for page in ["index.html", "api.html", *(f"guide/{p.stem}.html" for p in ALL_GUIDE_PAGES)]:
        assert (out / page).is_file(), f"{page} was not built"
    # every autosummary entry got its own page, e.g. the transformer's
    gft = (out / "generated" / "skgrad.GradientFeatureTransformer.html").read_text(encoding="utf-8")
    assert "reduction" in gft and "get_feature_names_out" in gft
    assert elapsed < 200, f"the docs build took {elapsed:.0f} s"


def test_one_doc_set_without_internal_notes():
    """The docs are the Sphinx sources only (no second set of Markdown pages beside them),
    and no page speaks of this project's machines or of paths outside the repository."""
    assert not list(DOCS.glob("*.md")), "Markdown pages belong in docs/guide/ (read by myst-parser)"
    for page in [DOCS / "index.rst", DOCS / "api.rst", *ALL_GUIDE_PAGES]:
        text = page.read_text(encoding="utf-8")
        for note in ("../shared", "shared/", "was not installed", "session"):
            assert note not in text, f"{page.name} holds an internal note: {note!r}"
        private = re.findall(r"skgrad\._[a-z]\w*", text)  # a private module named to users
        assert not private, f"{page.name} sends users to private modules: {private}"
