"""The numbers of a demo run as JSON-able data and as the plain-text summary."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["to_jsonable", "format_summary", "FEATURE_LABELS", "METRIC_LABELS"]

#: Display names of the OOD feature kinds.
FEATURE_LABELS = {
    "gradients": "gradients",
    "activations": "activations",
    "reconstruction_error": "recon. error",
    "one_class_gradients": "one-class grad.",
}
_FEATURE_COLOURS = {
    "gradients": "#d62728",
    "activations": "#1f77b4",
    "reconstruction_error": "#7f7f7f",
    "one_class_gradients": "#ff7f0e",
}
METRIC_LABELS = {"psnr": "PSNR", "ssim": "SSIM", "unique": "UNIQUE (activations)", "gradient": "gradients"}
_METRIC_COLOURS = {"psnr": "#7f7f7f", "ssim": "#2ca02c", "unique": "#1f77b4", "gradient": "#d62728"}


# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #
def to_jsonable(obj):
    """``obj`` with numpy scalars/arrays turned into Python ones and nan/inf into None.

    >>> to_jsonable({"a": np.float32(0.5), "b": [float("nan"), np.int64(3)], "c": (1, np.inf)})
    {'a': 0.5, 'b': [None, 3], 'c': [1, None]}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------- #
# text summary
# --------------------------------------------------------------------------- #
def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(  # noqa: E731
        (str(c).ljust(w) if i == 0 else str(c).rjust(w)) for i, (c, w) in enumerate(zip(r, widths))
    )
    return [fmt(header)] + [fmt(r) for r in rows]


def _ood_rows(ood):
    feats = ood["features"]
    rows = [[c] + [_fmt(ood["mean_auroc_by_challenge"][c][f]) for f in feats] for c in ood["challenges"]]
    rows.append(["mean"] + [_fmt(ood["summary"][f]["auroc"]) for f in feats])
    return ["challenge"] + [FEATURE_LABELS.get(f, f) for f in feats], rows


def _iqa_rows(iqa):
    header = ["metric"] + list(iqa["distortions"]) + ["mean", "across types"]
    rows = []
    for m in iqa["metrics"]:
        mono = iqa["spearman_vs_level"][m]
        rows.append(
            [METRIC_LABELS.get(m, m)]
            + [_fmt(mono["by_distortion"][d], 2) for d in iqa["distortions"]]
            + [_fmt(mono["mean"]), _fmt(iqa["spearman_vs_level_across_types"][m]["mean"])]
        )
    return header, rows


def format_summary(results):
    """The short plain-text summary ``skgrad demo`` prints."""
    ood, iqa, timing = results["ood"], results["iqa"], results["timing"]
    load = timing.get("load_average")
    lines = [
        f"skgrad demo ({results['mode']}): {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU, "
        f"{timing['cpu_count']} CPU cores" + (f", load average {load[0]:.1f}" if load else ""),
        "",
        f"OOD detection on {ood['data']['n_test_clean']} held-out {ood['data']['source']} digits "
        f"(AUROC, mean over levels {', '.join(map(str, ood['levels']))}; trained on clean vs "
        f"{ood['train_outliers']['challenge']} level {ood['train_outliers']['level']})",
    ]
    lines += ["  " + line for line in _table(*_ood_rows(ood))]
    if ood.get("skipped_challenges"):
        lines.append("  not tested: " + "; ".join(f"{c} ({why})" for c, why in ood["skipped_challenges"].items()))
    lines.append("")
    lines.append(
        f"IQA proxy on {len(iqa['photos'])} built-in photos x {len(iqa['distortions'])} distortions x 5 levels "
        "(minus Spearman of score vs level; 1 = the score falls at every level)"
    )
    lines += ["  " + line for line in _table(*_iqa_rows(iqa))]
    for note in iqa.get("notes", []) + ([ood["one_class_note"]] if ood.get("one_class_note") else []):
        lines.append(f"  note: {note}")
    return "\n".join(lines)
