"""Average ranks: skgrad's packed-key sort vs ``scipy.stats.rankdata``, side by side.

The inputs are the real ones of the full-reference quality scores: the
thresholded UNIQUE and gradient feature vectors of a 512x384 pair with a
400-unit patch autoencoder (the authors' weights with ``--weights``, else one
fitted here for a few iterations on built-in photos: the sizes, and so the
timings, are the same).  The figures go into the docstring of
``skgrad/metrics/_ranks.py``.

    python benchmarks/bench_ranks.py [--weights ImageNet_Weights_YGCr.mat] [--repeat 15]
"""
import argparse
import time

import numpy as np
from scipy import stats

from skgrad.datasets import center_crop_resize, load_sample_photos
from skgrad.distortions import apply_photo_distortion
from skgrad.iqa import SparsePatchAutoencoder, activation_features, gradient_features
from skgrad.iqa.quality import THRESHOLD
from skgrad.metrics._ranks import average_ranks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="the authors' ImageNet_Weights_YGCr.mat")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    photos = [center_crop_resize(p, 512, 384) for p in load_sample_photos()]
    if args.weights:
        model = SparsePatchAutoencoder.from_mat(args.weights)
    else:
        model = SparsePatchAutoencoder(n_hidden=400, n_patches=5000, max_iter=5, random_state=0).fit(photos[1:])
    reference = photos[0]
    distorted = apply_photo_distortion(reference, "blur", 2, random_state=0)
    pair = dict(reference=reference, distorted=distorted, model=model)
    inputs = {"gradient features": gradient_features(**pair).reference,
              "UNIQUE features": activation_features(**pair)[0]}
    print(f"pair {reference.shape}, numpy {np.__version__}; median of {args.repeat} runs")
    for name, values in inputs.items():
        values = np.array(values, dtype=np.float64)
        values[values < THRESHOLD] = 0.0
        assert np.array_equal(average_ranks(values), stats.rankdata(values))
        times = {"average_ranks": [], "rankdata": []}
        for _ in range(args.repeat):  # interleaved: both see the same machine load
            for key, func in (("average_ranks", average_ranks), ("rankdata", stats.rankdata)):
                t0 = time.perf_counter()
                func(values)
                times[key].append(time.perf_counter() - t0)
        ours, scipy_ = np.median(times["average_ranks"]), np.median(times["rankdata"])
        print(f"{name:>18}: {values.size:>7} values  average_ranks {1e3 * ours:6.1f} ms  "
              f"rankdata {1e3 * scipy_:6.1f} ms  ratio {scipy_ / ours:.2f}x")


if __name__ == "__main__":
    main()
