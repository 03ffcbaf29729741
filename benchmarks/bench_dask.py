"""Throughput of skgrad's dask transform with 1 and with 2 workers, side by side.

    .venv/bin/python benchmarks/bench_dask.py [--n-images 4096] [--chunk 256]

Each configuration has its own loopback LocalCluster (worker processes, one
thread each, so one torch thread each), warms it up (torch imported, estimator
shipped, one throw-away pass), then times ``client.persist(gft.transform(X))``
until done, on a dask array of uint8 images generated on the workers: neither
images nor features travel through this process (as with ``extract_features``,
whose workers read and write files themselves).  The two clusters run in turn,
``--repeats`` times, and the best time of each counts, so that a change in the
machine's load hits both alike.  It prints images/s for each and the
ratio 2 workers / 1 worker.  The in-memory transform in this process, with one
torch thread, is printed as the reference for a single core.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _best_rate(fn, n, repeats):  # for the in-memory reference
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=4096)
    p.add_argument("--chunk", type=int, default=256, help="images per dask chunk (task)")
    p.add_argument("--size", type=int, default=28, help="image side (H = W), 3 channels")
    p.add_argument("--module", default="vae", choices=["vae", "cae"])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    import dask.array as da
    import torch
    from distributed import Client, LocalCluster, wait

    from skgrad import GradientFeatureTransformer

    shape = (args.size, args.size, 3)
    train = np.random.RandomState(0).randint(0, 256, size=(256,) + shape, dtype=np.uint8)
    gft = GradientFeatureTransformer(args.module, epochs=1, batch_size=64, random_state=0, device="cpu").fit(train)

    def images(seed):
        X = da.random.RandomState(seed).randint(0, 256, size=(args.n_images,) + shape, chunks=(args.chunk,) + shape)
        return X.astype(np.uint8)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"machine: {os.cpu_count()} CPU cores, load average {load}; torch {torch.__version__}")
    print(
        f"GradientFeatureTransformer({args.module!r}) on {args.n_images} images {shape}, "
        f"{gft.n_features_out_} features, chunks of {args.chunk}, batch_size {gft.batch_size}, "
        f"best of {args.repeats}"
    )

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    local = images(0)[: 4 * args.chunk].compute()
    ref = _best_rate(lambda: gft.transform(local), len(local), args.repeats)
    torch.set_num_threads(before)

    # Both clusters up at once and measured in turn, so that a change in the
    # machine's load hits both alike; best of the repeats for each.
    clusters = {
        n: LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", host="127.0.0.1"
        )
        for n in (1, 2)
    }
    clients = {n: Client(cluster, set_as_default=False) for n, cluster in clusters.items()}
    seeds = iter(range(1, 10**6))

    def run(client):
        # Fresh keys each time (nothing reused from an earlier pass); the features
        # stay on the workers, as with extract_features, which writes them there:
        # this times the workers, not the transfer of n x n_features float32 back
        # to this process.
        with client.as_current():
            Z = gft.transform(images(next(seeds)))  # estimator scattered once per call
            done = client.persist(Z)
            wait(done)
            del done

    try:
        for client in clients.values():
            client.run(__import__, "skgrad")
            run(client)  # warm-up
        best = {n: float("inf") for n in clients}
        for _ in range(args.repeats):
            for n, client in clients.items():
                t0 = time.perf_counter()
                run(client)
                best[n] = min(best[n], time.perf_counter() - t0)
        rates = {n: args.n_images / t for n, t in best.items()}
        for n, client in clients.items():
            threads = sorted(set(client.run(torch.get_num_threads).values()))
            print(f"  {n} worker(s): {rates[n]:8.1f} images/s  (torch threads per worker: {threads})")
    finally:
        for n in clients:
            clients[n].close()
            clusters[n].close()

    print(f"  in-memory, this process, 1 torch thread: {ref:8.1f} images/s")
    print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")
    return rates


if __name__ == "__main__":
    main()
