"""Full-reference quality scores: UNIQUE (activations) and Kwon et al. (gradients).

Both scores compare a reference and a distorted uint8 RGB image of the same
shape through the patch autoencoder :class:`SparsePatchAutoencoder`, exactly as
the authors' MATLAB code does (parity with their scores is tested to 1e-8):

* both images -> :func:`skgrad.iqa.prepare_patches` (``imresize`` 0.5, Y-G-Cr,
  8x8 patches, per-image ZCA whitening);
* :func:`activation_features` (UNIQUE, Temel et al. 2016): the hidden
  activations ``sigmoid(W1 x + b1)`` of every patch;
* :func:`gradient_features` (Kwon et al., ICIP 2019): the decoder weight gradient
  ``G`` of the *reference* patches projects both images' patches,
  ``y = G' x``; features are ``|logit(y)|`` and ``angle(logit(y))`` with the complex
  logarithm, with the hidden units whose Y-channel gradient is heavy-tailed
  (kurtosis > 3) weighted 2 (:func:`unit_weights`);
* :func:`pooled_score`: features below 0.025 are zeroed, the score is
  ``|Spearman correlation| ** 10`` (1 = identical quality).

The feature functions return the unthresholded feature vectors so that a learned
model can reuse them.
"""
from collections import namedtuple
from functools import wraps

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._preprocess import _check_rgb_uint8, _single_threaded_blas
from ._scoring import (EXPONENT, THRESHOLD, _both, _executor, _logit_features, _patches,
                       _rank_score, _threshold_ranks, pair_scores, unit_weights, workspaces)

__all__ = ["activation_quality", "gradient_quality", "quality_scores", "activation_features",
           "gradient_features", "unit_weights", "pooled_score", "GradientFeatures"]

GradientFeatures = namedtuple(
    "GradientFeatures", ["reference", "distorted", "unit_weights", "gradient"])
GradientFeatures.__doc__ = """Result of :func:`gradient_features`.

Attributes
----------
reference, distorted : ndarray of shape (2 * n_hidden * n_patches,)
    ``[abs(logit) ; angle(logit)]`` of each image, unit weights applied, each half
    flattened with the hidden unit fastest (MATLAB's ``result(:)``).
unit_weights : ndarray of shape (n_hidden,)
    1 or 2 per hidden unit (see :func:`unit_weights`).
gradient : ndarray of shape (n_features, n_hidden)
    Decoder weight gradient ``G`` of the reference patches.
"""


def _images_by_keyword(func):
    """Make a positional call of ``func`` a clear ``TypeError``.

    The scores compare a distorted image with its reference and are not
    symmetric; a call ``f(a, b, model)`` could mean either order (pyiqa and piq
    take the distorted image first), so every argument is passed by name.
    """
    @wraps(func)
    def wrapper(*args, **kwargs):
        if args:
            raise TypeError(
                f"{func.__name__}() takes its arguments by keyword: {func.__name__}(reference=..., "
                f"distorted=..., model=...); got {len(args)} positional argument(s). The score is not "
                "symmetric, so the two images are named to rule out a silent swap")
        return func(**kwargs)
    return wrapper


def _check_pair(reference, distorted, model):
    reference = _check_rgb_uint8(reference, name="reference")
    distorted = _check_rgb_uint8(distorted, name="distorted")
    if reference.shape != distorted.shape:
        raise ValueError(
            "reference and distorted must have the same shape; got reference "
            f"{reference.shape} and distorted {distorted.shape}")
    check_is_fitted(model, ("W1_", "b1_", "W2_", "b2_"))
    return reference, distorted


def _patch_pair(reference, distorted, model):
    return _both(lambda image: _patches(image, model), reference, distorted)


def _activation_features(ref_patches, dist_patches, model):
    """UNIQUE's features of two images' whitened patches."""
    return model.encode(ref_patches).ravel(), model.encode(dist_patches).ravel()


@_images_by_keyword
@_single_threaded_blas
def activation_features(*, reference, distorted, model):
    """UNIQUE features: hidden activations of every whitened patch.

    Parameters
    ----------
    reference, distorted : ndarray of shape (H, W, 3), dtype uint8
        RGB images of the same shape, by keyword.
    model : SparsePatchAutoencoder
        Fitted model, e.g. ``SparsePatchAutoencoder.from_mat(...)``.

    Returns
    -------
    reference_features, distorted_features : ndarray of shape (n_patches * n_hidden,)
        ``sigmoid(W1 x + b1)`` flattened with the hidden unit fastest
        (unthresholded).

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import SparsePatchAutoencoder, activation_features
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    >>> model = SparsePatchAutoencoder(n_hidden=5, n_patches=200, max_iter=5, random_state=0)
    >>> model = model.fit([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    >>> f_ref, f_dist = activation_features(reference=ref, distorted=ref // 2, model=model)
    >>> f_ref.shape  # 16 x 24 after resizing: 2 x 3 patches, 5 units each
    (30,)
    """
    reference, distorted = _check_pair(reference, distorted, model)
    return _activation_features(*_patch_pair(reference, distorted, model), model)


def _gradient_features(ref_patches, dist_patches, model):
    """The gradient features of two images' whitened patches."""
    gradient = model.decoder_gradient(ref_patches)
    weights = unit_weights(gradient, n_luma=model.patch_size ** 2)
    return GradientFeatures(_logit_features(ref_patches, gradient, weights),
                            _logit_features(dist_patches, gradient, weights),
                            weights, gradient)


@_images_by_keyword
@_single_threaded_blas
def gradient_features(*, reference, distorted, model):
    """Gradient features of Kwon et al. (ICIP 2019) for a reference/distorted pair.

    The decoder weight gradient ``G`` (``n_features x n_hidden``) of the
    reference's whitened patches ``x`` is
    ``(W2 sigmoid(W1 x + b1) + b2 - x) a' / N``.  For each image,
    ``y = G' x`` per patch, ``logit = log(y / (1 - y))`` (complex logarithm) and
    the features are ``[|logit| ; angle(logit)]``, each row scaled by the unit
    weights of :func:`unit_weights` (computed from ``G``).

    Parameters
    ----------
    reference, distorted : ndarray of shape (H, W, 3), dtype uint8
        RGB images of the same shape, by keyword.
    model : SparsePatchAutoencoder
        Fitted model.

    Returns
    -------
    features : GradientFeatures
        Named tuple ``(reference, distorted, unit_weights, gradient)``; the
        feature vectors have ``2 * n_hidden * n_patches`` values (unthresholded).

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import SparsePatchAutoencoder, gradient_features
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    >>> model = SparsePatchAutoencoder(n_hidden=5, n_patches=200, max_iter=5, random_state=0)
    >>> model = model.fit([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    >>> feats = gradient_features(reference=ref, distorted=ref // 2, model=model)
    >>> feats.reference.shape, feats.unit_weights.shape, feats.gradient.shape
    ((60,), (5,), (192, 5))
    """
    reference, distorted = _check_pair(reference, distorted, model)
    return _gradient_features(*_patch_pair(reference, distorted, model), model)


@_single_threaded_blas
def pooled_score(reference_features, distorted_features, threshold=THRESHOLD,
                 exponent=EXPONENT):
    """Pool two feature vectors into a quality score.

    Values below ``threshold`` are set to 0 in both vectors; the score is
    ``|Spearman(reference, distorted)| ** exponent``.

    Parameters
    ----------
    reference_features, distorted_features : array-like of shape (n,)
        Feature vectors of the same length.
    threshold : float, default=0.025
    exponent : float, default=10

    Returns
    -------
    score : float
        In [0, 1]; 1 means the distorted features rank exactly like the
        reference's.  ``nan`` if a thresholded vector is constant.

    Examples
    --------
    >>> from skgrad.iqa import pooled_score
    >>> pooled_score([0.1, 0.5, 0.9, 0.01], [0.2, 0.6, 0.7, 0.0])
    1.0
    >>> round(pooled_score([0.1, 0.5, 0.9, 0.3], [0.9, 0.5, 0.1, 0.2], exponent=1), 3)
    0.8
    """
    ref = np.array(reference_features, dtype=np.float64).ravel()
    dist = np.array(distorted_features, dtype=np.float64).ravel()
    if ref.shape != dist.shape:
        raise ValueError(
            "feature vectors must have the same length; got "
            f"{ref.size} and {dist.size}")
    workspace, partner = workspaces()
    future = _executor().submit(_threshold_ranks, ref, partner, "pooled", threshold)
    other = _threshold_ranks(dist, workspace, "pooled", threshold)
    return _rank_score(future.result(), other, exponent)


@_images_by_keyword
def activation_quality(*, reference, distorted, model):
    """UNIQUE full-reference quality of ``distorted`` given ``reference``.

    :func:`activation_features` pooled by :func:`pooled_score`; reproduces the
    authors' ``mslUNIQUE``.

    Parameters
    ----------
    reference, distorted : ndarray of shape (H, W, 3), dtype uint8
        RGB images of the same shape (at least 16x16 pixels), by keyword.
    model : SparsePatchAutoencoder
        Fitted model; the authors' is ``SparsePatchAutoencoder.from_mat(
        "ImageNet_Weights_YGCr.mat")``.

    Returns
    -------
    score : float
        In [0, 1], higher is better.

    Raises
    ------
    TypeError
        If an image is not a uint8 array, or the arguments are passed by position.
    ValueError
        If an image is not ``(H, W, 3)``, is too small, or the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import SparsePatchAutoencoder, activation_quality
    >>> rng = np.random.default_rng(0)
    >>> model = SparsePatchAutoencoder(n_hidden=20, n_patches=200, max_iter=5, random_state=0)
    >>> model = model.fit([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    >>> ref = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> activation_quality(reference=ref, distorted=ref, model=model)
    1.0
    """
    return _scores(reference, distorted, model, ("unique",))["unique"]


@_images_by_keyword
def gradient_quality(*, reference, distorted, model):
    """Gradient-based full-reference quality (Kwon et al., ICIP 2019).

    :func:`gradient_features` pooled by :func:`pooled_score`; reproduces the
    authors' ``mslGRADIENTS``.

    Parameters
    ----------
    reference, distorted : ndarray of shape (H, W, 3), dtype uint8
        RGB images of the same shape (at least 16x16 pixels), by keyword.
    model : SparsePatchAutoencoder
        Fitted model; the authors' is ``SparsePatchAutoencoder.from_mat(
        "ImageNet_Weights_YGCr.mat")``.

    Returns
    -------
    score : float
        In [0, 1], higher is better.

    Raises
    ------
    TypeError
        If an image is not a uint8 array, or the arguments are passed by position.
    ValueError
        If an image is not ``(H, W, 3)``, is too small, or the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import SparsePatchAutoencoder, gradient_quality
    >>> rng = np.random.default_rng(0)
    >>> model = SparsePatchAutoencoder(n_hidden=20, n_patches=200, max_iter=5, random_state=0)
    >>> model = model.fit([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    >>> ref = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> gradient_quality(reference=ref, distorted=ref, model=model)
    1.0
    """
    return _scores(reference, distorted, model, ("gradient",))["gradient"]


@_images_by_keyword
def quality_scores(*, reference, distorted, model):
    """Both scores of a pair from one preprocessing of each image.

    ``{"unique": activation_quality(...), "gradient": gradient_quality(...)}``
    with the same values, for half the preprocessing time of the two calls.

    Parameters
    ----------
    reference, distorted : ndarray of shape (H, W, 3), dtype uint8
        RGB images of the same shape (at least 16x16 pixels), by keyword.
    model : SparsePatchAutoencoder
        Fitted model.

    Returns
    -------
    scores : dict
        ``"unique"`` (:func:`activation_quality`) and ``"gradient"``
        (:func:`gradient_quality`), floats in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import SparsePatchAutoencoder, quality_scores
    >>> rng = np.random.default_rng(0)
    >>> model = SparsePatchAutoencoder(n_hidden=20, n_patches=200, max_iter=5, random_state=0)
    >>> model = model.fit([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    >>> ref = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> quality_scores(reference=ref, distorted=ref, model=model)
    {'unique': 1.0, 'gradient': 1.0}
    """
    return _scores(reference, distorted, model, ("unique", "gradient"))


@_single_threaded_blas
def _scores(reference, distorted, model, scores):
    """The named scores of one pair: the features' thresholding, ranking and
    pooling of :func:`pooled_score`, the reference's side computed once for both
    scores (:func:`skgrad.iqa._scoring.pair_scores`)."""
    reference, distorted = _check_pair(reference, distorted, model)
    return pair_scores(reference, distorted, model, scores)
