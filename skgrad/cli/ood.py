"""``skgrad ood``: score the images of a folder as in- or out-of-distribution."""
from __future__ import annotations

import csv

from ._common import (CLIError, atomic_open, check_device, epochs_text, image_geometry, make_dir, note,
                      nonnegative_int, one_line, output_dir, output_option, positive_int, resolve_model, size_arg,
                      transformer_params, write_json)

HELP = "score images as in- or out-of-distribution"
#: What the scores are (scores.csv, metrics.json, the console).
SCORE_CONVENTION = "normality score, higher = more in-distribution"
_METRIC_NAMES = {"accuracy": "accuracy", "auroc": "AUROC", "fpr_at_95_tpr": "FPR at 95% TPR",
                 "detection_error": "detection error", "aupr_in": "AUPR-in", "aupr_out": "AUPR-out"}


def add_parser(sub, common):
    p = sub.add_parser("ood", parents=[common], help=HELP,
                       description="Train a gradient model on clean images (--train), score --test. With --outliers, "
                       "a logistic regression on clean vs outlier gradients; else the one-class detector. Folders: "
                       "flat, one subfolder per class (subfolders 'inlier'/'outlier' give labels), or CURE-TSR "
                       "(recognised by its file names; level > 0 = outlier). With --cure-tsr ROOT instead: the "
                       "paper authors' protocol on a CURE-TSR folder in their layout, and the poster's table.")
    p.add_argument("--train", metavar="DIR", help="clean (in-distribution) images")
    p.add_argument("--test", metavar="DIR", help="images to score")
    p.add_argument("--cure-tsr", metavar="ROOT", help="run the authors' OOD protocol on ROOT/RealChallengeFree and "
                   "ROOT/RealChallenge/TT_LL (instead of --train/--test); writes the poster-style table")
    p.add_argument("--classifier", choices=("mlp", "logistic"), default="mlp",
                   help="with --cure-tsr: the authors' MLP 1872-40-20-1 (default) or a logistic regression")
    p.add_argument("--classifier-epochs", type=positive_int, default=200, metavar="N",
                   help="with --cure-tsr: most epochs of the MLP (default 200, the authors'; the epoch with the "
                   "lowest validation loss is kept)")
    p.add_argument("--fpr-convention", choices=("exact", "authors"), default="exact",
                   help="with --cure-tsr: the FPR at 95%% TPR in the table, exact (default) or the authors' "
                   "0.05 threshold grid (both are in metrics.json)")
    p.add_argument("--outliers", metavar="DIR", help="example outliers (train a classifier instead of the one-class detector)")
    p.add_argument("--model", default="vae", metavar="MODEL", help="preset (vae, cae, dense) or a saved model file (default vae)")
    p.add_argument("--epochs", type=nonnegative_int, default=None, metavar="N", help="most training epochs (default 200, with early stopping)")
    p.add_argument("--image-size", type=positive_int, default=None, metavar="N", help="resize images to N x N (default 28)")
    output_option(p, "skgrad-ood")
    p.set_defaults(func=run)


def _folder(path, option, subset=None):
    """The folder indexed by :func:`skgrad.datasets.load_image_folder`, every header checked."""
    from ..datasets import check_images, load_image_folder

    try:
        folder = load_image_folder(path, subset=subset)
        check_images(folder.paths)
    except (OSError, ValueError) as exc:
        msg = one_line(exc)
        raise CLIError(f"{option} {msg}" if msg.startswith(str(path)) else f"{option} {path}: {msg}") from None
    if folder.n_left_out:
        n, left = len(folder.paths), folder.n_left_out
        note(f"{option}: CURE-TSR folder: training on its {n} challenge-free images (ignoring {left} with challenges)"
             if subset == "inliers" else
             f"{option}: CURE-TSR folder: using its {n} images with challenges as outliers (ignoring {left} "
             "challenge-free ones)")
    return folder


def _describe(folder):
    n = len(folder.paths)
    if folder.layout == "cure-tsr":
        return f"{n} CURE-TSR images"
    if folder.layout == "classes":
        k = len(set(folder.classes))
        return f"{n} images in {k} subfolder{'s' if k != 1 else ''}"
    return f"{n} images"


def _read(folder, size, option):
    from ..datasets import ImageFolderArray

    try:
        return ImageFolderArray(folder.paths, size, 3)[:]
    except (OSError, ValueError) as exc:
        raise CLIError(f"{option}: {one_line(exc)}") from None


def _auroc_by_group(y, scores, groups):
    import numpy as np

    from ..metrics import auroc

    y, scores, groups = np.asarray(y), np.asarray(scores), np.asarray(groups, dtype=object)
    clean = y == 0
    return {g: auroc(y[(groups == g) | clean], scores[(groups == g) | clean], outlier_label=1)
            for g in sorted(set(groups[~clean]))}


def run(args):
    if args.cure_tsr is not None:
        from ._ood_cure import run_cure

        given = [o for o, v in (("--train", args.train), ("--test", args.test), ("--outliers", args.outliers))
                 if v is not None] + (["--model"] if args.model != "vae" else [])
        if given:
            raise CLIError(f"--cure-tsr reads its own folders: drop {', '.join(given)}")
        return run_cure(args)
    missing = [o for o, v in (("--train", args.train), ("--test", args.test)) if v is None]
    if missing:
        raise CLIError(f"the following arguments are required: {', '.join(missing)} (or --cure-tsr ROOT)")
    import numpy as np

    from .. import GradientFeatureTransformer

    check_device(args)
    kind, model = resolve_model(args.model, args)
    out = output_dir(args)
    train = _folder(args.train, "--train", subset="inliers")
    test = _folder(args.test, "--test")
    outliers = _folder(args.outliers, "--outliers", subset="outliers") if args.outliers else None
    if kind == "saved":
        if not isinstance(model, GradientFeatureTransformer):
            raise CLIError(f"--model {args.model}: a saved {type(model).__name__}; ood needs gradient features "
                           "(a saved GradientFeatureTransformer, or a preset)")
        if outliers is None:
            raise CLIError(f"--model {args.model}: the one-class detector trains its own autoencoder; "
                           "use a preset with --model, or give --outliers to train a classifier on the saved model")
        size, channels = image_geometry(model)
        if channels != 3:
            raise CLIError(f"--model {args.model}: fitted on {channels}-channel images; ood reads RGB images")
        if args.image_size is not None and (args.image_size,) * 2 != size:
            raise CLIError(f"--image-size {args.image_size}: the saved model takes {size[0]}x{size[1]} images")
    else:
        size = size_arg(args) or (28, 28)
        if len(train.paths) < 5:
            raise CLIError(f"--train {args.train}: {len(train.paths)} images; at least 5 are needed")
    make_dir(out, "--output")  # before any fitting: fail early

    X_train, X_test = _read(train, size, "--train"), _read(test, size, "--test")
    info = {"train": _describe(train), "test": _describe(test), "image_size": list(size), "model": args.model}
    if outliers is not None:
        from sklearn.frozen import FrozenEstimator

        from ..outlier import fit_outlier_classifier

        X_out = _read(outliers, size, "--outliers")
        if kind == "saved":
            transformer = FrozenEstimator(model)
            how = f"the saved model {args.model}; classifier on all {len(X_train)} --train images vs --outliers"
        else:
            transformer = GradientFeatureTransformer(args.model, **transformer_params(args))
            n_clf = max(1, int(round(0.2 * len(X_train))))
            note(f"training the {args.model!r} autoencoder on {len(X_train) - n_clf} --train images "
                 f"({epochs_text(args)}); the classifier on the other {n_clf} vs {len(X_out)} --outliers")
            how = (f"{args.model} autoencoder on {len(X_train) - n_clf} --train images; logistic regression on the "
                   f"other {n_clf} vs {len(X_out)} --outliers")
        clf = fit_outlier_classifier(transformer, X_train, X_out, validation_fraction=0.2,
                                     random_state=args.random_state)
        scores, threshold = clf.predict_proba(X_test)[:, 0], 0.5
        method = "gradient features + logistic regression (probability of being an inlier)"
    else:
        from ..outlier import GradientOutlierDetector

        note(f"training the one-class GradientOutlierDetector ({args.model!r} autoencoder, {epochs_text(args)}) "
             f"on {len(X_train)} --train images")
        det = GradientOutlierDetector(GradientFeatureTransformer(args.model, **transformer_params(args)),
                                      random_state=args.random_state).fit(X_train)
        scores, threshold = det.score_samples(X_test), det.offset_
        how = f"GradientOutlierDetector ({args.model} autoencoder) on {len(X_train)} --train images"
        method = "one-class GradientOutlierDetector (score_samples)"
    info.update(method=method, fitted=how, threshold=float(threshold), score=SCORE_CONVENTION)

    csv_path = out / "scores.csv"
    _write_scores(csv_path, test, scores, threshold)
    print(f"scored {len(test.paths)} --test images with {method}")
    print(f"{SCORE_CONVENTION}; 'prediction' says inlier at or above {threshold:.4g}")
    result = {"info": info}
    if test.labels is None:
        print("no labels in --test (use subfolders named inlier/outlier, or CURE-TSR file names, for metrics)")
    else:
        y = np.asarray(test.labels)
        if y.min() == y.max():
            note(f"--test holds only {'outliers' if y[0] else 'inliers'}: no detection metrics")
        else:
            from ..metrics import ood_report

            result["ood_report"] = rep = ood_report(y, scores, threshold=threshold)
            if test.layout == "cure-tsr":
                result["auroc_by_challenge"] = _auroc_by_group(y, scores, test.challenge)
            origin = "CURE-TSR challenge level" if test.layout == "cure-tsr" else "inlier/outlier subfolders"
            print(f"labels from the {origin}: {int((y == 0).sum())} inliers, {int(y.sum())} outliers")
            for key, label in _METRIC_NAMES.items():
                print(f"  {label:<16} {rep[key]:.4f}")
    write_json(out / "metrics.json", result)
    print(f"scores: {csv_path.resolve()}")
    return 0


def _write_scores(path, test, scores, threshold):
    header = ["path"] + (["class"] if test.layout == "classes" else []) + (
        ["challenge", "level"] if test.layout == "cure-tsr" else []) + ["label", "normality_score", "prediction"]
    with atomic_open(path) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i, p in enumerate(test.paths):
            row = [p.relative_to(test.root).as_posix()]
            if test.layout == "classes":
                row.append(test.classes[i])
            if test.layout == "cure-tsr":
                row += [test.challenge[i], test.level[i]]
            label = "" if test.labels is None else ("outlier" if test.labels[i] else "inlier")
            row += [label, f"{scores[i]:.8g}", "inlier" if scores[i] >= threshold else "outlier"]
            w.writerow(row)
