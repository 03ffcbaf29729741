"""Features of data larger than memory, written chunk by chunk to ``.npy`` or zarr.

:func:`extract` is the one way skgrad writes features to disk.  It streams ``X``
(an array, a read-only memmap, an :class:`~skgrad.datasets.ImageFolderArray`, a
folder of images, a list of image paths, or a dask array) through a fitted
transformer, one chunk of whole batches at a time, and writes each chunk's rows
into the output:

* in this process (the default), or on the workers of a dask cluster
  (``client=``): each task then reads its own rows of ``X`` on a worker,
  transforms them there and writes them; only row counts travel back;
* to ``<out>.partial`` (a ``.npy`` file or a zarr folder), renamed to ``out``
  only when every row is written, so a killed or failed run never leaves a
  truncated ``out``;
* recording the chunks written in ``<out>.partial.json``: ``resume=True``
  continues an interrupted run (either executor) where it stopped, after
  checking that the input, the estimator and the chunking are those of that run
  (:class:`ResumeError` otherwise).

:func:`transform_to_npy` is the same, local and always overwriting, under its
earlier name.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["extract", "transform_to_npy", "progress", "ResumeError"]

#: Rows per chunk when ``chunk_size`` is None, in batches of the estimator.
DEFAULT_CHUNK_BATCHES = 16


class ResumeError(ValueError):
    """An interrupted :func:`extract` run cannot be resumed with these arguments.

    The input, the estimator or the chunking differ from those of the run that
    wrote ``<out>.partial``; run again with ``resume=False`` to start over.
    """


def _partial(out):
    return out.with_name(out.name + ".partial")


def _progress_path(out):
    return out.with_name(out.name + ".partial.json")


def progress(out):
    """Rows an interrupted :func:`extract` run wrote to ``<out>.partial``, or None.

    None when no interrupted run is there (no ``<out>.partial`` and its
    progress file).

    Examples
    --------
    >>> import tempfile, os
    >>> progress(os.path.join(tempfile.mkdtemp(), "f.npy")) is None
    True
    """
    out = Path(out)
    if not (_partial(out).exists() and _progress_path(out).exists()):
        return None
    try:
        return int(json.loads(_progress_path(out).read_text())["rows_done"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _fingerprint_estimator(estimator):
    """A digest of what the features depend on: the class, the fitted weights and the output size."""
    digest = hashlib.sha256(f"{type(estimator).__name__}:{estimator.n_features_out_}".encode())
    for name, tensor in sorted(estimator.module_.state_dict().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensor.detach().cpu().numpy()).tobytes())
    names = estimator.get_feature_names_out()
    digest.update("\n".join(map(str, names[:1].tolist() + names[-1:].tolist())).encode())
    return digest.hexdigest()


def _fingerprint_source(X):
    """A digest of the input: its file list for images read from files, else its shape and dtype."""
    paths = getattr(X, "paths", None)
    if paths is not None:
        text = "\n".join(os.fspath(p) for p in paths) + f"|{X.shape}|{getattr(X, 'resize', True)}"
    else:
        text = f"{tuple(X.shape)}|{np.dtype(X.dtype).str}"
    return hashlib.sha256(text.encode()).hexdigest()


def _as_source(estimator, X):
    """``X`` as something sliceable along its rows: folders and path lists become an ImageFolderArray."""
    from .datasets import ImageFolderArray, list_images

    if isinstance(X, (str, os.PathLike)) or (isinstance(X, (list, tuple)) and X and
                                             isinstance(X[0], (str, os.PathLike))):
        shape = tuple(estimator.sample_shape_)
        if len(shape) != 3:
            raise ValueError(f"{type(estimator).__name__} was fitted on rows of {shape[0]} values, "
                             "not on images: pass an array, not image paths")
        if isinstance(X, (str, os.PathLike)):
            if not Path(X).is_dir():
                raise ValueError(f"{os.fspath(X)} is not a folder; pass a folder, a list of image paths or an array")
            paths = list_images(X)
        else:
            paths = list(X)
            missing = [os.fspath(p) for p in paths if not os.path.isfile(p)]
            if missing:
                raise FileNotFoundError(f"{len(missing)} image path(s) do not exist, e.g. {missing[0]}")
        return ImageFolderArray(paths, shape[:2], shape[2])
    if _is_dask_array(X) and any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    return X


def _is_dask_array(X):
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def _create(partial, fmt, shape, chunk):
    """Create the partial output; returns the byte offset of the rows in a ``.npy`` file."""
    if fmt == "zarr":
        import zarr

        zarr.open_array(os.fspath(partial), mode="w", shape=shape, chunks=(chunk, shape[1]), dtype="<f4")
        return 0
    mm = np.lib.format.open_memmap(partial, mode="w+", dtype="<f4", shape=shape)
    offset = int(mm.offset)
    del mm
    return offset


def _npy_offset(partial):
    mm = np.lib.format.open_memmap(partial, mode="r")
    offset = int(mm.offset)
    del mm
    return offset


def write_rows(target, fmt, offset, start, n_features, features):
    """Write ``features`` as rows ``start:`` of the partial output; returns the row count.

    A ``.npy`` file gets exactly these rows' bytes, synced to disk, with a
    positioned write (no memory map, which would write back whole pages,
    including other writers' rows on a shared filesystem); zarr gets a region
    write (chunks are whole tasks' rows, so writers never share one).
    """
    features = np.ascontiguousarray(features, dtype="<f4")
    if features.ndim != 2 or features.shape[1] != n_features:
        raise RuntimeError(f"expected features of shape (n, {n_features}), got {features.shape}")
    if fmt == "zarr":
        import zarr

        zarr.open_array(os.fspath(target), mode="r+")[start : start + features.shape[0]] = features
    else:
        with open(target, "r+b") as f:
            f.seek(offset + start * n_features * 4)
            f.write(memoryview(features).cast("B"))
            f.flush()
            os.fsync(f.fileno())
    return features.shape[0]


class _Progress:
    """``<out>.partial.json``: the shape, chunking, fingerprints and the chunks written."""

    def __init__(self, path, meta):
        self.path = path
        self.meta = meta

    @classmethod
    def start(cls, path, **meta):
        self = cls(path, dict(meta, chunks_done=[], rows_done=0))
        self._save()
        return self

    def done(self, start, rows):
        self.meta["chunks_done"].append(int(start))
        self.meta["rows_done"] += int(rows)
        self._save()

    def _save(self):
        # the rows are on disk before the progress file says so (write_rows syncs them)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.meta))
        os.replace(tmp, self.path)


def _resume(progress_path, out, **expected):
    """The progress of the interrupted run, after checking it is this run's."""
    try:
        meta = json.loads(progress_path.read_text())
    except (OSError, ValueError) as exc:
        raise ResumeError(f"cannot resume {out}: its progress file {progress_path} is unreadable ({exc})") from None
    shape = tuple(meta.get("shape", ()))
    if meta.get("source") != expected["source"]:
        what = "image files" if expected["from_files"] else "input"
        raise ResumeError(f"cannot resume {out}: the {what} are not those of the interrupted run "
                          f"({expected['shape'][0]} rows now, {shape[0] if shape else '?'} then)")
    if shape != tuple(expected["shape"]):
        raise ResumeError(f"cannot resume {out}: the interrupted run makes shape {shape}, this run {expected['shape']}")
    if meta.get("estimator") != expected["estimator"]:
        raise ResumeError(f"cannot resume {out}: the estimator is not that of the interrupted run")
    if meta.get("chunk_size") != expected["chunk_size"]:
        raise ResumeError(f"cannot resume {out}: the interrupted run wrote chunks of {meta.get('chunk_size')} rows, "
                          f"this run {expected['chunk_size']}")
    return meta


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def extract(estimator, X, out, *, chunk_size=None, resume=False, overwrite=False, client=None, verbose=False):
    """Transform ``X`` chunk by chunk into the ``.npy`` file or zarr folder ``out``.

    Parameters
    ----------
    estimator : fitted GradientFeatureTransformer or ActivationFeatureTransformer
    X : array-like, ImageFolderArray, folder, list of image paths or dask array
        Anything sliceable along its first axis, e.g. ``np.load(path,
        mmap_mode="r")`` for inputs larger than memory.  A folder (its images,
        found by :func:`skgrad.datasets.list_images`) or a list of image paths
        is read as an :class:`~skgrad.datasets.ImageFolderArray` at the
        estimator's image size and channels.  A dask array is computed one
        chunk at a time.
    out : str or path-like
        ``*.npy`` (float32, shape ``(len(X), n_features_out_)``; open it with
        ``np.load(out, mmap_mode="r")``) or ``*.zarr`` (a zarr array chunked
        by ``chunk_size`` rows; needs ``zarr``).  With ``client``, its folder
        must be visible to every worker under the same path.
    chunk_size : int, optional
        Rows per chunk (and per dask task and zarr chunk); default
        ``16 * estimator.batch_size``.  Rounded up to a multiple of
        ``batch_size``, so that the rows equal ``transform(X)`` bit for bit in
        one process.
    resume : bool, default=False
        Continue the interrupted run whose ``<out>.partial`` is there (else
        start from the beginning).  :class:`ResumeError` if its input,
        estimator or chunking differ.
    overwrite : bool, default=False
        Replace an existing ``out`` (else ``FileExistsError``).
    client : distributed.Client, optional
        Run the chunks as tasks on this dask cluster: the estimator is
        scattered to every worker once; each task reads its rows of ``X``
        there (images from their files), transforms them and writes them.
        Default: this process, one chunk after another.
    verbose : bool, default=False
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ResumeError
        When ``resume=True`` and the interrupted run is not this one.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skgrad import GradientFeatureTransformer
    >>> X = np.random.RandomState(0).randint(0, 256, (20, 28, 28, 3), dtype=np.uint8)
    >>> gft = GradientFeatureTransformer(epochs=0, batch_size=8, random_state=0).fit(X)
    >>> path = extract(gft, X, os.path.join(tempfile.mkdtemp(), "f.npy"), chunk_size=8)
    >>> F = np.load(path, mmap_mode="r")
    >>> F.shape, bool(np.array_equal(F, gft.transform(X)))
    ((20, 1872), True)
    """
    out = Path(out)
    fmt = out.suffix.lower()[1:]
    if fmt not in ("npy", "zarr"):
        raise ValueError(f"out must end with .npy or .zarr, got {out}")
    return _extract(estimator, X, out, fmt, chunk_size=chunk_size, resume=resume, overwrite=overwrite,
                    client=client, verbose=verbose)


def _extract(estimator, X, out, fmt, *, chunk_size, resume, overwrite, client, verbose):
    from tqdm.auto import tqdm

    check_is_fitted(estimator, "module_")
    if fmt == "zarr":
        import zarr  # noqa: F401  (fail here, not in a task)
    if isinstance(chunk_size, bool) or (chunk_size is not None and (
            not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1)):
        raise ValueError(f"chunk_size must be an int >= 1 or None, got {chunk_size!r}")
    bs = int(estimator.batch_size)
    chunk = int(chunk_size or DEFAULT_CHUNK_BATCHES * bs)
    # Whole batches per chunk: the rows then equal transform(X) bit for bit (float32
    # kernels can round differently for other batch compositions).
    chunk = -(-chunk // bs) * bs
    source = _as_source(estimator, X)
    n = int(source.shape[0])
    if n == 0:
        raise ValueError("no samples to extract")
    shape = (n, int(estimator.n_features_out_))
    partial, progress_path = _partial(out), _progress_path(out)
    expected = dict(shape=list(shape), chunk_size=chunk, source=_fingerprint_source(source),
                    estimator=_fingerprint_estimator(estimator))
    if resume and partial.exists() and progress_path.exists():
        meta = _resume(progress_path, out, from_files=hasattr(source, "paths"), **expected)
        tracker = _Progress(progress_path, meta)
        offset = _npy_offset(partial) if fmt == "npy" else 0
    else:
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} exists; pass overwrite=True to replace it")
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove(partial)
        offset = _create(partial, fmt, shape, chunk)
        tracker = _Progress.start(progress_path, **expected)
    todo = [s for s in range(0, n, chunk) if s not in set(tracker.meta["chunks_done"])]
    with tqdm(total=n, initial=tracker.meta["rows_done"], disable=not verbose, desc="extract", unit="img") as bar:
        if client is not None:
            from .dask import extract_chunks

            for start, rows in extract_chunks(estimator, source, todo, chunk, partial, fmt, offset, client):
                tracker.done(start, rows)
                bar.update(rows)
        else:
            for start in todo:
                stop = min(start + chunk, n)
                rows = write_rows(partial, fmt, offset, start, shape[1], estimator.transform(np.asarray(source[start:stop])))
                tracker.done(start, rows)
                bar.update(rows)
    if tracker.meta["rows_done"] != n:
        raise RuntimeError(f"wrote {tracker.meta['rows_done']} rows, expected {n}")
    if out.exists():
        _remove(out)  # overwrite=True, or a resumed run; os.replace cannot replace a folder (zarr)
    os.replace(partial, out)
    progress_path.unlink(missing_ok=True)
    return out


def transform_to_npy(estimator, X, out, *, chunk_size=None, resume=False, verbose=False):
    """Transform ``X`` chunk by chunk into the ``.npy`` file ``out``, in this process.

    :func:`extract` with ``overwrite=True`` (an existing ``out`` is replaced)
    and no dask client.

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
    return _extract(estimator, X, Path(out), "npy", chunk_size=chunk_size, resume=resume, overwrite=True,
                    client=None, verbose=verbose)
