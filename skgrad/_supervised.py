"""The paper's supervised detector on gradient features, and the held-out split of clean samples
that it and :class:`skgrad.outlier.GradientOutlierDetector` share."""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

__all__ = ["held_out_split", "fit_outlier_classifier"]


def held_out_split(n, fraction, rng):
    """``(held_out, rest)``: sorted indices of ``round(fraction * n)`` samples (at
    least 1, at most ``n - 1``) drawn by ``rng.permutation(n)``, and of the others.

    The split of clean samples that keeps the autoencoder's training samples
    apart from those that describe clean data (gradients of the very samples
    the autoencoder was trained on are smaller than those of new ones).
    """
    n_held = min(max(int(round(fraction * n)), 1), n - 1)
    order = rng.permutation(n)
    return np.sort(order[:n_held]), np.sort(order[n_held:])


def fit_outlier_classifier(transformer, X_clean, X_outliers, *, validation_fraction=0.2, random_state=None):
    """The paper's supervised detector: gradient features and a logistic regression.

    The transformer's autoencoder is trained on clean samples only, on
    ``1 - validation_fraction`` of ``X_clean``; a ``StandardScaler +
    LogisticRegression(class_weight="balanced")`` then learns the gradients of
    the held-out clean samples (class 0) against those of the outlier examples
    (class 1).  Holding them out matters: gradients of the very samples the
    autoencoder was trained on are smaller than those of new clean samples.

    Parameters
    ----------
    transformer : GradientFeatureTransformer or FrozenEstimator
        Cloned and fitted on the training part of ``X_clean``; a
        :class:`~sklearn.frozen.FrozenEstimator` of a fitted transformer is
        used as is, and the classifier then learns all of ``X_clean``.
    X_clean, X_outliers : array-like of images or rows
        Clean samples and outlier examples, as the transformer takes them.
    validation_fraction : float in (0, 1), default=0.2
        Share of ``X_clean`` held out from the autoencoder for the classifier.
    random_state : int, RandomState instance or None, default=None
        Seeds the split (the transformer keeps its own ``random_state``).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``FrozenEstimator(fitted transformer), StandardScaler,
        LogisticRegression``, fitted; classes 0 (inlier) and 1 (outlier), so
        ``predict_proba(X)[:, 0]`` is the probability of being an inlier (a
        normality score).

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad import GradientFeatureTransformer
    >>> from skgrad.outlier import fit_outlier_classifier
    >>> rng = np.random.RandomState(0)
    >>> clean = rng.randint(100, 156, (40, 8, 8, 1)).astype(np.uint8)
    >>> noisy = rng.randint(0, 256, (20, 8, 8, 1)).astype(np.uint8)
    >>> clf = fit_outlier_classifier(GradientFeatureTransformer("cae", epochs=2, random_state=0, device="cpu"),
    ...                              clean, noisy, random_state=0)
    >>> clf.predict_proba(noisy[:3]).shape, clf.classes_.tolist()
    ((3, 2), [0.0, 1.0])
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    vf = validation_fraction
    if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf < 1.0:
        raise ValueError(f"validation_fraction must be a float in (0, 1), got {vf!r}")
    X_clean = X_clean if hasattr(X_clean, "shape") else np.asarray(X_clean)
    if isinstance(transformer, FrozenEstimator):
        frozen, X_held = transformer, X_clean
    else:
        if len(X_clean) < 2:
            raise ValueError(f"at least 2 clean samples are needed to split them, got {len(X_clean)}")
        held, rest = held_out_split(len(X_clean), vf, check_random_state(random_state))
        frozen = FrozenEstimator(clone(transformer).fit(_take(X_clean, rest)))
        X_held = _take(X_clean, held)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))
    features = np.vstack([frozen.transform(X_held), frozen.transform(X_outliers)])
    classifier.fit(features, np.r_[np.zeros(len(X_held)), np.ones(len(features) - len(X_held))])
    return make_pipeline(frozen, *classifier.named_steps.values())


def _take(X, idx):
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return X[idx]
