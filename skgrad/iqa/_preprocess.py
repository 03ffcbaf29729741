"""Patch preprocessing of UNIQUE and of the ICIP 2019 gradient metric.

One image goes through, in this order (MATLAB conventions, reproduced exactly):

1. :func:`imresize` by 0.5 (bicubic, antialiased, rounded to uint8);
2. :func:`rgb2ycbcr` (ITU-R BT.601, uint8 in and out), then the Cb channel is
   replaced by the resized image's green channel: channels **Y, G, Cr**
   (:func:`to_ygcr`), then divided by 255;
3. :func:`extract_patches`: non-overlapping ``p x p`` patches on the grid of
   top-left corners ``1, 1 + p, 1 + 2p, ...`` (1-based) that fit in the image,
   rows outer and columns inner, each flattened column-major (row fastest, then
   column, then channel);
4. :func:`zca_whiten`: subtract the mean patch, whiten with this image's own
   covariance ``X' X / N`` and ``U diag(1 / sqrt(s + eps)) U'``, ``eps = 0.1``.

:func:`prepare_patches` chains the four steps.  Patch matrices are
``(n_patches, n_features)`` -- one patch per *row* -- i.e. the transpose of the
MATLAB ``patches`` matrix; flattening a ``(n_patches, k)`` result in C order is
the same as MATLAB's ``result(:)`` on the ``k x n_patches`` matrix.
"""
from contextlib import contextmanager
from functools import lru_cache, wraps
import threading

import numpy as np
from threadpoolctl import ThreadpoolController

from ._imresize import imresize

__all__ = ["rgb2ycbcr", "to_ygcr", "extract_patches", "zca_whiten",
           "prepare_patches"]

#: ITU-R BT.601 luma weights, from which the YCbCr matrix is derived exactly as in
#: Octave's image package (``ycbcrfunc``).
_KB, _KR = 0.114, 0.299
_YCBCR_MATRIX = np.array([
    [_KR, 1 - _KR - _KB, _KB],
    [-(_KR / (2 - 2 * _KB)), -(1 - _KR - _KB) / (2 - 2 * _KB), 0.5],
    [0.5, -(1 - _KR - _KB) / (2 - 2 * _KR), -(_KB / (2 - 2 * _KR))],
])


@lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries of this process, found once.

    ``threadpoolctl.threadpool_limits`` scans every loaded library at each call
    (about 3 ms, three times per scored pair before this cache); the libraries
    that matter here -- NumPy's and SciPy's BLAS -- are loaded before the first call.
    """
    return ThreadpoolController()


_BLAS_LOCK = threading.Lock()
#: Calls of this process inside :func:`one_blas_thread`, in any thread.
_BLAS_DEPTH = [0]


@contextmanager
def one_blas_thread():
    """Run the block with one BLAS/LAPACK thread.

    The matrices here are small (192 x 192 eigendecompositions, 192 x 400
    products): a multi-threaded BLAS gains nothing on them and, on a busy machine,
    its spinning threads make them 10-100x slower; and a multi-threaded dot
    product sums in another order, which would change the scores' last bits.
    scikit-learn limits BLAS the same way (e.g. in KMeans).

    OpenBLAS's thread count is global to the process and, for threadpoolctl, owned
    by the thread that set it.  The first block to enter sets it (in its own
    thread) and restores it when it leaves; blocks entered meanwhile, in any
    thread, run under that limit and leave the setting alone.  The entry points
    hold the block in the caller's thread around all their work, including the
    worker threads' (a pair's second image, the pairs of
    :func:`skgrad.iqa.score_pairs`), so the limit covers it all.
    """
    with _BLAS_LOCK:
        held = _BLAS_DEPTH[0] > 0
        _BLAS_DEPTH[0] += 1
    try:
        if held:
            yield
        else:
            with _blas_controller().limit(limits=1, user_api="blas"):
                yield
    finally:
        with _BLAS_LOCK:
            _BLAS_DEPTH[0] -= 1


def _single_threaded_blas(func):
    """Run ``func`` in :func:`one_blas_thread`."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)
    return wrapper


def _check_rgb_uint8(image, name="image"):
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(
            f"{name} must be a uint8 RGB image array of shape (H, W, 3); got dtype "
            f"{image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{name} must be a uint8 RGB image array of shape (H, W, 3); got shape "
            f"{image.shape}")
    return image


def rgb2ycbcr(image):
    """Convert a uint8 RGB image to uint8 YCbCr (ITU-R BT.601, studio swing).

    Follows the arithmetic of GNU Octave's ``rgb2ycbcr`` (image package 2.14),
    the implementation behind the reference scores: the matrix is derived from
    ``Kb = 0.114, Kr = 0.299``, ``v = rgb / 255 @ M.T``, ``v[1:] += 0.5``,
    ``Y = v0 * 219 / 255 + 16 / 255``, ``C = v * 224 / 255 + 16 / 255``, then
    ``round(255 * .)`` half away from zero.  This agrees with Octave on all 2^24
    colours.  MATLAB's documented formula, ``Y = 16 + (65.481 R + 128.553 G +
    24.966 B) / 255`` etc., uses coefficients rounded to three decimals and differs
    by 1 in some channel for about 1400 colours (0.008 %).

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        RGB image.

    Returns
    -------
    ycbcr : ndarray of shape (H, W, 3), dtype uint8
        Channels Y (16..235), Cb and Cr (16..240).

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import rgb2ycbcr
    >>> rgb2ycbcr(np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8))
    array([[[ 16, 128, 128],
            [235, 128, 128]]], dtype=uint8)
    """
    image = _check_rgb_uint8(image)
    return _ycbcr_channels(image, (0, 1, 2), np.empty(image.shape, np.uint8))


def _ycbcr_channels(image, channels, out):
    """Writes the ``channels`` of :func:`rgb2ycbcr` of a checked image into ``out``
    (``(H, W, 3)`` uint8) and returns it.  ``rgb / 255 @ M.T`` is one BLAS product,
    like Octave's ``in * cmat'`` (the summation order decides a handful of exact ties)."""
    product = (image.reshape(-1, 3) / 255.0) @ _YCBCR_MATRIX.T
    for channel in channels:
        out[..., channel] = _ycbcr_channel(product, channel).reshape(image.shape[:2])
    return out


def _ycbcr_channel(product, channel):
    """Channel 0 (Y), 1 (Cb) or 2 (Cr) of :func:`rgb2ycbcr` from its product, shape
    ``(H * W,)`` uint8: the arithmetic of Octave's, in place on a contiguous copy of
    the column (a column at a time is several times faster than the strided
    ``(H * W, 3)`` array, with the same operations in the same order)."""
    values = product[:, channel].copy()
    if channel == 0:
        values *= 219
    else:
        values += 0.5
        values *= 224
    values /= 255
    values += 16 / 255
    values *= 255
    values += 0.5
    # all values are positive: round half up == MATLAB's round half away
    return np.floor(values, out=values).astype(np.uint8)


def to_ygcr(image):
    """Convert uint8 RGB to the Y, G, Cr colour space of UNIQUE.

    YCbCr as :func:`rgb2ycbcr`, with the Cb channel replaced by the input's green
    channel.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        RGB image.

    Returns
    -------
    ygcr : ndarray of shape (H, W, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import to_ygcr
    >>> to_ygcr(np.array([[[10, 200, 30]]], dtype=np.uint8))
    array([[[122, 200,  57]]], dtype=uint8)
    """
    image = _check_rgb_uint8(image)
    return _ycbcr_channels(image, (0, 2), np.array(image, order="C"))     # G kept as it is


def extract_patches(image, patch_size=8):
    """Cut an image into non-overlapping patches, flattened the MATLAB way.

    Top-left corners are at rows ``0, p, 2p, ...`` (0-based) while a whole patch
    fits, likewise for columns; patches are ordered rows outer, columns inner.
    Each patch is flattened column-major: row index fastest, then column, then
    channel.  (The authors' loop ``i = 1; while i < H - (p - 2) ... i += p``
    visits exactly these corners.)

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Image, any dtype; ``H, W >= patch_size``.
    patch_size : int, default=8
        Side ``p`` of the square patches.

    Returns
    -------
    patches : ndarray of shape ((H // p) * (W // p), p * p * C)
        One patch per row, same dtype as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import extract_patches
    >>> img = np.arange(5 * 4).reshape(5, 4)  # 5 rows, 4 columns
    >>> extract_patches(img, patch_size=2)    # rows 0-1 then 2-3; row 4 unused
    array([[ 0,  4,  1,  5],
           [ 2,  6,  3,  7],
           [ 8, 12,  9, 13],
           [10, 14, 11, 15]])
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W) or (H, W, C); got {image.shape}")
    p = int(patch_size)
    height, width, channels = image.shape
    n_rows, n_cols = height // p, width // p
    if n_rows == 0 or n_cols == 0:
        raise ValueError(
            f"image of shape {image.shape} is smaller than one {p}x{p} patch")
    blocks = image[:n_rows * p, :n_cols * p].reshape(n_rows, p, n_cols, p, channels)
    # (patch row, patch col, channel, column in patch, row in patch): C order then
    # puts the row within the patch fastest -- MATLAB's column-major reshape.
    return blocks.transpose(0, 2, 4, 3, 1).reshape(n_rows * n_cols, p * p * channels)


def zca_whiten(patches, epsilon=0.1):
    """Centre patches and ZCA-whiten them with their own covariance.

    ``X = patches - mean``; ``sigma = X' X / N``; ``sigma = U diag(s) U'``;
    returns ``X U diag(1 / sqrt(s + epsilon)) U'``.

    Parameters
    ----------
    patches : ndarray of shape (n_patches, n_features)
        One patch per row.
    epsilon : float, default=0.1
        Regulariser added to the eigenvalues.

    Returns
    -------
    whitened : ndarray of shape (n_patches, n_features), float64

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import zca_whiten
    >>> x = np.random.default_rng(0).normal(size=(500, 3)) * [1.0, 10.0, 100.0]
    >>> w = zca_whiten(x, epsilon=0.0)
    >>> np.allclose(w.T @ w / len(w), np.eye(3))
    True
    """
    patches = np.asarray(patches, dtype=np.float64)
    centred = patches - patches.mean(axis=0)   # centred once, for sigma and the result
    return centred @ _zca_matrix(centred, epsilon)


def _zca_matrix(centred, epsilon):
    """Symmetric ZCA matrix of centred float64 patches (one per row)."""
    sigma = centred.T @ centred / centred.shape[0]
    eigval, eigvec = np.linalg.eigh(sigma)
    # sigma is positive semi-definite: MATLAB's svd returns |eigenvalues|, and the
    # ZCA matrix does not depend on the basis chosen inside an eigenspace.
    return (eigvec / np.sqrt(np.abs(eigval) + epsilon)) @ eigvec.T


def _zca_transform(patches, epsilon):
    """Mean patch and symmetric ZCA matrix of ``patches`` (float64, one per row)."""
    mean = patches.mean(axis=0)
    return mean, _zca_matrix(patches - mean, epsilon)


@_single_threaded_blas
def prepare_patches(image, patch_size=8, scale=0.5, epsilon=0.1):
    """Whitened Y-G-Cr patches of one uint8 RGB image (steps 1-4 of the module).

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        RGB image; after resizing by ``scale`` it must hold at least one patch.
    patch_size : int, default=8
    scale : float, default=0.5
        Resize factor applied first (MATLAB ``imresize``); 1 skips resizing.
    epsilon : float, default=0.1
        ZCA regulariser.

    Returns
    -------
    patches : ndarray of shape (n_patches, 3 * patch_size ** 2), float64

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import prepare_patches
    >>> img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> prepare_patches(img).shape  # 24 x 32 after resizing: 3 x 4 patches
    (12, 192)
    """
    image = _check_rgb_uint8(image)
    resized = imresize(image, scale) if scale != 1 else image
    if min(resized.shape[:2]) < patch_size:
        raise ValueError(
            f"image of shape {image.shape} is too small: after resizing by {scale} it "
            f"must be at least {patch_size}x{patch_size} pixels (one patch)")
    ygcr = to_ygcr(resized) / 255.0
    return zca_whiten(extract_patches(ygcr, patch_size), epsilon)
