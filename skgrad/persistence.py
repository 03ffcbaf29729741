"""Save and load fitted skgrad estimators without pickle.

.. warning::

   **Pickle and joblib files run code when they are loaded.**  ``pickle.load``
   and ``joblib.load`` of an skgrad estimator (or of anything else) can execute
   arbitrary code stored in the file: only ever load them from sources you
   trust.  :func:`load` never runs code from the file and never imports or calls
   anything by a name read from it: it reads JSON, numpy arrays
   (``np.load(allow_pickle=False)``) and weights-only PyTorch state dicts
   (``torch.load(weights_only=True)``), checks every value before it reaches
   numpy or torch, and rebuilds each estimator from code that is already
   installed.

:func:`save` covers the transformers (:class:`~skgrad.GradientFeatureTransformer`,
:class:`~skgrad.ActivationFeatureTransformer` and their subclasses), the
detector :class:`~skgrad.outlier.GradientOutlierDetector`, and the IQA
estimators :class:`~skgrad.iqa.SparsePatchAutoencoder` and
:class:`~skgrad.iqa.PairedGradientTransformer`.  An estimator is stored as its
class, its parameters (``get_params()``) and its fitted attributes, recursively
for the estimators it holds; scikit-learn estimators inside (a detector's
``StandardScaler`` and ``LedoitWolf``, a ``FrozenEstimator``) are accepted from a
fixed list of classes only.  The file is a zip archive holding

``params.json``
    the format marker and version, the skgrad and torch versions, and the
    estimator as typed JSON (``{"__estimator__": {"class": ..., "params": ...,
    "fitted": ...}}``); a user module is recorded by its class name only.
``arrays.npz``
    the numpy arrays of fitted attributes (when there are any).
``state_dict.pt``
    ``torch.save`` of the trained modules' ``state_dict()`` (tensors only, saved
    from the CPU; when there are any).

Files of format version 1 (transformers saved by skgrad before the detector and
the IQA estimators were covered) still load.  A damaged or crafted file gets a
``ValueError`` (a ``TypeError`` for a value of the wrong type) naming the file,
its member and the offending key.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from skgrad import GradientFeatureTransformer
>>> from skgrad.persistence import save, load
>>> X = np.random.RandomState(0).randint(0, 256, size=(8, 8, 8, 3), dtype=np.uint8)
>>> est = GradientFeatureTransformer(module="cae", module_kwargs={"channels": (4,)},
...                                  epochs=1, random_state=0, device="cpu").fit(X)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save(est, os.path.join(tmp, "gft.skgrad"))
...     again = load(path)
>>> np.array_equal(again.transform(X), est.transform(X))
True
"""
from __future__ import annotations

import io
import json
import os

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._persist import archive, classes
from ._persist.archive import ARRAYS, PARAMS, STATE
from ._persist.estimators import Reader, Writer, from_version_1
from ._persist.values import show

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

#: Marker stored in ``params.json``: a file without it is not an skgrad save.
FORMAT = "skgrad-estimator"
#: Version of the layout written by :func:`save`; :func:`load` reads versions 1 up to this.
FORMAT_VERSION = 2


def save(estimator, path):
    """Save a fitted skgrad estimator to ``path`` (a zip file) without pickle.

    The file holds JSON (class, parameters and fitted attributes), the numpy
    arrays of the fitted attributes (``.npz``) and the trained modules' weights
    (a PyTorch state dict); :func:`load` reads it back without running any code
    from the file.  Unlike a pickle or joblib file, which runs code when loaded
    and must only be loaded from trusted sources, a file written here is safe
    to load.

    Parameters
    ----------
    estimator : GradientFeatureTransformer, ActivationFeatureTransformer, GradientOutlierDetector, SparsePatchAutoencoder or PairedGradientTransformer
        A fitted estimator (or a subclass of one of these).  Its parameters and
        fitted attributes must be None, numbers, strings, tuples, lists, dicts,
        numpy arrays, a ``RandomState``, a ``torch.device`` or estimators that
        save supports; ``module`` may be a preset name or a module instance
        (then only its class name is stored, and :func:`load` needs
        ``module=``).
    path : str or os.PathLike
        The file to write (replaced if it exists).  It is written to a
        temporary file first, so an interrupted save never leaves a partial
        file at ``path``.

    Returns
    -------
    path : str
        ``path``, as a string.

    Raises
    ------
    TypeError
        If ``estimator`` is not an estimator that save supports, or a value in
        it cannot be stored.
    ValueError
        If a parameter is outside what :func:`load` accepts (e.g. ``batch_size``
        over 65536): save never writes a file that load refuses.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : The inverse.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skgrad import ActivationFeatureTransformer
    >>> from skgrad.persistence import save, load
    >>> X = np.random.RandomState(0).rand(20, 6)
    >>> est = ActivationFeatureTransformer(module="dense", epochs=1, random_state=0,
    ...                                    device="cpu").fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(est, os.path.join(tmp, "aft.skgrad"))
    ...     loaded = load(path)
    >>> loaded.layers_, loaded.transform(X).shape
    (['encoder'], (20, 8))
    """
    if classes.class_key(type(estimator)) not in classes.skgrad_classes():
        raise TypeError(
            "save takes a fitted skgrad estimator (GradientFeatureTransformer, ActivationFeatureTransformer, "
            "GradientOutlierDetector, SparsePatchAutoencoder, PairedGradientTransformer or a subclass), "
            f"got {type(estimator).__name__}"
        )
    check_is_fitted(estimator)
    from . import __version__

    writer = Writer()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skgrad_version": __version__,
        "torch_version": torch.__version__,
        "estimator": writer.estimator(estimator, "estimator"),
    }
    members = {PARAMS: json.dumps(meta, indent=1).encode("utf-8")}
    if writer.arrays:
        buf = io.BytesIO()
        np.savez(buf, **writer.arrays)
        members[ARRAYS] = buf.getvalue()
    if writer.weights:
        buf = io.BytesIO()
        torch.save(writer.weights, buf)
        members[STATE] = buf.getvalue()
    return archive.write(path, members)


def load(path, *, device=None, module=None):
    """Load an estimator written by :func:`save`, without running code from the file.

    The parameters and fitted attributes are read as JSON and checked, the
    arrays with ``np.load(allow_pickle=False)`` and the weights with
    ``torch.load(..., weights_only=True)``; each module is rebuilt from
    installed code (a preset of :mod:`skgrad.models`, or ``module``) and its
    weights are checked against it before they are loaded.  This is the safe
    alternative to ``pickle.load``/``joblib.load``, which run code stored in
    the file and must only be used on files from trusted sources.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str, torch.device or None, default=None
        Where the loaded modules run (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"auto"``).  ``None``: the device they were fitted on when available
        here, else the CPU (with a warning), as when unpickling.
    module : torch.nn.Module or None, default=None
        Required when the estimator was fitted with a module instance rather
        than a preset: an instance of the same architecture (the file holds
        the weights, not the code).  It is not changed: the trained weights go
        into a deep copy, and ``module`` becomes the ``module`` parameter of
        each estimator that had one.  Must be None for a preset.

    Returns
    -------
    estimator : object
        A fitted estimator of the class that was saved, whose ``transform``
        (or ``score_samples``) gives the same output as the one saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not an skgrad save, is damaged, names a class that load
        does not accept, holds a value outside its range, or was fitted with a
        user module and ``module`` is missing or does not fit the saved
        weights.  The message names the file, its member and the key.
    TypeError
        If a value in the file, or ``module``, has the wrong type.

    See Also
    --------
    save : The inverse.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from torch import nn
    >>> from skgrad import GradientFeatureTransformer
    >>> from skgrad.persistence import save, load
    >>> class Tiny(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(4, 4)
    ...     def forward(self, x):
    ...         return self.lin(x)
    >>> X = np.random.RandomState(0).rand(10, 4)
    >>> est = GradientFeatureTransformer(module=Tiny(), loss="mse", epochs=1,
    ...                                  random_state=0, device="cpu").fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(est, os.path.join(tmp, "tiny.skgrad"))
    ...     loaded = load(path, module=Tiny())
    >>> np.array_equal(loaded.transform(X), est.transform(X))
    True
    """
    path = os.fspath(path)
    members = archive.read_members(path)
    meta = archive.parse_json(path, members[PARAMS])
    if meta.get("format") != FORMAT:
        raise archive.not_a_save(path, f"{PARAMS} has no format marker {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise archive.not_a_save(path, f"{PARAMS} has no valid format_version (got {show(version)})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!s} was written in skgrad file format version {version!r} "
            f"(by skgrad {show(meta.get('skgrad_version'))}); this skgrad reads versions up to "
            f"{FORMAT_VERSION}: upgrade skgrad"
        )
    if version == 1:
        if STATE not in members or ARRAYS in members:
            raise archive.not_a_save(path, f"a version-1 file holds {PARAMS} and {STATE}, got {sorted(members)}")
        node = from_version_1(path, meta)
    else:
        node = meta.get("estimator")
        if not isinstance(node, dict) or set(node) != {"__estimator__"}:
            raise archive.not_a_save(path, f"{PARAMS} has no estimator")
        node = node["__estimator__"]
    ctx = Reader(path, members, module, device, version)
    est = ctx.estimator(node, f"{path!s}: {PARAMS}: estimator", 0, top=True)
    if module is not None and not ctx.module_used:
        raise ValueError(
            f"{path!s} holds an estimator fitted with the preset module={ctx.preset!r}, which load rebuilds "
            "itself; do not pass module="
        )
    return est
