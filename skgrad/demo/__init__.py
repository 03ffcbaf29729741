"""``skgrad demo``: the paper's two experiments on real images that ship with installed packages.

:func:`run_demo` runs both and returns every number as a JSON-able dict, which
:func:`skgrad.report.write_report` turns into a report:

1. out-of-distribution detection on real digits (:func:`ood_split` is its
   split, also used by ``benchmarks/``): gradients vs activations vs
   reconstruction error with a classifier trained on one outlier type, and the
   one-class :class:`~skgrad.outlier.GradientOutlierDetector`;
2. an IQA proxy on built-in photos: whether each full-reference score falls
   as the distortion level rises.

Nothing is downloaded.
"""
from ._ood import OODSplit, ood_split
from ._run import FULL, QUICK, DemoConfig, run_demo

__all__ = ["run_demo", "DemoConfig", "FULL", "QUICK", "ood_split", "OODSplit"]
