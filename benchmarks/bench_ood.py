"""Out-of-distribution benchmark on real digits: gradients vs activations (Kwon et al., ICIP 2019).

The paper's protocol, on MNIST-5k (fallback: scikit-learn's digits) at 28x28,
replicated to 3 channels:

1. shuffle; split into an autoencoder split, a classifier split and a test split;
2. fit the "vae" preset (default hyperparameters, fixed random_state) ONCE on the
   clean autoencoder split; every gradient/activation variant uses that module;
3. train StandardScaler + LogisticRegression per variant on the clean classifier
   split (inliers) vs its gaussian_blur level-1 version (the only outliers seen);
4. test on the held-out digits, clean (inliers) vs every OTHER challenge type at
   levels 1-5; types that cannot change a greyscale image are left out (named).

Variants: activations (latent mean), reconstruction-loss gradients (bce on
up.6.weight), KL gradients (kld on down.6.weight), both gradients (the paper's),
reconstruction error (per-sample bce, a 1-D feature), the one-class
GradientOutlierDetector (no outlier examples at all), and PyOD's AutoEncoder on
the flattened pixels when pyod is installed.

Usage: python benchmarks/bench_ood.py [--quick] [--threads N] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer  # noqa: E402
from skgrad.datasets import load_real_digits  # noqa: E402
from skgrad.distortions import CHALLENGES, apply_challenge, changes_greyscale  # noqa: E402
from skgrad.losses import bce  # noqa: E402
from skgrad.metrics import ood_report  # noqa: E402
from skgrad.outlier import GradientOutlierDetector  # noqa: E402

TRAIN_CHALLENGE, TRAIN_LEVEL = "gaussian_blur", 1
LEVELS = (1, 2, 3, 4, 5)
SUPERVISED = ("activations", "grad_bce", "grad_kld", "grad_both", "recon_error")
LABELS = {
    "activations": "activations (latent mean)",
    "grad_bce": "grad. reconstruction (bce, up.6.weight)",
    "grad_kld": "grad. KL (kld, down.6.weight)",
    "grad_both": "both gradients (paper)",
    "recon_error": "reconstruction error (bce)",
    "one_class": "one-class GradientOutlierDetector",
    "pyod_ae": "PyOD AutoEncoder (pixels)",
}
METRICS = ("accuracy", "auroc", "fpr_at_95_tpr")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small splits (a smoke run, well under a minute)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the tiny VAE gains nothing from more, "
                        "and on a loaded machine contending threads slow training ~10x)")
    p.add_argument("--seed", type=int, default=0, help="shuffling, distortions and the autoencoders")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def load_data(quick, seed):
    bunch = load_real_digits()
    rng = np.random.RandomState(seed)
    images = bunch.images[rng.permutation(len(bunch.images))]
    images = np.repeat(images[..., None], 3, axis=-1)  # (n, 28, 28, 3) uint8
    n_ae, n_clf, n_test = (600, 300, 200) if quick else (2500, 1000, 1500)
    if len(images) < n_ae + n_clf + n_test:  # sklearn digits: 1797 images
        n_ae, n_clf = int(0.5 * len(images)), int(0.2 * len(images))
        n_test = len(images) - n_ae - n_clf
    return bunch.source, images[:n_ae], images[n_ae : n_ae + n_clf], images[n_ae + n_clf : n_ae + n_clf + n_test]


def recon_error(module, X, batch_size=256):
    """Per-sample BCE of the autoencoder's reconstruction (a 1-D feature)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            x = torch.from_numpy(X[start : start + batch_size]).permute(0, 3, 1, 2).float() / 255.0
            out.append(bce(module(x)[0], x).numpy())
    return np.concatenate(out)[:, None]


class Extractor:
    """All features from ONE fitted VAE: the variants differ only in which layers they read."""

    def __init__(self, X_ae, seed):
        self.both = GradientFeatureTransformer(random_state=seed, device="cpu").fit(X_ae)
        module = self.both.module_
        # the same trained module, no further training (epochs=0)
        self.act = ActivationFeatureTransformer(module=module, epochs=0, device="cpu").fit(X_ae[:2])
        self.bce = GradientFeatureTransformer(module=module, loss=("bce",), epochs=0, device="cpu").fit(X_ae[:2])
        self.kld = GradientFeatureTransformer(module=module, loss=("kld",), epochs=0, device="cpu").fit(X_ae[:2])
        names = self.both.get_feature_names_out()
        self.bce_cols = np.array([n.startswith("bce:") for n in names])
        self.kld_cols = ~self.bce_cols

    def check_slices(self, X):
        """The separate bce/kld transformers give exactly the columns of the combined one."""
        both = self.both.transform(X)
        np.testing.assert_array_equal(both[:, self.bce_cols], self.bce.transform(X))
        np.testing.assert_array_equal(both[:, self.kld_cols], self.kld.transform(X))
        return list(self.bce.layers_.items()), list(self.kld.layers_.items())

    def __call__(self, X):
        both = self.both.transform(X)
        return {
            "activations": self.act.transform(X),
            "grad_bce": both[:, self.bce_cols],  # == self.bce.transform(X), checked once
            "grad_kld": both[:, self.kld_cols],
            "grad_both": both,
            "recon_error": recon_error(self.both.module_, X),
        }


def make_pyod(seed):
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError as exc:
        return None, f"pyod is not installed ({exc}); pip install pyod to add PyOD's AutoEncoder as a peer"
    try:
        return AutoEncoder(contamination=0.1, random_state=seed, verbose=0), None
    except TypeError:  # older PyOD without these keywords
        return AutoEncoder(contamination=0.1), None


def run(args):
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    source, X_ae, X_clf, X_test = load_data(args.quick, args.seed)
    skipped = [c for c in CHALLENGES if not changes_greyscale(c)]
    challenges = [c for c in CHALLENGES if c != TRAIN_CHALLENGE and c not in skipped]
    print(f"data: {source}, 28x28x3; autoencoder split {len(X_ae)}, classifier split {len(X_clf)}, "
          f"test split {len(X_test)} clean + as many distorted per type and level")
    print(f"train outliers: {TRAIN_CHALLENGE} level {TRAIN_LEVEL}; test types: {', '.join(challenges)}")
    print(f"left out: {', '.join(skipped)} (cannot change a greyscale image); "
          f"{TRAIN_CHALLENGE} (seen in training)")

    t = time.perf_counter()
    ex = Extractor(X_ae, args.seed)
    bce_layers, kld_layers = ex.check_slices(X_clf[:64])
    print(f"VAE fit once ({len(ex.both.history_)} epochs, final loss {ex.both.history_[-1]:.1f}) "
          f"in {time.perf_counter() - t:.1f}s; bce layers {bce_layers}, kld layers {kld_layers}")

    t = time.perf_counter()
    det = GradientOutlierDetector(GradientFeatureTransformer(random_state=args.seed, device="cpu"),
                                  random_state=args.seed).fit(X_ae)
    print(f"one-class detector fit on the same clean split (80% train, 20% held out) in {time.perf_counter() - t:.1f}s")

    pyod, pyod_note = make_pyod(args.seed)
    if pyod is not None:
        t = time.perf_counter()
        pyod.fit(X_ae.reshape(len(X_ae), -1).astype(np.float32) / 255.0)
        print(f"PyOD AutoEncoder fit in {time.perf_counter() - t:.1f}s")
    else:
        print(f"PyOD: skipped: {pyod_note}")

    blurred = apply_challenge(X_clf, TRAIN_CHALLENGE, TRAIN_LEVEL, random_state=args.seed)
    F_in, F_out = ex(X_clf), ex(blurred)
    y_train = np.r_[np.zeros(len(X_clf)), np.ones(len(blurred))]
    clfs = {
        k: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(np.vstack([F_in[k], F_out[k]]), y_train)
        for k in SUPERVISED
    }

    def scores(X):
        """Normality scores (higher = more in-distribution) and each variant's threshold
        (predicted inlier at or above it)."""
        F = ex(X)
        # the log-odds of clean, minus the decision function (class 1 = distorted): inlier at
        # or above 0, i.e. P(clean) >= 0.5; unlike probabilities they do not saturate and tie
        s = {k: (-clfs[k].decision_function(F[k]), 0.0) for k in SUPERVISED}
        s["one_class"] = (det.decision_function(X), 0.0)
        if pyod is not None:  # PyOD's scores rise with outlyingness: negate them
            flat = X.reshape(len(X), -1).astype(np.float32) / 255.0
            s["pyod_ae"] = (-pyod.decision_function(flat), -float(pyod.threshold_))
        return s

    clean = scores(X_test)
    variants = list(clean)
    results = {}  # variant -> challenge -> level -> report
    for ch in challenges:
        for level in LEVELS:
            dist = scores(apply_challenge(X_test, ch, level, random_state=args.seed + 1))
            for k in variants:
                (s0, thr), (s1, _) = clean[k], dist[k]
                y = np.r_[np.zeros(len(s0)), np.ones(len(s1))]
                results.setdefault(k, {}).setdefault(ch, {})[level] = ood_report(y, np.r_[s0, s1], threshold=thr)
        print(f"  {ch} done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    runtime = time.perf_counter() - t_start
    print_tables(results, variants, challenges)
    summary = {k: {m: float(np.mean([r[m] for c in results[k].values() for r in c.values()])) for m in METRICS}
               for k in variants}
    print(f"\nruntime {runtime:.0f}s ({'--quick' if args.quick else 'full'}, torch threads {args.threads})")
    if pyod is None:
        print(f"PyOD AutoEncoder: not run ({pyod_note})")
    check_targets(summary, args.quick)
    if args.json:
        args.json.write_text(json.dumps(dict(source=source, runtime_s=runtime, quick=args.quick,
                                             challenges=challenges, left_out=skipped,
                                             summary=summary, results=results), indent=1))
    return summary


def print_tables(results, variants, challenges):
    short = {"activations": "act", "grad_bce": "g-bce", "grad_kld": "g-kld", "grad_both": "g-both",
             "recon_error": "recon", "one_class": "1-class", "pyod_ae": "pyod"}
    print("\nvariants: " + "; ".join(f"{short[k]} = {LABELS[k]}" for k in variants))
    for metric, title in [("accuracy", "accuracy (%)"), ("auroc", "AUROC (%)"), ("fpr_at_95_tpr", "FPR at 95% TPR (%)")]:
        print(f"\n{title}, mean over levels 1-5 per challenge type")
        print(f"| {'type':14s} | " + " | ".join(f"{short[k]:>7s}" for k in variants) + " |")
        print(f"|{'-' * 16}|" + "|".join("-" * 9 for _ in variants) + "|")
        for ch in challenges + ["MEAN"]:
            cells = []
            for k in variants:
                vals = ([r[metric] for c in results[k].values() for r in c.values()] if ch == "MEAN"
                        else [r[metric] for r in results[k][ch].values()])
                cells.append(f"{100 * np.mean(vals):7.2f}")
            print(f"| {ch:14s} | " + " | ".join(cells) + " |")
    print("\nAUROC (%) per level, mean over types")
    print(f"| {'level':14s} | " + " | ".join(f"{short[k]:>7s}" for k in variants) + " |")
    print(f"|{'-' * 16}|" + "|".join("-" * 9 for _ in variants) + "|")
    for level in LEVELS:
        cells = [f"{100 * np.mean([results[k][c][level]['auroc'] for c in challenges]):7.2f}" for k in variants]
        print(f"| {level:<14d} | " + " | ".join(cells) + " |")


def check_targets(summary, quick):
    both, act, oc = (summary[k]["auroc"] for k in ("grad_both", "activations", "one_class"))
    print(f"\ntargets{' (not meaningful with --quick)' if quick else ''}:")
    print(f"  both gradients mean AUROC {both:.3f} >= 0.92: {'met' if both >= 0.92 else 'MISSED'}")
    print(f"  both gradients - activations {both - act:+.3f} >= 0.05: {'met' if both - act >= 0.05 else 'MISSED'}")
    print(f"  one-class detector mean AUROC {oc:.3f} >= 0.85: {'met' if oc >= 0.85 else 'MISSED'}")


def main(argv=None):
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
