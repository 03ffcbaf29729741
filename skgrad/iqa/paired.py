"""Learned full-reference IQA: fixed-length features of (reference, distorted) pairs.

:class:`PairedGradientTransformer` turns each image pair into a row of
quality-related numbers -- the paper's gradient and UNIQUE activation scores at
several scales, per hidden-unit-group similarities of the gradient features and
statistics of the reference and distorted decoder gradients -- so that a
regressor fitted on subjective scores (e.g. ``StandardScaler() + SVR()``) can
combine them.  Cross-validate such a pipeline by *reference image* (``GroupKFold``
with ``groups`` = reference id): content must never leak across folds.
"""
import hashlib
import numbers
import os

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..datasets import read_image
from ._preprocess import _check_rgb_uint8, _single_threaded_blas, one_blas_thread, prepare_patches
from .autoencoder import SparsePatchAutoencoder
from ..metrics._correlation import pearson, spearman
from .quality import THRESHOLD, _gradient_features, pooled_score, unit_weights

from sklearn.frozen import FrozenEstimator  # scikit-learn >= 1.6, the required version

__all__ = ["PairedGradientTransformer", "DEFAULT_AUTOENCODER"]

#: Settings of the autoencoder fitted by ``PairedGradientTransformer(model=None)``:
#: far smaller and faster (seconds) than UNIQUE's (400 units, 100 000 patches,
#: 400 L-BFGS iterations), which ``SparsePatchAutoencoder()`` keeps as its defaults.
DEFAULT_AUTOENCODER = {"n_hidden": 100, "n_patches": 5000, "max_iter": 100}

_PARTS = ("abs", "angle")
_GROUPS = ("all", "heavy", "light")
_CORRELATIONS = ("spearman", "pearson")
_BASE_NAMES = (
    ["gradient_score", "activation_score", "activation_pearson"]
    + [f"gradient_{part}_{group}_{corr}"
       for part in _PARTS for group in _GROUPS for corr in _CORRELATIONS]
    + ["gradient_cosine", "gradient_log_norm_ratio", "reconstruction_log_ratio",
       "heavy_unit_fraction_change", "unit_weight_agreement"]
)


def _pearson(x, y):
    """Pearson correlation over the entries finite in both vectors (a projection
    of exactly 0 or 1 gives an infinite ``|logit|``); where it is undefined, 1 for
    two equal vectors and 0 otherwise."""
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        x, y = x[finite], y[finite]
    if x.size == 0:
        return 1.0
    rho = pearson(x, y)
    if np.isnan(rho):
        return 1.0 if np.array_equal(x, y) else 0.0
    return rho


def _spearman(x, y):
    """Spearman correlation over the entries that are NaN in neither vector; where
    it is undefined (a constant vector), 1 when both are constant (equal ranks) and
    0 otherwise."""
    keep = ~(np.isnan(x) | np.isnan(y))
    if not keep.all():
        x, y = x[keep], y[keep]
    if x.size == 0:
        return 1.0
    rho = spearman(x, y)
    if np.isnan(rho):
        return 1.0 if (np.all(x == x[0]) and np.all(y == y[0])) else 0.0
    return rho


def _score(reference_features, distorted_features):
    """:func:`pooled_score`, with the degenerate case (a constant thresholded
    vector gives ``nan``) mapped to 1 for equal vectors and 0 otherwise."""
    score = pooled_score(reference_features, distorted_features)
    if np.isnan(score):
        ref = np.where(reference_features < THRESHOLD, 0.0, reference_features)
        dist = np.where(distorted_features < THRESHOLD, 0.0, distorted_features)
        score = 1.0 if np.array_equal(ref, dist) else 0.0
    return float(score)


def _scale_features(ref_patches, dist_patches, model):
    """The ``len(_BASE_NAMES)`` features of one pair at one scale."""
    n_hidden = model.W1_.shape[0]
    # UNIQUE: hidden activations (same computation as activation_features)
    act_ref = model.encode(ref_patches)
    act_dist = model.encode(dist_patches)
    activation_score = _score(act_ref.ravel(), act_dist.ravel())
    act_ref_t = np.where(act_ref < THRESHOLD, 0.0, act_ref).ravel()
    act_dist_t = np.where(act_dist < THRESHOLD, 0.0, act_dist).ravel()
    activation_pearson = _pearson(act_ref_t, act_dist_t)

    # Kwon et al.: reference decoder gradient projects both images
    feat_ref, feat_dist, weights, gradient = _gradient_features(ref_patches, dist_patches, model)
    gradient_score = _score(feat_ref, feat_dist)

    # per part (abs / angle) and unit group (all / heavy-tailed / other) similarity
    feat_ref = np.where(feat_ref < THRESHOLD, 0.0, feat_ref).reshape(2, -1, n_hidden)
    feat_dist = np.where(feat_dist < THRESHOLD, 0.0, feat_dist).reshape(2, -1, n_hidden)
    heavy = weights == 2.0
    similarities = []
    for part in range(2):
        for group in (slice(None), heavy, ~heavy):
            if isinstance(group, np.ndarray) and not group.any():
                group = slice(None)   # empty group: fall back to all units
            x = feat_ref[part][:, group].ravel()
            y = feat_dist[part][:, group].ravel()
            similarities += [_spearman(x, y), _pearson(x, y)]

    # gradient statistics: the distorted image's own decoder gradient
    dist_gradient = model.decoder_gradient(dist_patches)
    norm_ref = np.linalg.norm(gradient)
    norm_dist = np.linalg.norm(dist_gradient)
    if norm_ref > 0 and norm_dist > 0:
        cosine = float(np.sum(gradient * dist_gradient) / (norm_ref * norm_dist))
        log_norm_ratio = float(np.log(norm_dist / norm_ref))
    else:
        cosine = 1.0 if np.array_equal(gradient, dist_gradient) else 0.0
        log_norm_ratio = 0.0
    mse_ref = np.mean((act_ref @ model.W2_.T + model.b2_ - ref_patches) ** 2)
    mse_dist = np.mean((act_dist @ model.W2_.T + model.b2_ - dist_patches) ** 2)
    reconstruction_log_ratio = float(np.log(mse_dist / mse_ref)) if (
        mse_ref > 0 and mse_dist > 0) else 0.0
    dist_weights = unit_weights(dist_gradient, n_luma=model.patch_size ** 2)
    return ([gradient_score, activation_score, activation_pearson] + similarities
            + [cosine, log_norm_ratio, reconstruction_log_ratio,
               float(np.mean(dist_weights == 2.0) - heavy.mean()),
               float(np.mean(dist_weights == weights))])


def _read(item, index, role):
    if isinstance(item, np.ndarray):
        return _check_rgb_uint8(item, name=f"pair {index} {role}")
    return _check_rgb_uint8(read_image(item), name=f"pair {index} {role} ({item})")


def _load_pair(reference, distorted, index):
    reference = _read(reference, index, "reference")
    distorted = _read(distorted, index, "distorted")
    if reference.shape != distorted.shape:
        raise ValueError(
            f"pair {index}: the reference and the distorted image must have the same "
            f"shape; got reference {reference.shape} and distorted {distorted.shape}")
    return reference, distorted


@_single_threaded_blas
def _pair_features(reference, distorted, index, model, scales):
    """Features of pair ``index`` (items are paths or arrays) at every scale."""
    reference, distorted = _load_pair(reference, distorted, index)
    row = []
    for relative in scales:
        scale = model.scale * relative
        try:
            ref_patches = prepare_patches(reference, patch_size=model.patch_size,
                                          scale=scale, epsilon=model.epsilon)
            dist_patches = prepare_patches(distorted, patch_size=model.patch_size,
                                           scale=scale, epsilon=model.epsilon)
        except ValueError as exc:
            raise ValueError(f"pair {index} at relative scale {relative:g}: {exc}") from exc
        row += _scale_features(ref_patches, dist_patches, model)
    return row


def _check_pairs(X):
    """An indexable ``X`` with ``X[i][0]``/``X[i][1]`` the reference/distorted item."""
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 5:
        if X.shape[1] != 2 or X.shape[-1] != 3:
            raise ValueError(
                "X must be an array of shape (n_pairs, 2, H, W, 3) of uint8 "
                f"[reference, distorted] RGB images; got shape {X.shape}")
        if X.dtype != np.uint8:
            raise TypeError(f"X must have dtype uint8; got {X.dtype}")
        if X.shape[0] == 0:
            raise ValueError("X holds no pairs (shape[0] == 0)")
        return X
    if hasattr(X, "to_numpy"):            # pandas DataFrame with two columns
        X = X.to_numpy(dtype=object)
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim != 2:
        raise ValueError(
            "X must be an array of shape (n_pairs, 2, H, W, 3) of uint8 images or of "
            f"shape (n_pairs, 2) of image paths; got shape {X.shape}")
    try:
        rows = list(X)
    except TypeError:
        raise TypeError(
            "X must be an array of shape (n_pairs, 2, H, W, 3) of uint8 images or a "
            f"sequence of (reference, distorted) pairs; got {type(X).__name__}") from None
    if not rows:
        raise ValueError("X holds no pairs")
    pairs = np.empty((len(rows), 2), dtype=object)
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__") or len(row) != 2:
            raise ValueError(
                f"pair {i} must be (reference, distorted) -- two paths or two uint8 "
                f"images; got {row!r:.80}")
        for j in range(2):
            item = row[j]
            if not isinstance(item, (str, os.PathLike, np.ndarray)):
                raise TypeError(
                    f"pair {i} item {j} must be a path or a uint8 image array; got "
                    f"{type(item).__name__}")
            pairs[i, j] = item
    return pairs


def _reference_key(item):
    if isinstance(item, np.ndarray):
        digest = hashlib.blake2b(np.ascontiguousarray(item).tobytes(), digest_size=16)
        return ("array", item.shape, str(item.dtype), digest.hexdigest())
    return ("path", os.path.abspath(os.fspath(item)))


def _is_fitted_autoencoder(model):
    return all(hasattr(model, name) for name in ("W1_", "b1_", "W2_", "b2_"))


class PairedGradientTransformer(TransformerMixin, BaseEstimator):
    """Fixed-length quality features of (reference, distorted) image pairs.

    For each pair and each relative scale ``r`` in ``scales`` (the images are
    resized by ``model.scale * r``: 1/2, 1/4 and 1/8 of the original size with
    the defaults, i.e. 1, 1/2 and 1/4 of the paper's scale), the features are
    (names suffixed ``_s{r}``, e.g. ``gradient_score_s0.5``):

    * ``gradient_score`` -- the gradient score of Kwon et al. (ICIP 2019); at
      ``r = 1`` it equals :func:`skgrad.iqa.gradient_quality`;
    * ``activation_score`` -- UNIQUE's score; at ``r = 1`` it equals
      :func:`skgrad.iqa.activation_quality`;
    * ``activation_pearson`` -- Pearson correlation of the thresholded
      activations;
    * ``gradient_{abs,angle}_{all,heavy,light}_{spearman,pearson}`` -- signed
      Spearman and Pearson correlations between the reference's and the
      distorted image's thresholded gradient features, separately for the modulus
      (``abs``) and the argument (``angle``) of the complex logit, over all
      hidden units, the heavy-tailed units (unit weight 2, see
      :func:`skgrad.iqa.unit_weights`) and the others (weight 1); an empty
      group falls back to all units;
    * ``gradient_cosine`` and ``gradient_log_norm_ratio`` -- cosine similarity
      and log norm ratio (distorted / reference) of the two images' decoder
      weight gradients;
    * ``reconstruction_log_ratio`` -- log ratio of the autoencoder's mean
      reconstruction errors (distorted / reference);
    * ``heavy_unit_fraction_change`` -- share of heavy-tailed units of the
      distorted image's gradient minus that of the reference's;
    * ``unit_weight_agreement`` -- share of hidden units whose kurtosis weight is
      the same from the distorted image's gradient as from the reference's.

    Every feature compares the two images (none describes the content alone,
    which would not generalise to unseen references): an identical pair gets 1
    for every score, correlation, cosine and agreement feature and 0 for the
    log ratios and the change.  Where a correlation is undefined (a
    constant vector) it is 1 for equal vectors and 0 otherwise, so the output is
    always finite.

    Parameters
    ----------
    model : None, SparsePatchAutoencoder, FrozenEstimator or path, default=None
        The patch autoencoder.

        * ``None``: ``fit`` trains ``SparsePatchAutoencoder(**DEFAULT_AUTOENCODER,
          random_state=random_state)`` -- 100 hidden units, 5000 patches, 100
          L-BFGS iterations: seconds, not the minutes of UNIQUE's settings -- on
          the distinct reference images of the training pairs (never on the
          distorted ones).
        * a *fitted* ``SparsePatchAutoencoder`` (e.g.
          ``SparsePatchAutoencoder.from_mat("ImageNet_Weights_YGCr.mat")``):
          used as is, never refitted.  Note that :func:`sklearn.base.clone` (and
          so ``GridSearchCV``/``cross_validate``) returns an *unfitted* copy of a
          fitted model; to keep the weights across cloning pass the ``.mat``
          path or wrap the model in :class:`sklearn.frozen.FrozenEstimator`.
        * an *unfitted* ``SparsePatchAutoencoder``: a clone of it is trained on
          the distinct training references with its own settings (use it to
          choose the autoencoder's size, or to tune it in a grid search as
          ``model__n_hidden``).
        * a ``str`` or path-like: the authors' ``.mat`` weights, loaded with
          :meth:`SparsePatchAutoencoder.from_mat` in ``fit`` (survives cloning).
    scales : tuple of float, default=(1, 0.5, 0.25)
        Relative scales in (0, 4], multiplied by ``model.scale``.  After that resizing
        every image must still hold one 8x8 patch (with the defaults: at least
        64x64 pixels); a few dozen patches per image make the coarse-scale
        features meaningful (512x384 images give 48 at ``r = 0.25``).
    n_jobs : int or None, default=None
        Pairs processed in parallel by :mod:`joblib` in ``transform`` (``None``:
        1 unless in a :func:`joblib.parallel_backend` context; ``-1``: all
        cores).  Each pair uses one BLAS thread.
    random_state : int, RandomState instance or None, default=None
        Seeds the autoencoder trained when ``model=None`` (and an unfitted
        ``model`` whose own ``random_state`` is ``None``).

    Attributes
    ----------
    model_ : SparsePatchAutoencoder
        The fitted autoencoder used by ``transform``.
    n_training_references_ : int
        Number of distinct reference images the autoencoder was trained on (0
        when a fitted model was used as is).
    scales_ : tuple of float
        The validated relative scales.
    n_features_out_ : int
        ``20 * len(scales_)``.

    See Also
    --------
    skgrad.iqa.gradient_quality : the paper's score alone.
    skgrad.iqa.activation_quality : UNIQUE's score alone.

    Notes
    -----
    ``X`` is either a uint8 array of shape ``(n_pairs, 2, H, W, 3)`` holding
    ``[reference, distorted]`` RGB images, or an array-like of shape
    ``(n_pairs, 2)`` whose items are image paths (read one pair at a time with
    :func:`skgrad.datasets.read_image`, so a whole data set never sits in memory)
    or uint8 arrays (then pairs may differ in size).  The two images of a pair
    must have the same shape.

    Reference images repeat across the distorted versions of a database: always
    cross-validate with the reference id as ``groups`` (``GroupKFold``,
    ``GroupShuffleSplit``) so that no content is shared between training and
    test folds; with ``model=None`` the autoencoder is then also trained only on
    each fold's training references.  scikit-learn's ``check_estimator`` does not
    apply (its checks feed 2-D numeric data).

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import PairedGradientTransformer, SparsePatchAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    >>> noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255).astype(np.uint8)
    >>> X = np.stack([np.stack([ref, ref], 1), np.stack([ref, noisy], 1)]).reshape(
    ...     4, 2, 64, 64, 3)
    >>> ae = SparsePatchAutoencoder(n_hidden=8, n_patches=200, max_iter=5)
    >>> pgt = PairedGradientTransformer(model=ae, random_state=0)
    >>> features = pgt.fit_transform(X)
    >>> features.shape, pgt.n_training_references_
    ((4, 60), 2)
    >>> names = list(pgt.get_feature_names_out())
    >>> names[:2], names[-1]
    (['gradient_score_s1', 'activation_score_s1'], 'unit_weight_agreement_s0.25')
    >>> float(features[0, names.index("gradient_score_s1")])  # identical pair
    1.0
    """

    def __init__(self, model=None, scales=(1, 0.5, 0.25), n_jobs=None,
                 random_state=None):
        self.model = model
        self.scales = scales
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_scales(self, given=None):
        given = self.scales if given is None else given
        try:
            scales = tuple(float(s) for s in given)
        except TypeError:
            scales = None
        if (not scales or isinstance(given, str) or any(isinstance(s, bool) for s in given)
                or not all(np.isfinite(s) and 0 < s <= 4 for s in scales)
                or len(set(scales)) != len(scales)):
            raise ValueError(
                "scales must be a non-empty sequence of distinct positive numbers, each at most 4; "
                f"got {given!r}")
        return scales

    def _check_params(self):
        """Validate the parameters; returns the scales as a tuple of floats."""
        scales = self._check_scales()
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool)
                                        or not isinstance(self.n_jobs, numbers.Integral)):
            raise ValueError(f"n_jobs must be an int or None; got {self.n_jobs!r}")
        model = self.model
        if isinstance(model, FrozenEstimator):
            model = model.estimator
        if not (model is None or isinstance(model, (str, os.PathLike, SparsePatchAutoencoder))):
            raise TypeError(
                "model must be None, a SparsePatchAutoencoder (fitted or not), a "
                "FrozenEstimator of one or the path of a .mat weights file; got "
                f"{type(model).__name__}")
        return scales

    def _restore(self, state):
        """Make a fitted transformer from its public fitted attributes (for
        :func:`skgrad.persistence.load`); checks that they agree.  Returns ``self``."""
        model = state["model_"]
        if not isinstance(model, SparsePatchAutoencoder) or not _is_fitted_autoencoder(model):
            raise ValueError("model_ must be a fitted SparsePatchAutoencoder")
        scales = self._check_scales(state["scales_"])
        if state["n_features_out_"] != len(_BASE_NAMES) * len(scales) or "n_training_references_" not in state:
            raise ValueError(f"n_features_out_ must be {len(_BASE_NAMES)} per scale; n_training_references_ is needed")
        for key, value in state.items():
            setattr(self, key, value)
        return self

    def _references(self, X):
        """The distinct reference images of ``X`` (read from disk if needed)."""
        seen = {}
        for i in range(len(X)):
            key = _reference_key(X[i][0])
            if key not in seen:
                seen[key] = i
        return [_read(X[i][0], i, "reference") for i in seen.values()]

    def fit(self, X, y=None):
        """Validate the parameters and obtain the autoencoder.

        Parameters
        ----------
        X : ndarray of shape (n_pairs, 2, H, W, 3) or array-like of shape (n_pairs, 2)
            ``[reference, distorted]`` pairs: uint8 RGB images or image paths.
        y : None or array-like of shape (n_pairs,)
            Ignored (the features are unsupervised).

        Returns
        -------
        self : PairedGradientTransformer
        """
        scales = self._check_params()
        X = _check_pairs(X)
        model = self.model
        n_references = 0
        if isinstance(model, FrozenEstimator):
            model = model.estimator
        if model is None:
            model = SparsePatchAutoencoder(**DEFAULT_AUTOENCODER,
                                           random_state=self.random_state)
        elif isinstance(model, (str, os.PathLike)):
            model = SparsePatchAutoencoder.from_mat(model)
        if not _is_fitted_autoencoder(model):
            model = clone(model)
            if model.random_state is None:
                model.set_params(random_state=self.random_state)
            references = self._references(X)
            # small matrices: one BLAS thread is faster, and much faster on a
            # busy machine (spinning BLAS threads)
            with one_blas_thread():
                model.fit(references)
            n_references = len(references)
        self.model_ = model
        self.n_training_references_ = n_references
        self.scales_ = scales
        self.n_features_out_ = len(_BASE_NAMES) * len(scales)
        return self

    def transform(self, X):
        """Compute the features of each pair.

        Parameters
        ----------
        X : ndarray of shape (n_pairs, 2, H, W, 3) or array-like of shape (n_pairs, 2)
            ``[reference, distorted]`` pairs: uint8 RGB images or image paths.

        Returns
        -------
        features : ndarray of shape (n_pairs, ``n_features_out_``), float64
            Columns named by :meth:`get_feature_names_out`.

        Raises
        ------
        ValueError
            If a pair's images differ in shape (the message gives the pair index
            and both shapes), or an image is too small for the coarsest scale.
        """
        check_is_fitted(self, ("model_", "scales_"))
        X = _check_pairs(X)
        with one_blas_thread():      # also over worker threads, if joblib is told to use them
            rows = Parallel(n_jobs=self.n_jobs)(
                delayed(_pair_features)(X[i][0], X[i][1], i, self.model_, self.scales_)
                for i in range(len(X)))
        return np.asarray(rows, dtype=np.float64).reshape(len(X), self.n_features_out_)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        Parameters
        ----------
        input_features : None
            Ignored (the input is image pairs, not named columns).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``f"{name}_s{r:g}"`` for each relative scale ``r`` and each of the
            20 per-scale features (see the class docstring).
        """
        check_is_fitted(self, "scales_")
        return np.asarray([f"{name}_s{scale:g}" for scale in self.scales_
                           for name in _BASE_NAMES], dtype=object)
