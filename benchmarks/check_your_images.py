"""Does skgrad work on YOUR images?  One-class detection against a 3-number hand baseline.

Fits :class:`skgrad.outlier.GradientOutlierDetector` (defaults) on part of the clean
images of a folder, distorts the held-out rest with CURE-TSR challenge types at
levels 1, 3 and 5, and prints the AUROC of telling clean from distorted, side by
side with a baseline that needs no training at all: three numbers per image (mean
absolute Laplacian, standard deviation and mean of the grey levels) and the
Mahalanobis distance to the clean images.  If the baseline wins on your data, the
gradients carry little there that simple statistics do not (see "When does this
work?" in the OOD guide), and a detector of your own making may serve you better.

Without ``--folder`` it runs on the built-in handwritten digits, where skgrad wins.

Usage::

    python benchmarks/check_your_images.py --folder my_photos/ [--size 32] [--n 1500]
    python benchmarks/check_your_images.py            # the built-in digits

A fixed seed; run with a few ``--seed`` values before drawing conclusions.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

CHECKS = ("gaussian_blur", "noise", "darkening", "codec_error", "rain")


def hand_features(X, batch_size=1024):
    """Mean |Laplacian|, std and mean of the grey levels: the baseline's 3 numbers per image
    (the detector's own :func:`skgrad._image_stats.image_statistics`, without a model)."""
    import torch

    from skgrad._image_stats import image_statistics

    X = np.asarray(X)
    if X.ndim == 3:
        X = X[..., None]
    return np.concatenate([
        image_statistics(torch.from_numpy(X[i:i + batch_size]).permute(0, 3, 1, 2).double() / 255).numpy()
        for i in range(0, len(X), batch_size)])


def hand_detector(X_clean):
    """A normality score from the hand features of clean images (higher = more normal)."""
    from sklearn.covariance import LedoitWolf
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(hand_features(X_clean))
    cov = LedoitWolf().fit(scaler.transform(hand_features(X_clean)))
    return lambda X: -cov.mahalanobis(scaler.transform(hand_features(X)))


def load(folder, size, n, seed):
    """Up to ``n`` images: of a folder (read and resized by skgrad), or the built-in digits."""
    rng = np.random.RandomState(seed)
    if folder is None:
        from skgrad.datasets import load_digits_images

        X = np.repeat(load_digits_images(size=size).images[..., None], 3, axis=-1)
        return X[rng.permutation(len(X))[:n]]
    from skgrad.datasets import ImageFolderArray, load_image_folder

    paths = load_image_folder(folder).paths
    pick = np.sort(rng.permutation(len(paths))[:n])
    return ImageFolderArray([paths[i] for i in pick], (size, size))[:][rng.permutation(len(pick))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default=None, help="a folder of clean images (default: the built-in digits)")
    p.add_argument("--size", type=int, default=32, help="images are resized to size x size (default 32)")
    p.add_argument("--n", type=int, default=1500, help="images to use at most (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="most training epochs (default: the estimator's)")
    args = p.parse_args(argv)

    from skgrad import GradientFeatureTransformer
    from skgrad.distortions import apply_challenge
    from skgrad.metrics import auroc
    from skgrad.outlier import GradientOutlierDetector

    X = load(args.folder, args.size, args.n, args.seed)
    if len(X) < 100:
        p.error(f"{len(X)} images: at least 100 are needed (2/3 to fit, 1/3 to test)")
    n_fit = 2 * len(X) // 3
    X_fit, X_test = X[:n_fit], X[n_fit:]
    print(f"{len(X_fit)} clean images to fit, {len(X_test)} to test, {args.size}x{args.size}")

    kw = {} if args.epochs is None else {"transformer": GradientFeatureTransformer(epochs=args.epochs)}
    detector = GradientOutlierDetector(random_state=args.seed, **kw).fit(X_fit)
    baseline = hand_detector(X_fit)
    rows = []
    for challenge in CHECKS:
        for level in (1, 3, 5):
            outliers = apply_challenge(X_test, challenge, level, random_state=args.seed + level)
            X_eval = np.concatenate([X_test, outliers])
            y = np.r_[np.zeros(len(X_test)), np.ones(len(outliers))]
            rows.append((f"{challenge} {level}", auroc(y, detector.score_samples(X_eval)), auroc(y, baseline(X_eval))))
    print(f"\n{'distortion':18s} {'skgrad':>8s} {'baseline':>9s}")
    for name, a, b in rows:
        print(f"{name:18s} {a:8.3f} {b:9.3f}")
    mean_a, mean_b = np.mean([r[1] for r in rows]), np.mean([r[2] for r in rows])
    print(f"{'mean':18s} {mean_a:8.3f} {mean_b:9.3f}")
    verdict = ("skgrad finds these distortions better than the hand baseline"
               if mean_a > mean_b + 0.02 else
               "skgrad does NOT beat three hand-made numbers on these images (see 'When does this work?')")
    print("\n" + verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
