"""Throughput on a shared machine: skgrad's thread defaults against torch's own, side by side.

Measured in one run, each number in a FRESH Python process (the OpenMP runtime's
settings are fixed when torch first starts its threads):

1. ``transform`` of N 28x28x3 images with the "vae" preset, images/s, with
   - ``new``: skgrad's defaults (``n_threads="auto"``),
   - ``old``: torch's own thread settings (``n_threads=None``: what skgrad did before),
   on an idle machine, then with one and with two competing busy processes
   (pure-Python loops, started and stopped by this script, bounded in time);
2. ``fit`` (a fixed 5 epochs) the same way, idle and with one busy process;
3. ``GridSearchCV(n_jobs=2)`` against ``n_jobs=1`` over a small grid of a pipeline
   with ``GradientFeatureTransformer``, wall time, idle.

The ratios (busy/idle, new/old, n_jobs=2/n_jobs=1) are what to read: absolute
times on a shared machine are noise.

Usage: python benchmarks/bench_busy.py [--n 4000] [--repeats 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from skgrad import GradientFeatureTransformer
job = json.loads(sys.argv[1])
rng = np.random.RandomState(0)
X = rng.randint(0, 256, size=(job["n"], 28, 28, 3), dtype=np.uint8)
kw = {} if job["setting"] == "new" else {"n_threads": None}
if "n_threads" not in GradientFeatureTransformer().get_params():
    kw = {}
if job["what"] == "transform":
    est = GradientFeatureTransformer(epochs=0, random_state=0, device="cpu", **kw).fit(X[:64])
    est.transform(X[:256])  # warm up
    best = 0.0
    for _ in range(job["repeats"]):
        t = time.perf_counter()
        est.transform(X)
        best = max(best, len(X) / (time.perf_counter() - t))
    print(json.dumps({"images_per_s": best}))
elif job["what"] == "fit":
    est = GradientFeatureTransformer(epochs=5, early_stopping=False, random_state=0, device="cpu", **kw)
    est.set_params(epochs=1).fit(X[:256]).set_params(epochs=5)  # warm up (first calls allocate)
    best = 0.0
    for _ in range(job["repeats"]):
        t = time.perf_counter()
        est.fit(X)
        best = max(best, 5 * len(X) / (time.perf_counter() - t))
    print(json.dumps({"images_per_s": best}))
else:  # grid search
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    y = np.r_[np.zeros(len(X) // 2), np.ones(len(X) - len(X) // 2)]
    X = X.copy()
    X[len(X) // 2:] //= 2  # the "outliers": darker
    pipe = make_pipeline(GradientFeatureTransformer(epochs=3, early_stopping=False, random_state=0,
                                                    device="cpu", inlier_label=0, **kw),
                         StandardScaler(), LogisticRegression(max_iter=500))
    grid = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0],
                               "gradientfeaturetransformer__batch_size": [32, 64, 128]},
                        cv=3, n_jobs=job["n_jobs"])
    t = time.perf_counter()
    grid.fit(X, y)
    print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def _busy(stop_at):
    """A competing process: a pure-Python loop on one core, until ``stop_at`` (time.time())."""
    x = 0
    while time.time() < stop_at:
        for i in range(100000):
            x += i * i
    return x


def measure(job, busy=0, limit_s=300):
    """Run one measurement in a fresh interpreter, with ``busy`` competing processes alive throughout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_busy, args=(time.time() + limit_s,), daemon=True) for _ in range(busy)]
    for p in procs:
        p.start()
    try:
        time.sleep(0.5 if busy else 0)  # the competitors are running before the measurement starts
        out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], capture_output=True, text=True,
                             env=env, timeout=limit_s)
    finally:
        for p in procs:
            p.terminate()
            p.join()
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000, help="images to transform")
    p.add_argument("--repeats", type=int, default=3, help="best of this many passes per measurement")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--parts", nargs="+", default=["transform", "fit", "grid"],
                   choices=["transform", "fit", "grid"], help="what to measure")
    args = p.parse_args(argv)
    print(f"{os.cpu_count()} CPU cores; load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    for what, busy_levels in (("transform", (0, 1, 2)), ("fit", (0, 1))):
        if what not in args.parts:
            continue
        n = args.n if what == "transform" else max(512, args.n // 4)
        for setting in ("old", "new"):
            for busy in busy_levels:
                r = measure({"what": what, "setting": setting, "n": n, "repeats": args.repeats}, busy=busy)
                results[f"{what}/{setting}/busy{busy}"] = r["images_per_s"]
                print(f"{what:9s} {setting:3s} busy={busy}: {r['images_per_s']:8.0f} images/s", flush=True)
    for setting in ("old", "new") if "grid" in args.parts else ():
        for n_jobs in (1, 2):
            r = measure({"what": "grid", "setting": setting, "n": 1024, "n_jobs": n_jobs, "repeats": 1})
            results[f"grid/{setting}/n_jobs{n_jobs}"] = r["seconds"]
            print(f"GridSearchCV {setting:3s} n_jobs={n_jobs}: {r['seconds']:.1f} s", flush=True)

    print("\nratios")
    for what, busy_levels in (("transform", (1, 2)), ("fit", (1,))):
        if what not in args.parts:
            continue
        for setting in ("old", "new"):
            idle = results[f"{what}/{setting}/busy0"]
            for busy in busy_levels:
                print(f"  {what} {setting}: {busy} busy process(es) / idle = "
                      f"{results[f'{what}/{setting}/busy{busy}'] / idle:.2f}")
        print(f"  {what} idle, new / old = {results[f'{what}/new/busy0'] / results[f'{what}/old/busy0']:.2f}")
    for setting in ("old", "new") if "grid" in args.parts else ():
        print(f"  GridSearchCV {setting}: n_jobs=2 / n_jobs=1 time = "
              f"{results[f'grid/{setting}/n_jobs2'] / results[f'grid/{setting}/n_jobs1']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
