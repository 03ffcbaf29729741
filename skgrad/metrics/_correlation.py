"""The correlations and PSNR that skgrad computes, each written once.

Every part of skgrad that correlates two vectors or compares two images by
PSNR calls these, with one rule each for the cases where the number is
undefined:

* :func:`pearson` and :func:`spearman` return ``nan`` (no warning) when the
  correlation is undefined: fewer than two values, a NaN or infinite value, or
  a constant vector (a vector of equal ranks for Spearman);
* :func:`psnr` returns ``inf`` for identical images (zero error).

Callers that need a finite number decide what ``nan`` or ``inf`` stands for
(e.g. :class:`~skgrad.iqa.PairedGradientTransformer` takes an undefined
correlation as 1 for equal vectors and 0 otherwise).
"""
import numpy as np

from ._ranks import average_ranks_pair

__all__ = ["pearson", "spearman", "psnr"]


def _pair(x, y):
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"the two vectors must have the same length; got {x.size} and {y.size}")
    return x, y


def pearson(x, y):
    """Pearson correlation of two vectors; ``nan`` when it is undefined.

    >>> pearson([1, 2, 3], [2, 4, 7]) > 0.99, pearson([1, 1, 1], [1, 2, 3])
    (True, nan)
    """
    x, y = _pair(x, y)
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")
    xc = x - x.mean()
    yc = y - y.mean()
    denominator = np.sqrt((xc @ xc) * (yc @ yc))
    if not denominator > 0:
        return float("nan")
    return float(np.clip((xc @ yc) / denominator, -1.0, 1.0))


def spearman(x, y):
    """Spearman rank correlation (Pearson of average ranks); ``nan`` when undefined.

    Equal to :func:`scipy.stats.spearmanr` where that is defined; infinite
    values are ranked (they are ordered), NaN gives ``nan``.

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 1000]), spearman([1, 2, 3], [5, 5, 5])
    (1.0, nan)
    """
    x, y = _pair(x, y)
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return pearson(*average_ranks_pair(x, y))


def psnr(reference, distorted, *, data_range=255.0):
    """Peak signal-to-noise ratio of two images, in dB; ``inf`` when they are identical.

    ``10 log10(data_range**2 / MSE)`` over every pixel and channel (the MSE is
    computed in float64).  Symmetric in its two images.

    Parameters
    ----------
    reference, distorted : array-like of the same shape
        The two images, e.g. uint8 ``(H, W, 3)``.
    data_range : float, default=255.0
        The largest possible pixel value minus the smallest (255 for uint8).

    Returns
    -------
    float
        In dB; ``inf`` for identical images.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4, 3), np.uint8)
    >>> round(psnr(a, a + 1), 2), psnr(a, a)
    (48.13, inf)
    """
    reference = np.asarray(reference)
    distorted = np.asarray(distorted)
    if reference.shape != distorted.shape:
        raise ValueError(
            f"the two images must have the same shape; got {reference.shape} and {distorted.shape}")
    mse = np.mean((reference.astype(np.float64) - distorted.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))
