"""``skgrad iqa``: full-reference quality scores of an IQA database, against its opinion scores."""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

from ._common import (CLIError, atomic_open, check_dir, make_dir, note, one_line, output_dir, output_option,
                      positive_int, progress_enabled, write_json)

HELP = "full-reference quality scores on an IQA database"
#: --dataset -> (loader in skgrad.datasets, title)
LOADERS = {
    "tid2013": ("load_tid2013", "TID2013"),
    "livemd": ("load_live_multiply_distorted", "LIVE Multiply Distorted"),
    "kadid10k": ("load_kadid10k", "KADID-10k"),
}
_LABELS = {"unique": "UNIQUE", "gradient": "gradients", "psnr": "PSNR"}


def n_jobs(text):
    """``--n-jobs``: a positive number of workers, or -1 for all cores (joblib's convention)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or -1 (all cores), got {text!r}")
    return value


def add_parser(sub, common):
    p = sub.add_parser("iqa", parents=[common], help=HELP,
                       description="UNIQUE and gradient quality scores of every pair of a TID2013, MULTI-LIVE or "
                       "KADID-10k folder, evaluated against the subjective scores.")
    p.add_argument("--dataset", required=True, choices=sorted(LOADERS), help="database layout")
    p.add_argument("--root", required=True, metavar="PATH", help="database folder")
    p.add_argument("--weights", metavar="PATH", help="the authors' ImageNet_Weights_YGCr.mat (else a model is fitted "
                   "on the database's reference images)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="score the first N pairs only")
    p.add_argument("--fit-hidden", type=positive_int, default=400, metavar="N", help="hidden units when fitting (400)")
    p.add_argument("--fit-patches", type=positive_int, default=50000, metavar="N", help="training patches (50000)")
    p.add_argument("--fit-iter", type=positive_int, default=200, metavar="N",
                   help="L-BFGS iterations (200)")
    p.add_argument("--n-jobs", type=n_jobs, default=-1, metavar="N",
                   help="threads scoring the pairs, each reference's side computed once (default -1: all cores)")
    output_option(p, "skgrad-iqa")
    p.set_defaults(func=run)


def _model(args, db, pairs, title):
    """The authors' weights (--weights), or a patch autoencoder fitted on the database's references."""
    from ..datasets import read_images
    from ..iqa import SparsePatchAutoencoder

    if args.weights:
        wpath = Path(os.path.expanduser(args.weights))
        if not wpath.is_file():
            raise CLIError(f"--weights {args.weights}: no such file")
        try:
            model = SparsePatchAutoencoder.from_mat(wpath)
        except Exception as exc:  # scipy.io raises its own MatReadError (and others) for a bad file
            raise CLIError(f"--weights {args.weights}: cannot load it as UNIQUE weights: "
                           f"{type(exc).__name__}: {one_line(exc)}") from None
        return model, {"weights": os.fspath(wpath.resolve()), "n_hidden": int(model.n_hidden)}
    refs = list(dict.fromkeys(pairs[:, 0]))
    note(f"no --weights given: fitting UNIQUE's sparse patch autoencoder on the {len(refs)} reference images of "
         f"this {title} folder ({args.fit_hidden} hidden units, {args.fit_patches} patches, up to "
         f"{args.fit_iter} L-BFGS iterations); the authors' ImageNet_Weights_YGCr.mat gives the published "
         "scores (--weights)")
    try:
        images = read_images(refs, mode="RGB")
        model = SparsePatchAutoencoder(n_hidden=args.fit_hidden, n_patches=args.fit_patches, max_iter=args.fit_iter,
                                       random_state=args.random_state).fit(list(images))
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot fit the patch autoencoder on the {title} reference images: {one_line(exc)}") from None
    return model, {"fitted_on": f"{len(refs)} reference images of the dataset", "n_hidden": args.fit_hidden,
                   "n_patches": args.fit_patches, "max_iter": args.fit_iter,
                   "training_loss": float(model.loss_), "n_iter": int(model.n_iter_)}


def run(args):
    import numpy as np

    from .. import datasets
    from ..iqa import report_scores, score_pairs
    from ..iqa.database import SCORES

    root = check_dir(args.root, "--root")
    out = output_dir(args)
    loader, title = LOADERS[args.dataset]
    try:
        db = getattr(datasets, loader)(root)
    except (OSError, ValueError) as exc:
        raise CLIError(f"--root {args.root}: not a {title} folder: {one_line(exc)}") from None
    make_dir(out, "--output")  # before any fitting: fail early
    n = len(db.pairs) if args.limit is None else min(args.limit, len(db.pairs))
    pairs = db.pairs[:n]
    model, model_info = _model(args, db, pairs, title)
    try:
        scores = score_pairs(pairs, model, n_jobs=args.n_jobs, verbose=progress_enabled(args))
    except ValueError as exc:
        raise CLIError(f"{title} {one_line(exc)}") from None

    mos = np.asarray(db.mos, dtype=float)[:n]
    std = None if db.mos_std is None else np.asarray(db.mos_std, dtype=float)[:n]
    kind = "MOS" if db.higher_is_better else "DMOS"
    reports = report_scores(scores, mos, std, higher_is_better=db.higher_is_better) if n >= 3 else {}

    csv_path = out / "scores.csv"
    with atomic_open(csv_path) as fh:
        w = csv.writer(fh)
        w.writerow(["reference", "distorted", kind.lower()] + (["mos_std"] if std is not None else [])
                   + ["group", "distortion", *SCORES])
        for i in range(n):
            w.writerow([os.path.relpath(pairs[i][0], db.root), os.path.relpath(pairs[i][1], db.root), f"{mos[i]:.6g}"]
                       + ([f"{std[i]:.6g}"] if std is not None else [])
                       + [db.groups[i], db.distortion[i]] + [f"{scores[m][i]:.8g}" for m in SCORES])
    write_json(out / "metrics.json", {"dataset": args.dataset, "root": db.root, "n_pairs": n, "model": model_info,
                                      "subjective": kind, "reports": reports})
    print(f"{title}: {n} image pairs, {kind} ({'higher' if db.higher_is_better else 'lower'} is better)")
    if reports:
        cols = ["srocc", "krocc", "plcc", "rmse"] + (["outlier_ratio"] if std is not None else [])
        print(f"  {'metric':<10}" + "".join(f"{c.upper() if c != 'outlier_ratio' else 'OR':>9}" for c in cols))
        for m in SCORES:
            print(f"  {_LABELS[m]:<10}" + "".join(f"{reports[m][c]:>9.4f}" for c in cols))
        print("  (SROCC/KROCC on raw scores; PLCC/RMSE after the 5-parameter logistic fit"
              + ("; signs flipped for DMOS" if not db.higher_is_better else "") + ")")
    else:
        note(f"{n} pair{'s' if n != 1 else ''}: correlation metrics need at least 3")
    print(f"scores: {csv_path.resolve()}")
    return 0
