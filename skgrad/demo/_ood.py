"""The OOD experiment of ``skgrad demo``, and its split of real digits (:func:`ood_split`)."""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OODSplit", "ood_split", "run_ood", "TRAIN_CHALLENGE"]

#: The outlier type the classifier sees in training (as in the paper).
TRAIN_CHALLENGE = ("gaussian_blur", 1)


class _TestSets(Sequence):
    """``(challenge, level, distorted copies of X_test)`` per test set, made when first read, then kept."""

    def __init__(self, X_test, specs):
        self.X_test = X_test
        self.specs = list(specs)  # (challenge, level, seed)
        self._made = {}

    def make(self, i):
        from ..distortions import apply_challenge

        challenge, level, seed = self.specs[i]
        return challenge, level, apply_challenge(self.X_test, challenge, level, random_state=seed)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        if i not in self._made:
            self._made[i] = self.make(i)
        return self._made[i]

    def __len__(self):
        return len(self.specs)


@dataclass
class OODSplit:
    """A split of clean images for the supervised OOD protocol of the paper.

    ``X_ae`` trains the autoencoder, ``X_clf`` and its distorted copies
    ``X_clf_out`` (the only outliers seen in training) train the classifier,
    ``X_test`` is held out; ``tests`` holds ``(challenge, level, distorted
    copies of X_test)`` per test set (made when first read, then kept;
    :meth:`iter_tests` makes them one at a time without keeping them).
    """

    name: str
    X_ae: np.ndarray
    X_clf: np.ndarray
    X_clf_out: np.ndarray
    X_test: np.ndarray
    tests: Sequence = field(default_factory=list)
    train_outlier: str = ""
    source: str = ""
    description: str = ""

    def iter_tests(self):
        """``(challenge, level, X_out)`` per test set, each made on demand and not kept."""
        if isinstance(self.tests, _TestSets):
            yield from (self.tests.make(i) for i in range(len(self.tests)))
        else:
            yield from self.tests


def ood_split(random_state, *, n_autoencoder=2000, n_classifier=1000, n_test=2000, levels=(1, 3, 5)):
    """The split of ``skgrad demo``'s OOD experiment, on real digits.

    :func:`skgrad.datasets.load_real_digits` (MNIST-5k, else scikit-learn's
    1797 digits, with the sizes scaled down to fit), replicated to three
    channels and shuffled by ``random_state``: ``n_autoencoder`` digits for the
    autoencoder, ``n_classifier`` for the classifier (with their Gaussian-blur
    level-1 copies as outliers), ``n_test`` held out and tested against every
    other challenge type of :mod:`skgrad.distortions` that changes a greyscale
    image, at ``levels``.  Every random draw comes from one
    ``RandomState(random_state)``, in a fixed order (the permutation, the
    training outliers, then one seed per test challenge type, so that a higher
    level adds to the same random pattern).

    Returns
    -------
    OODSplit
        ``name="demo"``; ``source`` names the digits used.

    Examples
    --------
    >>> split = ood_split(0, n_autoencoder=20, n_classifier=10, n_test=10, levels=(1,))
    >>> split.X_ae.shape, split.X_clf_out.shape, len(split.tests), split.train_outlier
    ((20, 28, 28, 3), (10, 28, 28, 3), 10, 'gaussian_blur level 1')
    """
    from ..datasets import load_real_digits
    from ..distortions import CHALLENGES, apply_challenge, changes_greyscale

    digits = load_real_digits()
    rng = np.random.RandomState(random_state)
    order = rng.permutation(len(digits.images))  # mnist5k is sorted by label
    need = n_autoencoder + n_classifier + n_test
    if need > len(order):  # sklearn digits (1797) instead of MNIST-5k: scale down
        f = len(order) / need
        sizes = [int(n_autoencoder * f), int(n_classifier * f)]
        sizes.append(len(order) - sum(sizes))
    else:
        sizes = [n_autoencoder, n_classifier, n_test]
    X = np.repeat(digits.images[order][..., None], 3, axis=-1)  # 28x28 grey -> 3 channels
    X_ae, X_clf = X[: sizes[0]], X[sizes[0] : sizes[0] + sizes[1]]
    X_test = X[sizes[0] + sizes[1] : sum(sizes)]
    draw = lambda: int(rng.randint(np.iinfo(np.int32).max))  # noqa: E731
    train_name, train_level = TRAIN_CHALLENGE
    X_clf_out = apply_challenge(X_clf, train_name, train_level, random_state=draw())
    specs = []
    for challenge in CHALLENGES:
        if challenge == train_name or not changes_greyscale(challenge):
            continue
        seed = draw()  # one seed per type: a higher level adds to the same random pattern
        specs += [(challenge, level, seed) for level in levels]
    return OODSplit("demo", X_ae, X_clf, X_clf_out, X_test, _TestSets(X_test, specs),
                    f"{train_name} level {train_level}", digits.source, digits.description)


def _reconstruction_error(est, X):
    """Per-sample BCE of the trained VAE's reconstruction (eval mode: the latent mean)."""
    return est.per_sample_losses(X)[:, list(est.losses_).index("bce")][:, None]


def _same_weights(a, b):
    import torch

    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _downsample_curve(fpr, tpr, n=200):
    if len(fpr) <= n:
        return [round(float(v), 5) for v in fpr], [round(float(v), 5) for v in tpr]
    idx = np.unique(np.linspace(0, len(fpr) - 1, n).round().astype(int))
    return [round(float(v), 5) for v in fpr[idx]], [round(float(v), 5) for v in tpr[idx]]


def _fit_capped(estimator, X, capped):
    """``(estimator.fit(X), converged)``.  A run whose epochs are capped on purpose (``skgrad
    demo --quick``) expects training to stop while the validation loss still falls: its
    ConvergenceWarning is recorded as ``converged=False`` (the report says so) instead of
    printed with this file's path; every other warning passes through."""
    from sklearn.exceptions import ConvergenceWarning

    if not capped:
        return estimator.fit(X), True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X)
    converged = True
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            converged = False
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return estimator, converged


def run_ood(cfg, *, random_state, device, batch_size, clock):
    """The OOD experiment: gradients vs activations vs reconstruction error vs the one-class detector."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_curve
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .. import ActivationFeatureTransformer, GradientFeatureTransformer
    from ..distortions import CHALLENGES, changes_greyscale
    from ..metrics import ood_report
    from ..outlier import GradientOutlierDetector

    split = ood_split(random_state, n_autoencoder=cfg.n_autoencoder, n_classifier=cfg.n_classifier,
                      n_test=cfg.n_test, levels=cfg.levels)
    X_ae, X_clf, X_clf_out, X_test = split.X_ae, split.X_clf, split.X_clf_out, split.X_test
    params = dict(batch_size=batch_size, random_state=random_state, device=device)
    if cfg.epochs is not None:
        params["epochs"] = cfg.epochs
    t = time.perf_counter()
    clock(f"OOD: training the paper's VAE on {len(X_ae)} clean {split.source} digits (at most "
          f"{GradientFeatureTransformer(**params).epochs} epochs, early stopping)")
    gft, converged = _fit_capped(GradientFeatureTransformer("vae", **params), X_ae, cfg.epochs is not None)
    aft = ActivationFeatureTransformer.from_fitted(gft)  # the activations of that very network
    clock.mark("ood_fit_autoencoders", t)

    extractors = {
        "gradients": gft.transform,
        "activations": aft.transform,
        "reconstruction_error": lambda Z: _reconstruction_error(gft, Z),
    }
    train_name, train_level = TRAIN_CHALLENGE
    y_clf = np.r_[np.zeros(len(X_clf)), np.ones(len(X_clf_out))]
    t = time.perf_counter()
    clock(f"OOD: logistic regressions on {len(X_clf)} clean vs {len(X_clf)} {split.train_outlier}")
    classifiers, clean_test_scores = {}, {}
    for name, extract in extractors.items():
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        clf.fit(np.vstack([extract(X_clf), extract(X_clf_out)]), y_clf)
        classifiers[name] = clf
        # normality score: the log-odds of clean (class 0); unlike probabilities it does not tie
        clean_test_scores[name] = -clf.decision_function(extract(X_test))
    clock.mark("ood_fit_classifiers", t)

    t = time.perf_counter()
    X_clean = np.concatenate([X_ae, X_clf])
    clock(f"OOD: one-class GradientOutlierDetector on {len(X_clean)} clean digits (no outlier examples)")
    detector, _ = _fit_capped(GradientOutlierDetector(GradientFeatureTransformer("vae", **params),
                                                      random_state=random_state), X_clean, cfg.epochs is not None)
    clean_test_scores["one_class_gradients"] = detector.score_samples(X_test)
    clock.mark("ood_fit_one_class", t)

    challenges = list(dict.fromkeys(c for c, _, _ in split.tests.specs))
    skipped = {c: "cannot change greyscale images" for c in CHALLENGES if not changes_greyscale(c)}
    skipped[train_name] = f"its level {train_level} trained the classifiers"
    features = list(clean_test_scores)
    rows, pooled = [], {c: {f: [] for f in features} for c in challenges}
    t = time.perf_counter()
    clock(f"OOD: testing {len(challenges)} unseen challenge types x levels {list(cfg.levels)}")
    for chal, level, X_out in split.iter_tests():
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
            pooled[chal][f].append(out_scores)
    roc = {}
    for chal in challenges:
        roc[chal] = {}
        for f in features:
            out_scores = np.concatenate(pooled[chal][f])
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
            "source": split.source,
            "description": split.description,
            "image_shape": list(X_test.shape[1:]),
            "n_autoencoder": len(X_ae),
            "n_classifier_clean": len(X_clf),
            "n_test_clean": len(X_test),
        },
        "model": {
            "preset": "vae",
            "epochs": int(gft.epochs),
            "n_epochs": int(gft.n_epochs_),
            "best_epoch": gft.best_epoch_,
            "converged": converged,
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
            "activations_from_identical_weights": bool(_same_weights(gft, aft)),
        },
        "classifier": f"StandardScaler + LogisticRegression, trained on clean vs {split.train_outlier}",
        "train_outliers": {"challenge": train_name, "level": train_level},
        "features": features,
        "challenges": challenges,
        "levels": list(cfg.levels),
        "skipped_challenges": skipped,
        "one_class_note": None,
        "one_class": {
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
