"""``report.html``: the page a person reads, plots embedded."""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from ._text import FEATURE_LABELS, _fmt, _iqa_rows, _ood_rows

__all__ = ["_html"]


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:3px 9px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}tr.mean td{font-weight:600;background:#fafafa}
td.best{background:#e6f4e6;font-weight:600}.note{color:#555;font-size:0.92em}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}code{background:#f4f4f4;padding:0 3px}
"""


def _html_table(header, rows, *, best=None, mean_last=False, raw=False):
    esc = (lambda s: s) if raw else (lambda s: html.escape(str(s)))
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = ' class="mean"' if mean_last and i == len(rows) - 1 else ""
        cells = []
        for j, cell in enumerate(row):
            mark = ' class="best"' if best is not None and j > 0 and best(i, j, row) else ""
            cells.append(f"<td{mark}>{esc(cell)}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _best_in_row(i, j, row, *, lowest=False):
    vals = []
    for c in row[1:]:
        try:
            vals.append(float(c))
        except ValueError:
            vals.append(float("nan"))
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return False
    target = min(finite) if lowest else max(finite)
    try:
        return float(row[j]) == target
    except ValueError:
        return False


def _img(path, alt):
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _html(results, images):
    ood, iqa, timing, cfg = results["ood"], results["iqa"], results["timing"], results["config"]
    data, model = ood["data"], ood["model"]
    e = html.escape
    feats = ood["features"]
    tr = ood["train_outliers"]
    levels = ", ".join(map(str, ood["levels"]))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>skgrad demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>skgrad demo: autoencoder gradients as features</h1>",
        f'<p class="note">Mode <b>{e(results["mode"])}</b>; {timing["wall_s"]:.0f} s wall clock, '
        f'{timing["cpu_s"]:.0f} s CPU, on {timing["cpu_count"]} CPU cores'
        + (f' (load average {timing["load_average"][0]:.1f} at the end of the run: other processes '
           "were competing for the cores)" if timing.get("load_average") and timing["load_average"][0] > (timing["cpu_count"] or 1) else "")
        + f'; random_state={cfg["random_state"]}. Everything ran on real images that ship with installed '
        "packages; nothing was downloaded. All numbers are in <code>metrics.json</code>.</p>",
        "<p>The method (Kwon et al., ICIP 2019): train an autoencoder on clean images only. For a new image, "
        "backpropagate its loss and use the <em>weight gradients</em> - how much the model would have to change "
        "to represent this image - as features. Images unlike the training data need larger and differently "
        "shaped updates. The baseline uses the <em>activations</em> (the latent code) of the same network "
        "instead.</p>",
        "<h2>1. Out-of-distribution detection on handwritten digits</h2>",
        "<p><b>What was trained.</b> The paper's VAE (four stride-2 convolutions, a 20-dimensional latent code, "
        f"mirrored transposed convolutions) on {data['n_autoencoder']} clean "
        f"{e(data['source'])} digits ({e(data['description'])}), 28x28 replicated to 3 channels, "
        f"BCE + KL with Adam (learning rate {model.get('learning_rate', 0):g}): "
        + (f"{model['n_epochs']} epochs ran (at most {model['epochs']}; training stops when the loss of held-out "
           f"clean digits has not improved for {model.get('n_iter_no_change', 10)} epochs) and the weights of epoch {model['best_epoch']}, "
           "the lowest validation loss, were kept"
           + ("; the validation loss was still falling when this quick run's cap of epochs stopped it "
              "(the full demo, <code>skgrad demo</code>, trains to convergence)" if model.get("converged") is False else "")
           if model.get("early_stopping") and model.get("n_epochs") is not None
           else f"{model['epochs']} epochs")
        + ". Features of each image:</p><ul>"
        f"<li><b>gradients</b>: the per-sample gradient of the reconstruction loss (BCE) w.r.t. the last decoder "
        f"weight and of the KL term w.r.t. the last encoder convolution, {model['gradient_features']} values "
        f"({e(', '.join(f'{k}: {v[0]}' for k, v in model['gradient_layers'].items()))});</li>"
        f"<li><b>activations</b>: the latent mean, {model['activation_features']} values "
        + ("(of the same trained network)" if model.get("activations_from_identical_weights")
           else "(of a second fit of the network)")
        + ";</li><li><b>reconstruction error</b>: the per-image BCE, 1 value.</li></ul>"
        f"<p>For each kind a logistic regression (after standardisation) learned clean vs <em>{e(tr['challenge'])} "
        f"level {tr['level']}</em> on {data['n_classifier_clean']} other clean digits and their blurred copies - "
        "the only outlier type it ever sees. It was then tested on "
        f"{data['n_test_clean']} held-out digits, clean vs distorted by each <em>other</em> CURE-TSR challenge type "
        f"at levels {levels} (5 = most severe)."
        + (" The <b>one-class</b> column is skgrad's <code>GradientOutlierDetector</code>: fitted on "
           f"{ood['one_class']['n_fit_clean']} clean digits only (no outlier examples at all); it scores how far "
           "an image's gradients lie from those of held-out clean images." if ood.get("one_class") else "")
        + "</p>",
    ]
    header, rows = _ood_rows(ood)
    parts.append(f"<p><b>AUROC</b> per unseen challenge type (mean over levels {levels}):</p>")
    parts.append(_html_table(header, rows, best=_best_in_row, mean_last=True))
    metric_names = [("auroc", "AUROC", False), ("accuracy", "accuracy", False), ("fpr_at_95_tpr", "FPR at 95% TPR", True),
                    ("detection_error", "detection error", True), ("aupr_in", "AUPR-in", False),
                    ("aupr_out", "AUPR-out", False)]
    rows2 = [[label] + [_fmt(ood["summary"][f][key]) for f in feats] for key, label, _ in metric_names]
    lowest = {i for i, (_, _, low) in enumerate(metric_names) if low}
    parts.append("<p>All of the paper's metrics, averaged over every test set:</p>")
    parts.append(_html_table(["metric"] + [FEATURE_LABELS.get(f, f) for f in feats], rows2,
                             best=lambda i, j, row: _best_in_row(i, j, row, lowest=i in lowest)))
    parts.append(
        "<p><b>What the numbers mean.</b> Each test set is the held-out clean digits plus the same digits "
        "distorted (half outliers). Every score is a <b>normality score, higher = more in-distribution</b> (the "
        "classifiers' log-odds of a clean image; the one-class detector's <code>score_samples</code>), and "
        "the clean images are the positive class. <b>AUROC</b> is the probability that a random clean image "
        "scores higher than a random distorted one: 0.5 is chance, 1.0 perfect; it does not depend on a "
        "threshold. <b>Accuracy</b>: an image is called clean when the classifier's probability of clean is at "
        "least 0.5 (the one-class detector: its own threshold, set so that 10% of its clean training images are "
        "flagged). <b>FPR at 95% TPR</b>: the share of distorted images accepted at the threshold that keeps "
        "95% of the clean ones (lower is better). <b>Detection error</b>: the smallest mean of the share of "
        "clean images rejected and the share of distorted images accepted, over thresholds (lower is better). "
        "<b>AUPR-in/out</b>: average precision with clean / distorted images as the positive class. Best value "
        "per row is shaded.</p>"
    )
    g, a = ood["summary"]["gradients"]["auroc"], ood["summary"]["activations"]["auroc"]
    by = ood["mean_auroc_by_challenge"]
    wins = sum(by[c]["gradients"] > by[c]["activations"] for c in ood["challenges"])
    if g > a:
        verdict = (
            f"Trained on the same single outlier type, the gradient features reach a mean AUROC of {g:.3f} "
            f"against {a:.3f} for the activations, and are ahead on {wins} of {len(ood['challenges'])} unseen "
            "challenge types, as the paper found. The activations only say <em>where</em> an image lands in the "
            "latent space, and a distortion the network never saw can land among clean codes; the gradients say "
            "how the weights would have to move to fit the image, which reflects what the network cannot "
            "represent - and that carries over from blur to distortions the classifier never saw."
        )
    else:
        verdict = (
            f"In this run the gradient features did not beat the activations: mean AUROC {g:.3f} against {a:.3f} "
            f"(gradients ahead on {wins} of {len(ood['challenges'])} unseen challenge types), unlike the paper's "
            "finding. Small training sets, few epochs (<code>--quick</code>) or another seed can cause this."
        )
    others = [f for f in ("reconstruction_error", "one_class_gradients") if f in ood["features"]]
    weak = [c for c in ood["challenges"]
            if by[c]["gradients"] < 0.8 and any(by[c][f] > by[c]["gradients"] + 0.05 for f in others)]
    if weak:
        verdict += (
            f" The classifiers are weakest on {e(', '.join(c.replace('_', ' ') for c in weak))}: a classifier that "
            "saw only blurred digits as outliers has learned little about distortions of another kind (e.g. ones "
            "that add detail), while the scores that do not depend on the outlier type seen in training "
            f"({e(' and '.join(FEATURE_LABELS[f] for f in others))}) do better there."
        )
    parts.append(
        f"<p><b>Gradients vs activations.</b> {verdict} (The reference notes quote, for this protocol on MNIST-5k, "
        "mean AUROC 0.92 / 0.85 / 0.68 for gradients / activations / reconstruction error over five challenge "
        "types at levels 1, 3, 5.)</p>"
    )
    if images.get("training"):
        parts.append(_img(images["training"], "training and validation loss per epoch"))
    if images.get("ood_auroc"):
        parts.append(_img(images["ood_auroc"], "AUROC per challenge type"))
    if images.get("ood_roc"):
        parts.append(_img(images["ood_roc"], "ROC curves per challenge type"))
    detail = [[r["challenge"], str(r["level"]), FEATURE_LABELS.get(r["feature"], r["feature"]), _fmt(r["accuracy"]),
               _fmt(r["auroc"]), _fmt(r["fpr_at_95_tpr"]), _fmt(r["detection_error"]), _fmt(r["aupr_in"]),
               _fmt(r["aupr_out"])] for r in ood["results"]]
    parts.append("<details><summary>Every test set (challenge type x level x features)</summary>")
    parts.append(_html_table(["challenge", "level", "features", "accuracy", "AUROC", "FPR95", "det. error",
                              "AUPR-in", "AUPR-out"], detail))
    parts.append("</details>")
    if ood.get("skipped_challenges"):
        parts.append('<p class="note">Not tested: ' + "; ".join(
            f"{e(c)} ({e(why)})" for c, why in ood["skipped_challenges"].items()) + ".</p>")
    if ood.get("one_class_note"):
        parts.append(f'<p class="note">{e(ood["one_class_note"])}</p>')

    # IQA
    parts.append("<h2>2. Image quality: a proxy on built-in photographs</h2>")
    mdl = iqa.get("model")
    parts.append(
        f"<p>No installed package ships images with human opinion scores, so this is a proxy, not an IQA "
        f"benchmark: {len(iqa['photos'])} colour photos ({e(', '.join(iqa['photos']))}; centre-cropped to 4:3 and "
        f"resized to {iqa['size'][0]}x{iqa['size'][1]}) are distorted by {len(iqa['distortions'])} pixel-based types "
        f"({e(', '.join(iqa['distortions']))}; <code>skgrad.distortions.PHOTO_DISTORTIONS</code>, the same as "
        "<code>benchmarks/bench_iqa.py</code>'s proxy) at levels 1-5, and each full-reference metric compares the "
        "distorted photo with the clean one. A good quality score must fall as the level rises.</p>"
    )
    if mdl:
        parts.append(
            f"<p><b>What was trained.</b> UNIQUE's sparse patch autoencoder (192 -> {mdl['n_hidden']} sigmoid -> 192 "
            f"linear, on whitened 8x8 Y-G-Cr patches; {mdl['n_patches']} patches, {mdl['max_iter']} L-BFGS "
            f"iterations): {e(mdl['fit'])}. <b>UNIQUE</b> compares the hidden activations of the reference and "
            "distorted patches; the <b>gradient</b> score (Kwon et al.) compares their projections on the decoder "
            "weight gradient of the reference. PSNR and SSIM are classical baselines.</p>"
        )
    header, rows = _iqa_rows(iqa)
    parts.append(_html_table(header, rows, best=lambda i, j, row: False))
    parts.append(
        "<p><b>What the numbers mean.</b> The distortion columns and <em>mean</em>: minus Spearman's rank "
        "correlation between a metric's score and the level, within each photo and distortion type (5 levels), "
        "averaged over photos: 1 means the score falls at every step. This is a sanity check that sensible metrics "
        "pass. <em>Across types</em> is harder: the same over all distorted versions of a photo, of every type at "
        "once, averaged over photos - it asks whether a level-3 blur scores below a level-2 JPEG of the same photo. "
        "It assumes that equal levels of different types are equally severe, which no human has rated, so it is "
        "only a rough guide; real IQA databases (<code>skgrad iqa</code>) have opinion scores for that. PSNR is over "
        "the RGB channels; SSIM on the luma channel with Wang et al.'s settings.</p>"
    )
    if images.get("iqa_levels"):
        parts.append(_img(images["iqa_levels"], "IQA score vs level"))
    for note in iqa.get("notes", []):
        parts.append(f'<p class="note">{e(note)}</p>')
    if images.get("missing"):
        parts.append(f'<p class="note">{e(images["missing"])}</p>')
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in timing.get("stages_s", {}).items())
    parts.append(
        f'<h2>Run</h2><p class="note">Stages: {e(stages)}. Threads per process: {timing.get("threads")}'
        + ("; the IQA proxy ran in a second process beside the OOD experiment" if timing.get("iqa_in_second_process") else "")
        + f'. Python {e(results["environment"]["python"])} on {e(results["environment"]["platform"])}. '
        "Plots: <code>training.png</code>, <code>ood_auroc.png</code>, <code>ood_roc.png</code>, <code>iqa_levels.png</code> beside this "
        "file.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
