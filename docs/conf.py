"""Sphinx configuration for skgrad.

The build is offline (no intersphinx inventories are fetched) and warning-free:
``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (``make docs``).
The pages of measured results (``guide/*_results.md``) are Markdown, read by
myst-parser (in the ``docs`` and ``test`` extras); the other pages are reST.
"""
import os
import sys

# Build the checkout's package even when it is not installed.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import skgrad  # noqa: E402

project = "skgrad"
author = "skgrad developers"
copyright = "skgrad developers"
version = release = skgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
]

# Offline build: no intersphinx (it would download inventories).
intersphinx_mapping = {}

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
# Document skgrad's own methods, including those inherited from skgrad base classes
# (fit, transform, ...), but not those of scikit-learn's mixins or torch.nn.Module.
autodoc_default_options = {
    "members": True,
    "inherited-members": "BaseEstimator,TransformerMixin,OutlierMixin,ClassifierMixin,"
    "RegressorMixin,OneToOneFeatureMixin,ClassNamePrefixFeaturesOutMixin,_SetOutputMixin,"
    "_MetadataRequester,Module,object",
    # scikit-learn's metadata-routing setters, generated per class
    "exclude-members": "set_fit_request,set_transform_request,set_score_request,"
    "set_predict_request,set_partial_fit_request,set_decision_function_request",
}
autodoc_typehints = "none"
autoclass_content = "class"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path = []
html_title = f"skgrad {release}"
templates_path = []


# --------------------------------------------------------------------------
# Work-around for package docstrings (reported, remove when fixed): these name the
# attribute n_features_out_ without double backquotes, which reStructuredText reads
# as a hyperlink reference to an unknown target ("n_features_out") -- an error
# under -W.  Only these docstrings, and only that bare name, are touched.
_BARE_REFERENCES = {
    "AutoencoderTransformerBase.transform": ("n_features_out_",),
    "PairedGradientTransformer.transform": ("n_features_out_",),
}


def _quote_bare_references(app, what, name, obj, options, lines):
    names = _BARE_REFERENCES.get(getattr(obj, "__qualname__", ""), ())
    for attr in names:
        for i, line in enumerate(lines):
            if attr in line and f"``{attr}``" not in line:
                lines[i] = line.replace(attr, f"``{attr}``")


def setup(app):
    app.connect("autodoc-process-docstring", _quote_bare_references)
