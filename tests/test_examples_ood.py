"""Smoke test: examples/plot_ood_digits.py --quick runs and writes its figures."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "plot_ood_digits.py"


def test_plot_ood_digits_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env["OMP_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output", str(tmp_path / "figs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in ("roc_curves.png", "auroc_bars.png"):
        path = tmp_path / "figs" / name
        assert path.is_file(), f"{name} was not written"
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG file"
        assert path.stat().st_size > 10_000
    # one mean AUROC line per model, each a number in [0, 1]
    lines = [l for l in proc.stdout.splitlines() if "mean AUROC" in l]
    assert [l.split()[0] for l in lines] == ["gradients", "activations", "one-class"]
    assert all(0.0 <= float(l.split()[-1]) <= 1.0 for l in lines)
