"""Score and evaluate the image pairs of an IQA database (what ``skgrad iqa`` runs)."""
import math
import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils.validation import check_is_fitted

from ..datasets import read_image
from ..metrics import iqa_report, psnr
from ._preprocess import _check_rgb_uint8, _single_threaded_blas, one_blas_thread
from ._scoring import distorted_scores, reference_side

__all__ = ["score_pairs", "report_scores"]

#: The scores :func:`score_pairs` computes, in its column order.
SCORES = ("unique", "gradient", "psnr")


def _tasks(pairs, n_workers):
    """``[(reference path, [(pair index, distorted path), ...]), ...]``: the pairs
    grouped by reference in order of first appearance, each group cut into as few
    chunks as keep every worker busy (a chunk computes its reference's side once)."""
    groups = {}
    for i, (reference, distorted) in enumerate(pairs):
        groups.setdefault(reference, []).append((i, distorted))
    if n_workers <= 1:
        return list(groups.items())
    size = max(1, math.ceil(len(pairs) / (2 * n_workers)))
    return [(reference, items[start:start + size])
            for reference, items in groups.items() for start in range(0, len(items), size)]


def _read(path, index, role):
    try:
        return _check_rgb_uint8(read_image(path, mode="RGB"), name=role)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"pair {index + 1} ({role} {path}): {' '.join(str(exc).split())}") from exc


@_single_threaded_blas
def _score_task(reference_path, items, model):
    """``[(pair index, unique, gradient, psnr), ...]`` of the pairs of one reference."""
    reference = _read(reference_path, items[0][0], "reference")
    try:
        side = reference_side(reference, model)
    except ValueError as exc:
        raise ValueError(f"pair {items[0][0] + 1} (reference {reference_path}): "
                         f"{' '.join(str(exc).split())}") from exc
    rows = []
    for index, path in items:
        distorted = _read(path, index, "distorted")
        if distorted.shape != reference.shape:
            raise ValueError(
                f"pair {index + 1} (distorted {path}): reference and distorted must have the "
                f"same shape; got reference {reference.shape} and distorted {distorted.shape}")
        scores = distorted_scores(side, distorted, model)
        rows.append((index, scores["unique"], scores["gradient"], psnr(reference, distorted)))
    return rows


def score_pairs(pairs, model, *, n_jobs=None, verbose=False):
    """UNIQUE, gradient and PSNR scores of (reference, distorted) image files.

    The scores are those of :func:`activation_quality`, :func:`gradient_quality`
    and :func:`skgrad.metrics.psnr` pair by pair, equal to the last bit, for less
    than half their time: what depends on the reference alone -- its
    preprocessing, activations, decoder gradient and the ranks of its features --
    is computed once per reference image, not once per pair (a TID2013 reference
    serves 120 distorted images), and the pairs are scored on ``n_jobs`` cores.
    Each image file is read once, with :func:`skgrad.datasets.read_image` (RGB).

    Parameters
    ----------
    pairs : array-like of shape (n_pairs, 2)
        Paths of the reference and the distorted image of each pair, e.g.
        ``load_tid2013(root).pairs``.  The pairs of one reference need not follow
        one another.
    model : SparsePatchAutoencoder
        Fitted model.
    n_jobs : int or None, default=None
        Worker threads of :mod:`joblib` (``None``: 1 unless in a
        :func:`joblib.parallel_config` context, which may also choose processes;
        ``-1``: all cores).  Each worker scores the pairs of one reference (or a
        share of them) with one BLAS thread.
    verbose : bool, default=False
        Show a progress bar (``tqdm``), advanced as the workers finish their
        shares of the pairs.

    Returns
    -------
    dict
        ``"unique"``, ``"gradient"`` and ``"psnr"`` (dB, ``inf`` for identical
        images): float arrays of shape (n_pairs,), in the order of ``pairs``.

    Raises
    ------
    ValueError
        For ``pairs`` that is not ``(n_pairs, 2)``, an image that cannot be read
        or a pair that cannot be scored; the message names the pair (1-based)
        and the file.

    See Also
    --------
    quality_scores : both scores of one pair of images in memory.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from skgrad.iqa import SparsePatchAutoencoder, score_pairs
    >>> rng = np.random.default_rng(0)
    >>> d = tempfile.mkdtemp()
    >>> ref = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> Image.fromarray(ref).save(os.path.join(d, "r.png"))
    >>> for k in (1, 2):
    ...     Image.fromarray(ref // (k + 1)).save(os.path.join(d, f"d{k}.png"))
    >>> pairs = [[os.path.join(d, "r.png"), os.path.join(d, f"d{k}.png")] for k in (1, 2)]
    >>> model = SparsePatchAutoencoder(n_hidden=8, n_patches=200, max_iter=5, random_state=0).fit([ref])
    >>> scores = score_pairs(pairs, model, n_jobs=2)
    >>> sorted(scores), scores["psnr"].shape
    (['gradient', 'psnr', 'unique'], (2,))
    >>> bool(scores["psnr"][0] > scores["psnr"][1])   # the darker copy is further off
    True
    """
    from tqdm.auto import tqdm

    pairs = np.asarray(pairs, dtype=object)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (n_pairs, 2) of image paths; got shape {pairs.shape}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)):
        raise ValueError(f"n_jobs must be an int or None; got {n_jobs!r}")
    check_is_fitted(model, ("W1_", "b1_", "W2_", "b2_"))
    scores = {name: np.empty(len(pairs)) for name in SCORES}
    if not len(pairs):
        return scores
    tasks = _tasks(pairs.tolist(), effective_n_jobs(n_jobs))
    # threads: NumPy releases the GIL in the heavy steps (sort, BLAS, ufuncs), and
    # worker processes would each spend seconds importing SciPy and scikit-learn;
    # the BLAS limit is held here, around the worker threads (processes set their own)
    with one_blas_thread(), tqdm(total=len(pairs), disable=not verbose, desc="iqa",
                                  unit="pair") as bar:
        results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator_unordered")(
            delayed(_score_task)(reference, items, model) for reference, items in tasks)
        for rows in results:
            for index, *values in rows:
                for name, value in zip(SCORES, values):
                    scores[name][index] = value
            bar.update(len(rows))
    return scores


def report_scores(scores, mos, mos_std=None, *, higher_is_better=True):
    """:func:`skgrad.metrics.iqa_report` of each score against the subjective scores.

    An infinite PSNR (identical images) ranks above every finite one: it is
    replaced by the largest finite value plus 1 (100 if none is finite) for
    the logistic fit, which leaves the rank correlations unchanged.

    Parameters
    ----------
    scores : dict of array-like
        As :func:`score_pairs` returns (any names).
    mos : array-like of shape (n_pairs,)
        Subjective scores.
    mos_std : array-like of shape (n_pairs,), optional
        Their standard deviations (for the outlier ratio).
    higher_is_better : bool, default=True
        False for DMOS.

    Returns
    -------
    dict
        One :func:`~skgrad.metrics.iqa_report` per score name.
    """
    reports = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=float)
        finite = np.isfinite(values)
        if not finite.all():
            values = np.where(finite, values, (values[finite].max() + 1) if finite.any() else 100.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reports[name] = iqa_report(mos, values, mos_std, higher_is_better=higher_is_better)
    return reports
