"""Score and evaluate the image pairs of an IQA database (what ``skgrad iqa`` runs)."""
import warnings

import numpy as np

from ..datasets import read_image
from ..metrics import iqa_report, psnr
from .quality import quality_scores

__all__ = ["score_pairs", "report_scores"]

#: The scores :func:`score_pairs` computes, in its column order.
SCORES = ("unique", "gradient", "psnr")


def score_pairs(pairs, model, *, verbose=False):
    """UNIQUE, gradient and PSNR scores of (reference, distorted) image files.

    Each image is read once with :func:`skgrad.datasets.read_image` (RGB; the
    current reference is kept while the pairs that share it follow one
    another, as the database loaders order them) and preprocessed once
    (:func:`quality_scores`).

    Parameters
    ----------
    pairs : array-like of shape (n_pairs, 2)
        Paths of the reference and the distorted image of each pair, e.g.
        ``load_tid2013(root).pairs``.
    model : SparsePatchAutoencoder
        Fitted model.
    verbose : bool, default=False
        Show a progress bar.

    Returns
    -------
    dict
        ``"unique"``, ``"gradient"`` and ``"psnr"`` (dB, ``inf`` for identical
        images): float arrays of shape (n_pairs,).

    Raises
    ------
    ValueError
        For an image that cannot be read or a pair that cannot be scored; the
        message names the pair (1-based) and the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from skgrad.iqa import SparsePatchAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> d = tempfile.mkdtemp()
    >>> ref = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> Image.fromarray(ref).save(os.path.join(d, "r.png"))
    >>> Image.fromarray(ref // 2).save(os.path.join(d, "d.png"))
    >>> model = SparsePatchAutoencoder(n_hidden=8, n_patches=200, max_iter=5, random_state=0).fit([ref])
    >>> scores = score_pairs([[os.path.join(d, "r.png"), os.path.join(d, "d.png")]], model)
    >>> sorted(scores), scores["psnr"].shape
    (['gradient', 'psnr', 'unique'], (1,))
    """
    from tqdm.auto import tqdm

    pairs = np.asarray(pairs, dtype=object).reshape(-1, 2)
    scores = {name: np.empty(len(pairs)) for name in SCORES}
    current = (None, None)
    for i in tqdm(range(len(pairs)), disable=not verbose, desc="iqa", unit="pair"):
        ref_path, dist_path = pairs[i]
        role = "reference"
        try:
            if current[0] != ref_path:
                current = (ref_path, read_image(ref_path, mode="RGB"))
            reference = current[1]
            role = "distorted"
            distorted = read_image(dist_path, mode="RGB")
            both = quality_scores(reference=reference, distorted=distorted, model=model)
        except (ValueError, TypeError, OSError) as exc:
            raise ValueError(f"pair {i + 1} ({role} {ref_path if role == 'reference' else dist_path}): "
                             f"{' '.join(str(exc).split())}") from exc
        scores["unique"][i], scores["gradient"][i] = both["unique"], both["gradient"]
        scores["psnr"][i] = psnr(reference, distorted)
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
