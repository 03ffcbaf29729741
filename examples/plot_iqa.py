"""
Full-reference quality scores against distortion level
======================================================

Real photographs (scikit-image's astronaut, chelsea, coffee and rocket) are
degraded at 5 levels by Gaussian noise, Gaussian blur, JPEG and contrast
reduction (Pillow, pixel-based: :func:`skgrad.distortions.apply_photo_distortion`),
and scored by four full-reference metrics: the gradient score of Kwon et al.
(ICIP 2019, :func:`skgrad.iqa.gradient_quality`), UNIQUE's activation score
(:func:`skgrad.iqa.activation_quality`), PSNR and SSIM.  The autoencoder is the
authors' (``--weights ImageNet_Weights_YGCr.mat``, see :doc:`/datasets`) or a
:class:`~skgrad.iqa.SparsePatchAutoencoder` fitted here on two *other* photos
(scikit-learn's china and flower).  One panel per metric, one line per
distortion type (mean over the photos, band = min..max), saved as
``iqa_scores_vs_level.png`` in ``--output``.

Read the figure for: do all metrics fall with every level (they should), and
how differently do they rate equal levels of different distortions -- PSNR
rates a contrast reduction far below noise or JPEG of the same level, SSIM
rates noise lowest, the two autoencoder scores keep the four types closer
together (whether that matches human judgement needs a database with opinion
scores: see ``benchmarks/bench_iqa.py``).

``--quick`` scores 2 photos at 256x192 with a 100-unit autoencoder (under half
a minute; the documentation's gallery shows this run); without it, 4 photos at
512x384 with 400 units (about four minutes on a laptop CPU).

Run: ``python examples/plot_iqa.py [--quick] [--output DIR] [--weights MAT]``
"""
import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from skgrad.datasets import center_crop_resize as crop_resize  # noqa: E402
from skgrad.datasets import load_sample_photos  # noqa: E402
from skgrad.distortions import PHOTO_DISTORTIONS, apply_photo_distortion  # noqa: E402
from skgrad.iqa import (SparsePatchAutoencoder, activation_quality,  # noqa: E402
                        gradient_quality, rgb2ycbcr)

#: Display name -> skgrad.distortions.PHOTO_DISTORTIONS kind.
KINDS = {"Gaussian noise": "noise", "Gaussian blur": "blur", "JPEG": "jpeg", "contrast": "contrast"}
LEVELS = {name: PHOTO_DISTORTIONS[kind] for name, kind in KINDS.items()}


def distort(image, name, level, seed=0):
    return apply_photo_distortion(image, KINDS[name], level, random_state=seed)


def ssim(reference, distorted):
    """SSIM of the BT.601 luma (Wang et al.'s settings)."""
    return structural_similarity(
        rgb2ycbcr(reference)[..., 0].astype(float), rgb2ycbcr(distorted)[..., 0].astype(float),
        data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Full-reference quality scores against distortion level")
    parser.add_argument("--quick", action="store_true",
                        help="2 photos at 256x192 and a small autoencoder (< 1 min)")
    parser.add_argument("--output", default=".", help="folder for the PNG")
    parser.add_argument("--weights", help="the authors' ImageNet_Weights_YGCr.mat")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    width, height = (256, 192) if args.quick else (512, 384)
    photos = [crop_resize(p, width, height) for p in load_sample_photos()]
    if len(photos) < 4:
        raise SystemExit("this example needs scikit-image's sample photos")
    training, references = photos[:2], photos[2:4] if args.quick else photos[2:]
    if args.weights:
        model, model_note = SparsePatchAutoencoder.from_mat(args.weights), "authors' weights"
    else:
        settings = (dict(n_hidden=100, n_patches=5000, max_iter=100) if args.quick
                    else dict(n_hidden=400, n_patches=20000, max_iter=150))
        with threadpool_limits(limits=1, user_api="blas"):
            model = SparsePatchAutoencoder(**settings, random_state=0).fit(training)
        model_note = f"autoencoder ({settings['n_hidden']} units) fitted on china + flower"

    metrics = {
        "gradient (Kwon et al.)": lambda r, d: gradient_quality(reference=r, distorted=d, model=model),
        "UNIQUE (activations)": lambda r, d: activation_quality(reference=r, distorted=d, model=model),
        "PSNR (dB)": lambda r, d: peak_signal_noise_ratio(r, d, data_range=255),
        "SSIM (luma)": ssim,
    }
    # scores[metric][kind]: (n_photos, 5)
    scores = {m: {k: np.empty((len(references), 5)) for k in LEVELS} for m in metrics}
    for i, reference in enumerate(references):
        for kind in LEVELS:
            for level in range(1, 6):
                distorted = distort(reference, kind, level, seed=i)
                for metric, func in metrics.items():
                    scores[metric][kind][i, level - 1] = func(reference, distorted)

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2), constrained_layout=True)
    levels = np.arange(1, 6)
    for ax, (metric, by_kind) in zip(axes, scores.items()):
        for kind, values in by_kind.items():
            line, = ax.plot(levels, values.mean(axis=0), marker="o", label=kind)
            ax.fill_between(levels, values.min(axis=0), values.max(axis=0),
                            color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_title(metric)
        ax.set_xlabel("distortion level (1 = mild, 5 = severe)")
        ax.set_xticks(levels)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score (higher = better quality)")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"Full-reference scores of {len(references)} photos ({width}x{height}) "
                 f"vs distortion level; {model_note}; line = mean, band = min..max")
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "iqa_scores_vs_level.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
