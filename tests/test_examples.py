"""Every script in examples/ runs with ``--quick --output DIR`` and writes a PNG figure.

Scripts are discovered with a glob, so a new example is tested without editing
this file; one that does not accept ``--quick``/``--output`` fails here.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: --quick promises under a minute on a laptop; allow for a loaded test machine.
TIME_LIMIT_S = 240


def test_there_are_examples():
    assert EXAMPLES, "examples/ holds no script"
    assert (ROOT / "examples" / "README.txt").is_file()


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_quick_and_writes_a_png(script, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env["MPLBACKEND"] = "Agg"
    env["OMP_NUM_THREADS"] = "1"  # several OpenMP threads on a shared machine slow tiny models down
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(script), "--quick", "--output", str(out)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=TIME_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script.name} --quick did not finish within {TIME_LIMIT_S} s")
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, (
        f"{script.name} --quick --output DIR failed (rc {proc.returncode}); every example must "
        f"accept these options.\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    pngs = sorted(out.rglob("*.png"))
    assert pngs, f"{script.name} wrote no PNG under --output (found: {sorted(p.name for p in out.rglob('*'))})"
    for png in pngs:
        with open(png, "rb") as fh:
            assert fh.read(8) == PNG_MAGIC, f"{png.name} is not a PNG file"
        assert png.stat().st_size > 5_000, f"{png.name} is suspiciously small ({png.stat().st_size} bytes)"
    # nothing written outside --output (the working directory is tmp_path)
    stray = [p.name for p in tmp_path.iterdir() if p.name != "out"]
    assert not stray, f"{script.name} wrote outside --output: {stray}"
    print(f"{script.name}: {elapsed:.0f} s, {len(pngs)} PNG")
