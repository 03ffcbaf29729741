"""Out-of-distribution benchmark on real digits: gradients vs activations (Kwon et al., ICIP 2019),
over several seeds and two protocols, with the old and the new training defaults side by side.

Protocols (``benchmarks/ood_protocols.py``): ``demo``, the protocol of ``skgrad
demo`` (defaults may be chosen on it), and ``holdout``, a second protocol with
another split, another training outlier and other distortions, written before
any tuning and never used to choose a default.

Per protocol, seed and training setting, ONE "vae" is fitted on the clean
autoencoder split; every classifier variant reads that module:

- ``grad_both``: the paper's features (BCE gradient of up.6.weight and KL
  gradient of down.6.weight), ``grad_bce`` and ``grad_kld`` their halves;
- ``activations``: the latent mean of the same network;
- ``recon_error``: the per-image BCE (one number);
- ``hand_clf``: no autoencoder, the 3 hand-made numbers of ``hand_stats`` (below)
  through the same classifier: what the protocol allows any classifier trained on
  its one outlier type (a type that moves images the other way, e.g. exposure's
  sharper strokes against blur, scores below 0.5 for every such classifier);

each with ``StandardScaler + LogisticRegression`` trained on clean vs the
protocol's single training outlier type, and scored by AUROC (mean over the
protocol's unseen test sets).  One-class detectors (no outlier examples) run
with ``--one-class``: skgrad's ``GradientOutlierDetector``, scikit-learn's
``IsolationForest`` on pixels, and PyOD's ``AutoEncoder`` when pyod is installed.

Settings: ``new`` = the estimators' defaults (early stopping); ``old`` = the
previous defaults (``epochs=10, learning_rate=1e-3``, no early stopping).

Usage::

    python benchmarks/bench_ood.py                       # both protocols, seeds 0-4, both settings
    python benchmarks/bench_ood.py --protocol demo --seeds 0 1 --settings new --one-class
    python benchmarks/bench_ood.py --quick               # a smoke run (small splits, 1 seed)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import ood_protocols  # noqa: E402
from check_your_images import hand_features  # noqa: E402
from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer  # noqa: E402
from skgrad.losses import bce, split_output  # noqa: E402

SETTINGS = {
    "new": {},
    "old": {"epochs": 10, "learning_rate": 1e-3, "early_stopping": False},
}
CLASSIFIER_VARIANTS = ("grad_both", "grad_bce", "grad_kld", "activations", "recon_error", "hand_clf")
LABELS = {
    "grad_both": "both gradients (paper)",
    "grad_bce": "grad. reconstruction (bce, up.6.weight)",
    "grad_kld": "grad. KL (kld, down.6.weight)",
    "activations": "activations (latent mean)",
    "recon_error": "reconstruction error (bce)",
    "hand_clf": "3 hand-made numbers per image through the same classifier (no autoencoder)",
    "one_class": "one-class GradientOutlierDetector (defaults)",
    "one_class_old": "one-class, former defaults (2 blocks, norms+directions, 10 epochs)",
    "act_mahalanobis": "one-class on activations (Mahalanobis of the latent mean)",
    "recon_one_class": "one-class reconstruction error (bce)",
    "iforest": "IsolationForest on pixels",
    "pyod_ae": "PyOD AutoEncoder on pixels",
    "hand_stats": "3 hand-made numbers per image (|Laplacian|, std, mean), Mahalanobis; no training",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", nargs="+", choices=sorted(ood_protocols.PROTOCOLS), default=["demo", "holdout"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--settings", nargs="+", choices=sorted(SETTINGS) + ["none"], default=["new", "old"],
                   help="training settings of the classifier variants (none: only --one-class)")
    p.add_argument("--one-class", action="store_true", help="also the one-class detectors (new setting only)")
    p.add_argument("--quick", action="store_true", help="small splits and one seed: a smoke run, not a result")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the tiny VAE gains nothing "
                   "from more, and on a busy machine contending threads slow it down many times)")
    p.add_argument("--json", type=Path, default=None, help="write every number to this file")
    return p.parse_args(argv)


def recon_error(est, X):
    """Per-sample BCE of the trained VAE's reconstruction (eval mode: the latent mean)."""
    out = []
    with torch.no_grad():
        for s in range(0, len(X), 256):
            x = torch.from_numpy(X[s : s + 256]).permute(0, 3, 1, 2).float() / 255.0
            out.append(bce(split_output(est.module_(x))[0], x).numpy())
    return np.concatenate(out)[:, None]


def extractors(gft):
    """Every classifier variant, from the one fitted VAE of ``gft``."""
    act = ActivationFeatureTransformer.from_fitted(gft)
    bce_cols = np.array([n.startswith("bce:") for n in gft.get_feature_names_out()])
    cache = {}

    def grads(X):  # one transform per array (the protocol's arrays live on), sliced for the halves
        if id(X) not in cache:
            cache[id(X)] = gft.transform(X)
        return cache[id(X)]

    return {
        "grad_both": grads,
        "grad_bce": lambda X: grads(X)[:, bce_cols],
        "grad_kld": lambda X: grads(X)[:, ~bce_cols],
        "activations": act.transform,
        "recon_error": lambda X: recon_error(gft, X),
        "hand_clf": hand_features,
    }


def one_class_scorers(protocol, seed):
    """Fitted one-class detectors (clean images only) as normality scorers, with their fit times."""
    from sklearn.covariance import LedoitWolf
    from sklearn.ensemble import IsolationForest
    from sklearn.preprocessing import StandardScaler

    from skgrad.outlier import GradientOutlierDetector

    flat = lambda X: X.reshape(len(X), -1).astype(np.float32) / 255.0  # noqa: E731
    found, notes, fit_s = {}, [], {}

    def timed(name, fit):
        t = time.perf_counter()
        found[name] = fit()
        fit_s[name] = time.perf_counter() - t

    det = None

    def new():
        nonlocal det
        det = GradientOutlierDetector(random_state=seed).fit(protocol.X_ae)
        return det.score_samples

    def old():  # the default at the start of this round: two blocks, norms and directions, 10 epochs
        old_det = GradientOutlierDetector(
            GradientFeatureTransformer(device="cpu", **SETTINGS["old"]), statistics=("norms", "directions"),
            random_state=seed).fit(protocol.X_ae)
        return old_det.score_samples

    def activations():  # the activation counterpart: Mahalanobis of the latent means, same split
        X_fit = protocol.X_ae[np.setdiff1d(np.arange(len(protocol.X_ae)), det.validation_indices_)]
        aft = ActivationFeatureTransformer(random_state=seed, device="cpu").fit(X_fit)
        A = aft.transform(protocol.X_ae[det.validation_indices_])
        sc = StandardScaler().fit(A)
        cov = LedoitWolf().fit(sc.transform(A))
        return lambda X: -cov.mahalanobis(sc.transform(aft.transform(X)))

    def recon():  # the reconstruction error of the detector's own autoencoder (one-sided)
        j = list(det.transformer_.losses_).index("bce")
        return lambda X: -det.transformer_.per_sample_losses(X)[:, j]

    def forest():
        model = IsolationForest(random_state=seed).fit(flat(protocol.X_ae))
        return lambda X: model.score_samples(flat(X))

    def hand():  # no training: 3 numbers per image (check_your_images.hand_features), Mahalanobis
        from check_your_images import hand_detector

        return hand_detector(protocol.X_ae)

    timed("one_class", new)
    timed("one_class_old", old)
    timed("act_mahalanobis", activations)
    timed("recon_one_class", recon)
    timed("iforest", forest)
    timed("hand_stats", hand)
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError as exc:
        notes.append(f"PyOD AutoEncoder not run: {exc}")
    else:
        def pyod_ae():
            ae = AutoEncoder(contamination=0.1, random_state=seed, verbose=0).fit(flat(protocol.X_ae))
            return lambda X: -ae.decision_function(flat(X))  # PyOD: higher = more outlying

        timed("pyod_ae", pyod_ae)
    return found, notes, fit_s


def run(args):
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", category=UserWarning)
    seeds = args.seeds[:1] if args.quick else args.seeds
    sizes = dict(n_ae=400, n_clf=200, n_test=200) if args.quick else {}
    runs = []  # one record per (protocol, seed, variant, setting)
    notes = set()
    t_start = time.perf_counter()
    for pname in args.protocol:
        for seed in seeds:
            protocol = ood_protocols.PROTOCOLS[pname](seed, **sizes)
            for setting in [s for s in args.settings if s != "none"]:
                t = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    gft = GradientFeatureTransformer(random_state=seed, device="cpu", **SETTINGS[setting])
                    gft.fit(protocol.X_ae)
                fit_s = time.perf_counter() - t
                converged = not any("still falling" in str(w.message) for w in caught)
                res = ood_protocols.evaluate(protocol, extractors(gft))
                for variant, r in res.items():
                    runs.append(dict(protocol=pname, seed=seed, setting=setting, variant=variant, fit_s=fit_s,
                                     n_epochs=gft.n_epochs_, best_epoch=gft.best_epoch_, converged=converged, **r))
                print(f"[{time.perf_counter() - t_start:6.0f}s] {pname} seed {seed} {setting}: fit {fit_s:.1f}s, "
                      f"{gft.n_epochs_} epochs (kept {gft.best_epoch_}); grad_both {res['grad_both']['mean']:.3f}, "
                      f"activations {res['activations']['mean']:.3f}", flush=True)
            if args.one_class:
                scorers, more, fit_times = one_class_scorers(protocol, seed)
                notes.update(more)
                score_s = {}
                for variant, score in scorers.items():  # time one scoring of the clean test split
                    t = time.perf_counter()
                    score(protocol.X_test)
                    score_s[variant] = time.perf_counter() - t
                res = ood_protocols.evaluate_detectors(protocol, scorers)
                for variant, r in res.items():
                    runs.append(dict(protocol=pname, seed=seed, setting="new", variant=variant,
                                     fit_s=fit_times[variant], score_s=score_s[variant], **r))
                print(f"[{time.perf_counter() - t_start:6.0f}s] {pname} seed {seed} one-class: "
                      + ", ".join(f"{v} {r['mean']:.3f}" for v, r in res.items()), flush=True)
    summary = summarise(runs)
    print_tables(runs, summary, args)
    for n in sorted(notes):
        print(n)
    print(f"\nruntime {time.perf_counter() - t_start:.0f} s (torch threads {args.threads})"
          + ("; --quick: small splits, not a result" if args.quick else ""))
    if args.json:
        args.json.write_text(json.dumps(dict(summary=summary, runs=runs, seeds=seeds, quick=args.quick), indent=1))
    return summary


def summarise(runs):
    """``{protocol: {setting: {variant: {mean, std, n, fit_s, n_epochs}}}}`` over seeds."""
    out = {}
    for r in runs:
        cell = out.setdefault(r["protocol"], {}).setdefault(r["setting"], {}).setdefault(r["variant"], [])
        cell.append(r)
    for pname, settings in out.items():
        for setting, variants in settings.items():
            for variant, rs in variants.items():
                means = np.array([r["mean"] for r in rs])
                variants[variant] = {
                    "mean": float(means.mean()), "std": float(means.std()), "min": float(means.min()),
                    "n_seeds": len(rs), "fit_s": float(np.mean([r["fit_s"] for r in rs])),
                    "n_epochs": float(np.mean([r.get("n_epochs") or 0 for r in rs])),
                    "score_s": float(np.mean([r.get("score_s", np.nan) for r in rs])),
                }
    return out


def print_tables(runs, summary, args):
    for pname, settings in summary.items():
        print(f"\n## protocol {pname}: mean AUROC over its unseen test sets, mean ± std over seeds "
              f"{sorted({r['seed'] for r in runs if r['protocol'] == pname})}")
        order = [s for s in ("new", "old") if s in settings]
        print("| variant | " + " | ".join(f"{s} setting" for s in order) + " |")
        print("|---|" + "---|" * len(order))
        variants = [v for v in LABELS if any(v in settings[s] for s in order)]
        for v in variants:
            cells = []
            for s in order:
                c = settings[s].get(v)
                cells.append(f"{c['mean']:.3f} ± {c['std']:.3f} (min {c['min']:.3f})" if c else "-")
            print(f"| {LABELS[v]} | " + " | ".join(cells) + " |")
        for s in order:
            if "grad_both" in settings[s]:
                c = settings[s]["grad_both"]
                print(f"{s} setting: fit {c['fit_s']:.1f} s on average, {c['n_epochs']:.0f} epochs on average")
        if "new" in settings and "old" in settings:
            print(f"fit time ratio new/old: {settings['new']['grad_both']['fit_s'] / settings['old']['grad_both']['fit_s']:.1f}")
        if "one_class" in settings.get("new", {}) and "one_class_old" in settings["new"]:
            n, o = settings["new"]["one_class"], settings["new"]["one_class_old"]
            print(f"one-class detector cost, new/former defaults: fit {n['fit_s'] / o['fit_s']:.1f}x "
                  f"({n['fit_s']:.1f} s vs {o['fit_s']:.1f} s), score {n['score_s'] / o['score_s']:.2f}x "
                  f"({n['score_s']:.2f} s vs {o['score_s']:.2f} s for the clean test split)")
        # per type, new setting (or the first one), mean over seeds
        s = order[0]
        shown = [v for v in ("grad_both", "activations", "recon_error", "hand_clf", "one_class", "one_class_old",
                             "act_mahalanobis", "recon_one_class", "iforest", "pyod_ae", "hand_stats")
                 if v in settings[s]]
        types = list(dict.fromkeys(t for r in runs if r["protocol"] == pname for t in r["by_type"]))
        print(f"\nper type ({s} setting), AUROC mean over levels and seeds")
        print("| type | " + " | ".join(shown) + " |")
        print("|---|" + "---|" * len(shown))
        for t in types:
            cells = [np.mean([r["by_type"][t] for r in runs
                              if r["protocol"] == pname and r["setting"] == s and r["variant"] == v]) for v in shown]
            print(f"| {t} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
        if "grad_both" in settings.get("new", {}) and "activations" in settings.get("new", {}):
            g, a = settings["new"]["grad_both"], settings["new"]["activations"]
            print(f"\nnew setting: both gradients {g['mean']:.3f} ± {g['std']:.3f}; ahead of activations by "
                  f"{g['mean'] - a['mean']:+.3f}")


def main(argv=None):
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
