"""One-class out-of-distribution detection from autoencoder weight gradients.

:class:`GradientOutlierDetector` needs clean (in-distribution) samples only: it
trains the autoencoder of a :class:`~skgrad.GradientFeatureTransformer` on part
of them and learns, on a held-out part, what the per-sample gradients of clean
data look like.  A new sample is scored by how far its gradients lie from
those.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._image_stats import IMAGE_STATISTICS
from ._supervised import _take, fit_outlier_classifier, held_out_split
from .transformers import GradientFeatureTransformer

__all__ = ["GradientOutlierDetector", "DEFAULT_LAYERS", "fit_outlier_classifier"]

_METHODS = ("mahalanobis", "cosine")
_STATISTICS = ("norms", "directions", "losses", "image")
#: The default transformer's layers (the "vae" preset's names): the reconstruction
#: loss's gradient of every decoder weight, the KL term's of the last encoder
#: weight.  On real digits the encoder's weights add nothing for 1.5-2x the
#: scoring time (measured: benchmarks/bench_ood.py, docs).
DEFAULT_LAYERS = {"bce": ["fc2.weight", "up.0.weight", "up.2.weight", "up.4.weight", "up.6.weight"],
                  "kld": ["down.6.weight"]}
_EPS = 1e-12


class GradientOutlierDetector(OutlierMixin, BaseEstimator):
    """Unsupervised outlier detector on the per-sample weight gradients of an autoencoder.

    ``fit`` takes clean samples only.  It splits them: the autoencoder of
    ``transformer`` is trained on a ``1 - validation_fraction`` share, and the
    statistics of clean samples are taken on the held-out rest (gradients of
    the very samples the autoencoder was trained on are smaller than those of
    new clean samples, which would bias the statistics).

    Each sample is described by a few numbers, chosen by ``statistics``:

    - ``"norms"``: per gradient block (one per (loss, parameter) pair of the
      transformer), the logarithm of the gradient's L2 norm: how much that
      layer would have to change to represent the sample;
    - ``"directions"``: per block, the cosine similarity of the gradient to the
      mean held-out gradient of that block (in which direction; the idea of
      GradCon, Kwon et al. 2020);
    - ``"losses"``: the logarithm of each per-sample loss of the transformer
      (the reconstruction error and, for a VAE, the KL term), as trained.  A
      binary cross-entropy includes the image's own entropy, which blur and
      darkening raise: on the demo protocol the loss above that floor
      (:func:`skgrad.losses.excess_loss`) scored 0.919 mean AUROC against
      0.942 for the loss as it is (same autoencoder), so the loss is kept whole;
    - ``"image"`` (images only): the logarithms of three numbers of the input
      image itself, no model involved: the mean absolute Laplacian, the
      standard deviation and the mean of its grey levels
      (computed from the same batches as the gradients).  Alone they are a strong
      baseline on digits; they see blur and brightness, which the gradients
      see less well, and the gradients see rain, noise and codec errors, which
      they see less well (demo protocol, seeds 0 and 1: 0.942 and 0.928 mean
      AUROC without them, 0.985 and 0.987 with them, 0.963 and 0.970 for
      them alone).

    The default, norms of the reconstruction-loss gradient of every decoder
    weight and of the KL gradient of the last encoder weight, with the
    losses and, for images, the image statistics, finds distortions the
    paper's two blocks miss (see the measured tables in the OOD guide).

    - ``method="mahalanobis"`` (default): ``score_samples`` is minus the squared
      Mahalanobis distance of these numbers, standardised, to those of the
      held-out samples (Ledoit-Wolf covariance).  The score is two-sided:
      gradients and losses much *smaller* than usual (e.g. for blurred or
      darkened images, which are easier to reconstruct) are outlying too.
    - ``method="cosine"``: ``score_samples`` is the mean over blocks of the
      cosine similarity to the mean held-out gradient (in [-1, 1]);
      ``statistics`` is not used.

    Higher scores mean more normal (the scikit-learn convention);
    ``decision_function`` is ``score_samples - offset_`` and ``predict`` returns
    +1 for inliers and -1 for outliers.

    Parameters
    ----------
    transformer : GradientFeatureTransformer or None, default=None
        The gradient features; ``None`` means the paper's VAE with the
        gradients of every decoder weight for the reconstruction loss and of
        the last encoder weight for the KL term:
        ``GradientFeatureTransformer(layers=DEFAULT_LAYERS)``.
        It is cloned in ``fit``; when its ``random_state`` is None, the clone
        gets a seed drawn from ``random_state``.  Its ``reduction`` must be
        None (the raw gradients).
    statistics : "auto" or tuple of str, default="auto"
        The numbers that describe a sample (``method="mahalanobis"``): any of
        ``"norms"``, ``"directions"``, ``"losses"`` and ``"image"`` (see
        above).  ``"auto"``: ``("norms", "losses", "image")`` for images,
        ``("norms", "losses")`` for rows.
    method : {"mahalanobis", "cosine"}, default="mahalanobis"
        How a sample is compared with clean data (see above).
    validation_fraction : float in [0, 1), default=0.2
        Share of the ``fit`` samples held out from training the autoencoder
        and used for the statistics of clean samples and the threshold.  0
        uses the training samples themselves (biased: they are reconstructed
        better than new clean samples).
    contamination : float in (0, 0.5], default=0.1
        Expected share of outliers; sets the threshold ``offset_``: that share
        of the held-out clean samples is predicted as outliers, so about that
        share of new clean samples will be too.
    random_state : int, RandomState instance or None, default=None
        Seeds the split into training and held-out samples, and the
        transformer when its own ``random_state`` is None.

    Attributes
    ----------
    transformer_ : GradientFeatureTransformer
        The fitted transformer (its ``module_`` is the trained autoencoder).
    blocks_ : list of str
        Names of the gradient blocks, e.g. ``"bce:up.6.weight"``.
    summary_names_ : list of str
        Names of the numbers that describe a sample, e.g.
        ``"norm:bce:up.6.weight"``, ``"direction:kld:down.6.weight"``,
        ``"loss:bce"``.
    mean_gradients_ : list of ndarray
        Mean held-out gradient per block.
    scaler_ : StandardScaler
        Standardises the numbers (``method="mahalanobis"`` only, else None).
    covariance_ : LedoitWolf
        Covariance of the standardised numbers of the held-out samples
        (``method="mahalanobis"`` only, else None).
    validation_indices_ : ndarray of int
        Indices (into the ``fit`` samples) of the held-out samples; all
        indices when ``validation_fraction=0``.
    offset_ : float
        Threshold on ``score_samples``: the ``100 * contamination``
        percentile of the scores of the held-out samples
        (``validation_indices_``).
    n_features_in_ : int
        Values per input sample.
    feature_names_in_ : ndarray of str
        Defined when fitted on a DataFrame.

    See Also
    --------
    skgrad.GradientFeatureTransformer : the gradient features, e.g. for a classifier
        trained with outlier examples.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.outlier import GradientOutlierDetector
    >>> from skgrad.datasets import load_digits_images
    >>> from skgrad import GradientFeatureTransformer
    >>> digits = load_digits_images(size=16).images[:300, :, :, None]
    >>> det = GradientOutlierDetector(
    ...     GradientFeatureTransformer(epochs=2, device="cpu"), random_state=0).fit(digits[:200])
    >>> det.summary_names_
    ['norm:bce:up.6.weight', 'norm:kld:down.6.weight', 'loss:bce', 'loss:kld',
     'image:laplacian', 'image:std', 'image:mean']
    >>> rng = np.random.RandomState(0)
    >>> noisy = np.clip(digits[200:] + rng.normal(0, 60, digits[200:].shape), 0, 255).astype(np.uint8)
    >>> bool(det.score_samples(noisy).mean() < det.score_samples(digits[200:]).mean())
    True
    >>> det.predict(digits[200:205]).shape
    (5,)
    """

    def __init__(
        self,
        transformer=None,
        *,
        statistics="auto",
        method="mahalanobis",
        validation_fraction=0.2,
        contamination=0.1,
        random_state=None,
    ):
        self.transformer = transformer
        self.statistics = statistics
        self.method = method
        self.validation_fraction = validation_fraction
        self.contamination = contamination
        self.random_state = random_state

    # ------------------------------------------------------------------ params
    def _check_params(self):
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        stats = self.statistics
        if isinstance(stats, str) and stats == "auto":
            pass
        elif (isinstance(stats, str) or not isinstance(stats, (tuple, list)) or not stats
                or any(s not in _STATISTICS for s in stats) or len(set(stats)) != len(stats)):
            raise ValueError(
                f"statistics must be 'auto' or a non-empty tuple of distinct names from {_STATISTICS}, got {stats!r}"
            )
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 <= vf < 1.0:
            raise ValueError(f"validation_fraction must be a float in [0, 1), got {vf!r}")
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0.0 < c <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {c!r}")
        if self.transformer is not None and not isinstance(self.transformer, GradientFeatureTransformer):
            raise TypeError(
                "transformer must be a GradientFeatureTransformer or None, "
                f"got {type(self.transformer).__name__}"
            )
        if self.transformer is not None and self.transformer.reduction is not None:
            raise ValueError(
                "the transformer's reduction must be None: the detector needs the raw gradients, "
                f"got reduction={self.transformer.reduction!r}"
            )

    def _statistics(self, transformer=None):
        if self.method == "cosine":
            return ("directions",)
        images = len((transformer or self.transformer_).sample_shape_) == 3
        if isinstance(self.statistics, str):  # "auto"
            return ("norms", "losses", "image") if images else ("norms", "losses")
        if "image" in self.statistics and not images:
            raise ValueError("statistics 'image' needs images (samples of shape (H, W, C)); these are rows")
        return tuple(self.statistics)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Fit the autoencoder and the statistics of clean samples on clean samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W, C), (n_samples, H, W) or (n_samples, n_features)
            Clean (in-distribution) samples, as the transformer takes them.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        rng = check_random_state(self.random_state)
        if self.transformer is None:
            transformer = GradientFeatureTransformer(layers={k: list(v) for k, v in DEFAULT_LAYERS.items()})
        else:
            transformer = clone(self.transformer)
        if transformer.random_state is None:
            transformer.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))

        if scipy.sparse.issparse(X):
            raise TypeError(
                f"{type(self).__name__} does not support sparse input; pass a dense array (X.toarray())"
            )
        if not hasattr(X, "shape") and not hasattr(X, "iloc"):
            X = np.asarray(X)
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if n < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples to fit, got n_samples={n}")
        if self.validation_fraction > 0:
            val_idx, train_idx = held_out_split(n, self.validation_fraction, rng)
        else:
            val_idx = train_idx = np.arange(n)

        transformer.fit(_take(X, train_idx))
        blocks, slices = _blocks(transformer.get_feature_names_out())
        # statistics and threshold from held-out clean samples only: gradients of the
        # samples the autoencoder was trained on are smaller than those of new ones
        stats = self._statistics(transformer)
        G_val, L_val, *I_val = transformer._gradients_and_losses(_take(X, val_idx), image_stats="image" in stats)

        self.transformer_ = transformer
        self.blocks_ = blocks
        self._slices = slices
        self.mean_gradients_ = [G_val[:, s].mean(axis=0) for s in slices]
        self.summary_names_ = self._summary_names()
        self.validation_indices_ = val_idx
        self.scaler_ = self.covariance_ = None
        summary = self._summary(G_val, L_val, *I_val)
        if self.method == "mahalanobis":
            self.scaler_ = StandardScaler().fit(summary)
            self.covariance_ = LedoitWolf().fit(self.scaler_.transform(summary))
        self.n_features_in_ = transformer.n_features_in_
        if hasattr(transformer, "feature_names_in_"):
            self.feature_names_in_ = transformer.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.offset_ = float(np.percentile(self._score_summary(summary), 100.0 * self.contamination))
        return self

    # ----------------------------------------------------------------- scoring
    def _summary_names(self):
        return self._summary_names_for(self.blocks_, self.transformer_)

    def _summary_names_for(self, blocks, transformer):
        names = []
        for stat in self._statistics(transformer):
            if stat == "norms":
                names += [f"norm:{b}" for b in blocks]
            elif stat == "directions":
                names += [f"direction:{b}" for b in blocks]
            elif stat == "image":
                names += [f"image:{name}" for name in IMAGE_STATISTICS]
            else:
                names += [f"loss:{l}" for l in transformer.losses_]
        return names

    def _summary(self, G, losses, image=None):
        """The numbers that describe each sample (columns as ``summary_names_``)."""
        cols = []
        for stat in self._statistics():
            if stat == "norms":
                cols += [np.log(np.linalg.norm(G[:, s], axis=1) + _EPS) for s in self._slices]
            elif stat == "directions":
                for s, m in zip(self._slices, self.mean_gradients_):
                    g = G[:, s]
                    denom = np.linalg.norm(g, axis=1) * np.linalg.norm(m)
                    # einsum, not BLAS: a row's result must not depend on the other rows
                    dot = np.einsum("ij,j->i", g, m)
                    cols.append(np.where(denom > _EPS, dot / np.maximum(denom, _EPS), 0.0))
            elif stat == "image":
                cols += [np.log(image[:, j] + 1e-6) for j in range(image.shape[1])]
            else:
                cols += [np.log(np.maximum(losses[:, j], 0.0) + _EPS) for j in range(losses.shape[1])]
        return np.stack(cols, axis=1)

    def _score_summary(self, summary):
        if self.method == "cosine":
            return summary.mean(axis=1)
        z = self.scaler_.transform(summary) - self.covariance_.location_
        # the squared Mahalanobis distance, as LedoitWolf.mahalanobis, row by row
        return -np.einsum("ij,jk,ik->i", z, self.covariance_.get_precision(), z)

    def score_samples(self, X):
        """Normality score of each sample: the higher, the more normal.

        Parameters
        ----------
        X : array-like
            Samples as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Minus the squared Mahalanobis distance (``method="mahalanobis"``)
            or the mean cosine similarity (``method="cosine"``).
        """
        check_is_fitted(self, "offset_")
        image_stats = "image" in self._statistics()
        return self._score_summary(self._summary(*self.transformer_._gradients_and_losses(X, image_stats=image_stats)))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like
            Samples as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers (``decision_function(X) < 0``).

        Parameters
        ----------
        X : array-like
            Samples as in ``fit``.

        Returns
        -------
        ndarray of int of shape (n_samples,)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    # ------------------------------------------------------------- persistence
    def _restore(self, state):
        """Make a fitted detector from its public fitted attributes (for :func:`skgrad.persistence.load`).

        Checks that they agree with one another and with the fitted transformer,
        and rebuilds the block slices that scoring needs.  Returns ``self``.
        """
        transformer = state["transformer_"]
        if not isinstance(transformer, GradientFeatureTransformer) or transformer.reduction is not None:
            raise ValueError("transformer_ must be a fitted GradientFeatureTransformer with reduction=None")
        blocks, slices = _blocks(transformer.get_feature_names_out())
        if list(state["blocks_"]) != blocks:
            raise ValueError(f"blocks_ {state['blocks_']} are not the transformer's blocks {blocks}")
        means = state["mean_gradients_"]
        if len(means) != len(slices) or any(np.shape(m) != (s.stop - s.start,) for m, s in zip(means, slices)):
            raise ValueError("mean_gradients_ must hold one vector per block, of the block's size")
        for name, kind in (("scaler_", StandardScaler), ("covariance_", EmpiricalCovariance)):
            value = state[name]
            if (value is None) == (self.method == "mahalanobis"):
                raise ValueError(f"{name} must be {'None' if value is not None else 'fitted'} for method={self.method!r}")
            n_summary = len(self._summary_names_for(blocks, transformer))
            if value is not None and (not isinstance(value, kind) or value.n_features_in_ != n_summary):
                raise ValueError(f"{name} must be a {kind.__name__} of the {n_summary} numbers per sample")
        if state["n_features_in_"] != transformer.n_features_in_:
            raise ValueError(f"n_features_in_ must be the transformer's, {transformer.n_features_in_}")
        names = getattr(transformer, "feature_names_in_", None)
        if ("feature_names_in_" in state) != (names is not None) or (
                names is not None and list(state["feature_names_in_"]) != list(names)):
            raise ValueError("feature_names_in_ must be the transformer's")
        if list(state.get("summary_names_", [])) != self._summary_names_for(blocks, transformer):
            raise ValueError(f"summary_names_ must be {self._summary_names_for(blocks, transformer)}")
        missing = [k for k in ("validation_indices_", "offset_") if k not in state]
        if missing:
            raise ValueError(f"the fitted state misses attribute(s) {missing}")
        for key, value in state.items():
            setattr(self, key, value)
        self._slices = slices
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def _blocks(names):
    """Block names and column slices from ``"loss:param[i]"`` feature names (in order)."""
    blocks, slices = [], []
    start = 0
    prefixes = [str(n).rsplit("[", 1)[0] for n in names]
    for i in range(1, len(prefixes) + 1):
        if i == len(prefixes) or prefixes[i] != prefixes[start]:
            blocks.append(prefixes[start])
            slices.append(slice(start, i))
            start = i
    return blocks, slices
