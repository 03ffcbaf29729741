"""Helpers of skgrad's Sphinx build (imported by ``docs/conf.py``).

* :func:`gallery_argv` and :func:`gallery_scraper` let sphinx-gallery run the
  scripts of ``examples/`` as they are (command-line scripts that write PNG
  files into ``--output``) and show the PNG files they wrote.
* :func:`rendered_methods` lists the methods autodoc renders on a class page, for
  the class template's methods table (so that every entry links to a rendered
  method).
* :func:`constant_docstring` gives module constants their ``#:`` comment instead of
  the docstring of their type (``tuple``, ``dict``, ...).
* :func:`intersphinx_inventories` finds the intersphinx inventories that can be
  had (a local copy, or a download when the network allows) so that a build
  without network still succeeds.
"""
from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

# --------------------------------------------------------------------------- gallery
#: Options the docs build passes to each example (besides ``--output``).  The two
#: that take about four minutes each at full size (on a 2-core CPU) run with
#: ``--quick``; their gallery text says so, and the figure titles show the sizes.
GALLERY_OPTIONS = {
    "plot_challenges.py": [],
    "plot_ood_digits.py": ["--quick"],
    "plot_gradients_vs_activations.py": [],
    "plot_iqa.py": ["--quick"],
}


class GalleryOrder:
    """sphinx-gallery's ``within_subsection_order``: the order of
    :data:`GALLERY_OPTIONS` (from the figures of the data to the results),
    then any other example by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        order = list(GALLERY_OPTIONS)
        return (order.index(filename), filename) if filename in order else (len(order), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _output_dir(gallery_conf, src_file):
    """Where an example writes its files: ``_build/gallery-output/<name>`` beside
    conf.py (``_build`` is neither a source of the docs nor in git)."""
    return Path(gallery_conf["src_dir"]) / "_build" / "gallery-output" / Path(src_file).stem


def gallery_argv(gallery_conf, script_vars):
    """sphinx-gallery's ``reset_argv``: the command line of one example.  The example
    runs in its own folder (sphinx-gallery's choice), so ``--output`` is given
    relative to it: what the example prints names a path in the repository."""
    src_file = script_vars["src_file"]
    folder = _output_dir(gallery_conf, src_file)
    shutil.rmtree(folder, ignore_errors=True)  # no figure of an earlier build is shown
    folder.mkdir(parents=True)
    output = os.path.relpath(folder, Path(src_file).parent)
    return [*GALLERY_OPTIONS.get(Path(src_file).name, ["--quick"]), "--output", output]


_SCRAPED = set()


def gallery_scraper(block, block_vars, gallery_conf, **kwargs):
    """sphinx-gallery image scraper: the PNG files the example wrote into its
    ``--output`` folder during this code block, oldest first."""
    from sphinx_gallery.scrapers import figure_rst

    folder = _output_dir(gallery_conf, block_vars["src_file"])
    new = sorted((p for p in folder.glob("*.png") if p not in _SCRAPED), key=lambda p: (p.stat().st_mtime, p.name))
    paths = []
    for png, target in zip(new, block_vars["image_path_iterator"]):
        shutil.copyfile(png, target)
        _SCRAPED.add(png)
        paths.append(target)
    return figure_rst(paths, gallery_conf["src_dir"]) if paths else ""


# --------------------------------------------------------------------------- API pages
#: Base classes whose members the API pages leave out (scikit-learn's and torch's
#: own methods, documented by those projects): autodoc's ``inherited-members``.
EXCLUDED_BASES = ("BaseEstimator", "TransformerMixin", "OutlierMixin", "ClassifierMixin", "RegressorMixin",
                  "OneToOneFeatureMixin", "ClassNamePrefixFeaturesOutMixin", "_SetOutputMixin",
                  "_MetadataRequester", "Module", "object")
#: scikit-learn's metadata-routing setters, generated per class.
EXCLUDED_MEMBERS = ("set_fit_request", "set_transform_request", "set_score_request", "set_predict_request",
                    "set_partial_fit_request", "set_decision_function_request")


def rendered_methods(cls):
    """Public methods of ``cls`` that autodoc renders with the options above: with a
    docstring, and not inherited from one of :data:`EXCLUDED_BASES`."""
    names = []
    for name in dir(cls):
        if name.startswith("_") or name in EXCLUDED_MEMBERS:
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or owner.__name__ in EXCLUDED_BASES:
            continue
        raw = vars(owner)[name]
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if not inspect.isfunction(raw) or not inspect.getdoc(getattr(cls, name)):
            continue
        names.append(name)
    return names


def class_methods(api_rst):
    """``{"module.Class": [method, ...]}`` for every class of the public modules
    that ``api_rst`` documents (its ``.. currentmodule::`` lines)."""
    import re

    table = {}
    modules = re.findall(r"^\.\. currentmodule:: (\S+)", Path(api_rst).read_text(encoding="utf-8"), flags=re.M)
    for modname in dict.fromkeys(modules):
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                table[f"{modname}.{name}"] = rendered_methods(obj)
    return table


def _attribute_comment(modname, attr, obj):
    """The ``#:`` comment above ``attr = ...`` in the module that defines it: the
    public module itself, or one of skgrad's modules that holds the same object."""
    from sphinx.pycode import ModuleAnalyzer
    from sphinx.pycode import PycodeError

    candidates = [modname] + sorted(m for m in sys.modules if m.startswith(modname + "."))
    candidates += sorted(m for m in sys.modules if m.startswith("skgrad") and m not in candidates)
    for name in candidates:
        module = sys.modules.get(name)
        if module is None or getattr(module, attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(name).find_attr_docs()
        except PycodeError:
            continue
        if ("", attr) in docs:
            return [line for line in docs[("", attr)]]
    return None


def constant_docstring(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``: a module constant is described by its ``#:``
    comment (where it is defined), never by the docstring of its type."""
    if what != "data" or not name.startswith("skgrad."):
        return
    modname, _, attr = name.rpartition(".")
    comment = _attribute_comment(modname, attr, obj)
    if comment is not None:
        lines[:] = comment
        return
    type_doc = inspect.getdoc(type(obj))
    if type_doc and "\n".join(lines).strip() == type_doc.strip():
        lines[:] = []


# --------------------------------------------------------------------------- intersphinx
#: name -> documentation URL (its ``objects.inv`` is the inventory)
INTERSPHINX = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "scipy": "https://docs.scipy.org/doc/scipy",
    "sklearn": "https://scikit-learn.org/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "joblib": "https://joblib.readthedocs.io/en/stable",
}
#: The packages those projects document, for ``nitpick_ignore_regex``.
EXTERNAL_PACKAGES = ("importlib", "numpy", "scipy", "sklearn", "torch", "joblib")
#: An inventory kept in the cache is fetched again after this many days.
INVENTORY_MAX_AGE_DAYS = 7


def _download(url, path, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https URLs above)
        data = response.read()
    if not data.startswith(b"# Sphinx inventory"):
        raise ValueError(f"{url} is not a Sphinx inventory")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def intersphinx_inventories(cache_dir, *, offline=False, timeout=5.0):
    """``(intersphinx_mapping, missing)``: the projects of :data:`INTERSPHINX` whose
    inventory is a file in ``cache_dir`` (``<name>.inv``), downloaded there first
    when it is missing or older than :data:`INVENTORY_MAX_AGE_DAYS` (unless
    ``offline``); ``missing`` names the projects left out (no inventory could be
    had: a build without network)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stale = {}
    for name, url in INTERSPHINX.items():
        path = cache_dir / f"{name}.inv"
        if not path.is_file() or time.time() - path.stat().st_mtime > INVENTORY_MAX_AGE_DAYS * 86400:
            stale[name] = (f"{url}/objects.inv", path)
    if stale and not offline:
        with concurrent.futures.ThreadPoolExecutor(len(stale)) as pool:
            futures = {pool.submit(_download, url, path, timeout): name for name, (url, path) in stale.items()}
            for future in concurrent.futures.as_completed(futures):
                future.exception()  # a failure leaves the old copy, or none
    mapping, missing = {}, []
    for name, url in INTERSPHINX.items():
        path = cache_dir / f"{name}.inv"
        if path.is_file():
            mapping[name] = (url, str(path))
        else:
            missing.append(name)
    return mapping, missing
