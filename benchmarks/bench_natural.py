"""Natural photos: where the gradients stop working, measured (issue "Natural images").

The protocol: 32x32 crops (64x64 crops downscaled) of the six colour photos that ship
with scikit-image and scikit-learn (:func:`skgrad.datasets.load_sample_photos`).  The
clean crops that fit come from the left three quarters of each photo, the test crops
from the right quarter (content never seen).  Four distortion families written here,
independently of :mod:`skgrad.distortions` (Gaussian blur, additive noise, darkening,
salt-and-pepper), at levels 1, 3 and 5: 12 test sets against the clean test crops.

Rows of the table (mean AUROC over the 12 sets, per seed, then mean +- std):

``detector``
    ``GradientOutlierDetector()`` with its defaults, fitted on the clean crops.
``classifier, gradients`` / ``classifier, activations``
    the classifier route: ``GradientFeatureTransformer()`` fitted on 70% of the
    clean crops; ``StandardScaler + LogisticRegression`` on the other 30% against
    their blur level-1 copies; the activations of the same autoencoder likewise.
``hand baseline``
    three numbers per crop (mean absolute Laplacian, standard deviation and mean of
    the grey levels) and the Mahalanobis distance to the last 20% of the clean crops.

``--decompose`` adds, for seed 0, a two-way analysis of variance of each feature
set on the same test images clean and distorted (level 3): the share of the
(standardised) features' variance that is the image's content (between images),
the distortion (clean against distorted), and their interaction; on the photo
crops and, for comparison, on the MNIST-5k digits of the demo.

Usage::

    python benchmarks/bench_natural.py --seeds 0 1 2 --decompose   # about 15 min on 2 cores
    python benchmarks/bench_natural.py --quick                      # a smoke run, seconds
    python benchmarks/bench_natural.py --levers --seeds 0 1 2       # the levers instead (natural_levers.py)
    python benchmarks/bench_natural.py --levers c --seeds 0         # one lever: a, b or c

``--levers`` replaces the rows above by the levers of ``benchmarks/natural_levers.py``
(a: per-sample normalisation of the gradient, b: scoring patches and pooling, c:
GradCon-style training), one-class,
beside the same hand baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage

LEVELS = (1, 3, 5)


def crops(photo, n, rng, cols, size=32):
    """``n`` random 64x64 crops of ``photo`` between the column fractions ``cols``, downscaled to ``size``."""
    h, w = photo.shape[:2]
    out = []
    for _ in range(n):
        r = rng.randint(0, h - 64)
        c = rng.randint(int(cols[0] * w), int(cols[1] * w) - 64)
        out.append(np.asarray(Image.fromarray(photo[r:r + 64, c:c + 64]).resize((size, size), Image.BICUBIC)))
    return np.stack(out)


def protocol(seed, n_train=3000, n_test=600):
    """(clean crops to fit, clean test crops): the left 3/4 of each photo, then its right 1/4."""
    from skgrad.datasets import load_sample_photos

    rng = np.random.RandomState(seed)
    photos = load_sample_photos()
    per, pt = n_train // len(photos), n_test // len(photos)
    train = np.concatenate([crops(p, per, rng, (0.0, 0.75)) for p in photos])
    test = np.concatenate([crops(p, pt, rng, (0.75, 1.0)) for p in photos])
    return train[rng.permutation(len(train))], test


def _f(X):
    return X.astype(np.float64) / 255


def _u8(X):
    return np.clip(np.round(X * 255), 0, 255).astype(np.uint8)


def _salt_pepper(X, level, rng):
    hit = rng.rand(*X.shape[:3]) < {1: 0.01, 3: 0.03, 5: 0.06}[level]
    value = np.where(rng.rand(*X.shape[:3]) < 0.5, 0, 255).astype(np.uint8)
    return np.where(hit[..., None], value[..., None], X)


DISTORTIONS = {
    "blur": lambda X, level, rng: _u8(np.stack([
        ndimage.gaussian_filter(x, ({1: 0.6, 3: 1.0, 5: 1.6}[level],) * 2 + (0,)) for x in _f(X)])),
    "noise": lambda X, level, rng: _u8(_f(X) + rng.normal(0, {1: 4, 3: 10, 5: 20}[level] / 255, X.shape)),
    "darkening": lambda X, level, rng: _u8(_f(X) * {1: 0.85, 3: 0.6, 5: 0.35}[level]),
    "salt_pepper": _salt_pepper,
}


def hand(X):
    """The baseline's three numbers per image: mean |Laplacian|, std and mean of the grey levels."""
    g = _f(X).mean(-1)
    lap = np.abs(np.stack([ndimage.laplace(x) for x in g])).mean((1, 2))
    return np.stack([lap, g.std((1, 2)), g.mean((1, 2))], 1)


def mahalanobis_score(F_clean):
    """A normality score (higher = more normal) from clean feature rows."""
    from sklearn.covariance import LedoitWolf
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(F_clean)
    cov = LedoitWolf().fit(scaler.transform(F_clean))
    return lambda F: -cov.mahalanobis(scaler.transform(F))


def evaluate(score, X_test, seed):
    """{family+level: AUROC} of clean ``X_test`` against each distorted copy (``score``: higher = more normal)."""
    from sklearn.metrics import roc_auc_score

    clean = score(X_test)
    out = {}
    for name, distort in DISTORTIONS.items():
        for level in LEVELS:
            s = score(distort(X_test, level, np.random.RandomState(seed + level)))
            y = np.r_[np.ones(len(clean)), np.zeros(len(s))]
            out[f"{name}{level}"] = float(roc_auc_score(y, np.r_[clean, s]))
    return out


def decomposition(F_clean, F_distorted):
    """Shares of content, distortion and interaction in the sums of squares of a two-way
    (image x condition) layout, per feature standardised on the clean images, summed over features."""
    sd = F_clean.std(0)
    keep = sd > 0
    mean = F_clean[:, keep].mean(0)
    Y = np.stack([(F_clean[:, keep] - mean) / sd[keep], (F_distorted[:, keep] - mean) / sd[keep]], 1)
    grand, image, condition = Y.mean((0, 1)), Y.mean(1), Y.mean(0)
    ss_image = 2 * ((image - grand) ** 2).sum()
    ss_condition = Y.shape[0] * ((condition - grand) ** 2).sum()
    ss_total = ((Y - grand) ** 2).sum()
    return {"content": float(ss_image / ss_total), "distortion": float(ss_condition / ss_total),
            "interaction": float((ss_total - ss_image - ss_condition) / ss_total)}


def run_seed(seed, n_train, n_test, epochs):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
    from skgrad.outlier import GradientOutlierDetector

    kw = {} if epochs is None else {"epochs": epochs}
    train, test = protocol(seed, n_train, n_test)
    n = len(train)
    rows = {"hand baseline": evaluate(
        lambda X, s=mahalanobis_score(hand(train[int(0.8 * n):])): s(hand(X)), test, seed)}
    detector = GradientOutlierDetector(random_state=seed, **({} if epochs is None else {
        "transformer": GradientFeatureTransformer(epochs=epochs)})).fit(train)
    rows["detector"] = evaluate(detector.score_samples, test, seed)
    ae, clf_part = train[: int(0.7 * n)], train[int(0.7 * n):]
    grad = GradientFeatureTransformer(random_state=seed, **kw).fit(ae)
    act = ActivationFeatureTransformer(grad.module_, epochs=0).fit(ae[:2])  # the same autoencoder
    blurred = DISTORTIONS["blur"](clf_part, 1, np.random.RandomState(0))
    y = np.r_[np.zeros(len(clf_part)), np.ones(len(blurred))]
    for name, t in (("classifier, gradients", grad), ("classifier, activations", act)):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        clf.fit(np.vstack([t.transform(clf_part), t.transform(blurred)]), y)
        rows[name] = evaluate(lambda X, t=t, clf=clf: -clf.decision_function(t.transform(X)), test, seed)
    return rows, (grad, act, test)


def _decomposition_rows(images_name, X, grad, act):
    """Rows of the decomposition table for clean images ``X`` and their level-3 copies."""
    is_bce = np.char.startswith(grad.get_feature_names_out().astype(str), "bce:")
    rows = []
    for name, distort in DISTORTIONS.items():
        if name == "salt_pepper":
            continue
        X_d = distort(X, 3, np.random.RandomState(1))
        G, G_d = grad.transform(X), grad.transform(X_d)  # once per condition, split by block
        sets = {"gradients, reconstruction block": (G[:, is_bce], G_d[:, is_bce]),
                "gradients, KL block": (G[:, ~is_bce], G_d[:, ~is_bce]),
                "activations": (act.transform(X), act.transform(X_d)), "hand baseline": (hand(X), hand(X_d))}
        for fname, (F, F_d) in sets.items():
            rows.append({"images": images_name, "challenge": f"{name} 3", "features": fname,
                         **decomposition(F, F_d)})
    return rows


def decompose(grad, act, photo_test, seed, epochs, n_digits):
    """The decomposition table on the photo crops and on the demo's digits."""
    from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
    from skgrad.demo import ood_split

    split = ood_split(seed, n_autoencoder=2000, n_classifier=10, n_test=n_digits, levels=(3,))
    g = GradientFeatureTransformer(random_state=seed, **({} if epochs is None else {"epochs": epochs})).fit(split.X_ae)
    a = ActivationFeatureTransformer(g.module_, epochs=0).fit(split.X_ae[:2])
    return (_decomposition_rows("photo crops", photo_test, grad, act)
            + _decomposition_rows("digits", split.X_test[:n_digits], g, a))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--decompose", action="store_true", help="add the variance decomposition (seed of the first run)")
    p.add_argument("--levers", nargs="*", choices=["a", "b", "c"], default=None,
                   help="the levers of natural_levers.py instead of the routes: a (normalisation), "
                        "b (patches), c (GradCon training); none named: all three")
    p.add_argument("--quick", action="store_true", help="a smoke run: 300 crops, 2 epochs, one seed")
    p.add_argument("--json", default=None, help="also write every number to this file")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    n_train, n_test, epochs, seeds, n_digits = 3000, 600, None, args.seeds, 600
    if args.quick:
        n_train, n_test, epochs, seeds, n_digits = 300, 120, 2, seeds[:1], 60
    t0 = time.perf_counter()
    per_seed, record = {}, {"seeds": seeds, "runs": {}}
    if args.levers is not None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from natural_levers import LEVERS, run_levers

        # this script's protocol and scores, handed over (natural_levers does not import this script)
        bench = argparse.Namespace(protocol=protocol, evaluate=evaluate, hand=hand,
                                   mahalanobis_score=mahalanobis_score)
    for seed in seeds:
        if args.levers is not None:
            rows, models = run_levers(bench, seed, n_train, n_test, epochs, args.quick,
                                      args.levers or LEVERS), None
        else:
            rows, models = run_seed(seed, n_train, n_test, epochs)
        record["runs"][seed] = rows
        for name, aucs in rows.items():
            per_seed.setdefault(name, []).append(float(np.mean(list(aucs.values()))))
        if args.decompose and models is not None and seed == seeds[0]:
            record["decomposition"] = decompose(*models, seed, epochs, n_digits)
    print(f"photo crops, 32x32; {n_train} clean to fit, {n_test} clean against 12 distorted sets; seeds {seeds}\n")
    width = max(26, *map(len, per_seed))
    print(f"{'method':{width}s} {'mean AUROC':>12s}   per seed")
    for name, means in per_seed.items():
        print(f"{name:{width}s} {np.mean(means):6.3f} +- {np.std(means):.3f}   "
              + " / ".join(f"{m:.3f}" for m in means))
    if "decomposition" in record:
        print(f"\nshare of the standardised features' variance (seed {seeds[0]}, level 3)")
        print(f"{'images':12s} {'challenge':12s} {'features':34s} {'content':>8s} {'distortion':>11s} {'interaction':>12s}")
        for r in record["decomposition"]:
            print(f"{r['images']:12s} {r['challenge']:12s} {r['features']:34s} {r['content']:8.3f} "
                  f"{r['distortion']:11.3f} {r['interaction']:12.3f}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
