"""The documentation: every public name is in the API reference, the HTML build is
warning-free, and the code of every user-guide page runs and gives what it shows."""
import doctest
import importlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # not on Windows: each pytest-xdist worker then builds its own copy
    fcntl = None

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The reST pages of the user guide (its index, guide/index.rst, only lists them).
GUIDE_PAGES = sorted(p for p in (DOCS / "guide").glob("*.rst") if p.stem != "index")
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


#: Pages besides the user guide and the API reference that the front page links.
TOP_PAGES = ["install", "guide/index", "auto_examples/index", "api", "datasets", "citing", "changelog"]


def test_index_links_every_guide_page():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    guide_index = (DOCS / "guide" / "index.rst").read_text(encoding="utf-8")
    names = {p.stem for p in ALL_GUIDE_PAGES}
    for page in REQUIRED_GUIDE_PAGES:
        assert page in names, f"docs/guide/{page}.rst is missing"
    toctree = guide_index.split(".. toctree::", 1)[1].split()
    for page in names:
        assert page in toctree, f"docs/guide/index.rst does not list {page} in its toctree"
    for page in TOP_PAGES:
        assert re.search(rf"^   {re.escape(page)}$", index, flags=re.M), f"docs/index.rst's toctree lacks {page}"
        if not page.startswith("auto_examples"):
            assert (DOCS / f"{page}.rst").is_file(), f"docs/{page}.rst is missing"


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
    # CPU time of this process (one torch thread, see one_thread), not wall time: a page's
    # cost, unaffected by what else runs on the machine (a loaded CI machine doubled the wall time)
    t0 = time.process_time()
    runner.run(test, out=out.write)
    elapsed = time.process_time() - t0
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{page.name}: {result.failed} of {result.attempted} examples failed\n{out.getvalue()}"
    assert elapsed < 60, f"{page.name} took {elapsed:.0f} s of CPU; keep guide examples small"


#: The packages the docs build needs (the ``docs`` extra), by import name.
SPHINX_PACKAGES = ["sphinx", "numpydoc", "myst_parser", "pydata_sphinx_theme", "sphinx_gallery",
                   "sphinx-mathjax-offline"]
#: The example the test build runs (the quickest); the others' pages are built from
#: their code without running them.  ``make docs`` runs them all.
GALLERY_RUN = "plot_challenges.py"


def _missing_sphinx_packages():
    return [name for name in SPHINX_PACKAGES if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory):
    """The sphinx build the tests below read: ``(output dir, result)`` with result
    ``{"returncode", "log", "seconds"}``.

    The build is the one of ``make docs`` (``-W -n --keep-going``: warnings are
    errors, every cross-reference must resolve), offline (``SKGRAD_DOCS_OFFLINE=1``:
    no intersphinx download), in a copy of docs/ and examples/, with one example
    of the gallery run (:data:`GALLERY_RUN`, a few seconds): running them all takes
    minutes, which ``make docs`` spends and the test suite does not.  It runs once
    per test run: under pytest-xdist the first worker that needs it builds while
    holding a file lock, and the others read its result."""
    missing = _missing_sphinx_packages()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (pip install 'skgrad[docs]')")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder all workers of this run share
    tmp = base / "skgrad-docs-build"
    with open(base / "skgrad-docs-build.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        result_file = tmp / "result.json"
        if not result_file.is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            # Build a copy, so that autosummary's generated stubs, the gallery and the
            # output stay out of the checkout; the package is imported from the checkout.
            ignore = shutil.ignore_patterns("_build", "generated", "auto_examples", "sg_execution_times.rst",
                                            "__pycache__")
            shutil.copytree(DOCS, tmp / "docs", ignore=ignore)
            shutil.copytree(ROOT / "examples", tmp / "examples", ignore=shutil.ignore_patterns("__pycache__"))
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
            env.update(OMP_NUM_THREADS="1", SKGRAD_DOCS_OFFLINE="1", SKGRAD_DOCS_GALLERY_RUN=re.escape(GALLERY_RUN))
            cmd = [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-b", "html",
                   str(tmp / "docs"), str(tmp / "html")]
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
                returncode, log = proc.returncode, proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as exc:
                returncode, log = None, f"the docs build did not finish within {exc.timeout:.0f} s"
            result = {"returncode": returncode, "log": log, "seconds": time.perf_counter() - t0}
            result_file.write_text(json.dumps(result), encoding="utf-8")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    return tmp / "html", result


def _built(docs_build):
    """The build's output folder; fails with sphinx's output if the build failed."""
    out, result = docs_build
    assert result["returncode"] == 0, f"sphinx failed (rc {result['returncode']}):\n{result['log'][-9000:]}"
    return out


def test_docs_build_without_warnings(docs_build):
    """``sphinx -W -n`` (warnings are errors, references must resolve) builds the
    HTML, offline, in a copy of docs/: every page, every API entry, every example."""
    out = _built(docs_build)
    output, elapsed = docs_build[1]["log"], docs_build[1]["seconds"]
    assert "WARNING" not in output and "ERROR" not in output, output[-6000:]
    pages = ["index.html", "api.html", *(f"{p}.html" for p in TOP_PAGES),
             *(f"guide/{p.stem}.html" for p in ALL_GUIDE_PAGES),
             *(f"auto_examples/{p.stem}.html" for p in sorted((ROOT / "examples").glob("*.py")))]
    for page in pages:
        assert (out / page).is_file(), f"{page} was not built"
    # every autosummary entry got its own page, e.g. the transformer's and the CLI's
    gft = (out / "generated" / "skgrad.GradientFeatureTransformer.html").read_text(encoding="utf-8")
    assert "reduction" in gft and "get_feature_names_out" in gft
    assert 'id="skgrad.cli.main"' in (out / "generated" / "skgrad.cli.main.html").read_text(encoding="utf-8")
    assert elapsed < 200, f"the docs build took {elapsed:.0f} s"


class _Page(HTMLParser):
    """What a reader sees of a page: its text outside code, preformatted blocks and
    math (``text``), the ids it defines, and the URLs it links or loads."""

    SKIP = {"pre", "code", "script", "style", "kbd", "tt"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.text, self.ids, self.urls, self.scripts, self.has_math = [], set(), [], [], False
        self._stack = []  # (tag, hides its text)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.urls.append((tag, attrs[key]))
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        is_math = "math" in classes
        self.has_math |= is_math
        if tag not in self.VOID:
            self._stack.append((tag, tag in self.SKIP or is_math))

    def handle_endtag(self, tag):
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if not any(hidden for _, hidden in self._stack):
            self.text.append(data)


_PAGES = {}


def _pages(out):
    """Every HTML page of the build, parsed: ``{path relative to out: _Page}``."""
    if out not in _PAGES:
        _PAGES[out] = {p.relative_to(out).as_posix(): _Page(p.read_text(encoding="utf-8"))
                       for p in sorted(out.rglob("*.html")) if "_static" not in p.parts}
    return _PAGES[out]


def test_built_html_has_no_stray_markup(docs_build):
    """No page shows a backquote or raw TeX (``\\(``, ``\\[``) outside code and math:
    reST or numpydoc markup that did not render (e.g. a broken double-backquote
    literal in a signature or a methods table)."""
    pages = _pages(_built(docs_build))
    assert len(pages) > 100, sorted(pages)
    bad = {}
    for name, page in pages.items():
        text = " ".join(page.text)
        found = [m.group(0) for m in re.finditer(r".{0,40}(`|\\\(|\\\[).{0,40}", text)]
        if found:
            bad[name] = found[:3]
    assert not bad, f"raw markup in {len(bad)} pages: {dict(list(bad.items())[:8])}"


def test_built_html_math_renders_offline(docs_build):
    """Pages with math load MathJax from the build itself (no CDN), and no page
    loads a script or a stylesheet from the network."""
    out = _built(docs_build)
    pages = _pages(out)
    with_math = [name for name, page in pages.items() if page.has_math]
    assert "guide/concepts.html" in with_math, "the concepts page lost its math"
    for name in with_math:
        mathjax = [src for src in pages[name].scripts if "mathjax" in src.lower()]
        assert mathjax, f"{name} has math but loads no MathJax"
        for src in mathjax:
            assert "://" not in src and not src.startswith("//"), f"{name} loads MathJax from the network: {src}"
            assert ((out / name).parent / src.split("?")[0]).resolve().is_file(), f"{name}: {src} is not in the build"
    for name, page in pages.items():
        remote = [url for tag, url in page.urls if tag in ("script", "link", "img") and re.match(r"(https?:)?//", url)]
        assert not remote, f"{name} loads from the network: {remote}"


def test_built_html_links_stay_in_the_build(docs_build):
    """Every link or image of every page that is not a web address resolves to a
    file of the build (never a path outside it: a local folder, ``file://``, an
    absolute path), and its ``#anchor`` exists there: e.g. each entry of a methods
    table links to a method documented on the page."""
    out = _built(docs_build)
    pages = _pages(out)
    problems = []
    for name, page in pages.items():
        for tag, url in page.urls:
            if re.match(r"(https?|mailto):", url) or url.startswith("data:"):
                continue
            if re.match(r"[a-z][a-z0-9+.-]*:", url, flags=re.I) or url.startswith("/"):
                problems.append(f"{name}: {url} (not a link inside the documentation)")
                continue
            path, _, fragment = url.partition("#")
            path = path.split("?")[0]
            target = ((out / name).parent / path).resolve() if path else (out / name)
            try:
                rel = target.relative_to(out.resolve()) if path else Path(name)
            except ValueError:
                problems.append(f"{name}: {url} (outside the documentation)")
                continue
            if not target.exists():
                problems.append(f"{name}: {url} (no such file)")
            elif fragment and rel.as_posix() in pages and fragment not in pages[rel.as_posix()].ids:
                problems.append(f"{name}: {url} (no such anchor)")
    assert not problems, f"{len(problems)} bad links:\n" + "\n".join(problems[:20])


def test_built_api_pages(docs_build):
    """Constants show their own description, never the docstring of their type
    (``tuple``, ``dict``, a dataclass); the pages of the functions and classes the
    examples use link back to those examples."""
    out = _built(docs_build)
    checked = 0
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not name.isupper() or callable(obj):
                continue
            page = _Page((out / "generated" / f"{module_name}.{name}.html").read_text(encoding="utf-8"))
            text = " ".join(" ".join(page.text).split())
            type_doc = inspect.getdoc(type(obj)).splitlines()[0]
            type_doc = re.sub(r":\w+:`~?([^`]+)`", r"\1", type_doc).replace("``", "")
            assert type_doc not in text, f"{module_name}.{name} shows the docstring of {type(obj).__name__}"
            checked += 1
    assert checked >= 15, checked
    for api_page, example in [("skgrad.distortions.apply_challenge", "plot_challenges"),
                              ("skgrad.GradientFeatureTransformer", "plot_ood_digits")]:
        html = (out / "generated" / f"{api_page}.html").read_text(encoding="utf-8")
        assert "Examples using" in html and f"../auto_examples/{example}.html" in html, (
            f"{api_page}'s page does not link to the example {example}")


def test_built_gallery(docs_build):
    """The gallery has a page and a thumbnail per script of examples/; the example
    the test build runs shows the figures it wrote (a scraper copies the PNG files
    of its ``--output`` folder into the page)."""
    out = _built(docs_build)
    index = (out / "auto_examples" / "index.html").read_text(encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f'href="{script.stem}.html' in index, f"the gallery does not list {script.name}"
    stem = Path(GALLERY_RUN).stem
    assert f"sphx_glr_{stem}_thumb.png" in index
    page = (out / "auto_examples" / f"{stem}.html").read_text(encoding="utf-8")
    images = re.findall(rf'src="(\.\./_images/sphx_glr_{stem}_\d+\.png)"', page)
    assert len(images) == 2, f"{GALLERY_RUN}'s page shows {len(images)} figures, not its 2 PNG files"
    for src in images:
        data = (out / "auto_examples" / src).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, src


def test_gallery_settings_name_every_example():
    """The docs build's settings for each example (docs/sphinxext/skgrad_docs.py):
    a new script gets its gallery setting deliberately."""
    sys.path.insert(0, str(DOCS / "sphinxext"))
    try:
        skgrad_docs = importlib.import_module("skgrad_docs")
    finally:
        sys.path.remove(str(DOCS / "sphinxext"))
    scripts = {p.name for p in (ROOT / "examples").glob("*.py")}
    assert set(skgrad_docs.GALLERY_OPTIONS) == scripts
    assert GALLERY_RUN in scripts


def test_one_doc_set_without_internal_notes():
    """The docs are the Sphinx sources only (no second set of Markdown pages beside them),
    and no page (nor an example, whose text the gallery shows) speaks of this
    project's machines or of paths outside the repository."""
    assert not list(DOCS.glob("*.md")), "Markdown pages belong in docs/guide/ (read by myst-parser)"
    pages = [*DOCS.glob("*.rst"), *(DOCS / "guide").glob("*.rst"), *ALL_GUIDE_PAGES,
             *(ROOT / "examples").glob("*.py"), ROOT / "examples" / "README.txt"]
    assert len(pages) > 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for note in ("../shared", "shared/", "was not installed", "session"):
            assert note not in text, f"{page.name} holds an internal note: {note!r}"
        private = re.findall(r"skgrad\._[a-z]\w*", text)  # a private module named to users
        assert not private, f"{page.name} sends users to private modules: {private}"


def test_make_clean_removes_what_make_docs_writes(tmp_path):
    """``make clean`` removes every generated docs path that .gitignore lists (the build,
    autosummary's stubs, the gallery), so that a cleaned checkout builds from scratch."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    ignored = [line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
               if line.strip().startswith("docs/")]
    assert ignored, ".gitignore lists no docs output"
    # a copy of the Makefile in an empty folder holding those paths: `make clean` runs for real
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for path in ignored:
        target = tmp_path / path
        if target.suffix:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("generated")
        else:
            (target / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "index.rst").write_text("kept")
    proc = subprocess.run([make, "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    left = [path for path in ignored if (tmp_path / path).exists()]
    assert not left, f"make clean leaves {left}"
    assert (tmp_path / "docs" / "index.rst").read_text() == "kept"
