"""Time activation_quality and gradient_quality on 512x384 pairs.

Usage::

    .venv/bin/python benchmarks/bench_iqa_speed.py [--repeat 15]

Needs ../shared (the authors' weights and the parity images).  Prints the median
wall-clock and CPU time per pair; the target is 0.1 s per pair on 2 CPU cores.
"""
import argparse
from pathlib import Path
import time

import numpy as np
from PIL import Image

from skgrad.iqa import SparsePatchAutoencoder, activation_quality, gradient_quality

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _read(name):
    with Image.open(SHARED / "data" / "iqa-parity" / name) as image:
        return np.asarray(image.convert("RGB"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    model = SparsePatchAutoencoder.from_mat(
        SHARED / "data" / "unique" / "ImageNet_Weights_YGCr.mat")
    reference, distorted = _read("astronaut.png"), _read("astronaut_jpeg_2.png")
    print(f"pair shape {reference.shape}")
    for func in (activation_quality, gradient_quality):
        func(reference=reference, distorted=distorted, model=model)
        wall, cpu = [], []
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            func(reference=reference, distorted=distorted, model=model)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        print(f"{func.__name__:>20}: median wall {1e3 * np.median(wall):6.1f} ms, "
              f"min wall {1e3 * np.min(wall):6.1f} ms, median CPU "
              f"{1e3 * np.median(cpu):6.1f} ms")


if __name__ == "__main__":
    main()
