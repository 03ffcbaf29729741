"""The benchmark scripts stay importable, and their reference method agrees with the engine."""
import importlib.util
from pathlib import Path

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
