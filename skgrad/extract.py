"""Features of data larger than memory, written chunk by chunk to a ``.npy`` file.

:func:`transform_to_npy` streams ``X`` (an array, a read-only memmap, or anything
sliceable along its first axis) through a fitted transformer and writes each chunk
into a ``.npy`` memmap.  It writes to ``<out>.partial`` and renames it to ``<out>``
only when every row is written, so a killed run never leaves a truncated
output; ``resume=True`` continues a killed run from the last chunk recorded in
``<out>.partial.json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from sklearn.utils.validation import check_is_fitted

__all__ = ["transform_to_npy"]


def _progress_path(partial):
    return partial.with_name(partial.name + ".json")


def transform_to_npy(estimator, X, out, *, chunk_size=None, resume=False, verbose=False):
    """Transform ``X`` chunk by chunk into the ``.npy`` file ``out``.

    Parameters
    ----------
    estimator : fitted GradientFeatureTransformer or ActivationFeatureTransformer
    X : array-like, sliceable along axis 0
        e.g. ``np.load(path, mmap_mode="r")`` for inputs larger than memory.
    out : str or Path
        Destination ``.npy`` file (float32, shape ``(len(X), n_features_out_)``).
    chunk_size : int, optional
        Rows per chunk (default: ``16 * estimator.batch_size``), rounded up to a
        multiple of ``batch_size`` so that the file equals ``transform(X)`` exactly.
    resume : bool, default=False
        Continue an interrupted run whose ``<out>.partial`` file is present.
    verbose : bool, default=False
        Show a progress bar.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skgrad import GradientFeatureTransformer
    >>> X = np.random.RandomState(0).randint(0, 256, (20, 28, 28, 3), dtype=np.uint8)
    >>> gft = GradientFeatureTransformer(epochs=0, random_state=0).fit(X)
    >>> gft = gft.set_params(batch_size=8)
    >>> path = transform_to_npy(gft, X, os.path.join(tempfile.mkdtemp(), "f.npy"), chunk_size=8)
    >>> np.load(path, mmap_mode="r").shape
    (20, 1872)
    """
    from tqdm.auto import tqdm

    check_is_fitted(estimator, "module_")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    progress = _progress_path(partial)
    n = len(X)
    shape = (n, int(estimator.n_features_out_))
    bs = int(estimator.batch_size)
    chunk = int(chunk_size or 16 * bs)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    # Whole batches per chunk: the file then equals transform(X) bit for bit (float32
    # kernels can round differently for other batch compositions).
    chunk = -(-chunk // bs) * bs
    done = 0
    if resume and partial.exists() and progress.exists():
        meta = json.loads(progress.read_text())
        if tuple(meta.get("shape", ())) != shape:
            raise ValueError(
                f"cannot resume: {partial} holds shape {tuple(meta.get('shape', ()))}, this run makes {shape}"
            )
        done = int(meta["rows_done"])
        mm = open_memmap(partial, mode="r+")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        mm = open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
        progress.write_text(json.dumps({"shape": shape, "rows_done": 0}))
    with tqdm(total=n, initial=done, disable=not verbose, desc="extract", unit="img") as bar:
        for start in range(done, n, chunk):
            stop = min(start + chunk, n)
            mm[start:stop] = estimator.transform(np.asarray(X[start:stop]))
            mm.flush()
            # The rows are on disk before the progress file says so.
            tmp = progress.with_name(progress.name + ".tmp")
            tmp.write_text(json.dumps({"shape": shape, "rows_done": stop}))
            os.replace(tmp, progress)
            bar.update(stop - start)
    del mm
    os.replace(partial, out)
    progress.unlink(missing_ok=True)
    return out
