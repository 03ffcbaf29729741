"""The ``skgrad`` command.

::

    skgrad demo    [--quick] [--output DIR]                 the paper's experiments on built-in images
    skgrad ood     --train DIR --test DIR [--outliers DIR]  score images as in- or out-of-distribution
    skgrad iqa     --dataset NAME --root PATH [--weights F] full-reference quality on an IQA database
    skgrad extract --model MODEL --images DIR --out F.npy   gradient features of a folder, to .npy

Common options: ``--device``, ``--random-state``, ``--batch-size``, ``--threads``,
``-v/--verbose``, ``--debug`` (and ``--output DIR`` where a command writes a folder).

Problems with the input (missing paths, unreadable images, an unknown folder
layout, bad option values) end the command with exit code 2 and one line on
stderr, ``skgrad: error: ...``; ``--debug`` adds the Python traceback.  Ctrl-C
ends it with exit code 130.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import traceback
from pathlib import Path

__all__ = ["main", "CLIError"]

PROG = "skgrad"

#: File name suffixes read as images (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
_LABEL_DIRS = {"inlier": 0, "inliers": 0, "outlier": 1, "outliers": 1}


class CLIError(Exception):
    """A problem with the user's input: exit code 2 and this one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise CLIError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- #
# option types
# --------------------------------------------------------------------------- #
def _int(low, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_positive_int = _int(1, "a positive integer")
_nonnegative_int = _int(0, "an integer >= 0")


def _random_state(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer seed in [0, 2**32), got {text!r}")
    return value


def _one_line(text):
    return " ".join(str(text).split())


def _device(args):
    """Check ``--device`` before any work starts."""
    from ._validation import resolve_device

    try:
        return resolve_device(args.device)
    except ValueError as exc:
        raise CLIError(f"--device {args.device}: {_one_line(exc)}") from None


def _note(msg):
    print(f"{PROG}: note: {msg}", file=sys.stderr, flush=True)


def _progress_enabled(args):
    return bool(args.verbose) or sys.stderr.isatty()


class _Threads:
    """Limit torch's and the BLAS libraries' thread pools (``--threads``) for a block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if self.n is None:
            return self
        import torch
        from threadpoolctl import threadpool_limits

        self._torch = torch.get_num_threads()
        torch.set_num_threads(self.n)
        self._limits = threadpool_limits(limits=self.n)
        return self

    def __exit__(self, *exc):
        if self.n is not None:
            import torch

            self._limits.restore_original_limits()
            torch.set_num_threads(self._torch)
        return False


# --------------------------------------------------------------------------- #
# image folders
# --------------------------------------------------------------------------- #
def _check_dir(path, option):
    p = Path(os.path.expanduser(path))
    if not p.exists():
        raise CLIError(f"{option} {path}: no such directory")
    if not p.is_dir():
        raise CLIError(f"{option} {path}: not a directory")
    return p


def list_images(root, option):
    """Image files below ``root`` (recursively), sorted by their path relative to it."""
    root = _check_dir(root, option)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            found.append(Path(dirpath) / name)
    if not found:
        raise CLIError(
            f"{option} {root}: no image files found in it or its subfolders "
            f"(looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return root, found


def check_images(paths, option):
    """Open every file's header (cheap): a corrupt or non-image file fails here, before any work."""
    from PIL import Image, UnidentifiedImageError

    for p in paths:
        try:
            with Image.open(p) as img:
                img.size  # noqa: B018 - the header is parsed on open
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CLIError(f"{option}: cannot read image {p}: {_one_line(exc)}") from None


class ImageFolderArray:
    """A folder of images as a lazily read uint8 array ``(n, H, W, C)``.

    Slicing reads (and resizes) only the requested files, so
    :func:`skgrad.extract.transform_to_npy` streams a folder of any size.
    """

    def __init__(self, paths, size, channels=3, option="--images"):
        self.paths = list(paths)
        self.size = size  # (H, W)
        self.channels = int(channels)
        self.option = option
        self.shape = (len(self.paths), size[0], size[1], self.channels)
        self.dtype = __import__("numpy").dtype("uint8")
        self.ndim = 4

    def __len__(self):
        return len(self.paths)

    def _read(self, path):
        from .datasets import read_image

        try:
            img = read_image(path, mode="RGB" if self.channels == 3 else "L", size=self.size)
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise CLIError(f"{self.option}: cannot read image {path}: {_one_line(exc)}") from None
        return img if img.ndim == 3 else img[..., None]

    def __getitem__(self, index):
        import numpy as np

        if isinstance(index, tuple):  # dask slices every axis: read the images, then slice the rest
            return self[index[0]][(slice(None),) + tuple(index[1:])]
        if isinstance(index, slice):
            chunk = [self._read(p) for p in self.paths[index]]
            if not chunk:
                return np.zeros((0,) + self.shape[1:], dtype=np.uint8)
            return np.stack(chunk)
        return self._read(self.paths[index])

    def __array__(self, dtype=None, copy=None):
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)


def _folder_layout(root, paths, option):
    """Describe an image folder: ``("cure-tsr" | "flat" | "classes", per-file class names)``.

    * every file named like CURE-TSR (``01_05_02_03_0012.bmp``, or the authors' 7-field
      ``01_01_01_01_01_05_0003.bmp``; :func:`skgrad.datasets.is_cure_tsr_name`): ``"cure-tsr"``;
    * all files directly in the folder: ``"flat"``;
    * all files in subfolders: ``"classes"``, the class being the first subfolder.
    """
    from .datasets import is_cure_tsr_name

    rels = [p.relative_to(root) for p in paths]
    cure = [is_cure_tsr_name(r.name) for r in rels]
    if all(cure):
        return "cure-tsr", None
    if any(cure):
        example = next(r for r, c in zip(rels, cure) if c)
        other = next(r for r, c in zip(rels, cure) if not c)
        raise CLIError(
            f"{option} {root}: unknown layout: {sum(cure)} of {len(rels)} images are named like CURE-TSR files "
            f"(e.g. {example.as_posix()}) and the others are not (e.g. {other.as_posix()}); use one kind per folder"
        )
    top = [len(r.parts) == 1 for r in rels]
    if all(top):
        return "flat", None
    if any(top):
        example = next(r for r, t in zip(rels, top) if t)
        raise CLIError(
            f"{option} {root}: unknown layout: images lie both directly in the folder (e.g. {example.as_posix()}) "
            "and in subfolders; use a flat folder or one subfolder per class"
        )
    return "classes", [r.parts[0] for r in rels]


class _Images:
    """An image folder as the ``ood`` command reads it."""

    def __init__(self, root, option, *, clean_only=False, outliers_only=False):
        from .datasets import load_cure_tsr

        self.option = option
        self.root, paths = list_images(root, option)
        self.layout, classes = _folder_layout(self.root, paths, option)
        self.challenge = self.level = None
        self.labels = None  # 0 inlier / 1 outlier when known
        self.classes = classes
        self.note = None
        if self.layout == "cure-tsr":
            try:
                bunch = load_cure_tsr(self.root)
            except (FileNotFoundError, ValueError) as exc:
                raise CLIError(f"{option} {root}: {_one_line(exc)}") from None
            keep = [True] * len(bunch.paths)
            if clean_only:
                keep = [lv == 0 for lv in bunch.level]
                if not any(keep):
                    raise CLIError(
                        f"{option} {root}: a CURE-TSR folder without challenge-free images (challenge 00); "
                        "the autoencoder must be trained on clean images"
                    )
                if not all(keep):
                    self.note = (f"{option}: CURE-TSR folder: training on its {sum(keep)} challenge-free images "
                                 f"(ignoring {len(keep) - sum(keep)} with challenges)")
            elif outliers_only:
                keep = [lv > 0 for lv in bunch.level]
                if not any(keep):
                    raise CLIError(f"{option} {root}: a CURE-TSR folder without any challenge images (level > 0)")
                if not all(keep):
                    self.note = (f"{option}: CURE-TSR folder: using its {sum(keep)} images with challenges as "
                                 f"outliers (ignoring {len(keep) - sum(keep)} challenge-free ones)")
            self.paths = [Path(p) for p, k in zip(bunch.paths, keep) if k]
            self.challenge = [c for c, k in zip(bunch.challenge, keep) if k]
            self.level = [int(lv) for lv, k in zip(bunch.level, keep) if k]
            self.labels = [int(lv > 0) for lv in self.level]
        else:
            self.paths = paths
            if self.layout == "classes" and {c.lower() for c in classes} <= set(_LABEL_DIRS):
                self.labels = [_LABEL_DIRS[c.lower()] for c in classes]
        check_images(self.paths, option)

    def describe(self):
        n = len(self.paths)
        if self.layout == "cure-tsr":
            return f"{n} CURE-TSR images"
        if self.layout == "classes":
            k = len(set(self.classes))
            return f"{n} images in {k} subfolder{'s' if k != 1 else ''}"
        return f"{n} images"

    def read(self, size):
        arr = ImageFolderArray(self.paths, size, 3, option=self.option)
        return arr[:]


# --------------------------------------------------------------------------- #
# models
# --------------------------------------------------------------------------- #
def _load_saved_model(spec, device, option="--model"):
    try:
        from .persistence import load
    except ImportError as exc:  # pragma: no cover - persistence ships with skgrad
        raise CLIError(f"{option} {spec}: cannot load saved models here ({_one_line(exc)})") from None
    import warnings

    from ._base import AutoencoderTransformerBase

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "fitted on cuda, now on the CPU": we pass device
            est = load(spec, device=device)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise CLIError(f"{option} {spec}: {_one_line(exc)}") from None
    if not isinstance(est, AutoencoderTransformerBase):  # save also writes detectors and IQA models
        raise CLIError(f"{option} {spec}: holds a {type(est).__name__}; the CLI takes a saved gradient or "
                       "activation transformer")
    return est


def _resolve_model(spec, args):
    """("preset", name) or ("saved", fitted estimator)."""
    from .models import PRESETS

    if spec in PRESETS:
        return "preset", spec
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        return "saved", _load_saved_model(path, args.device)
    if path.exists():
        raise CLIError(f"--model {spec}: not a file")
    raise CLIError(
        f"--model {spec}: neither a preset ({', '.join(PRESETS)}) nor an existing model file (from skgrad.persistence.save)"
    )


def _image_geometry(est, option="--model"):
    shape = tuple(getattr(est, "sample_shape_", ()))
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise CLIError(f"{option}: the saved model was fitted on samples of shape {shape}, not on images (H, W, 1 or 3)")
    return (shape[0], shape[1]), shape[2]


def _size_arg(args):
    if args.image_size is None:
        return None
    return (args.image_size, args.image_size)


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
def cmd_demo(args):
    from . import _demo
    from .report import format_summary, write_report

    _device(args)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--output {args.output}: exists and is not a directory")
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.verbose else None
    t0 = time.perf_counter()
    results = _demo.run_demo(
        quick=args.quick, random_state=args.random_state, device=args.device, batch_size=args.batch_size,
        threads=args.threads if args.threads is not None else 1, log=log,
    )
    try:
        path = write_report(results, out)
    except OSError as exc:
        raise CLIError(f"--output {args.output}: cannot write the report: {_one_line(exc)}") from None
    print(format_summary(results))
    print(f"\nreport: {path.resolve()} ({time.perf_counter() - t0:.0f} s in all)")
    return 0


# --------------------------------------------------------------------------- #
# ood
# --------------------------------------------------------------------------- #
#: What the ood command's scores are (scores.csv, metrics.json, the console).
_SCORE_CONVENTION = "normality score, higher = more in-distribution"


def _transformer_params(args):
    params = dict(batch_size=args.batch_size, random_state=args.random_state,
                  device=args.device, verbose=bool(args.verbose))
    if args.epochs is not None:  # else the estimator's default: at most 200, with early stopping
        params["epochs"] = args.epochs
    return params


def _epochs_text(args):
    if args.epochs is not None:
        return f"{args.epochs} epochs"
    from . import GradientFeatureTransformer

    return f"up to {GradientFeatureTransformer().epochs} epochs, early stopping"


def cmd_ood(args):
    import numpy as np

    from . import GradientFeatureTransformer
    from .metrics import ood_report

    _device(args)
    kind, model = _resolve_model(args.model, args)
    train = _Images(args.train, "--train", clean_only=True)
    test = _Images(args.test, "--test")
    outliers = _Images(args.outliers, "--outliers", outliers_only=True) if args.outliers else None
    if kind == "saved":
        if not isinstance(model, GradientFeatureTransformer):
            raise CLIError(f"--model {args.model}: a saved {type(model).__name__}; ood needs gradient features "
                           "(a saved GradientFeatureTransformer, or a preset)")
        if outliers is None:
            raise CLIError(f"--model {args.model}: the one-class detector trains its own autoencoder; "
                           "use a preset with --model, or give --outliers to train a classifier on the saved model")
        size, channels = _image_geometry(model)
        if channels != 3:
            raise CLIError(f"--model {args.model}: fitted on {channels}-channel images; ood reads RGB images")
        if args.image_size is not None and (args.image_size,) * 2 != size:
            raise CLIError(f"--image-size {args.image_size}: the saved model takes {size[0]}x{size[1]} images")
    else:
        size = _size_arg(args) or (28, 28)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--output {args.output}: exists and is not a directory")
    for part in (train, test, outliers):
        if part is not None and part.note:
            _note(part.note)
    _make_dir(out, "--output")  # before any fitting: fail early

    X_train = train.read(size)
    X_test = test.read(size)
    rng = np.random.RandomState(args.random_state)
    info = {"train": train.describe(), "test": test.describe(), "image_size": list(size), "model": args.model}
    if outliers is not None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X_out = outliers.read(size)
        if kind == "saved":
            est, X_clf_clean = model, X_train
            how = f"the saved model {args.model}; classifier on all {len(X_train)} --train images vs --outliers"
        else:
            if len(X_train) < 5:
                raise CLIError(f"--train {args.train}: {len(X_train)} images; at least 5 are needed")
            # The autoencoder on 80% of the clean images; the classifier on the other 20%
            # (gradients of the very images the autoencoder was trained on are smaller than
            # those of new clean images) plus the outliers.
            order = rng.permutation(len(X_train))
            n_clf = max(1, int(round(0.2 * len(X_train))))
            X_clf_clean = X_train[np.sort(order[:n_clf])]
            _note(f"training the {args.model!r} autoencoder on {len(X_train) - n_clf} --train images "
                  f"({_epochs_text(args)}); the classifier on the other {n_clf} vs {len(X_out)} --outliers")
            est = GradientFeatureTransformer(args.model, **_transformer_params(args)).fit(X_train[np.sort(order[n_clf:])])
            how = (f"{args.model} autoencoder on {len(X_train) - n_clf} --train images; logistic regression on the "
                   f"other {n_clf} vs {len(X_out)} --outliers")
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))
        F = np.vstack([est.transform(X_clf_clean), est.transform(X_out)])
        clf.fit(F, np.r_[np.zeros(len(X_clf_clean)), np.ones(len(X_out))])
        scores = clf.predict_proba(est.transform(X_test))[:, 0]
        threshold = 0.5
        method = "gradient features + logistic regression (probability of being an inlier)"
    else:
        try:
            from .outlier import GradientOutlierDetector
        except ImportError as exc:
            raise CLIError(f"the one-class detector is not available ({_one_line(exc)}); give --outliers DIR") from None
        if len(X_train) < 5:
            raise CLIError(f"--train {args.train}: {len(X_train)} images; at least 5 are needed")
        _note(f"training the one-class GradientOutlierDetector ({args.model!r} autoencoder, {_epochs_text(args)}) "
              f"on {len(X_train)} --train images")
        det = GradientOutlierDetector(
            GradientFeatureTransformer(args.model, **_transformer_params(args)), random_state=args.random_state
        ).fit(X_train)
        scores = det.score_samples(X_test)
        threshold = det.offset_
        how = f"GradientOutlierDetector ({args.model} autoencoder) on {len(X_train)} --train images"
        method = "one-class GradientOutlierDetector (score_samples)"
    info.update(method=method, fitted=how, threshold=float(threshold), score=_SCORE_CONVENTION)

    csv_path = out / "scores.csv"
    header = ["path"]
    if test.layout == "classes":
        header.append("class")
    if test.layout == "cure-tsr":
        header += ["challenge", "level"]
    header += ["label", "normality_score", "prediction"]
    with _atomic_open(csv_path) as fh:
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
    print(f"scored {len(test.paths)} --test images with {method}")
    print(f"{_SCORE_CONVENTION}; 'prediction' says inlier at or above {threshold:.4g}")
    result = {"info": info}
    if test.labels is not None:
        y = np.asarray(test.labels)
        if y.min() == y.max():
            _note(f"--test holds only {'outliers' if y[0] else 'inliers'}: no detection metrics")
        else:
            rep = ood_report(y, scores, threshold=threshold)
            result["ood_report"] = rep
            if test.layout == "cure-tsr":
                result["auroc_by_challenge"] = _auroc_by_group(y, scores, test.challenge)
            print(f"labels from the {'CURE-TSR challenge level' if test.layout == 'cure-tsr' else 'inlier/outlier subfolders'}: "
                  f"{int((y == 0).sum())} inliers, {int(y.sum())} outliers")
            names = {"accuracy": "accuracy", "auroc": "AUROC", "fpr_at_95_tpr": "FPR at 95% TPR",
                     "detection_error": "detection error", "aupr_in": "AUPR-in", "aupr_out": "AUPR-out"}
            for k, label in names.items():
                print(f"  {label:<16} {rep[k]:.4f}")
    else:
        print("no labels in --test (use subfolders named inlier/outlier, or CURE-TSR file names, for metrics)")
    from .report import to_jsonable

    with _atomic_open(out / "metrics.json") as fh:
        fh.write(json.dumps(to_jsonable(result), indent=1, allow_nan=False))
    print(f"scores: {csv_path.resolve()}")
    return 0


def _auroc_by_group(y, scores, groups):
    import numpy as np

    from .metrics import auroc

    y, scores, groups = np.asarray(y), np.asarray(scores), np.asarray(groups, dtype=object)
    clean = y == 0
    out = {}
    for g in sorted(set(groups[~clean])):
        sel = clean | (groups == g)
        out[g] = auroc(y[sel], scores[sel], outlier_label=1)
    return out


def _make_dir(path, option):
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot create it: {_one_line(exc)}") from None


class _atomic_open:
    """Write a text file through ``<name>.tmp`` and rename it when the block ends without error."""

    def __init__(self, path):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")

    def __enter__(self):
        try:
            self.fh = open(self.tmp, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot write {self.path}: {_one_line(exc)}") from None
        return self.fh

    def __exit__(self, exc_type, *rest):
        self.fh.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


# --------------------------------------------------------------------------- #
# iqa
# --------------------------------------------------------------------------- #
_IQA_LOADERS = {
    "tid2013": ("load_tid2013", "TID2013"),
    "livemd": ("load_live_multiply_distorted", "LIVE Multiply Distorted"),
    "kadid10k": ("load_kadid10k", "KADID-10k"),
}


def cmd_iqa(args):
    import numpy as np

    from . import datasets
    from .metrics import iqa_report, psnr

    root = _check_dir(args.root, "--root")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--output {args.output}: exists and is not a directory")
    loader, title = _IQA_LOADERS[args.dataset]
    try:
        db = getattr(datasets, loader)(root)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise CLIError(f"--root {args.root}: not a {title} folder: {_one_line(exc)}") from None
    try:
        from .iqa import SparsePatchAutoencoder, activation_quality, gradient_quality
    except ImportError as exc:  # pragma: no cover - skgrad.iqa ships with skgrad
        raise CLIError(f"skgrad.iqa is not available ({_one_line(exc)})") from None

    _make_dir(out, "--output")  # before any fitting: fail early
    pairs = db.pairs
    n = len(pairs) if args.limit is None else min(args.limit, len(pairs))
    pairs = pairs[:n]
    cache = {}

    def read(path, role, i):
        from .datasets import read_image

        if path in cache:
            return cache[path]
        try:
            img = read_image(path, mode="RGB")
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise CLIError(f"{title} pair {i + 1} ({role}): {_one_line(exc)}") from None
        if role == "reference":
            cache.clear()  # pairs are grouped by reference: keep the current one only
            cache[path] = img
        return img

    if args.weights:
        wpath = Path(os.path.expanduser(args.weights))
        if not wpath.is_file():
            raise CLIError(f"--weights {args.weights}: no such file")
        try:
            model = SparsePatchAutoencoder.from_mat(wpath)
        except Exception as exc:  # scipy.io raises its own MatReadError (and others) for a bad file
            raise CLIError(f"--weights {args.weights}: cannot load it as UNIQUE weights: "
                           f"{type(exc).__name__}: {_one_line(exc)}") from None
        model_info = {"weights": os.fspath(wpath.resolve()), "n_hidden": int(model.n_hidden)}
    else:
        refs = list(dict.fromkeys(pairs[:, 0]))
        _note(
            f"no --weights given: fitting UNIQUE's sparse patch autoencoder on the {len(refs)} reference images of "
            f"this {title} folder ({args.fit_hidden} hidden units, {args.fit_patches} patches, up to "
            f"{args.fit_iter} L-BFGS iterations); the authors' ImageNet_Weights_YGCr.mat gives the published "
            "scores (--weights)"
        )
        images = []
        for p in refs:
            images.append(read(p, "reference", int(np.flatnonzero(pairs[:, 0] == p)[0])))
        try:
            model = SparsePatchAutoencoder(
                n_hidden=args.fit_hidden, n_patches=args.fit_patches, max_iter=args.fit_iter,
                random_state=args.random_state,
            ).fit(images)
        except ValueError as exc:
            raise CLIError(f"cannot fit the patch autoencoder on the {title} reference images: {_one_line(exc)}") from None
        model_info = {"fitted_on": f"{len(refs)} reference images of the dataset", "n_hidden": args.fit_hidden,
                      "n_patches": args.fit_patches, "max_iter": args.fit_iter,
                      "training_loss": float(model.loss_), "n_iter": int(model.n_iter_)}

    from tqdm.auto import tqdm

    metrics = ("unique", "gradient", "psnr")
    scores = {m: np.empty(n) for m in metrics}
    for i in tqdm(range(n), disable=not _progress_enabled(args), desc="iqa", unit="pair"):
        ref_path, dist_path = pairs[i]
        ref, dist = read(ref_path, "reference", i), read(dist_path, "distorted", i)
        try:
            scores["unique"][i] = activation_quality(reference=ref, distorted=dist, model=model)
            scores["gradient"][i] = gradient_quality(reference=ref, distorted=dist, model=model)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"{title} pair {i + 1} ({dist_path}): {_one_line(exc)}") from None
        scores["psnr"][i] = psnr(ref, dist)

    mos = np.asarray(db.mos, dtype=float)[:n]
    std = None if db.mos_std is None else np.asarray(db.mos_std, dtype=float)[:n]
    kind = "MOS" if db.higher_is_better else "DMOS"
    reports = {}
    if n >= 3:
        import warnings

        for m in metrics:
            s = scores[m]
            if not np.isfinite(s).all():  # PSNR of identical images
                finite = s[np.isfinite(s)]
                s = np.where(np.isfinite(s), s, (finite.max() + 1) if finite.size else 100.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reports[m] = iqa_report(mos, s, std, higher_is_better=db.higher_is_better)

    csv_path = out / "scores.csv"
    with _atomic_open(csv_path) as fh:
        w = csv.writer(fh)
        w.writerow(["reference", "distorted", kind.lower()] + (["mos_std"] if std is not None else [])
                   + ["group", "distortion", "unique", "gradient", "psnr"])
        for i in range(n):
            w.writerow([os.path.relpath(pairs[i][0], db.root), os.path.relpath(pairs[i][1], db.root), f"{mos[i]:.6g}"]
                       + ([f"{std[i]:.6g}"] if std is not None else [])
                       + [db.groups[i], db.distortion[i]] + [f"{scores[m][i]:.8g}" for m in metrics])
    from .report import to_jsonable

    with _atomic_open(out / "metrics.json") as fh:
        fh.write(json.dumps(to_jsonable({"dataset": args.dataset, "root": db.root, "n_pairs": n, "model": model_info,
                                         "subjective": kind, "reports": reports}), indent=1, allow_nan=False))
    print(f"{title}: {n} image pairs, {kind} ({'higher' if db.higher_is_better else 'lower'} is better)")
    if reports:
        cols = ["srocc", "krocc", "plcc", "rmse"] + (["outlier_ratio"] if std is not None else [])
        labels = {"unique": "UNIQUE", "gradient": "gradients", "psnr": "PSNR"}
        print(f"  {'metric':<10}" + "".join(f"{c.upper() if c != 'outlier_ratio' else 'OR':>9}" for c in cols))
        for m in metrics:
            print(f"  {labels[m]:<10}" + "".join(f"{reports[m][c]:>9.4f}" for c in cols))
        print("  (SROCC/KROCC on raw scores; PLCC/RMSE after the 5-parameter logistic fit"
              + ("; signs flipped for DMOS" if not db.higher_is_better else "") + ")")
    else:
        _note(f"{n} pair{'s' if n != 1 else ''}: correlation metrics need at least 3")
    print(f"scores: {csv_path.resolve()}")
    return 0


# --------------------------------------------------------------------------- #
# extract
# --------------------------------------------------------------------------- #
def _paths_file(out):
    return out.with_name(out.name + ".paths.txt")


def _partial(out, suffix):
    return out.with_name(out.name + ".partial" + suffix)


def cmd_extract(args):
    import numpy as np

    from .extract import transform_to_npy

    _device(args)
    if args.scheduler and args.resume:
        raise CLIError("--resume is not available with --scheduler (a failed cluster run leaves no output); "
                       "run again without --resume")
    out = Path(os.path.expanduser(args.out))
    if out.is_dir():
        raise CLIError(f"--out {args.out}: is a directory; give the .npy file to write")
    parent = out.parent
    if parent.exists() and not parent.is_dir():
        raise CLIError(f"--out {args.out}: {parent} is not a directory")
    root, paths = list_images(args.images, "--images")
    rel = [p.relative_to(root).as_posix() for p in paths]
    partial_npy = _partial(out, "")
    partial_paths = _partial(out, ".paths.txt")
    partial_model = _partial(out, ".model")
    final_paths = _paths_file(out)

    if args.resume:
        if not partial_npy.exists():
            if out.exists():
                if partial_paths.exists():  # killed between the two renames
                    os.replace(partial_paths, final_paths)
                print(f"{out} is complete: nothing to resume")
                return 0
            _note(f"--resume: no interrupted run at {partial_npy}; starting from the beginning")
        else:
            if partial_paths.exists():
                before = partial_paths.read_text(encoding="utf-8").splitlines()
                if before != rel:
                    raise CLIError(
                        f"--resume: the image files under --images {args.images} are not those of the interrupted "
                        f"run ({len(rel)} now, {len(before)} then); run again without --resume"
                    )
            try:
                done = json.loads(_partial(out, ".json").read_text())["rows_done"]
            except (OSError, ValueError, KeyError, TypeError):
                done = None
            if done is not None:
                _note(f"--resume: continuing the interrupted run at row {done} of {len(rel)}")
    check_images(paths, "--images")

    kind, model = _resolve_model(args.model, args)
    if kind == "saved":
        if args.epochs is not None:
            raise CLIError(f"--epochs applies to presets only; --model {args.model} is already trained")
        size, channels = _image_geometry(model)
        if args.image_size is not None and (args.image_size,) * 2 != size:
            raise CLIError(f"--image-size {args.image_size}: the saved model takes {size[0]}x{size[1]} images")
        if args.features is not None:
            raise CLIError(f"--features applies to presets only; --model {args.model} is a saved "
                           f"{type(model).__name__}")
        if args.batch_size_given:
            model.set_params(batch_size=args.batch_size)
        model.set_params(verbose=False)
        est, how = model, f"saved model {args.model} ({type(model).__name__})"
    else:
        size, channels = _size_arg(args) or (28, 28), 3
    X = ImageFolderArray(paths, size, channels)
    _make_dir(parent, "--out: folder")  # before any fitting: fail early

    if kind == "preset":
        est = None
        if args.resume and partial_npy.exists() and partial_model.exists():
            # the interrupted run's model, exactly
            est = _load_saved_model(partial_model, args.device, "--resume: the interrupted run's model")
            est.set_params(batch_size=args.batch_size, verbose=False)
        if est is None:
            from . import ActivationFeatureTransformer, GradientFeatureTransformer

            cls = ActivationFeatureTransformer if args.features == "activations" else GradientFeatureTransformer
            _note(f"fitting the {args.model!r} preset ({cls.__name__}, {_epochs_text(args)}) on the {len(X)} images "
                  f"at {size[0]}x{size[1]}")
            est = cls(args.model, **_transformer_params(args)).fit(X[:])
            est.set_params(verbose=False)
            if args.save_model:
                _save_model(est, Path(os.path.expanduser(args.save_model)), "--save-model")
        how = f"{args.model} preset, {type(est).__name__}, fitted on these images"
    elif args.save_model:
        raise CLIError("--save-model applies to presets only (the model is already saved)")

    if not (args.resume and partial_npy.exists()):
        with _atomic_open(partial_paths) as fh:
            fh.write("".join(r + "\n" for r in rel))
        if kind == "preset":
            _save_model(est, partial_model, "--out", quiet=True)
    if args.scheduler:
        _extract_on_cluster(est, X, out, args)
        how += f"; on the dask cluster {args.scheduler}"
    else:
        try:
            transform_to_npy(est, X, out, chunk_size=args.chunk_size, resume=bool(args.resume),
                             verbose=_progress_enabled(args))
        except ValueError as exc:
            if "cannot resume" in str(exc):
                raise CLIError(f"--resume: {_one_line(exc)}; run again without --resume") from None
            raise
        except OSError as exc:  # images are read by ImageFolderArray (its own errors): this is the output
            raise CLIError(f"--out {args.out}: cannot write: {_one_line(exc)}") from None
    os.replace(partial_paths, final_paths)
    partial_model.unlink(missing_ok=True)
    shape = np.load(out, mmap_mode="r").shape
    print(f"wrote {out}: {shape[0]} x {shape[1]} float32 features ({how})")
    print(f"rows follow the file list in {final_paths} (paths relative to {root})")
    return 0


def _extract_on_cluster(est, X, out, args):
    """``extract --scheduler``: the workers read the images and write their rows of ``out``."""
    try:
        import dask.array as da
        from distributed import Client
    except ImportError:
        raise CLIError("--scheduler needs dask and distributed: pip install 'skgrad[dask]'") from None
    from ._dask import extract_features

    chunk = int(args.chunk_size or 16 * est.batch_size)
    try:
        client = Client(args.scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"--scheduler {args.scheduler}: cannot connect: {_one_line(exc)}") from None
    with client:
        images = da.from_array(X, chunks=(chunk,) + tuple(X.shape[1:]), asarray=False)
        extract_features(est, images, out, chunk_size=chunk, client=client, overwrite=True)


def _save_model(est, path, option, quiet=False):
    try:
        from .persistence import save
    except ImportError:  # pragma: no cover
        if quiet:
            return
        raise CLIError(f"{option}: saving models needs skgrad.persistence") from None
    try:
        save(est, path)
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot write: {_one_line(exc)}") from None


# --------------------------------------------------------------------------- #
# parser
# --------------------------------------------------------------------------- #
class _Given(argparse.Action):
    """Store the value and remember that it was given explicitly."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, self.dest + "_given", True)


def build_parser():
    common = _Parser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument("--device", default="auto", help="'auto' (a CUDA GPU when there is one), 'cpu', 'cuda' or 'cuda:N'")
    g.add_argument("--random-state", type=_random_state, default=0, metavar="N", help="seed (default 0)")
    g.add_argument("--batch-size", type=_positive_int, default=64, metavar="N", action=_Given,
                   help="images per batch (default 64)")
    g.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="limit torch and BLAS threads (default: the libraries' own; the demo: 1)")
    g.add_argument("-v", "--verbose", action="store_true", help="progress bars and stage messages on stderr")
    g.add_argument("--debug", action="store_true", help="show the Python traceback on errors")

    def output(p, default):
        p.add_argument("--output", default=default, metavar="DIR", help=f"folder to write to (default {default})")

    parser = _Parser(prog=PROG, description="Autoencoder weight gradients as features: OOD detection and IQA "
                     "(Kwon et al., ICIP 2019).")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", parents=[common], help="the paper's experiments on built-in real images; writes a report",
                       description="Train the paper's VAE on real digits and compare gradients, activations and "
                       "reconstruction error for OOD detection; an IQA proxy on built-in photos. Writes report.html, "
                       "metrics.json and PNG plots. Nothing is downloaded.")
    p.add_argument("--quick", action="store_true", help="a much smaller run (seconds)")
    output(p, "skgrad-report")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ood", parents=[common], help="score images as in- or out-of-distribution",
                       description="Train a gradient model on clean images (--train), score --test. With --outliers, "
                       "a logistic regression on clean vs outlier gradients; else the one-class detector. Folders: "
                       "flat, one subfolder per class (subfolders 'inlier'/'outlier' give labels), or CURE-TSR "
                       "(recognised by its file names; level > 0 = outlier).")
    p.add_argument("--train", required=True, metavar="DIR", help="clean (in-distribution) images")
    p.add_argument("--test", required=True, metavar="DIR", help="images to score")
    p.add_argument("--outliers", metavar="DIR", help="example outliers (train a classifier instead of the one-class detector)")
    p.add_argument("--model", default="vae", metavar="MODEL", help="preset (vae, cae, dense) or a saved model file (default vae)")
    p.add_argument("--epochs", type=_nonnegative_int, default=None, metavar="N", help="most training epochs (default 200, with early stopping)")
    p.add_argument("--image-size", type=_positive_int, default=None, metavar="N", help="resize images to N x N (default 28)")
    output(p, "skgrad-ood")
    p.set_defaults(func=cmd_ood)

    p = sub.add_parser("iqa", parents=[common], help="full-reference quality scores on an IQA database",
                       description="UNIQUE and gradient quality scores of every pair of a TID2013, MULTI-LIVE or "
                       "KADID-10k folder, evaluated against the subjective scores.")
    p.add_argument("--dataset", required=True, choices=sorted(_IQA_LOADERS), help="database layout")
    p.add_argument("--root", required=True, metavar="PATH", help="database folder")
    p.add_argument("--weights", metavar="PATH", help="the authors' ImageNet_Weights_YGCr.mat (else a model is fitted "
                   "on the database's reference images)")
    p.add_argument("--limit", type=_positive_int, default=None, metavar="N", help="score the first N pairs only")
    p.add_argument("--fit-hidden", type=_positive_int, default=400, metavar="N", help="hidden units when fitting (400)")
    p.add_argument("--fit-patches", type=_positive_int, default=50000, metavar="N", help="training patches (50000)")
    p.add_argument("--fit-iter", type=_positive_int, default=200, metavar="N", help="L-BFGS iterations (200)")
    output(p, "skgrad-iqa")
    p.set_defaults(func=cmd_iqa)

    p = sub.add_parser("extract", parents=[common], help="features of an image folder into a .npy file",
                       description="Write the features of every image below --images (sorted by path) into --out, "
                       "through a .partial file renamed at the end; --resume continues a killed run. Also writes "
                       "OUT.paths.txt with the files in row order.")
    p.add_argument("--model", required=True, metavar="MODEL", help="preset (vae, cae, dense; fitted on the images first) "
                   "or a model file saved with skgrad.persistence.save")
    p.add_argument("--images", required=True, metavar="DIR", help="image folder (searched recursively)")
    p.add_argument("--out", required=True, metavar="FEATURES.npy", help="the .npy file to write")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--epochs", type=_nonnegative_int, default=None, metavar="N", help="most training epochs of a preset (default 200, with early stopping)")
    p.add_argument("--features", choices=("gradients", "activations"), default=None,
                   help="for a preset: gradient (default) or activation features")
    p.add_argument("--image-size", type=_positive_int, default=None, metavar="N",
                   help="for a preset: resize images to N x N (default 28)")
    p.add_argument("--chunk-size", type=_positive_int, default=None, metavar="N",
                   help="rows written per step (default 16 x batch size)")
    p.add_argument("--save-model", metavar="PATH", help="for a preset: also save the fitted model (to extract other "
                   "folders with the same model)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on a dask cluster (e.g. tcp://host:8786): workers read the images and write their rows; "
                   "needs the dask extra and the images visible to every worker at the same path")
    p.set_defaults(func=cmd_extract)
    return parser


def main(argv=None):
    """Run the ``skgrad`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    debug = "--debug" in argv
    command = None
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        if not hasattr(args, "batch_size_given"):
            args.batch_size_given = False
        with _Threads(args.threads if command != "demo" else None):
            return args.func(args)
    except CLIError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        hint = "; run it again with --resume to continue" if command == "extract" else ""
        print(f"\n{PROG}: interrupted{hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `skgrad ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except Exception as exc:  # a bug, not a user error
        if debug:
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} (run again with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
