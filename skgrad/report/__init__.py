"""The report of ``skgrad demo``: ``metrics.json``, PNG plots and a self-contained ``report.html``.

:func:`write_report` takes the results dict of :func:`skgrad.demo.run_demo` and
writes into one folder:

``metrics.json``
    every number of the run (strict JSON: non-finite values become ``null``).
``ood_roc.png``
    ROC curves per challenge type (all tested levels pooled), one curve per
    feature kind.
``ood_auroc.png``
    AUROC per challenge type, gradients vs activations (and the other scores).
``training.png``
    the autoencoder's training and validation loss per epoch, with the epoch
    whose weights were kept.
``iqa_levels.png``
    IQA proxy: each metric's mean score against the distortion level, per
    distortion type.
``report.html``
    a page a person can read: what was trained, a summary table, what the
    numbers mean; the plots are embedded (base64), so the file stands alone.

:func:`write_cure_report` writes the report of ``skgrad ood --cure-tsr``
(``metrics.json``, ``cure_accuracy.png``, ``report.html`` with the poster-style
table).

Plots are drawn with matplotlib's object API on the Agg canvas (no pyplot, no
global backend switch); without matplotlib the report is written without them.
"""
from __future__ import annotations

from ._cure import write_cure_report
from ._files import atomic_write, start_report
from ._html import _html
from ._plots import plot_iqa_levels, plot_ood_auroc, plot_ood_roc, plot_training
from ._text import format_summary, to_jsonable

__all__ = ["write_report", "write_cure_report", "format_summary", "to_jsonable"]


# --------------------------------------------------------------------------- #
def write_report(results, output):
    """Write ``metrics.json``, the PNG plots and ``report.html`` into ``output``.

    Parameters
    ----------
    results : dict
        The dict returned by :func:`skgrad.demo.run_demo`.
    output : str or path-like
        Folder (created when missing).

    Returns
    -------
    Path
        The path of ``report.html``.
    """
    out, can_plot = start_report(results, output)
    images = {}
    if not can_plot:
        images["missing"] = "matplotlib is not installed: the report has no plots (pip install matplotlib)"
    else:
        for name, plot, part in (("training", plot_training, "ood"), ("ood_auroc", plot_ood_auroc, "ood"), ("ood_roc", plot_ood_roc, "ood"),
                                 ("iqa_levels", plot_iqa_levels, "iqa")):
            if name == "training" and not results[part]["model"].get("history"):
                continue  # no epoch ran
            path = out / f"{name}.png"
            plot(results[part], path)
            images[name] = path
    atomic_write(out / "report.html", _html(results, images))
    return out / "report.html"
