"""The three speed ratios of the IQA code, measured side by side in one run.

Usage::

    .venv/bin/python benchmarks/bench_iqa_speed.py [--repeat 7] [--n-jobs -1] [--json F]
    .venv/bin/python benchmarks/bench_iqa_speed.py --quick      # a smoke run (tiny tree)

Each repeat runs, one after the other (so that the machine's load hits every
measurement alike; the ratios are the medians over the repeats; the in-process
calls 5 times each per repeat, interleaved, as a user scoring pairs makes them):

1. ``gradient_quality`` on one 512x384 pair, and scikit-image's
   ``structural_similarity(..., channel_axis=2)`` on the same pair (target: ratio
   <= 1.0);
2. ``skgrad iqa --dataset tid2013`` (a new process, start-up included) on a
   TID2013-shaped folder of real photographs -- 2 references x 40 distorted
   images at 512x384 -- as time per pair, and one ``gradient_quality`` plus one
   ``activation_quality`` call on a pair of that folder (target: ratio <= 0.5);
3. ``skgrad --help`` and ``python -c "import numpy"``, two new processes (target:
   ratio <= 4); and ``python -c "import skgrad"``.

Also ``skgrad iqa --limit 2`` on the same folder, the fixed cost of the command:
the throughput on the whole of TID2013 (3,000 pairs) is extrapolated as
``fixed + 2,998 x (t(80 pairs) - t(2 pairs)) / 78``.

The photographs are scikit-image's ``astronaut`` and ``coffee`` (shipped in its
wheel), centre-cropped to 512x384; the distortions are skgrad's photo distortions
(Gaussian noise, blur, JPEG, contrast) and four CURE-TSR challenges, 5 levels
each, stored as BMP files as in TID2013.  The model is the authors'
``ImageNet_Weights_YGCr.mat`` from ``../shared`` when present, else a
400-unit autoencoder fitted in a few seconds on scikit-learn's ``china`` and
``flower`` (the same sizes, so the same cost).
"""
import argparse
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
AUTHORS_WEIGHTS = SHARED / "data" / "unique" / "ImageNet_Weights_YGCr.mat"
#: TID2013 distortion ids used for the folder's distortions (two digits in the names).
DISTORTIONS = {"noise": 1, "blur": 8, "jpeg": 10, "contrast": 17,
               "codec_error": 12, "darkening": 16, "haze": 22, "lens_blur": 24}
TID2013_PAIRS = 3000


def make_tid2013_tree(root, n_references=2, n_distorted=40, size=(512, 384)):
    """A folder that :func:`skgrad.datasets.load_tid2013` reads: ``n_references``
    real photographs (``width, height = size``) and ``n_distorted`` distorted
    versions of each (8 distortions x 5 levels at most), with made-up MOS values.
    Returns ``root``."""
    from PIL import Image

    from skgrad.datasets import center_crop_resize, load_sample_photos
    from skgrad.distortions import PHOTO_DISTORTIONS, apply_challenge, apply_photo_distortion

    if not 1 <= n_distorted <= 5 * len(DISTORTIONS):
        raise ValueError(f"n_distorted must be in 1..{5 * len(DISTORTIONS)}; got {n_distorted}")
    photos = load_sample_photos()             # china, flower, then astronaut, chelsea, coffee, rocket
    photos = [photos[i] for i in (2, 4, 3, 5, 0, 1) if i < len(photos)][:n_references]
    root = Path(root)
    (root / "reference_images").mkdir(parents=True, exist_ok=True)
    (root / "distorted_images").mkdir(exist_ok=True)
    lines = []
    kinds = [(kind, level) for level in range(1, 6) for kind in DISTORTIONS][:n_distorted]
    for r, photo in enumerate(photos, 1):
        reference = center_crop_resize(photo, *size)
        Image.fromarray(reference).save(root / "reference_images" / f"I{r:02d}.BMP")
        for kind, level in kinds:
            if kind in PHOTO_DISTORTIONS:
                distorted = apply_photo_distortion(reference, kind, level, random_state=r)
            else:
                distorted = apply_challenge(reference[None], kind, level, random_state=r)[0]
            name = f"i{r:02d}_{DISTORTIONS[kind]:02d}_{level}.bmp"
            Image.fromarray(distorted).save(root / "distorted_images" / name)
            lines.append(f"{6.0 - level + 0.1 * r:.4f} {name}")
    (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
    return root


def weights_file(folder, quick=False):
    """The authors' weights, else a fitted 400-unit model written in their format."""
    if AUTHORS_WEIGHTS.is_file():
        return AUTHORS_WEIGHTS, "the authors' ImageNet_Weights_YGCr.mat"
    from scipy.io import savemat

    from skgrad.datasets import load_sample_photos
    from skgrad.iqa import SparsePatchAutoencoder

    n_hidden = 16 if quick else 400
    model = SparsePatchAutoencoder(n_hidden=n_hidden, n_patches=2000, max_iter=10, random_state=0)
    model.fit(load_sample_photos()[:2])
    theta = np.concatenate([model.W1_.ravel(order="F"), model.W2_.ravel(order="F"),
                            model.b1_, model.b2_])
    path = Path(folder) / "weights.mat"
    savemat(path, {"optTheta": theta[:, None]})
    return path, f"a {n_hidden}-unit autoencoder fitted on china and flower"


def _process_seconds(args, env=None):
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{proc.stderr[-2000:]}")
    return seconds


def _load():
    """The 1-minute load average (other processes' demand for the cores), or 'n/a'."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def _call_seconds(func, **kwargs):
    start = time.perf_counter()
    func(**kwargs)
    return time.perf_counter() - start


def _interleaved_calls(calls, n):
    """``{name: median seconds}`` of ``n`` rounds of each call, interleaved."""
    seconds = {name: [] for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            seconds[name].append(call())
    return {name: float(np.median(values)) for name, values in seconds.items()}


def measure(repeat=7, n_jobs=-1, quick=False, calls_per_repeat=5):
    """Run the benchmark; returns a dict of the medians and every repeat's times."""
    from PIL import Image
    from skimage.metrics import structural_similarity

    from skgrad.iqa import SparsePatchAutoencoder, activation_quality, gradient_quality

    load_before = _load()
    n_references, n_distorted = (2, 3) if quick else (2, 40)
    n_pairs = n_references * n_distorted
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    python = sys.executable
    skgrad_cli = [python, "-m", "skgrad.cli"]
    with tempfile.TemporaryDirectory(prefix="skgrad-bench-iqa-") as tmp:
        tree = make_tid2013_tree(Path(tmp) / "tid2013", n_references, n_distorted,
                                 size=(128, 96) if quick else (512, 384))
        weights, weights_text = weights_file(tmp, quick)
        model = SparsePatchAutoencoder.from_mat(weights)
        with Image.open(tree / "reference_images" / "I01.BMP") as image:
            reference = np.asarray(image.convert("RGB"))
        with Image.open(tree / "distorted_images" / "i01_10_2.bmp"
                        if not quick else next((tree / "distorted_images").iterdir())) as image:
            distorted = np.asarray(image.convert("RGB"))
        pair = dict(reference=reference, distorted=distorted, model=model)
        iqa = [*skgrad_cli, "iqa", "--dataset", "tid2013", "--root", str(tree), "--weights",
               str(weights), "--n-jobs", str(n_jobs), "--output", str(Path(tmp) / "out")]
        calls = {
            "ssim": lambda: _call_seconds(structural_similarity, im1=reference, im2=distorted,
                                          channel_axis=2),
            "gradient_quality": lambda: _call_seconds(gradient_quality, **pair),
            "activation_quality": lambda: _call_seconds(activation_quality, **pair),
        }
        steps = {
            # the three functions as a user scoring pairs calls them: back to back,
            # interleaved, `calls_per_repeat` times each (their median)
            "calls": lambda: _interleaved_calls(calls, calls_per_repeat),
            "skgrad_iqa": lambda: _process_seconds(iqa, env),
            "skgrad_iqa_limit2": lambda: _process_seconds([*iqa, "--limit", "2"], env),
            "skgrad_help": lambda: _process_seconds([*skgrad_cli, "--help"], env),
            "import_numpy": lambda: _process_seconds([python, "-c", "import numpy"], env),
            "import_skgrad": lambda: _process_seconds([python, "-c", "import skgrad"], env),
        }
        _interleaved_calls(calls, 1)                          # warm-up
        steps["import_numpy"]()
        times = {name: [] for name in [*calls, *steps] if name != "calls"}
        for _ in range(repeat):
            for name, step in steps.items():
                seconds = step()
                for key, value in (seconds.items() if name == "calls" else [(name, seconds)]):
                    times[key].append(value)
    t = {name: np.asarray(values) for name, values in times.items()}
    per_pair_cli = t["skgrad_iqa"] / n_pairs
    marginal = (t["skgrad_iqa"] - t["skgrad_iqa_limit2"]) / (n_pairs - 2)
    tid2013 = t["skgrad_iqa_limit2"] + (TID2013_PAIRS - 2) * marginal
    ratios = {
        "gradient_quality / ssim": t["gradient_quality"] / t["ssim"],
        "skgrad iqa per pair / (gradient_quality + activation_quality)":
            per_pair_cli / (t["gradient_quality"] + t["activation_quality"]),
        "skgrad --help / import numpy": t["skgrad_help"] / t["import_numpy"],
    }
    return {
        "load_before": load_before, "load_after": _load(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "model": weights_text, "n_pairs": n_pairs, "n_jobs": n_jobs, "repeat": repeat,
        "median_seconds": {name: float(np.median(v)) for name, v in t.items()},
        "median_ratios": {name: float(np.median(v)) for name, v in ratios.items()},
        "targets": dict(zip(ratios, (1.0, 0.5, 4.0))),
        "tid2013_pairs_per_second": float(np.median(TID2013_PAIRS / tid2013)),
        "tid2013_seconds": float(np.median(tid2013)),
        "marginal_seconds_per_pair": float(np.median(marginal)),
        "times": {name: v.tolist() for name, v in t.items()},
    }


def report(result):
    lines = [f"{result['machine']}; model: {result['model']}; {result['n_pairs']} pairs, "
             f"--n-jobs {result['n_jobs']}; medians of {result['repeat']} interleaved repeats; "
             f"load average before/after {result['load_before']} / {result['load_after']}",
             ""]
    for name, seconds in result["median_seconds"].items():
        lines.append(f"  {name:<20} {1e3 * seconds:9.1f} ms")
    lines.append("")
    for name, ratio in result["median_ratios"].items():
        target = result["targets"][name]
        lines.append(f"  {name:<62} {ratio:6.3f}  (target <= {target:g}: "
                     f"{'met' if ratio <= target else 'NOT met'})")
    if result["tid2013_seconds"] > 0:
        lines.append(f"  TID2013 (3,000 pairs), extrapolated: {result['tid2013_seconds']:.0f} s, "
                     f"{result['tid2013_pairs_per_second']:.1f} pairs/s (marginal cost "
                     f"{1e3 * result['marginal_seconds_per_pair']:.0f} ms per pair)")
    else:
        lines.append("  TID2013 extrapolation: n/a (the folder is too small to tell the cost per pair)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny folder and model")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    args = parser.parse_args(argv)
    result = measure(repeat=1 if args.quick else args.repeat, n_jobs=args.n_jobs, quick=args.quick)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
