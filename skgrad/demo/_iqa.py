"""The IQA proxy of ``skgrad demo``: does each score fall as the distortion level rises?

No human opinion scores ship with any package, so the check is the Spearman
correlation between score and level within each built-in photo and
distortion type.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["run_iqa"]


class _NoClock:
    """Stage times without log messages (the IQA proxy run alone)."""

    def __init__(self):
        self.marks = {}

    def __call__(self, msg):
        pass

    def mark(self, name, start):
        self.marks[name] = round(time.perf_counter() - start, 2)


def _nanmean(values):
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _ssim(ref, dist):
    """SSIM on the BT.601 luma with Wang et al.'s settings (as benchmarks/bench_iqa.py)."""
    from skimage.metrics import structural_similarity

    from ..iqa import rgb2ycbcr

    return float(structural_similarity(
        rgb2ycbcr(ref)[..., 0].astype(np.float64), rgb2ycbcr(dist)[..., 0].astype(np.float64), data_range=255.0,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def run_iqa(cfg, *, random_state, clock=None, threads=None):
    if clock is None:
        clock = _NoClock()
    if threads is not None:  # in a worker process: limit BLAS there too
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return run_iqa(cfg, random_state=random_state, clock=clock)

    from ..datasets import center_crop_resize, load_sample_photos
    from ..distortions import apply_photo_distortion
    from ..metrics import psnr
    from ..metrics._correlation import spearman

    photos = [center_crop_resize(p, *cfg.iqa_size) for p in load_sample_photos()]
    names = ["china", "flower", "astronaut", "chelsea", "coffee", "rocket"][: len(photos)]
    notes = []
    metrics = {"psnr": psnr}
    try:
        import skimage.metrics  # noqa: F401

        metrics["ssim"] = _ssim
    except ImportError:
        notes.append("scikit-image is not installed: SSIM was skipped")

    from ..iqa import SparsePatchAutoencoder, quality_scores

    # Two-fold cross-fitting: each photo is scored by a patch autoencoder that
    # never saw it (the authors' ImageNet weights are not shipped).
    t = time.perf_counter()
    folds = [list(range(0, len(photos), 2)), list(range(1, len(photos), 2))]
    clock(
        f"IQA: fitting two sparse patch autoencoders ({cfg.iqa_hidden} hidden units, "
        f"{cfg.iqa_patches} patches, {cfg.iqa_iter} L-BFGS iterations) on built-in photos, cross-fitted"
    )
    models, losses = [None] * len(photos), []
    if len(photos) < 2:
        folds = [list(range(len(photos)))]
    for k, fold in enumerate(folds):
        train = [photos[i] for i in range(len(photos)) if i not in fold] or [photos[i] for i in fold]
        m = SparsePatchAutoencoder(
            n_hidden=cfg.iqa_hidden, n_patches=cfg.iqa_patches, max_iter=cfg.iqa_iter,
            random_state=random_state + k,
        ).fit(train)
        losses.append(float(m.loss_))
        for i in fold:
            models[i] = m
    metrics["unique"] = metrics["gradient"] = None  # both from quality_scores, one preprocessing per pair
    model_info = {
        "n_hidden": cfg.iqa_hidden, "n_patches": cfg.iqa_patches, "max_iter": cfg.iqa_iter,
        "training_loss": losses,
        "fit": "2-fold cross-fitting: photos at even positions are scored by the model fitted on "
        "the odd ones and vice versa (the authors' ImageNet weights are not available at run time)",
    }
    clock.mark("iqa_fit", t)

    t = time.perf_counter()
    clock(f"IQA: {len(photos)} photos x {len(cfg.iqa_distortions)} distortions x 5 levels")
    rows = []
    rng = np.random.RandomState(random_state)
    levels = [1, 2, 3, 4, 5]
    for i, ref in enumerate(photos):
        for dist_name in cfg.iqa_distortions:
            s = int(rng.randint(np.iinfo(np.int32).max))
            for level in levels:
                dist = apply_photo_distortion(ref, dist_name, level, random_state=s)
                row = {"reference": names[i], "distortion": dist_name, "level": level}
                for m, f in metrics.items():
                    if f is not None:
                        row[m] = f(ref, dist)
                row.update(quality_scores(reference=ref, distorted=dist, model=models[i]))
                rows.append(row)
    clock.mark("iqa_score", t)

    # Signed so that 1 means the score falls strictly with every level.
    mono, across = {}, {}
    for m in metrics:
        per = {}
        for dist_name in cfg.iqa_distortions:
            rhos = [-spearman([r[m] for r in rows if r["reference"] == name and r["distortion"] == dist_name],
                               levels) for name in names]
            per[dist_name] = _nanmean(rhos)
        mono[m] = {"mean": _nanmean(list(per.values())), "by_distortion": per}
        # Harder: over all distorted versions of a photo, of every type at once. It
        # assumes equal levels of different types are equally severe (no human rated
        # that); it is the only number that separates the metrics when all of them
        # fall strictly within every type.
        per_photo = {name: -spearman([r[m] for r in rows if r["reference"] == name],
                                      [r["level"] for r in rows if r["reference"] == name]) for name in names}
        across[m] = {"mean": _nanmean(list(per_photo.values())), "by_photo": per_photo}
    return {
        "photos": names,
        "size": list(cfg.iqa_size),
        "distortions": list(cfg.iqa_distortions),
        "levels": levels,
        "metrics": list(metrics),
        "model": model_info,
        "notes": notes,
        "scores": rows,
        "spearman_vs_level": mono,
        "spearman_vs_level_across_types": across,
        "stages_s": clock.marks,
    }


