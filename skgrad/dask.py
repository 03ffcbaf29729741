"""Scale-out with dask: lazy transform of dask arrays, and the cluster executor of extraction.

:func:`dask_transform` is what ``estimator.transform(X)`` runs when ``X`` is a
dask array; ``extract_chunks`` runs the chunks of
:func:`skgrad.extract.extract` on a cluster (``extract(..., client=client)``).
Nothing here is imported by the rest of skgrad unless dask is in use.  ``dask``
(and ``distributed`` for a cluster) must be installed: ``pip install
"skgrad[dask]"``.

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
  See the scaling guide.
"""
from __future__ import annotations

import copy
import os
import threading
import uuid
import weakref

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["dask_transform"]


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
    dask.array.Array of float32, shape (n, ``n_features_out_``)
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
def _read_rows(source, start, stop):
    """Rows ``start:stop`` of an extract source, as a numpy array (read on the worker)."""
    return np.asarray(source[start:stop])


def _extract_task(estimator, block, target, fmt, offset, start, n_features):
    from .extract import write_rows

    return write_rows(target, fmt, offset, start, n_features, _transform_block(block, estimator, n_features))


def extract_chunks(estimator, source, starts, chunk, target, fmt, offset, client):
    """The dask executor of :func:`skgrad.extract.extract`: one task per chunk.

    Each task gets its rows of ``source`` on a worker (a slice of a dask array,
    or the lazily read slice of an ``ImageFolderArray``, whose images the worker
    reads from their files), transforms them with the estimator scattered once
    to every worker, and writes them into ``target``.  Yields ``(start, rows)``
    as tasks finish, in any order; on any error or interrupt the tasks not yet
    finished are cancelled.
    """
    import dask
    from distributed import as_completed

    n = int(source.shape[0])
    n_features = int(estimator.n_features_out_)
    ref = _ship(estimator, client)
    if hasattr(source, "paths"):  # an ImageFolderArray: each task gets its own files, read on the worker
        blocks = {s: dask.delayed(_read_rows, pure=True)(
            type(source)(source.paths[s : s + chunk], source.size, source.channels, resize=source.resize), 0, chunk)
            for s in starts}
    else:
        if not _is_dask_array(source):  # an array in memory: shipped chunk by chunk
            import dask.array as da

            source = da.from_array(source, chunks=(chunk,) + tuple(source.shape[1:]))
        _check_dask_X(estimator, source)
        blocks = {s: source[s : min(s + chunk, n)] for s in starts}
    tasks = [dask.delayed(_extract_task, pure=False)(ref, blocks[s], os.fspath(target), fmt, offset, int(s), n_features)
             for s in starts]
    futures = client.compute(tasks)
    start_of = {f.key: s for f, s in zip(futures, starts)}
    try:
        for future in as_completed(futures, loop=client.loop):
            yield start_of[future.key], future.result()
    except BaseException:
        client.cancel(futures)
        raise
