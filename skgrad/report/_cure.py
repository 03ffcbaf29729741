"""The report of ``skgrad ood --cure-tsr``: ``metrics.json``, ``cure_accuracy.png`` and
``report.html`` with the poster-style table, our numbers beside the poster's."""
from __future__ import annotations

import html

from ._files import atomic_write, start_report
from ._html import _CSS, _html_table, _img
from ._plots import _new_figure
from ._text import _fmt

__all__ = ["write_cure_report"]

_METRICS = (("accuracy", "Accuracy (%)", 2), ("auroc", "AUROC", 3), ("fpr_at_95_tpr", "FPR at 95% TPR", 3),
            ("detection_error", "Detection error", 3))


def _labels():
    from ..cure import FEATURE_LABELS, POSTER_TYPES
    from ..distortions import CHALLENGES

    return FEATURE_LABELS, [CHALLENGES[c - 1] for c in POSTER_TYPES]


def _columns(results):
    """Test types in the poster's order, then any other tested type."""
    _, poster = _labels()
    tested = list(results["protocol"]["test_types"])
    return [t for t in poster if t in tested] + [t for t in tested if t not in poster]


def _plot_accuracy(results, path):
    import numpy as np

    labels, _ = _labels()
    cols = _columns(results)
    ours, poster = results["table"]["accuracy"], results["poster_accuracy_percent"]
    fig = _new_figure(1.6 * len(cols) + 2.5, 3.6)
    ax = fig.subplots()
    width = 0.8 / len(labels)
    colours = ("#1f77b4", "#2ca02c", "#9467bd", "#d62728")
    for k, (fs, colour) in enumerate(zip(labels, colours)):
        x = np.arange(len(cols)) + (k - (len(labels) - 1) / 2) * width
        ax.bar(x, [ours[fs][c] for c in cols], width, color=colour, label=f"{labels[fs]} (ours)")
        ax.scatter(x, [poster[fs].get(c, np.nan) for c in cols], marker="_", s=140, color="black", zorder=3,
                   label="poster (published, CURE-TSR)" if k == 0 else None)
    ax.set_xticks(np.arange(len(cols)), [c.replace("_", " ") for c in cols], fontsize=8)
    ax.set_ylabel("accuracy (%), mean over levels", fontsize=8)
    ax.set_ylim(0, 100)
    ax.axhline(50, color="#bbbbbb", lw=0.8, ls=":")
    ax.legend(fontsize=6.5, loc="lower left", ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def _html(results, image):
    e = html.escape
    labels, _ = _labels()
    cols = _columns(results)
    p, table, poster = results["protocol"], results["table"], results["poster_accuracy_percent"]
    ae = p["autoencoder"]
    shown = results["fpr_at_95_tpr_shown"]
    fpr_text = ("exact over all thresholds (skgrad's definition, <code>skgrad.metrics.fpr_at_95_tpr</code>)"
                if shown == "exact" else
                "the authors' convention: inliers positive, thresholds 0, 0.05, ..., 0.95 only, the one whose TPR is "
                "closest to 0.95 (<code>fpr_at_95_tpr(convention=\"authors\")</code>)")
    sets = p["sets"]
    n_test = sorted({v["n_images"] for k, v in sets.items() if k.startswith("test_")})
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>skgrad: the OOD protocol of Kwon et al. on CURE-TSR</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Out-of-distribution classification, the authors' CURE-TSR protocol</h1>",
        f"<p>Folder <code>{e(p['root'])}</code>, images resized to {p['image_size']}x{p['image_size']}. "
        f"The paper's VAE was trained on {sets['inliers_train']['n_images']} images of "
        f"<code>{e(sets['inliers_train']['folder'])}</code> (Adam, learning rate {ae['learning_rate']:g}, batch "
        f"{ae['batch_size']}, {ae['n_epochs']} epochs, the weights of epoch {ae['best_epoch']} kept: the lowest loss "
        f"on {e(ae['validation'])}). A <b>{e(p['classifier'])}</b> classifier per feature set learned "
        f"challenge-free ({sets['inliers_train']['n_images']} images) against "
        f"<em>{e(p['train_outlier']['name'].replace('_', ' '))} level {p['train_outlier']['level']}</em> "
        f"(<code>{e(sets['outliers_train']['folder'])}</code>, {sets['outliers_train']['n_images']} images), "
        + ("kept at the epoch of its lowest validation loss on" if p["classifier"] == "mlp" else
           "its validation loss measured on")
        + f" <code>{e(sets['inliers_val']['folder'])}</code> and "
        f"<code>{e(sets['outliers_val']['folder'])}</code>. Each test type was then tested at levels "
        f"{', '.join(map(str, p['levels']))} ({', '.join(map(str, n_test))} images per level) against the "
        f"{sets['inliers_test']['n_images']} images of <code>{e(sets['inliers_test']['folder'])}</code>. Scores are "
        f"the {e(p['score'])}; the challenge-free images are the positive class.</p>",
        "<h2>The poster's table</h2>",
        "<p>Accuracy (%) at probability 0.5 per test type, averaged over the levels. Each cell: <b>ours</b> "
        "(this run) and, in brackets, <b>the poster's published number</b> (Kwon et al., ICIP 2019, on CURE-TSR; "
        "only accuracy was published). On another data set than CURE-TSR, the poster's numbers are a reference of "
        "scale, not a target.</p>",
    ]
    header = ["features"] + [c.replace("_", " ") for c in cols]
    rows = [[e(labels[fs])] + [f"<b>{table['accuracy'][fs][c]:.2f}</b> ({_fmt(poster[fs].get(c), 2)})"
                               for c in cols] for fs in labels]
    parts.append(_html_table(header, rows, raw=True))
    if image:
        parts.append(_img(image, "accuracy per test type, ours and the poster's"))
    for key, title, digits in _METRICS[1:]:
        extra = f" ({fpr_text})" if key == "fpr_at_95_tpr" else ""
        parts.append(f"<p><b>{title}</b>, ours only, mean over the levels{extra}:</p>")
        rows = [[labels[fs]] + [_fmt(table[key][fs][c], digits) for c in cols] for fs in labels]
        parts.append(_html_table(header, rows))
    parts.append(
        "<p><b>What the numbers mean.</b> Accuracy: the share of test images (clean and challenged together) "
        "classified right at probability 0.5. AUROC: the probability that a random clean image scores above a "
        "random challenged one (0.5 is chance). FPR at 95% TPR: the share of challenged images accepted at the "
        "threshold that keeps 95% of the clean ones (lower is better). Detection error: the smallest mean of the "
        "share of clean images rejected and of challenged images accepted (lower is better). Every number, per "
        "level too, with AUPR-in/out and both FPR conventions, is in <code>metrics.json</code>; every image's score "
        "in <code>scores.csv</code>.</p>"
    )
    detail = []
    for fs in labels:
        for c in cols:
            for lv, r in results["results"][fs][c]["levels"].items():
                detail.append([labels[fs], c.replace("_", " "), str(lv), _fmt(100 * r["accuracy"], 2), _fmt(r["auroc"]),
                               _fmt(r["fpr_at_95_tpr"]), _fmt(r["fpr_at_95_tpr_authors"]), _fmt(r["detection_error"])])
    parts.append("<details><summary>Every test set (features x type x level)</summary>")
    parts.append(_html_table(["features", "type", "level", "accuracy (%)", "AUROC", "FPR95 exact", "FPR95 authors",
                              "det. error"], detail))
    parts.append("</details>")
    clf = results["classifiers"]
    parts.append("<h2>Run</h2><p class=\"note\">Classifiers, validation log-loss / accuracy: " + "; ".join(
        f"{e(labels[fs])} {clf[fs]['val_loss']:.3f} / {clf[fs]['val_accuracy']:.3f}"
        + (f" (epoch {clf[fs]['best_epoch']} of {clf[fs]['n_epochs']})" if "best_epoch" in clf[fs] else "")
        for fs in labels) + f". Wall clock {results['timing']['wall_s']:.0f} s.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_cure_report(results, output):
    """Write ``metrics.json``, ``cure_accuracy.png`` and ``report.html`` of a CURE-TSR protocol run.

    Parameters
    ----------
    results : dict
        The first value returned by :func:`skgrad.cure.run_cure_protocol`.
    output : str or path-like
        Folder (created when missing).

    Returns
    -------
    Path
        The path of ``report.html``.
    """
    out, can_plot = start_report(results, output)
    image = None
    if can_plot:
        image = out / "cure_accuracy.png"
        _plot_accuracy(results, image)
    atomic_write(out / "report.html", _html(results, image))
    return out / "report.html"
