"""
The report of ``skgrad demo``: ROC curves, AUROC bars and IQA levels
====================================================================

``skgrad demo`` runs the paper's two experiments on images that ship with
installed packages and writes a report.  This script does the same through the
library, :func:`skgrad.demo.run_demo` and :func:`skgrad.report.write_report`,
and prints the summary table that the command prints:

1. **Out-of-distribution detection on real digits.**  A VAE is trained on clean
   digits; a logistic regression learns clean vs. blurred digits from its weight
   gradients, from its activations, or from its reconstruction error, and is then
   tested on the challenge types it has never seen (one level of each); the
   one-class :class:`~skgrad.outlier.GradientOutlierDetector` sees no distorted
   digit at all.  The figures: the autoencoder's training curve, the AUROC per
   challenge type, and the ROC curves.
2. **An image-quality proxy on built-in photographs.**  Each full-reference
   score against the distortion level, per distortion type: all should fall as
   the level rises.

``--quick`` runs the sizes of ``skgrad demo --quick`` (:data:`skgrad.demo.QUICK`,
about 15 s; the documentation's gallery shows this run); without it, the sizes
of :data:`skgrad.demo.FULL` (several minutes).

Writes ``report.html``, ``metrics.json`` and the PNG plots into ``--output``.

Run: ``python examples/plot_demo_report.py [--quick] [--output DIR]``
"""
import argparse
from pathlib import Path

from skgrad.demo import run_demo
from skgrad.report import format_summary, write_report

# sphinx_gallery_thumbnail_number = 3


def main(argv=None):
    parser = argparse.ArgumentParser(description="The report of skgrad demo, through the library")
    parser.add_argument("--quick", action="store_true", help="the sizes of skgrad demo --quick (seconds)")
    parser.add_argument("--output", type=Path, default=Path("skgrad-report"), help="folder for the report")
    args = parser.parse_args(argv)
    results = run_demo(quick=args.quick, random_state=0)
    path = write_report(results, args.output)
    print(format_summary(results))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    main()
