"""Full-reference IQA benchmark: PSNR, SSIM, UNIQUE, gradients and a learned SVR.

    python benchmarks/bench_iqa.py --tid2013 PATH [--weights ImageNet_Weights_YGCr.mat]
    python benchmarks/bench_iqa.py --livemd PATH    # LIVE Multiply Distorted
    python benchmarks/bench_iqa.py --kadid10k PATH
    python benchmarks/bench_iqa.py [--weights MAT] [--quick]   # proxy, built-in photos

With a database (user-downloaded, see docs/iqa.md) it prints the paper's table --
PLCC and RMSE after the 5-parameter logistic, SROCC, KROCC and the outlier ratio
(:func:`skgrad.metrics.iqa_report`) -- for PSNR, SSIM, UNIQUE
(:func:`skgrad.iqa.activation_quality`), the gradient score
(:func:`skgrad.iqa.gradient_quality`) on all pairs (both scored in bulk by
:func:`skgrad.iqa.score_pairs`, each reference's side once), and then the same metrics and
the learned pipeline (:class:`skgrad.iqa.PairedGradientTransformer` +
``StandardScaler`` + ``SVR``, C and gamma tuned by ``GridSearchCV`` with
``GroupKFold(3)``) on the held-out references of ``--repeats`` 80/20
``GroupShuffleSplit`` splits by reference image (mean over the splits).  The
autoencoder is the authors' (``--weights``) or, without it, one fitted on the
database's reference images (for the SVR: on each split's training references
only).

Without a database it runs a proxy on the built-in photos
(:func:`skgrad.datasets.load_sample_photos`: scikit-learn china/flower,
scikit-image astronaut/chelsea/coffee/rocket, centre-cropped to 4:3 and resized
to 512x384, 256x192 with ``--quick``) with pixel-based distortions at 5 levels
(Gaussian noise, Pillow Gaussian blur, Pillow JPEG, Pillow contrast; see
``LEVELS``).  There is no human score; per metric it reports the mean over
(reference, distortion type) of the Spearman correlation between the score and
the level, signed so that 1 means the score falls strictly with every level
(column ``mean``), and the same correlation over all 20 distorted versions of a
reference (column ``across``: it assumes that equal levels of different types
are equally severe, which no human has rated; it is the only column that
separates the metrics when all of them are perfectly monotone within a type).
The photos are split into two halves by reference; each half is scored with an
autoencoder fitted on the *other* half (or the authors' weights), so no score
uses a model that has seen its reference.  The SVR row is trained on one half's
levels (target: 6 - level) and tested on the other half -- it learns the very
ordering the proxy measures, so it is a sanity check, not a fair comparison.

Notes: SSIM is scikit-image's on the BT.601 luma channel with the settings of
Wang et al. (Gaussian window sigma 1.5, population covariance, data range 255);
PSNR is over the RGB channels (capped at 100 dB for identical images).
"""
import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from skgrad.datasets import center_crop_resize as crop_resize
from skgrad.distortions import PHOTO_DISTORTIONS, apply_photo_distortion as distort
from joblib import Parallel, delayed
from scipy import stats
from sklearn.model_selection import GridSearchCV, GroupKFold, GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from threadpoolctl import threadpool_limits

from skgrad.datasets import (load_kadid10k, load_live_multiply_distorted,
                             load_sample_photos, load_tid2013, read_image)
from skgrad.iqa import (DEFAULT_AUTOENCODER, PairedGradientTransformer,
                        SparsePatchAutoencoder, rgb2ycbcr, score_pairs)
from skgrad.metrics import iqa_report, srocc_scorer

#: Pixel-based distortions, 5 increasingly severe levels each (the parity pairs in
#: shared/data/iqa-parity were made the same way, at 3 of these strengths).
LEVELS = PHOTO_DISTORTIONS
METRICS = ("PSNR", "SSIM", "UNIQUE", "gradient")
SVR_GRID = {"svr__C": [1.0, 10.0, 100.0], "svr__gamma": ["scale", 0.01]}
#: Autoencoder fitted when --weights is not given (the quick mode uses the
#: transformer's fast DEFAULT_AUTOENCODER instead).
FULL_AUTOENCODER = {"n_hidden": 400, "n_patches": 20_000, "max_iter": 150}






def psnr(reference, distorted):
    if np.array_equal(reference, distorted):
        return 100.0
    return min(100.0, float(peak_signal_noise_ratio(reference, distorted, data_range=255)))


def ssim(reference, distorted):
    luma_ref = rgb2ycbcr(reference)[..., 0].astype(np.float64)
    luma_dist = rgb2ycbcr(distorted)[..., 0].astype(np.float64)
    return float(structural_similarity(luma_ref, luma_dist, data_range=255.0,
                                       gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def _classic_scores(reference, distorted):
    if not isinstance(reference, np.ndarray):
        reference, distorted = read_image(reference), read_image(distorted)
    with threadpool_limits(limits=1, user_api="blas"):
        return psnr(reference, distorted), ssim(reference, distorted)


def classic_scores(pairs, n_jobs):
    return np.asarray(Parallel(n_jobs=n_jobs)(
        delayed(_classic_scores)(pair[0], pair[1]) for pair in pairs))


def fit_autoencoder(images, settings, seed=0):
    with threadpool_limits(limits=1, user_api="blas"):
        return SparsePatchAutoencoder(**settings, random_state=seed).fit(images)


def paired_features(model, pairs, n_jobs):
    """PairedGradientTransformer features with a fixed model (used as is)."""
    pgt = PairedGradientTransformer(model=model, n_jobs=n_jobs).fit(pairs[:1])
    names = list(pgt.get_feature_names_out())
    return pgt.transform(pairs), names


def tuned_svr(features, target, groups):
    """StandardScaler + SVR, C and gamma chosen by GridSearchCV(GroupKFold(3))."""
    search = GridSearchCV(make_pipeline(StandardScaler(), SVR()), SVR_GRID,
                          cv=GroupKFold(n_splits=3), scoring=srocc_scorer, n_jobs=1)
    return search.fit(features, target, groups=groups)


def format_table(rows, columns, title):
    width = max(len(r) for r in rows) + 2
    widths = [max(9, len(c)) + 1 for c in columns]
    lines = [title, "metric".ljust(width) + "".join(
        c.rjust(w) for c, w in zip(columns, widths))]
    for name, values in rows.items():
        lines.append(name.ljust(width) + "".join(
            f"{values.get(c, float('nan')):>{w}.3f}" for c, w in zip(columns, widths)))
    return "\n".join(lines)


# ----------------------------------------------------------------- proxy mode
def run_proxy(args):
    width, height = (256, 192) if args.quick else (512, 384)
    photos = [crop_resize(p, width, height) for p in load_sample_photos()]
    names = ["china", "flower", "astronaut", "chelsea", "coffee", "rocket"][:len(photos)]
    halves = [list(range(0, len(photos), 2)), list(range(1, len(photos), 2))]
    pairs, meta = [], []
    for ref_id, photo in enumerate(photos):
        for kind in LEVELS:
            for level in range(1, 6):
                pairs.append([photo, distort(photo, kind, level, seed=ref_id)])
                meta.append((ref_id, kind, level))
    pairs = np.asarray(pairs)
    ref_ids = np.array([m[0] for m in meta])
    kinds = np.array([m[1] for m in meta])
    levels = np.array([m[2] for m in meta])
    print(f"proxy: {len(photos)} photos ({', '.join(names)}) at {width}x{height}, "
          f"{len(LEVELS)} distortions x 5 levels = {len(pairs)} pairs")

    t0 = time.perf_counter()
    classic = classic_scores(pairs, args.n_jobs)
    scores = {"PSNR": classic[:, 0], "SSIM": classic[:, 1]}
    print(f"PSNR + SSIM: {time.perf_counter() - t0:.1f} s")

    if args.weights:
        authors = SparsePatchAutoencoder.from_mat(args.weights)
        models = [authors, authors]
        model_note = f"authors' weights {os.path.basename(args.weights)}"
    else:
        settings = DEFAULT_AUTOENCODER if args.quick else FULL_AUTOENCODER
        t0 = time.perf_counter()
        models = [fit_autoencoder([photos[i] for i in half], settings, seed=k)
                  for k, half in enumerate(halves)]
        model_note = (f"autoencoder {settings} fitted on the other half of the photos "
                      f"(fitting both: {time.perf_counter() - t0:.1f} s)")
    print(f"model: {model_note}")

    # features[k]: every pair's features under models[k] (model k was fitted on
    # halves[k], so it scores halves[1 - k] and trains the SVR that tests them)
    t0 = time.perf_counter()
    features, feature_names = [], None
    for k in range(1 if args.weights else 2):     # one model: one set of features
        f, feature_names = paired_features(models[k], pairs, args.n_jobs)
        features.append(f)
    if args.weights:
        features.append(features[0])
    elapsed = time.perf_counter() - t0
    n_transformed = len(pairs) * (1 if args.weights else 2)
    print(f"PairedGradientTransformer ({len(feature_names)} features, 3 scales): "
          f"{elapsed:.1f} s for {n_transformed} pairs, "
          f"{1e3 * elapsed / n_transformed:.0f} ms per {width}x{height} pair "
          f"(n_jobs={args.n_jobs})")
    g, a = feature_names.index("gradient_score_s1"), feature_names.index(
        "activation_score_s1")
    scores["UNIQUE"] = np.empty(len(pairs))
    scores["gradient"] = np.empty(len(pairs))
    scores["SVR (learned)"] = np.empty(len(pairs))
    for k in range(2):
        test = np.isin(ref_ids, halves[1 - k])
        train = np.isin(ref_ids, halves[k])
        scores["UNIQUE"][test] = features[k][test, a]
        scores["gradient"][test] = features[k][test, g]
        search = tuned_svr(features[k][train], 6.0 - levels[train], ref_ids[train])
        scores["SVR (learned)"][test] = search.predict(features[k][test])

    columns = list(LEVELS) + ["mean", "across"]
    table = {}
    for metric, values in scores.items():
        per_kind = {kind: [] for kind in LEVELS}
        for ref_id in range(len(photos)):
            for kind in LEVELS:
                rows = (ref_ids == ref_id) & (kinds == kind)
                rho = stats.spearmanr(levels[rows], values[rows]).statistic
                per_kind[kind].append(0.0 if np.isnan(rho) else -rho)
        table[metric] = {kind: float(np.mean(v)) for kind, v in per_kind.items()}
        table[metric]["mean"] = float(np.mean(list(per_kind.values())))
        across = [-stats.spearmanr(levels[ref_ids == r], values[ref_ids == r]).statistic
                  for r in range(len(photos))]
        table[metric]["across"] = float(np.mean(across))
    print()
    print(format_table(
        table, columns,
        "Proxy: mean Spearman(score, level) within (reference, distortion), signed "
        "so that 1 = monotone degradation;\n'across' = the same over all 4 x 5 pairs of "
        "a reference (assumes equal levels of different types are equally severe, "
        "which no human has rated)"))
    return table


# -------------------------------------------------------------- database mode
def run_database(args):
    if args.tid2013:
        name, bunch = "TID2013", load_tid2013(args.tid2013)
    elif args.livemd:
        name, bunch = "MULTI-LIVE", load_live_multiply_distorted(args.livemd)
    else:
        name, bunch = "KADID-10k", load_kadid10k(args.kadid10k)
    pairs = np.asarray(bunch.pairs, dtype=object)
    mos = np.asarray(bunch.mos, dtype=np.float64)
    mos_std = None if bunch.mos_std is None else np.asarray(bunch.mos_std, float)
    groups = np.asarray(bunch.groups)
    sign = 1.0 if bunch.higher_is_better else -1.0
    if args.quick:   # the first 5 references only
        keep = np.isin(groups, np.unique(groups)[:5])
        pairs, mos, groups = pairs[keep], mos[keep], groups[keep]
        mos_std = None if mos_std is None else mos_std[keep]
    print(f"{name}: {len(pairs)} pairs, {len(np.unique(groups))} references"
          + (" (--quick: first 5 references)" if args.quick else ""))

    t0 = time.perf_counter()
    classic = classic_scores(pairs, args.n_jobs)
    scores = {"PSNR": classic[:, 0], "SSIM": classic[:, 1]}
    print(f"PSNR + SSIM: {time.perf_counter() - t0:.1f} s")

    settings = DEFAULT_AUTOENCODER if args.quick else FULL_AUTOENCODER
    if args.weights:
        model = SparsePatchAutoencoder.from_mat(args.weights)
    else:
        t0 = time.perf_counter()
        references = [read_image(p) for p in dict.fromkeys(pairs[:, 0])]
        model = fit_autoencoder(references, settings)
        print(f"autoencoder {settings} fitted on the {len(references)} references: "
              f"{time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    quality = score_pairs(pairs, model, n_jobs=args.n_jobs)
    print(f"score_pairs (UNIQUE, gradient): {time.perf_counter() - t0:.1f} s")
    scores["UNIQUE"], scores["gradient"] = quality["unique"], quality["gradient"]
    if args.weights:   # one model for every split: the SVR's features computed once
        t0 = time.perf_counter()
        features, _ = paired_features(model, pairs, args.n_jobs)
        print(f"PairedGradientTransformer: {time.perf_counter() - t0:.1f} s")

    def report(y_pred, rows):
        std = None if mos_std is None else mos_std[rows]
        return iqa_report(mos[rows], y_pred, std,
                          higher_is_better=bunch.higher_is_better)

    columns = ["plcc", "srocc", "krocc", "rmse"] + (
        ["outlier_ratio"] if mos_std is not None else [])
    everything = np.arange(len(pairs))
    full = {metric: report(values, everything) for metric, values in scores.items()}
    print()
    print(format_table(full, columns, f"{name}, all {len(pairs)} pairs"))

    splitter = GroupShuffleSplit(n_splits=args.repeats, test_size=0.2, random_state=0)
    per_split = {metric: [] for metric in list(scores) + ["SVR (learned)"]}
    for split, (train, test) in enumerate(splitter.split(pairs, mos, groups)):
        assert set(groups[train]).isdisjoint(groups[test])
        if args.weights:
            train_features, test_features = features[train], features[test]
        else:   # the autoencoder may only see this split's training references
            pgt = PairedGradientTransformer(
                model=SparsePatchAutoencoder(**settings), n_jobs=args.n_jobs,
                random_state=split)
            with threadpool_limits(limits=1, user_api="blas"):
                train_features = pgt.fit_transform(pairs[train])
            test_features = pgt.transform(pairs[test])
        search = tuned_svr(train_features, mos[train], groups[train])
        prediction = sign * search.predict(test_features)   # higher = better
        for metric, values in scores.items():
            per_split[metric].append(report(values[test], test))
        per_split["SVR (learned)"].append(report(prediction, test))
        print(f"split {split + 1}/{args.repeats}: SVR {search.best_params_}, test "
              f"SROCC {per_split['SVR (learned)'][-1]['srocc']:.3f}")
    mean = {metric: {c: float(np.mean([r[c] for r in reports])) for c in columns}
            for metric, reports in per_split.items()}
    print()
    print(format_table(
        mean, columns, f"{name}, held-out 20% of references, mean of "
        f"{args.repeats} GroupShuffleSplit splits"))
    return full, mean


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--tid2013", metavar="PATH", help="TID2013 root folder")
    data.add_argument("--livemd", metavar="PATH",
                      help="LIVE Multiply Distorted root folder")
    data.add_argument("--kadid10k", metavar="PATH", help="KADID-10k root folder")
    parser.add_argument("--weights", metavar="MAT",
                        help="the authors' ImageNet_Weights_YGCr.mat")
    parser.add_argument("--quick", action="store_true",
                        help="small images / 5 references and a small autoencoder")
    parser.add_argument("--repeats", type=int, default=5,
                        help="80/20 splits by reference for the SVR (default 5)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="pairs scored in parallel (joblib; default 1)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(f"{datetime.date.today()}  {platform.platform()}  python "
          f"{sys.version.split()[0]}  {os.cpu_count()} CPU cores")
    if args.tid2013 or args.livemd or args.kadid10k:
        run_database(args)
    else:
        run_proxy(args)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
