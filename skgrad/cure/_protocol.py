"""The authors' OOD protocol on a CURE-TSR folder, end to end (Kwon et al., ICIP 2019).

1. The paper's VAE is trained on ``RealChallengeFree/train``; the weights of the
   epoch with the lowest validation loss are kept.  (The authors validate on
   ``RealChallengeFree/val``; skgrad's transformers hold out their validation
   samples themselves, so here they are a random 10 % of the training images, and
   the ``val`` folder is left to the classifier, whose checkpoint the authors
   choose on it too.)
2. Features of every image: the gradient of the reconstruction loss (BCE) with
   respect to the last decoder weight (144 values), of the KL term with respect to
   the last encoder weight (1728), both (1872), and the activations (the latent
   mean, 20).
3. One classifier per feature set, challenge-free (``RealChallengeFree/train``)
   against Gaussian blur level 1 (``RealChallenge/07_01/train``), kept at its
   lowest validation loss on the ``val`` sets of both.
4. Test: each challenge type 1, 2, 3, 5, 8, 9 (decolorization, lens blur, codec
   error, dirty lens, noise, rain) at levels 1-5 (``RealChallenge/TT_LL/test``)
   against ``RealChallengeFree/test``: accuracy at probability 0.5, AUROC, FPR at
   95 % TPR (both conventions), detection error, AUPR-in and -out, per level and
   averaged over the levels of a type.
"""
import time
import warnings

import numpy as np

from ..distortions import CHALLENGES
from ._classifiers import CLASSIFIERS, fit_classifier, inlier_probability
from ._layout import (LEVELS, TEST_TYPES, TRAIN_OUTLIER, CureTSRLayoutError, describe_set, find_set, protocol_sets,
                      set_parts)
from ._poster import FEATURE_SETS, POSTER_ACCURACY

__all__ = ["run_cure_protocol", "TABLE_METRICS"]

#: The metrics of the poster-style table, averaged over the levels of a test type.
TABLE_METRICS = ("accuracy", "auroc", "fpr_at_95_tpr", "detection_error")
SCORE = "probability of being an inlier (normality score: higher = more in-distribution)"


def _index(root, sets, image_size):
    """Every set's :func:`~skgrad.datasets.load_cure_tsr` index, each file's header read.

    Every folder is found before any is indexed, so that a missing one is named at once.
    """
    from ..datasets import check_images, load_cure_tsr

    try:
        folders = {role: find_set(root, *spec) for role, spec in sets.items()}
        data = {}
        for role, spec in sets.items():
            bunch = load_cure_tsr(folders[role], image_size=image_size)
            if ((bunch.challenge_code != spec[0]) | (bunch.level != spec[1])).any():  # the loader's folder rule
                raise ValueError(f"{describe_set(*spec)} holds files of another challenge")
            check_images(bunch.paths)
            data[role] = bunch
    except (FileNotFoundError, ValueError) as exc:
        raise CureTSRLayoutError(" ".join(str(exc).split())) from exc
    return data


def _features(gft, aft, X):
    G = gft.transform(X)
    names = gft.get_feature_names_out()
    bce = np.array([n.startswith("bce:") for n in names])
    kld = np.array([n.startswith("kld:") for n in names])
    return {"activations": aft.transform(X), "grad_reconstruction": G[:, bce], "grad_kl": G[:, kld], "grad_both": G}


def _test_features(gft, aft, data, tests, verbose, group=2048):
    """``(role, spec, features)`` per test set; small sets are transformed together (a
    transform pads its last batch: one call per tiny set would mostly compute padding)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tests), disable=not verbose, desc="test sets", leave=False)
    pending, size = [], 0
    for i, (role, spec) in enumerate(tests):
        pending.append((role, spec, data[role].load_images()))
        size += len(pending[-1][2])
        if size >= group or i == len(tests) - 1:
            feats = _features(gft, aft, np.concatenate([p[2] for p in pending]))
            start = 0
            for role_, spec_, images in pending:
                stop = start + len(images)
                yield role_, spec_, {fs: f[start:stop] for fs, f in feats.items()}
                start = stop
                bar.update(1)
            pending, size = [], 0
    bar.close()


def run_cure_protocol(root, *, classifier="mlp", fpr_convention="exact", image_size=28, epochs=200, batch_size=128,
                      learning_rate=1e-3, classifier_epochs=200, test_types=TEST_TYPES, levels=LEVELS,
                      random_state=0, device="auto", verbose=False, log=None):
    """Run the authors' OOD protocol on a CURE-TSR folder in their layout.

    Parameters
    ----------
    root : str or path-like
        The folder holding ``RealChallengeFree/`` and ``RealChallenge/``.
    classifier : {"mlp", "logistic"}, default="mlp"
        ``"mlp"``: the authors' 1872 -> 40 -> 20 -> 1 network on the raw
        features (scikit-learn's ``MLPClassifier``); ``"logistic"``: a scaled
        logistic regression.
    fpr_convention : {"exact", "authors"}, default="exact"
        Which FPR at 95 % TPR the table shows (both are in the results): exact
        over all thresholds, or the authors' grid of 0.05
        (:func:`skgrad.metrics.fpr_at_95_tpr`).
    image_size : int, default=28
        Images are resized to ``image_size`` x ``image_size`` (the paper: 28).
    epochs, batch_size, learning_rate : int, int, float
        The autoencoder's training: at most ``epochs`` (early stopping), the
        authors' batch size 128 and learning rate 1e-3 by default.
    classifier_epochs : int, default=200
        Most epochs of the MLP.
    test_types, levels : sequence of int
        Test challenge codes and levels (default: the poster's 1, 2, 3, 5, 8, 9
        at 1-5).
    random_state : int, default=0
        Seeds the autoencoder and the classifiers.
    device : str, default="auto"
    verbose : bool, default=False
        Progress bars.
    log : callable, optional
        Called with a line of text at each stage.

    Returns
    -------
    results : dict
        ``protocol`` (what was run), ``classifiers`` (per feature set: validation
        loss and accuracy, epochs), ``results`` (per feature set and test type:
        the metrics per level and their ``mean``), ``table`` (the poster-style
        table: per metric, feature set and type, the mean over levels; accuracy
        in %), ``poster_accuracy_percent`` (the poster's published numbers,
        CURE-TSR), ``fpr_at_95_tpr_shown`` and ``timing``.
    scores : dict
        Per test set (``"inliers"`` and ``"TT_LL"``): ``paths`` and, per feature
        set, the probability of being an inlier of each image.

    Raises
    ------
    CureTSRLayoutError
        A ``ValueError``: a folder the protocol needs is missing or empty, or a
        file the CURE-TSR loader refuses or Pillow cannot read (the message names
        it); raised before any training.
    ValueError
        For an unknown option.
    """
    from .. import ActivationFeatureTransformer, GradientFeatureTransformer
    from ..metrics import fpr_at_95_tpr, ood_report

    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    if fpr_convention not in ("exact", "authors"):
        raise ValueError(f"fpr_convention must be 'exact' or 'authors', got {fpr_convention!r}")
    log = log or (lambda msg: None)
    start = time.perf_counter()
    sets = protocol_sets(test_types, levels)
    data = _index(root, sets, image_size)  # every folder and file checked before any work
    X = {role: data[role].load_images() for role in
         ("inliers_train", "inliers_val", "outliers_train", "outliers_val", "inliers_test")}

    log(f"training the VAE on {len(X['inliers_train'])} images of {describe_set(*sets['inliers_train'])}")
    gft = GradientFeatureTransformer("vae", epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                     random_state=random_state, device=device, verbose=verbose)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gft.fit(X["inliers_train"])
    for w in caught:
        log(str(w.message))
    aft = ActivationFeatureTransformer.from_fitted(gft)
    F = {role: _features(gft, aft, x) for role, x in X.items()}

    classifiers, models = {}, {}
    for fs in FEATURE_SETS:
        log(f"training the {classifier} classifier on {fs}")
        models[fs], classifiers[fs] = fit_classifier(
            classifier, F["inliers_train"][fs], F["outliers_train"][fs], F["inliers_val"][fs],
            F["outliers_val"][fs], random_state=random_state, max_epochs=classifier_epochs)

    inlier_scores = {fs: inlier_probability(models[fs], F["inliers_test"][fs]) for fs in FEATURE_SETS}
    scores = {"inliers": {"paths": [str(p) for p in data["inliers_test"].paths], **inlier_scores}}
    per_level = {fs: {} for fs in FEATURE_SETS}
    tests = [(role, spec) for role, spec in sets.items() if role.startswith("test_")]
    for role, (code, level, split), feats in _test_features(gft, aft, data, tests, verbose):
        key = f"{code:02d}_{level:02d}"
        scores[key] = {"paths": [str(p) for p in data[role].paths]}
        for fs in FEATURE_SETS:
            out = inlier_probability(models[fs], feats[fs])
            scores[key][fs] = out
            y = np.r_[np.zeros(len(inlier_scores[fs])), np.ones(len(out))]
            s = np.r_[inlier_scores[fs], out]
            rep = ood_report(y, s, threshold=0.5)
            rep["fpr_at_95_tpr_authors"] = fpr_at_95_tpr(y, s, convention="authors")
            rep.update(n_inliers=len(inlier_scores[fs]), n_outliers=len(out))
            per_level[fs].setdefault(CHALLENGES[code - 1], {})[level] = rep
    log(f"scored {len(tests)} test sets against {len(X['inliers_test'])} images of "
        f"{describe_set(*sets['inliers_test'])}")

    fpr_key = "fpr_at_95_tpr" if fpr_convention == "exact" else "fpr_at_95_tpr_authors"
    results, table = {}, {m: {} for m in TABLE_METRICS}
    for fs in FEATURE_SETS:
        results[fs] = {}
        for name, by_level in per_level[fs].items():
            keys = next(iter(by_level.values())).keys()
            mean = {k: float(np.mean([by_level[lv][k] for lv in by_level])) for k in keys}
            results[fs][name] = {"levels": by_level, "mean": mean}
            for m in TABLE_METRICS:
                value = mean[fpr_key if m == "fpr_at_95_tpr" else m]
                table[m].setdefault(fs, {})[name] = 100 * value if m == "accuracy" else value
    protocol = {
        "root": str(root),
        "image_size": image_size,
        "score": SCORE,
        "train_outlier": {"code": TRAIN_OUTLIER[0], "level": TRAIN_OUTLIER[1], "name": CHALLENGES[TRAIN_OUTLIER[0] - 1]},
        "test_types": {CHALLENGES[t - 1]: t for t in test_types},
        "levels": list(levels),
        "sets": {role: {"folder": "/".join(set_parts(*spec)), "n_images": int(len(data[role].paths))}
                 for role, spec in sets.items()},
        "classifier": classifier,
        "autoencoder": {
            "model": "vae", "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
            "n_epochs": int(gft.n_epochs_), "best_epoch": gft.best_epoch_, "history": list(gft.history_),
            "validation_history": gft.validation_history_,
            "validation": "a random 10 % of RealChallengeFree/train (the authors: RealChallengeFree/val; skgrad's "
                          "transformers draw their validation samples themselves)",
        },
    }
    return {
        "protocol": protocol,
        "classifiers": classifiers,
        "results": results,
        "table": table,
        "poster_accuracy_percent": {fs: {CHALLENGES[c - 1]: v for c, v in POSTER_ACCURACY[fs].items()}
                                    for fs in FEATURE_SETS},
        "fpr_at_95_tpr_shown": fpr_convention,
        "timing": {"wall_s": time.perf_counter() - start},
    }, scores
