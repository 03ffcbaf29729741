"""``skgrad demo``: the paper's experiments on built-in real images, and their report."""
from __future__ import annotations

import sys
import time

from ._common import CLIError, check_device, one_line, output_dir, output_option

HELP = "the paper's experiments on built-in real images; writes a report"


def add_parser(sub, common):
    p = sub.add_parser("demo", parents=[common], help=HELP,
                       description="Train the paper's VAE on real digits and compare gradients, activations and "
                       "reconstruction error for OOD detection; an IQA proxy on built-in photos. Writes report.html, "
                       "metrics.json and PNG plots. Nothing is downloaded.")
    p.add_argument("--quick", action="store_true", help="a much smaller run (seconds)")
    output_option(p, "skgrad-report")
    p.set_defaults(func=run, threads_here=False)


def run(args):
    from ..demo import run_demo
    from ..report import format_summary, write_report

    check_device(args)
    out = output_dir(args)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.verbose else None
    t0 = time.perf_counter()
    results = run_demo(
        quick=args.quick, random_state=args.random_state, device=args.device, batch_size=args.batch_size,
        threads=args.threads if args.threads is not None else 1, log=log,
    )
    try:
        path = write_report(results, out)
    except OSError as exc:
        raise CLIError(f"--output {args.output}: cannot write the report: {one_line(exc)}") from None
    print(format_summary(results))
    print(f"\nreport: {path.resolve()} ({time.perf_counter() - t0:.0f} s in all)")
    return 0
