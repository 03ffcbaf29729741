"""``skgrad ood --cure-tsr ROOT``: the authors' OOD protocol on a CURE-TSR folder, and its report."""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from ._common import CLIError, atomic_open, check_device, check_dir, make_dir, note, one_line, output_dir


def _print_table(results):
    from ..cure import FEATURE_LABELS
    from ..report._cure import _columns
    from ..report._text import _table

    cols = _columns(results)
    table, poster = results["table"], results["poster_accuracy_percent"]
    rows = [[FEATURE_LABELS[fs]] + [f"{table['accuracy'][fs][c]:.1f} ({poster[fs].get(c, float('nan')):.1f})"
                                     for c in cols] for fs in FEATURE_LABELS]
    print("accuracy (%), mean over levels: ours (the poster's published number, CURE-TSR)")
    print("\n".join(_table(["features"] + [c.replace("_", " ") for c in cols], rows)))
    shown = results["fpr_at_95_tpr_shown"]
    for key, label in (("auroc", "AUROC"), ("fpr_at_95_tpr", f"FPR at 95% TPR ({shown} convention)")):
        rows = [[FEATURE_LABELS[fs]] + [f"{table[key][fs][c]:.3f}" for c in cols] for fs in FEATURE_LABELS]
        print(f"\n{label}, mean over levels")
        print("\n".join(_table(["features"] + [c.replace("_", " ") for c in cols], rows)))


def _write_scores(path, root, scores):
    from ..cure import FEATURE_SETS

    with atomic_open(path) as fh:
        w = csv.writer(fh)
        w.writerow(["set", "challenge", "level", "label", "path", *FEATURE_SETS])
        for key, block in scores.items():
            if key == "inliers":
                where, code, level, label = "RealChallengeFree/test", 0, 0, "inlier"
            else:
                code, level = (int(v) for v in key.split("_"))
                where, label = f"RealChallenge/{key}/test", "outlier"
            for i, p in enumerate(block["paths"]):
                w.writerow([where, code, level, label, Path(p).relative_to(root).as_posix(),
                            *(f"{block[fs][i]:.9g}" for fs in FEATURE_SETS)])


def run_cure(args):
    root = check_dir(args.cure_tsr, "--cure-tsr").resolve()  # before the heavy imports
    from ..cure import CureTSRLayoutError, run_cure_protocol
    from ..report import write_cure_report

    check_device(args)
    out = output_dir(args)
    make_dir(out, "--output")  # before any fitting: fail early
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.verbose else note
    t0 = time.perf_counter()
    params = {} if args.epochs is None else {"epochs": args.epochs}
    try:
        results, scores = run_cure_protocol(
            root, classifier=args.classifier, classifier_epochs=args.classifier_epochs,
            fpr_convention=args.fpr_convention, image_size=args.image_size or 28,
            batch_size=args.batch_size if args.batch_size_given else 128, random_state=args.random_state,
            device=args.device, verbose=bool(args.verbose), log=log, **params)
    except CureTSRLayoutError as exc:
        raise CLIError(f"--cure-tsr {args.cure_tsr}: {one_line(exc)}") from None
    try:
        path = write_cure_report(results, out)
        _write_scores(out / "scores.csv", root, scores)
    except OSError as exc:
        raise CLIError(f"--output {args.output}: cannot write the report: {one_line(exc)}") from None
    _print_table(results)
    print(f"\nreport: {path.resolve()}; every number: {(out / 'metrics.json').resolve()}; scores: "
          f"{(out / 'scores.csv').resolve()} ({time.perf_counter() - t0:.0f} s in all)")
    return 0
