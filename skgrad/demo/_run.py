"""The job behind ``skgrad demo``: the paper's two experiments on built-in real images.

1. Out-of-distribution (OOD) detection (Kwon et al., ICIP 2019, section 2 of the
   reference notes) on real handwritten digits: the paper's VAE is trained on
   clean digits; a logistic regression learns clean vs Gaussian blur level 1 from
   three kinds of features (weight gradients, activations = the latent mean,
   reconstruction error); it is tested on held-out digits with challenge types it
   never saw.  The one-class :class:`~skgrad.outlier.GradientOutlierDetector`
   (clean images only, no outlier examples) runs beside them when available.
2. An image quality (IQA) proxy on the built-in colour photographs: no human
   opinion scores ship with any package, so the check is whether each metric
   falls as the distortion level rises (Spearman correlation between score and
   level within each reference and distortion type).

Nothing is downloaded.  :func:`run_demo` returns a JSON-able dict; the report
(:mod:`skgrad.report`) is written from it.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["DemoConfig", "FULL", "QUICK", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of one demo run."""

    n_autoencoder: int  # clean digits the VAE is trained on
    n_classifier: int  # clean digits (plus their blurred copies) the classifier is trained on
    n_test: int  # held-out clean digits (plus their distorted copies) per test set
    epochs: object  # the most epochs (early stopping ends sooner); None: the estimators' default
    levels: tuple
    iqa_size: tuple  # (width, height): photos are centre-cropped to 4:3 and resized
    iqa_distortions: tuple  # keys of skgrad.distortions.PHOTO_DISTORTIONS
    iqa_hidden: int
    iqa_patches: int
    iqa_iter: int


FULL = DemoConfig(
    n_autoencoder=2000,
    n_classifier=1000,
    n_test=2000,
    epochs=None,
    levels=(1, 3, 5),
    iqa_size=(384, 288),
    iqa_distortions=("noise", "blur", "jpeg", "contrast"),
    iqa_hidden=400,
    iqa_patches=10000,
    iqa_iter=60,
)

QUICK = DemoConfig(
    n_autoencoder=500,
    n_classifier=250,
    n_test=250,
    epochs=30,
    levels=(1, 5),
    iqa_size=(192, 144),
    iqa_distortions=("noise", "blur", "jpeg", "contrast"),
    iqa_hidden=100,
    iqa_patches=3000,
    iqa_iter=25,
)

#: The outlier type the classifier sees in training (as in the paper).
TRAIN_CHALLENGE = ("gaussian_blur", 1)


class _Clock:
    def __init__(self, log):
        self.t0 = time.perf_counter()
        self.log = log
        self.marks = {}

    def __call__(self, msg):
        if self.log is not None:
            self.log(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}")

    def mark(self, name, start):
        self.marks[name] = round(time.perf_counter() - start, 2)


# --------------------------------------------------------------------------- #
# OOD
# --------------------------------------------------------------------------- #
def _reconstruction_error(est, X):
    """Per-sample BCE of the trained VAE's reconstruction (eval mode: the latent mean)."""
    import torch

    from ._validation import to_tensor
    from .losses import bce, split_output

    out = []
    bs = int(est.batch_size)
    with torch.no_grad():
        for s in range(0, len(X), bs):
            x = to_tensor(X[s : s + bs], est.input_scale_, est.device_)
            recon = split_output(est.module_(x))[0]
            out.append(bce(recon, x).cpu().numpy())
    return np.concatenate(out)[:, None].astype(np.float64)


def _same_weights(a, b):
    import torch

    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _downsample_curve(fpr, tpr, n=200):
    if len(fpr) <= n:
        return [round(float(v), 5) for v in fpr], [round(float(v), 5) for v in tpr]
    idx = np.unique(np.linspace(0, len(fpr) - 1, n).round().astype(int))
    return [round(float(v), 5) for v in fpr[idx]], [round(float(v), 5) for v in tpr[idx]]


def run_ood(cfg, *, random_state, device, batch_size, clock):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_curve
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import ActivationFeatureTransformer, GradientFeatureTransformer
    from .datasets import load_real_digits
    from .distortions import CHALLENGES, apply_challenge, changes_greyscale
    from .metrics import ood_report

    try:
        from .outlier import GradientOutlierDetector
    except ImportError as exc:  # being written: run without it
        GradientOutlierDetector = None
        one_class_note = f"skgrad.outlier is not importable ({exc}); the one-class detector was skipped"
    else:
        one_class_note = None

    digits = load_real_digits()
    rng = np.random.RandomState(random_state)
    order = rng.permutation(len(digits.images))  # mnist5k is sorted by label
    need = cfg.n_autoencoder + cfg.n_classifier + cfg.n_test
    if need > len(order):  # sklearn digits (1797) instead of MNIST-5k: scale down
        f = len(order) / need
        sizes = [int(cfg.n_autoencoder * f), int(cfg.n_classifier * f)]
        sizes.append(len(order) - sum(sizes))
    else:
        sizes = [cfg.n_autoencoder, cfg.n_classifier, cfg.n_test]
    X = np.repeat(digits.images[order][..., None], 3, axis=-1)  # 28x28 grey -> 3 channels
    X_ae = X[: sizes[0]]
    X_clf = X[sizes[0] : sizes[0] + sizes[1]]
    X_test = X[sizes[0] + sizes[1] : sum(sizes)]
    seed = lambda: int(rng.randint(np.iinfo(np.int32).max))  # noqa: E731

    params = dict(batch_size=batch_size, random_state=random_state, device=device)
    if cfg.epochs is not None:
        params["epochs"] = cfg.epochs
    t = time.perf_counter()
    clock(f"OOD: training the paper's VAE on {len(X_ae)} clean {digits.source} digits (at most {GradientFeatureTransformer(**params).epochs} epochs, early stopping)")
    gft = GradientFeatureTransformer("vae", **params).fit(X_ae)
    # The activations of that very network: fit copies the trained module (0 epochs).
    aft = ActivationFeatureTransformer(gft.module_, epochs=0, batch_size=batch_size, device=device).fit(X_ae[:2])
    clock.mark("ood_fit_autoencoders", t)
    same = _same_weights(gft, aft)

    extractors = {
        "gradients": gft.transform,
        "activations": aft.transform,
        "reconstruction_error": lambda Z: _reconstruction_error(gft, Z),
    }
    train_name, train_level = TRAIN_CHALLENGE
    X_clf_out = apply_challenge(X_clf, train_name, train_level, random_state=seed())
    y_clf = np.r_[np.zeros(len(X_clf)), np.ones(len(X_clf_out))]
    t = time.perf_counter()
    clock(f"OOD: logistic regressions on {len(X_clf)} clean vs {len(X_clf)} {train_name} level {train_level}")
    classifiers, clean_test_scores = {}, {}
    for name, extract in extractors.items():
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        clf.fit(np.vstack([extract(X_clf), extract(X_clf_out)]), y_clf)
        classifiers[name] = clf
        # normality score: the log-odds of clean (class 0); unlike probabilities it does not tie
        clean_test_scores[name] = -clf.decision_function(extract(X_test))
    clock.mark("ood_fit_classifiers", t)

    detector = None
    if GradientOutlierDetector is not None:
        t = time.perf_counter()
        X_clean = np.concatenate([X_ae, X_clf])
        clock(f"OOD: one-class GradientOutlierDetector on {len(X_clean)} clean digits (no outlier examples)")
        detector = GradientOutlierDetector(
            GradientFeatureTransformer("vae", **params), random_state=random_state
        ).fit(X_clean)
        clean_test_scores["one_class_gradients"] = detector.score_samples(X_test)
        clock.mark("ood_fit_one_class", t)

    challenges = [c for c in CHALLENGES if c != train_name and changes_greyscale(c)]
    skipped = {c: "cannot change greyscale images" for c in CHALLENGES if not changes_greyscale(c)}
    skipped[train_name] = f"its level {train_level} trained the classifiers"
    features = list(clean_test_scores)
    rows, roc = [], {}
    t = time.perf_counter()
    clock(f"OOD: testing {len(challenges)} unseen challenge types x levels {list(cfg.levels)}")
    for chal in challenges:
        s = seed()  # one seed per type: a higher level adds to the same random pattern
        pooled = {f: [] for f in features}
        for level in cfg.levels:
            X_out = apply_challenge(X_test, chal, level, random_state=s)
            y = np.r_[np.zeros(len(X_test)), np.ones(len(X_out))]
            for f in features:
                if f == "one_class_gradients":
                    out_scores = detector.score_samples(X_out)
                    threshold = detector.offset_  # predict() says outlier below it
                else:
                    out_scores = -classifiers[f].decision_function(extractors[f](X_out))
                    threshold = 0.0  # P(clean) >= 0.5
                score = np.r_[clean_test_scores[f], out_scores]
                rows.append({"challenge": chal, "level": level, "feature": f, **ood_report(y, score, threshold=threshold)})
                pooled[f].append(out_scores)
        roc[chal] = {}
        for f in features:
            out_scores = np.concatenate(pooled[f])
            y = np.r_[np.zeros(len(X_test)), np.ones(len(out_scores))]
            fpr, tpr, _ = roc_curve(y == 0, np.r_[clean_test_scores[f], out_scores])  # inliers positive
            fpr, tpr = _downsample_curve(fpr, tpr)
            roc[chal][f] = {"fpr": fpr, "tpr": tpr}
    clock.mark("ood_test", t)

    by_chal = {c: {f: float(np.mean([r["auroc"] for r in rows if r["challenge"] == c and r["feature"] == f]))
                   for f in features} for c in challenges}
    summary = {f: {m: float(np.mean([r[m] for r in rows if r["feature"] == f]))
                   for m in ("auroc", "accuracy", "fpr_at_95_tpr", "detection_error", "aupr_in", "aupr_out")}
               for f in features}
    return {
        "data": {
            "source": digits.source,
            "description": digits.description,
            "image_shape": list(X.shape[1:]),
            "n_autoencoder": len(X_ae),
            "n_classifier_clean": len(X_clf),
            "n_test_clean": len(X_test),
        },
        "model": {
            "preset": "vae",
            "epochs": int(gft.epochs),
            "n_epochs": int(gft.n_epochs_),
            "best_epoch": gft.best_epoch_,
            "early_stopping": bool(gft.early_stopping),
            "n_iter_no_change": int(gft.n_iter_no_change),
            "learning_rate": float(gft.learning_rate),
            "history": [float(v) for v in gft.history_],
            "validation_history": None if gft.validation_history_ is None
            else [float(v) for v in gft.validation_history_],
            "final_training_loss": float(gft.history_[-1]) if gft.history_ else None,
            "gradient_features": int(gft.n_features_out_),
            "gradient_layers": {k: list(v) for k, v in gft.layers_.items()},
            "activation_features": int(aft.n_features_out_),
            "activation_layers": list(aft.layers_),
            "activations_from_identical_weights": bool(same),
        },
        "classifier": "StandardScaler + LogisticRegression, trained on clean vs "
        f"{train_name} level {train_level}",
        "train_outliers": {"challenge": train_name, "level": train_level},
        "features": features,
        "challenges": challenges,
        "levels": list(cfg.levels),
        "skipped_challenges": skipped,
        "one_class_note": one_class_note,
        "one_class": None if detector is None else {
            "estimator": "GradientOutlierDetector(method='mahalanobis')",
            "n_fit_clean": len(X_ae) + len(X_clf),
            "accuracy_threshold": "the detector's own offset_ (contamination 0.1)",
        },
        "score_convention": "normality scores, higher = more in-distribution; inliers (clean) are the "
        "positive class of every metric (skgrad.metrics)",
        "results": rows,
        "mean_auroc_by_challenge": by_chal,
        "summary": summary,
        "roc": roc,
    }


# --------------------------------------------------------------------------- #
# IQA proxy
# --------------------------------------------------------------------------- #
def _nanmean(values):
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _ssim(ref, dist):
    """SSIM on the BT.601 luma with Wang et al.'s settings (as benchmarks/bench_iqa.py)."""
    from skimage.metrics import structural_similarity

    from .iqa import rgb2ycbcr

    return float(structural_similarity(
        rgb2ycbcr(ref)[..., 0].astype(np.float64), rgb2ycbcr(dist)[..., 0].astype(np.float64), data_range=255.0,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def run_iqa(cfg, *, random_state, clock=None, threads=None):
    if clock is None:
        clock = _Clock(None)
    if threads is not None:  # in a worker process: limit BLAS there too
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return run_iqa(cfg, random_state=random_state, clock=clock)

    from .datasets import center_crop_resize, load_sample_photos
    from .distortions import apply_photo_distortion
    from .metrics import psnr
    from .metrics._correlation import spearman

    photos = [center_crop_resize(p, *cfg.iqa_size) for p in load_sample_photos()]
    names = ["china", "flower", "astronaut", "chelsea", "coffee", "rocket"][: len(photos)]
    notes = []
    metrics = {"psnr": psnr}
    try:
        import skimage.metrics  # noqa: F401

        metrics["ssim"] = _ssim
    except ImportError:
        notes.append("scikit-image is not installed: SSIM was skipped")

    model_info = None
    try:
        from .iqa import SparsePatchAutoencoder, activation_quality, gradient_quality
    except ImportError as exc:
        notes.append(f"skgrad.iqa is not importable ({exc}): the UNIQUE and gradient scores were skipped")
        models = None
    else:
        # Two-fold cross-fitting: each photo is scored by a patch autoencoder that
        # never saw it (the authors' ImageNet weights are not shipped).
        t = time.perf_counter()
        folds = [list(range(0, len(photos), 2)), list(range(1, len(photos), 2))]
        clock(
            f"IQA: fitting two sparse patch autoencoders ({cfg.iqa_hidden} hidden units, "
            f"{cfg.iqa_patches} patches, {cfg.iqa_iter} L-BFGS iterations) on built-in photos, cross-fitted"
        )
        models, losses = [None] * len(photos), []
        if len(photos) < 2:
            folds = [list(range(len(photos)))]
        for k, fold in enumerate(folds):
            train = [photos[i] for i in range(len(photos)) if i not in fold] or [photos[i] for i in fold]
            m = SparsePatchAutoencoder(
                n_hidden=cfg.iqa_hidden, n_patches=cfg.iqa_patches, max_iter=cfg.iqa_iter,
                random_state=random_state + k,
            ).fit(train)
            losses.append(float(m.loss_))
            for i in fold:
                models[i] = m
        metrics["unique"] = lambda r, d, i: activation_quality(reference=r, distorted=d, model=models[i])
        metrics["gradient"] = lambda r, d, i: gradient_quality(reference=r, distorted=d, model=models[i])
        model_info = {
            "n_hidden": cfg.iqa_hidden, "n_patches": cfg.iqa_patches, "max_iter": cfg.iqa_iter,
            "training_loss": losses,
            "fit": "2-fold cross-fitting: photos at even positions are scored by the model fitted on "
            "the odd ones and vice versa (the authors' ImageNet weights are not available at run time)",
        }
        clock.mark("iqa_fit", t)

    t = time.perf_counter()
    clock(f"IQA: {len(photos)} photos x {len(cfg.iqa_distortions)} distortions x 5 levels")
    rows = []
    rng = np.random.RandomState(random_state)
    levels = [1, 2, 3, 4, 5]
    for i, ref in enumerate(photos):
        for dist_name in cfg.iqa_distortions:
            s = int(rng.randint(np.iinfo(np.int32).max))
            for level in levels:
                dist = apply_photo_distortion(ref, dist_name, level, random_state=s)
                row = {"reference": names[i], "distortion": dist_name, "level": level}
                for m, f in metrics.items():
                    row[m] = f(ref, dist, i) if m in ("unique", "gradient") else f(ref, dist)
                rows.append(row)
    clock.mark("iqa_score", t)

    # Signed so that 1 means the score falls strictly with every level.
    mono, across = {}, {}
    for m in metrics:
        per = {}
        for dist_name in cfg.iqa_distortions:
            rhos = [-spearman([r[m] for r in rows if r["reference"] == name and r["distortion"] == dist_name],
                               levels) for name in names]
            per[dist_name] = _nanmean(rhos)
        mono[m] = {"mean": _nanmean(list(per.values())), "by_distortion": per}
        # Harder: over all distorted versions of a photo, of every type at once. It
        # assumes equal levels of different types are equally severe (no human rated
        # that); it is the only number that separates the metrics when all of them
        # fall strictly within every type.
        per_photo = {name: -spearman([r[m] for r in rows if r["reference"] == name],
                                      [r["level"] for r in rows if r["reference"] == name]) for name in names}
        across[m] = {"mean": _nanmean(list(per_photo.values())), "by_photo": per_photo}
    return {
        "photos": names,
        "size": list(cfg.iqa_size),
        "distortions": list(cfg.iqa_distortions),
        "levels": levels,
        "metrics": list(metrics),
        "model": model_info,
        "notes": notes,
        "scores": rows,
        "spearman_vs_level": mono,
        "spearman_vs_level_across_types": across,
        "stages_s": clock.marks,
    }


# --------------------------------------------------------------------------- #
def _start_iqa_process(cfg, random_state, threads, tmp):
    """Run :func:`run_iqa` in a fresh interpreter (no multiprocessing: it would
    re-import the caller's ``__main__``); the result comes back as JSON."""
    result_path = Path(tmp) / "iqa.json"
    job = json.dumps({"cfg": asdict(cfg), "random_state": random_state, "threads": threads,
                      "out": os.fspath(result_path)})
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding skgrad/
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from skgrad._demo import _iqa_worker; _iqa_worker(sys.argv[1])", job],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    return proc, result_path


def _finish_iqa_process(proc, result_path):
    _, err = proc.communicate()
    if proc.returncode != 0 or not result_path.exists():
        tail = "\n".join(err.decode("utf-8", "replace").strip().splitlines()[-8:])
        raise RuntimeError(f"the IQA proxy process failed (exit code {proc.returncode}):\n{tail}")
    return json.loads(result_path.read_text())


def _iqa_worker(job):
    job = json.loads(job)
    cfg = DemoConfig(**job["cfg"])
    c0 = time.process_time()
    result = run_iqa(cfg, random_state=job["random_state"], threads=job["threads"])
    result["cpu_s"] = round(time.process_time() - c0, 1)
    Path(job["out"]).write_text(json.dumps(result))  # nan/inf pass through (non-strict JSON)


def run_demo(*, quick=False, random_state=0, device="auto", batch_size=64, threads=1, parallel=None, log=None):
    """Run both experiments; returns the JSON-able results dict.

    ``threads`` limits torch's and the BLAS libraries' thread pools for the run
    (the models here are small: more threads gain little, and on a busy machine
    their spin-waiting makes fitting many times slower).  ``None`` leaves them as
    they are.  ``parallel`` (default: when there are two or more CPU cores) runs
    the IQA proxy in a second process beside the OOD experiment.
    """
    import torch
    from threadpoolctl import threadpool_limits

    cfg = QUICK if quick else FULL
    clock = _Clock(log)
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    t0 = time.perf_counter()
    c0 = time.process_time()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    proc = None
    try:
        with threadpool_limits(limits=threads), tempfile.TemporaryDirectory(prefix="skgrad-demo-") as tmp:
            if parallel:
                # The IQA proxy (numpy) runs in a second process while this one runs
                # the OOD experiment (torch): two cores, both busy.
                proc, result_path = _start_iqa_process(cfg, random_state, threads, tmp)
                clock("IQA proxy started in a second process")
            ood = run_ood(cfg, random_state=random_state, device=device, batch_size=batch_size, clock=clock)
            if parallel:
                clock("OOD done; waiting for the IQA proxy")
                iqa = _finish_iqa_process(proc, result_path)
            else:
                iqa = run_iqa(cfg, random_state=random_state, clock=clock)
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    clock.marks.update(iqa.pop("stages_s"))
    iqa_cpu = iqa.pop("cpu_s", 0.0) if parallel else 0.0
    return {
        "skgrad_demo": 1,
        "mode": "quick" if quick else "full",
        "config": {**asdict(cfg), "random_state": random_state, "device": device, "batch_size": batch_size},
        "ood": ood,
        "iqa": iqa,
        "timing": {
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0 + iqa_cpu, 1),
            "stages_s": clock.marks,
            "cpu_count": os.cpu_count(),
            "threads": used_threads,
            "iqa_in_second_process": bool(parallel),
            "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        },
        "environment": {"python": platform.python_version(), "platform": platform.platform()},
    }
