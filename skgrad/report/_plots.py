"""The PNG plots of the demo report, drawn with matplotlib's object API on the Agg canvas."""
from __future__ import annotations

import math

import numpy as np

from ._text import _FEATURE_COLOURS, _METRIC_COLOURS, FEATURE_LABELS, METRIC_LABELS

__all__ = ["plot_ood_roc", "plot_training", "plot_ood_auroc", "plot_iqa_levels"]


# --------------------------------------------------------------------------- #
# plots
# --------------------------------------------------------------------------- #
def _new_figure(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _grid(n, ncols):
    ncols = min(ncols, n)
    return math.ceil(n / ncols), ncols


def plot_ood_roc(ood, path):
    chals = ood["challenges"]
    nrows, ncols = _grid(len(chals), 5)
    fig = _new_figure(3.0 * ncols, 3.0 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, chal in zip(axes.flat, chals):
        for f in ood["features"]:
            curve = ood["roc"][chal][f]
            auc = ood["mean_auroc_by_challenge"][chal][f]
            ax.plot(curve["fpr"], curve["tpr"], color=_FEATURE_COLOURS.get(f), lw=1.4,
                    label=f"{FEATURE_LABELS.get(f, f)} ({auc:.2f})")
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls=":")
        ax.set_title(chal.replace("_", " "), fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="lower right", title="AUROC", title_fontsize=6.5)
    for ax in axes.flat[len(chals):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("true positive rate (clean accepted)", fontsize=7.5)
    for ax in axes[-1, :]:
        ax.set_xlabel("false positive rate (distorted accepted)", fontsize=7.5)
    fig.suptitle(
        f"ROC per unseen challenge type (levels {', '.join(map(str, ood['levels']))} pooled vs clean)", fontsize=11
    )
    fig.tight_layout()
    fig.savefig(path)


def plot_training(ood, path):
    model = ood["model"]
    fig = _new_figure(7.0, 3.6)
    ax = fig.subplots()
    epochs = np.arange(1, len(model["history"]) + 1)
    ax.plot(epochs, model["history"], color="#1f77b4", lw=1.4, label="training loss (training mode)")
    if model.get("validation_history"):
        ax.plot(epochs, model["validation_history"], color="#d62728", lw=1.4,
                label="validation loss (held-out clean digits)")
    if model.get("best_epoch"):
        ax.axvline(model["best_epoch"], color="#555555", ls=":", lw=1.0,
                   label=f"kept: epoch {model['best_epoch']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss per image (BCE + KL)")
    low = min(v for v in model["history"] + (model.get("validation_history") or []) if math.isfinite(v))
    ax.set_ylim(0.95 * low, 2.0 * low)
    ax.set_title("Training the autoencoder (early stopping on the validation loss)", fontsize=11)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def plot_ood_auroc(ood, path):
    chals, feats = ood["challenges"], ood["features"]
    fig = _new_figure(max(8.0, 0.9 * len(chals) + 3.5), 4.2)
    ax = fig.subplots()
    x = np.arange(len(chals))
    width = 0.8 / len(feats)
    for k, f in enumerate(feats):
        vals = [ood["mean_auroc_by_challenge"][c][f] for c in chals]
        ax.bar(x + (k - (len(feats) - 1) / 2) * width, vals, width, color=_FEATURE_COLOURS.get(f),
               label=f"{FEATURE_LABELS.get(f, f)} (mean {ood['summary'][f]['auroc']:.3f})")
    ax.axhline(0.5, color="black", lw=0.8, ls=":")
    ax.set_xticks(x)
    ax.set_xticklabels([c.replace("_", " ") for c in chals], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("AUROC (mean over levels)")
    ax.set_title("OOD detection: gradients vs activations per unseen challenge type", fontsize=11)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path)


def plot_iqa_levels(iqa, path):
    dists, levels = iqa["distortions"], iqa["levels"]
    unit = [m for m in iqa["metrics"] if m != "psnr"]
    nrows, ncols = _grid(len(dists), 4)
    fig = _new_figure(3.6 * ncols, 3.0 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    rows = iqa["scores"]

    def mean_curve(d, m):
        return [float(np.mean([r[m] for r in rows if r["distortion"] == d and r["level"] == lv])) for lv in levels]

    for k, (ax, d) in enumerate(zip(axes.flat, dists)):
        handles = []
        for m in unit:
            handles += ax.plot(levels, mean_curve(d, m), marker="o", ms=3, color=_METRIC_COLOURS.get(m),
                               label=METRIC_LABELS.get(m, m))
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(d.replace("_", " "), fontsize=10)
        ax.set_xticks(levels)
        ax.tick_params(labelsize=7)
        if "psnr" in iqa["metrics"]:
            ax2 = ax.twinx()
            psnr = [v if math.isfinite(v) else np.nan for v in mean_curve(d, "psnr")]
            handles += ax2.plot(levels, psnr, marker="s", ms=3, ls="--", color=_METRIC_COLOURS["psnr"],
                                label="PSNR (dB, right axis)")
            ax2.tick_params(labelsize=7)
        if k == 0:
            ax.legend(handles=handles, fontsize=6.5, loc="lower left")
    for ax in axes.flat[len(dists):]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel("distortion level (5 = most severe)", fontsize=7.5)
    for ax in axes[:, 0]:
        ax.set_ylabel("score, mean over photos", fontsize=7.5)
    fig.suptitle("IQA proxy: quality score vs distortion level (higher score = better quality)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
