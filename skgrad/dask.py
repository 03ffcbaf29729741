"""Scale-out with dask: lazy transform of dask arrays, and out-of-core feature extraction.

Nothing here is imported by the rest of skgrad unless dask is in use:
``AutoencoderTransformerBase.transform`` imports :func:`dask_transform` only when
``X`` is a dask collection.  ``dask`` (and ``distributed`` for a cluster) must be
installed: ``pip install "skgrad[dask]"``.

How the work is spread
----------------------
* The fitted estimator is shipped to the workers **once**: scattered to every
  worker (``client.scatter(..., broadcast=True)``) when a distributed client is
  in use, else wrapped in a single ``dask.delayed`` node that every block task
  depends on.  It is never embedded in each task.  Unpickling on a worker goes
  through the estimator's ``__setstate__``, so a model fitted on a GPU runs on
  the CPU of a worker without one (with a ``UserWarning`` in that worker's log).
* Each block of samples runs the estimator's own in-memory ``transform`` on the
  worker, so results equal an in-memory ``transform`` of the same samples.
* ``transform`` registers forward hooks on the shared module and is therefore not
  safe to call from several threads at once on one estimator object.  Blocks
  that run concurrently in one process (``threads_per_worker > 1``, or dask's
  default threaded scheduler) each use a private copy of the estimator, made
  once per thread.
* Torch threads: worker *processes* started by a dask nanny get
  ``OMP_NUM_THREADS=1`` (distributed's ``nanny.pre-spawn-environ``), so torch
  uses one intra-op thread per task and a worker uses ``threads_per_worker``
  cores.  To trade task threads for torch threads (e.g. one task thread and
  8 torch threads per worker), call ``client.run(torch.set_num_threads, 8)``.
  See ``docs/scaling.md``.
"""
from __future__ import annotations

import copy
import os
import shutil
import threading
import uuid
import weakref
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["dask_transform", "extract_features", "IMAGE_EXTENSIONS"]

#: File name extensions :func:`extract_features` picks up when given a folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm")


# ------------------------------------------------------------------ helpers
def _is_dask_array(X):
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks") and hasattr(X, "ndim")


def _active_client(client=None):
    """The distributed client dask would compute with now, or ``None``.

    An explicit ``client`` wins; otherwise the scheduler dask would pick
    (``dask.base.get_scheduler``), so that ``dask.config.set(scheduler="threads")``
    is respected even while a client exists.
    """
    if client is not None:
        return client
    from dask.base import get_scheduler

    try:
        scheduler = get_scheduler()
    except Exception:  # e.g. a configured distributed scheduler with no client
        return None
    owner = getattr(scheduler, "__self__", None)
    if owner is not None and type(owner).__module__.startswith("distributed") and type(owner).__name__ == "Client":
        return owner
    return None


def _ship(estimator, client):
    """A reference to the estimator that the graph uses: shipped once, not per task."""
    if client is not None:
        return client.scatter(estimator, broadcast=True, hash=False)
    import dask

    return dask.delayed(estimator, name=f"skgrad-estimator-{uuid.uuid4().hex}", traverse=False)


_registry_lock = threading.Lock()
_owners = weakref.WeakKeyDictionary()  # estimator -> (owner thread id, lock)
_local = threading.local()


def _local_transform(estimator, X):
    """``estimator.transform(X)``, safe when several threads share ``estimator``.

    The first thread to use an estimator object owns it; any other thread works
    on its own deep copy, made once (under the owner's lock, so that no hook of a
    running transform is copied along).
    """
    with _registry_lock:
        entry = _owners.get(estimator)
        if entry is None:
            entry = _owners[estimator] = (threading.get_ident(), threading.Lock())
    owner, lock = entry
    if owner == threading.get_ident():
        with lock:
            return estimator.transform(X)
    copies = _local.__dict__.setdefault("copies", weakref.WeakKeyDictionary())
    private = copies.get(estimator)
    if private is None:
        with lock:
            private = copy.deepcopy(estimator)
        copies[estimator] = private
    return private.transform(X)


def _transform_block(block, estimator, n_features):
    block = np.asarray(block)
    if block.shape[0] == 0:
        return np.empty((0, n_features), dtype=np.float32)
    return _local_transform(estimator, block)


def _check_dask_X(estimator, X):
    """Checks that need no computation; values are checked on the workers."""
    name = type(estimator).__name__
    if X.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name} expects X of shape (n, H, W, C), (n, H, W) or (n, F); got a dask array "
            f"with {X.ndim} dimensions, shape {X.shape}"
        )
    if np.dtype(X.dtype).kind not in "biuf":
        raise TypeError(f"{name} needs numeric images or rows, got a dask array of dtype {X.dtype}")
    expected = tuple(estimator.sample_shape_)
    if X.ndim == 2:
        ok = X.shape[1] == int(np.prod(expected))
        got = (X.shape[1],)
    else:
        got = tuple(X.shape[1:]) + ((1,) if X.ndim == 3 else ())
        ok = got == expected
    if not ok:
        raise ValueError(
            f"X has samples of shape {got}, but {name} was fitted on samples of shape {expected}; "
            "transform needs the same image size and channel count as fit"
        )


def _samples_only(X, chunk_size=None):
    """Rechunk so that only the sample axis is split."""
    spec = {i: -1 for i in range(1, X.ndim)}
    if chunk_size is not None:
        spec[0] = int(chunk_size)
    if any(len(c) > 1 for c in X.chunks[1:]) or chunk_size is not None:
        X = X.rechunk(spec)
    return X


# ---------------------------------------------------------------- transform
def dask_transform(estimator, X, *, client=None):
    """Lazy ``estimator.transform`` of a dask array, block by block on the workers.

    Called by ``estimator.transform(X)`` when ``X`` is a dask array.

    Parameters
    ----------
    estimator : fitted GradientFeatureTransformer or ActivationFeatureTransformer
    X : dask.array.Array of shape (n, H, W, C), (n, H, W) or (n, F)
        As for the in-memory ``transform``.  Only the sample axis may stay
        chunked: the other axes are rechunked to a single chunk.  Values (range,
        finiteness) are checked on the workers, when the result is computed.
    client : distributed.Client, optional
        Defaults to the client dask would use now, if any.  With a client the
        estimator is scattered to every worker once, and the returned array
        holds that future (compute it on the same cluster).  Without one it is a
        single ``dask.delayed`` node of the graph.

    Returns
    -------
    dask.array.Array of float32, shape (n, n_features_out_)
        Chunked like ``X`` along samples, a single chunk along features.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from skgrad import ActivationFeatureTransformer
    >>> X = np.random.RandomState(0).rand(20, 6).astype(np.float32)
    >>> aft = ActivationFeatureTransformer("dense", epochs=1, random_state=0).fit(X)
    >>> Z = aft.transform(da.from_array(X, chunks=(8, 3)))
    >>> Z.chunks
    ((8, 8, 4), (8,))
    >>> np.allclose(Z.compute(), aft.transform(X), rtol=1e-6)
    True
    """
    import dask.array as da
    from dask.base import tokenize

    check_is_fitted(estimator, "module_")
    if not _is_dask_array(X):
        raise TypeError(f"dask_transform takes a dask array, got {type(X).__name__}")
    _check_dask_X(estimator, X)
    X = _samples_only(X)
    n_out = int(estimator.n_features_out_)
    ref = _ship(estimator, _active_client(client))
    return da.map_blocks(
        _transform_block,
        X,
        ref,
        n_out,
        dtype=np.float32,
        chunks=(X.chunks[0], (n_out,)),
        drop_axis=list(range(2, X.ndim)),
        name=f"skgrad-transform-{tokenize(X.name, getattr(ref, 'key', None))}",
        meta=np.empty((0, 0), dtype=np.float32),
    )


# ------------------------------------------------------------------ extract
def _image_mode(sample_shape):
    channels = sample_shape[2]
    if channels == 3:
        return "RGB"
    if channels == 1:
        return "L"
    raise ValueError(f"images are read as RGB or grayscale (L); the estimator takes {channels} channels")


def _read_images(paths, sample_shape, resize):
    from PIL import Image

    height, width, _ = sample_shape
    mode = _image_mode(sample_shape)
    out = np.empty((len(paths), height, width) + ((3,) if mode == "RGB" else ()), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            img = img.convert(mode)
            if img.size != (width, height):
                if not resize:
                    raise ValueError(
                        f"{path}: image of size {img.size[1]}x{img.size[0]} (HxW), but the estimator was "
                        f"fitted on {height}x{width}; pass resize=True to resize"
                    )
                img = img.resize((width, height), resample=Image.Resampling.BILINEAR)
            out[i] = np.asarray(img, dtype=np.uint8)
    return out


def _write_rows(target, fmt, offset, start, n_features, feats):
    feats = np.ascontiguousarray(feats, dtype="<f4")
    if feats.ndim != 2 or feats.shape[1] != n_features:
        raise RuntimeError(f"expected features of shape (n, {n_features}), got {feats.shape}")
    if fmt == "zarr":
        import zarr

        zarr.open_array(target, mode="r+")[start : start + feats.shape[0]] = feats
    else:
        # Exactly this block's bytes (no page write-back of neighbouring rows, which
        # matters on a filesystem shared between hosts).
        with open(target, "r+b") as f:
            f.seek(offset + start * n_features * 4)
            f.write(memoryview(feats).cast("B"))
    return feats.shape[0]


def _extract_paths(estimator, paths, target, fmt, offset, start, n_features, resize):
    images = _read_images(paths, tuple(estimator.sample_shape_), resize)
    return _write_rows(target, fmt, offset, start, n_features, _local_transform(estimator, images))


def _extract_block(estimator, block, target, fmt, offset, start, n_features):
    feats = _transform_block(block, estimator, n_features)
    return _write_rows(target, fmt, offset, start, n_features, feats)


def _list_paths(source):
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder; pass a folder, a list of image paths or a dask array")
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not paths:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
        return [str(p) for p in paths]
    paths = [os.fspath(p) for p in source]
    if not paths:
        raise ValueError("no image paths given")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image path(s) do not exist, e.g. {missing[0]}")
    return paths


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def extract_features(
    estimator,
    paths_or_dask_array,
    out,
    *,
    chunk_size=256,
    client=None,
    resize=True,
    overwrite=False,
):
    """Compute features out of core, writing them chunk by chunk to ``.npy`` or zarr.

    Each task (one chunk of ``chunk_size`` samples) reads its images or block on
    a worker, transforms it there and writes its own rows of the output; only
    row counts travel back.  The main process first creates the output as a
    temporary file beside ``out`` (``<out>.partial-<hex>``) and renames it to
    ``out`` only when every chunk has been written, so a failed or killed run
    never leaves a truncated ``out`` (a killed run may leave the ``.partial-``
    file; a failed one removes it).

    Parameters
    ----------
    estimator : fitted GradientFeatureTransformer or ActivationFeatureTransformer
    paths_or_dask_array : folder, sequence of paths, dask array or ndarray
        A folder: its image files (:data:`IMAGE_EXTENSIONS`, not recursive),
        sorted by name.  Paths: read with Pillow on the workers, converted to
        ``"RGB"`` or ``"L"`` to match the channels of ``sample_shape_`` and, when
        their size differs from the fitted ``(H, W)``, resized with bilinear
        interpolation (Pillow's ``Image.resize``; see ``resize``).  Pixels are
        8-bit (uint8, scaled by 1/255 as in ``transform``).  An array: as for
        ``transform``; it is rechunked to ``chunk_size`` samples per chunk.
    out : str or path-like
        ``*.npy`` (a standard .npy file, float32, shape (n, n_features_out_);
        open it with ``np.load(out, mmap_mode="r")``) or ``*.zarr`` (a zarr
        array chunked by ``chunk_size`` rows; needs ``zarr``).  Its folder must
        be visible to every worker under the same path (a shared filesystem
        for a multi-host cluster).
    chunk_size : int, default=256
        Samples per task (and per zarr chunk), rounded up to a multiple of the
        estimator's ``batch_size`` so that the batches are those of an
        in-memory ``transform``.
    client : distributed.Client, optional
        Defaults to the client dask would use now; without any, dask's local
        threaded scheduler runs the tasks.
    resize : bool, default=True
        Resize images whose size differs from the fitted size (bilinear).  When
        False such an image is an error.  Resizing changes fine detail, which
        gradient features are sensitive to: for quality assessment, prefer
        fitting on the images' own size.
    overwrite : bool, default=False
        Replace an existing ``out`` (else ``FileExistsError``).

    Returns
    -------
    pathlib.Path
        ``out``.

    Examples
    --------
    Starting a cluster is too slow for a doctest; this is what a run looks like:

    >>> from distributed import Client                       # doctest: +SKIP
    >>> client = Client(n_workers=4, threads_per_worker=1)   # doctest: +SKIP
    >>> extract_features(gft, "images/", "features.npy", chunk_size=512)  # doctest: +SKIP
    PosixPath('features.npy')
    >>> np.load("features.npy", mmap_mode="r").shape         # doctest: +SKIP
    (120000, 1872)
    """
    import dask

    check_is_fitted(estimator, "module_")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    bs = int(estimator.batch_size)
    chunk_size = -(-int(chunk_size) // bs) * bs  # whole batches, as skgrad.extract.transform_to_npy
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".zarr"):
        raise ValueError(f"out must end with .npy or .zarr, got {out}")
    fmt = suffix[1:]
    if fmt == "zarr":
        import zarr  # noqa: F401  (fail here, not on the workers)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True to replace it")

    source = paths_or_dask_array
    if isinstance(source, np.ndarray):
        import dask.array as da

        source = da.from_array(source, chunks=(chunk_size,) + source.shape[1:])
    if _is_dask_array(source):
        _check_dask_X(estimator, source)
        X = _samples_only(source, chunk_size)
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        n = int(sum(X.chunks[0]))
        paths = None
    else:
        if len(estimator.sample_shape_) != 3:
            raise ValueError(
                f"{type(estimator).__name__} was fitted on rows of {estimator.sample_shape_[0]} values, "
                "not on images: pass an array, not image paths"
            )
        _image_mode(estimator.sample_shape_)
        paths = _list_paths(source)
        n = len(paths)
    if n == 0:
        raise ValueError("no samples to extract")
    n_features = int(estimator.n_features_out_)

    tmp = str(out.with_name(f"{out.name}.partial-{uuid.uuid4().hex[:12]}"))
    client = _active_client(client)
    futures = None
    try:
        offset = 0
        if fmt == "npy":
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype="<f4", shape=(n, n_features))
            offset = int(mm.offset)
            del mm
        else:
            import zarr

            zarr.open_array(tmp, mode="w", shape=(n, n_features), chunks=(chunk_size, n_features), dtype="<f4")

        ref = _ship(estimator, client)
        if paths is not None:
            starts = range(0, n, chunk_size)
            tasks = [
                dask.delayed(_extract_paths, pure=False)(
                    ref, paths[s : s + chunk_size], tmp, fmt, offset, s, n_features, bool(resize)
                )
                for s in starts
            ]
        else:
            blocks = X.to_delayed(optimize_graph=True).ravel()
            starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
            tasks = [
                dask.delayed(_extract_block, pure=False)(ref, b, tmp, fmt, offset, int(s), n_features)
                for b, s in zip(blocks, starts)
            ]
        if client is not None:
            futures = client.compute(tasks)
            counts = client.gather(futures)
        else:
            counts = dask.compute(*tasks)
        if sum(counts) != n:
            raise RuntimeError(f"wrote {sum(counts)} rows, expected {n}")
        if fmt == "npy":
            with open(tmp, "r+b") as f:
                os.fsync(f.fileno())
        if os.path.exists(out):
            _remove(out)  # overwrite=True; os.replace cannot replace a folder (zarr)
        os.replace(tmp, out)
    except BaseException:
        if futures is not None:
            client.cancel(futures)
        _remove(tmp)
        raise
    return out
