"""The benchmark scripts stay importable, and their reference method agrees with the engine."""
import importlib.util
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from numerics import ORACLE_RTOL, assert_allclose_blocks
from skgrad import GradientFeatureTransformer

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("bench_*.py")))
def test_benchmark_script_imports_and_has_main(name):
    assert callable(getattr(_load(name), "main", None)), f"benchmarks/{name}.py has no main()"


def test_reference_hook_loop_equals_transform():
    """(c) in bench_gradients, the authors' batch-1 loop with hooks, is an oracle for (b)."""
    bench = _load("bench_gradients")
    X = np.random.RandomState(0).randint(0, 256, (6, 28, 28, 3), dtype=np.uint8)
    est = GradientFeatureTransformer(epochs=1, batch_size=4, random_state=0, device="cpu").fit(X)
    run, handles = bench.hook_loop(est.module_, X, "up.6.weight", "down.6.weight")
    try:
        ref = run().numpy()
    finally:
        for h in handles:
            h.remove()
    got = est.transform(X)
    # another algorithm (autograd on single images): the oracle tolerance, block by block
    assert_allclose_blocks(got, ref, est.get_feature_names_out(), rtol=ORACLE_RTOL)
    bench.floor_pass(est.module_, X, 4, ("bce", "kld"))()  # the floor runs on the same model


def test_check_your_images_on_a_folder(tmp_path, capsys):
    """The users' check reads a folder, and its hand baseline is an independent oracle:
    darkening moves the grey-level mean, which the baseline sees almost perfectly."""
    from PIL import Image

    rng = np.random.RandomState(0)
    for i in range(120):  # smooth random blobs, 16x16
        img = rng.rand(4, 4, 3)
        Image.fromarray((img * 255).astype(np.uint8)).resize((16, 16), Image.BICUBIC).save(tmp_path / f"{i:03d}.png")
    check = _load("check_your_images")
    assert check.main(["--folder", str(tmp_path), "--size", "16", "--n", "120", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "80 clean images to fit, 40 to test, 16x16" in out
    rows = {line.split()[0] + line.split()[1]: (float(line.split()[2]), float(line.split()[3]))
            for line in out.splitlines() if line.split()[:1] and line.split()[0] in check.CHECKS}
    assert len(rows) == 15
    assert rows["darkening5"][1] > 0.95  # the baseline's grey-level mean


def test_natural_decomposition_against_hand_built_layouts():
    """bench_natural's variance shares: known layouts give known shares, and they add up."""
    decomposition = _load("bench_natural").decomposition
    rng = np.random.RandomState(0)
    content = rng.normal(size=(50, 4))
    # the distortion changes nothing: all content
    np.testing.assert_allclose(list(decomposition(content, content).values()), [1, 0, 0], atol=1e-12)
    # every image moves by the same amount: content and distortion only.  Per feature,
    # SS_image = 2 * n * var/4 * ... computed by hand: with clean values c_i (variance v)
    # and distorted c_i + d, SS_image = 2 * sum((c_i + d/2 - mean - d/2)^2) = 2 n v,
    # SS_condition = 2 n (d/2)^2 = n d^2 / 2, no interaction
    shifted = content + 3 * content.std(0)
    shares = decomposition(content, shifted)
    n = len(content)
    ss_image, ss_cond = 2 * n * 1.0, n * 3.0 ** 2 / 2  # standardised: v = 1, d = 3
    np.testing.assert_allclose([shares["content"], shares["distortion"], shares["interaction"]],
                               [ss_image / (ss_image + ss_cond), ss_cond / (ss_image + ss_cond), 0], atol=1e-12)
    # a distortion that replaces the content by noise of the same spread: no condition effect
    shares = decomposition(content, rng.normal(size=content.shape))
    assert abs(sum(shares.values()) - 1) < 1e-12 and shares["distortion"] < 0.05 and shares["interaction"] > 0.3
    # float32 features (as the transformers return) give plain floats, ready for --json
    assert all(type(v) is float for v in decomposition(content.astype(np.float32), content[::-1].astype(np.float32)).values())


def test_natural_levers_patches_are_the_crops_windows():
    """natural_levers.patches, against slices taken one window at a time (row by row, then
    column by column, as the per-crop pooling assumes), on distinct values so a swap shows."""
    patches = _load("natural_levers").patches
    X = np.arange(2 * 32 * 24 * 3).reshape(2, 32, 24, 3)
    P = patches(X, size=16, stride=8)
    windows = [(r, c) for r in (0, 8, 16) for c in (0, 8)]
    assert P.shape == (2, len(windows), 16, 16, 3)
    for k, (r, c) in enumerate(windows):
        np.testing.assert_array_equal(P[:, k], X[:, r:r + 16, c:c + 16])


def test_gpu_check_runs_every_section_on_the_cpu():
    """benchmarks/gpu_check.sh, the one command for a GPU, on its --device cpu path at
    tiny sizes: the gradient benchmark's two ratios, the fit/transform check against
    the CPU loop (within the tolerance), the IQA line."""
    proc = subprocess.run(["bash", str(BENCH / "gpu_check.sh"), "--device", "cpu", "--quick"],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for line in ("transform / floor (a):", "transform / reference loop (c):", "== 3. IQA",
                 "every check passed on cpu"):
        assert line in out, out
    assert out.count("of the tolerance (OK)") == 2, out


def test_gpu_check_refuses_a_missing_gpu_and_bad_arguments():
    import torch

    for args, message in ((["--device", "cuda"], "no such device here"), (["--nope"], "unknown argument")):
        if args == ["--device", "cuda"] and torch.cuda.is_available():
            continue
        proc = subprocess.run(["bash", str(BENCH / "gpu_check.sh"), *args], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, PYTHON=sys.executable))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_iqa_speed_benchmark_on_a_tiny_tid2013_tree(tmp_path):
    """bench_iqa_speed builds a folder that load_tid2013 reads (real photos, the
    TID2013 names) and measures its three ratios in one run."""
    from skgrad.datasets import load_tid2013

    bench = _load("bench_iqa_speed")
    root = bench.make_tid2013_tree(tmp_path / "tid", n_references=2, n_distorted=9, size=(64, 48))
    db = load_tid2013(root)
    assert len(db.pairs) == 18 and sorted(set(db.groups)) == [1, 2]
    assert sorted(set(db.distortion)) == sorted(bench.DISTORTIONS.values())
    from PIL import Image
    with Image.open(db.pairs[0][0]) as ref, Image.open(db.pairs[-1][1]) as dist:
        assert ref.size == dist.size == (64, 48)
    result = bench.measure(repeat=1, n_jobs=2, quick=True)
    assert set(result["median_ratios"]) == set(result["targets"])
    assert all(np.isfinite(v) and v > 0 for v in result["median_ratios"].values())
    assert "target <= 0.5" in bench.report(result)
