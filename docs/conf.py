"""Sphinx configuration for skgrad.

``make docs`` builds the HTML with ``sphinx -W -n --keep-going`` (warnings are
errors, every cross-reference must resolve), without network if need be:

* the theme is pydata-sphinx-theme, the math is MathJax served from the build
  itself (sphinx-mathjax-offline), nothing is loaded from a CDN;
* the gallery (sphinx-gallery) runs the scripts of ``examples/``;
  ``-D plot_gallery=0`` builds it without running them (what the test suite does);
* intersphinx links to Python, NumPy, SciPy, scikit-learn and PyTorch when their
  inventories can be had: see :func:`skgrad_docs.intersphinx_inventories`.
  ``SKGRAD_DOCS_OFFLINE=1`` skips the download.

The pages of measured results (``guide/*_results.md``) are Markdown, read by
myst-parser; the other pages are reST.
"""
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Build the checkout's package even when it is not installed.
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "sphinxext"))

import skgrad  # noqa: E402
import skgrad_docs  # noqa: E402

project = "skgrad"
author = "skgrad developers"
copyright = "skgrad developers"
version = release = skgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    # MathJax 3 from the installed package, copied into _static/mathjax: math
    # renders without network (the module's name has dashes, as on PyPI).
    "sphinx-mathjax-offline",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sphinxext", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
templates_path = ["_templates"]
myst_heading_anchors = 3
# the sidebar's table of contents of an API page: "fit", not "GradientFeatureTransformer.fit"
toc_object_entries_show_parents = "hide"

# ----------------------------------------------------------------------------- API
autosummary_generate = True
autosummary_imported_members = False
# Document skgrad's own methods, including those inherited from skgrad base classes
# (fit, transform, ...), but not those of scikit-learn's mixins or torch.nn.Module.
autodoc_default_options = {
    "members": True,
    "inherited-members": ",".join(skgrad_docs.EXCLUDED_BASES),
    "exclude-members": ",".join(skgrad_docs.EXCLUDED_MEMBERS),
}
autodoc_typehints = "none"
autoclass_content = "class"
# The class template's methods table lists exactly the methods autodoc renders.
autosummary_context = {"skgrad_methods": skgrad_docs.class_methods(HERE / "api.rst")}

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# ----------------------------------------------------------------------------- gallery
# The gallery's --quick runs stop training at 30 epochs on purpose (the example
# says so); the ConvergenceWarning that says it would only print this machine's
# file paths into the pages.
warnings.filterwarnings("ignore", message=r".*training stopped after epochs=", category=UserWarning)

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    # every script of examples/ is run (they all start with plot_);
    # SKGRAD_DOCS_GALLERY_RUN=<regex> runs only the matching ones (the test suite
    # runs the quickest, plot_challenges.py)
    "filename_pattern": os.environ.get("SKGRAD_DOCS_GALLERY_RUN", r"/plot_"),
    # the scripts are command-line programs: their options, and their PNG files
    "reset_argv": "skgrad_docs.gallery_argv",
    "image_scrapers": ("skgrad_docs.gallery_scraper",),
    "within_subsection_order": "skgrad_docs.GalleryOrder",
    "doc_module": ("skgrad",),
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    # its pages load jQuery and DataTables from a CDN: not in an offline build
    "write_computation_times": False,
}

# ----------------------------------------------------------------------------- links
nitpicky = True
_mapping, _missing = skgrad_docs.intersphinx_inventories(
    HERE / "_build" / "inventories", offline=os.environ.get("SKGRAD_DOCS_OFFLINE", "") not in ("", "0"))
intersphinx_mapping = _mapping
if _missing:
    print(f"intersphinx: no inventory of {', '.join(_missing)} (no network?): references to them are not linked")
# References to other projects' objects are links where intersphinx has their
# inventory.  Where it has none (a build without network), or where a project's
# inventory lacks an object (its documented version differs), the reference is
# left as plain text instead of failing the nitpicky build.  Only other packages'
# names are let through (the standard library's importlib, NumPy, SciPy,
# scikit-learn, PyTorch, joblib): every reference to skgrad's own names must resolve.
nitpick_ignore_regex = [(r"py:.*", rf"({'|'.join(skgrad_docs.EXTERNAL_PACKAGES)})(\..*)?")]

# ----------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"skgrad {release}"
html_static_path = ["_static"]
html_css_files = ["skgrad.css"]
html_show_sourcelink = False
# One sidebar, on the left: the section's pages (user guide, gallery), then this
# page's sections.  The
# right-hand sidebar is left out so that the content column is wide enough for
# the guide's code lines (see _static/skgrad.css).
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "navbar_persistent": ["search-button"],
    "secondary_sidebar_items": [],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
_NAV_AND_TOC = ["sidebar-nav-bs", "page-toc"]
html_sidebars = {
    "guide/*": _NAV_AND_TOC,
    "auto_examples/*": _NAV_AND_TOC,
    # the API pages: the page's own sections (the class's methods); the list of
    # every public name is api.html, one click up
    "generated/*": ["page-toc"],
    **{page: ["page-toc"] for page in ("index", "install", "api", "datasets", "citing", "changelog")},
}

def setup(app):
    app.connect("autodoc-process-docstring", skgrad_docs.constant_docstring)
