"""Every script in examples/ runs with ``--quick --output DIR`` and writes a PNG figure.

Scripts are discovered with a glob, so a new example is tested without editing
this file; one that does not accept ``--quick``/``--output`` fails here.  Each
example runs once per session; tests of an example's results share that run.
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


def _needed(session):
    """The examples the selected tests of this module run."""
    names = set()
    for item in session.items:
        if getattr(getattr(item, "module", None), "__name__", None) != __name__:
            continue
        script = getattr(item, "callspec", None) and item.callspec.params.get("script")
        if script is not None:
            names.add(script.name)
        elif item.originalname == "test_plot_ood_digits_quick_ranks_gradients_first":
            names.add("plot_ood_digits.py")
    return names


@pytest.fixture(scope="module")
def run_example(request, tmp_path_factory):
    """Run each example once with ``--quick --output DIR`` (in its own working
    directory); the tests of an example share its run: ``(process, output dir, seconds)``.

    The selected examples all start at once: each runs one thread (OMP_NUM_THREADS=1),
    so on a machine with several cores they finish in about the time of the longest.
    """
    pytest.importorskip("matplotlib")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env["MPLBACKEND"] = "Agg"
    env["OMP_NUM_THREADS"] = "1"  # several OpenMP threads on a shared machine slow tiny models down
    logs = tmp_path_factory.mktemp("example-logs")  # outside the working directories
    started = {}
    for name in sorted(_needed(request.session)):
        cwd = tmp_path_factory.mktemp(Path(name).stem)
        stdout, stderr = open(logs / f"{name}.out", "w+"), open(logs / f"{name}.err", "w+")
        proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / name), "--quick", "--output", str(cwd / "out")],
                                stdout=stdout, stderr=stderr, text=True, env=env, cwd=cwd)
        started[name] = (proc, cwd / "out", time.perf_counter(), stdout, stderr)
    finished = {}

    def run(name):
        if name not in finished:
            proc, out, t0, stdout, stderr = started[name]
            try:
                proc.wait(timeout=max(1.0, TIME_LIMIT_S - (time.perf_counter() - t0)))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} --quick did not finish within {TIME_LIMIT_S} s")
            stdout.seek(0)
            stderr.seek(0)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout.read(), stderr.read())
            finished[name] = (result, out, time.perf_counter() - t0)
        return finished[name]

    yield run
    for proc, _, _, stdout, stderr in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stdout.close()
        stderr.close()


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_quick_and_writes_a_png(script, run_example):
    proc, out, elapsed = run_example(script.name)
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
    # nothing written outside --output (the working directory holds only it)
    stray = [p.name for p in out.parent.iterdir() if p.name != "out"]
    assert not stray, f"{script.name} wrote outside --output: {stray}"
    print(f"{script.name}: {elapsed:.0f} s, {len(pngs)} PNG")


def test_plot_ood_digits_quick_ranks_gradients_first(run_example):
    """The OOD example's figures and its result: gradients beat activations (Kwon et
    al., ICIP 2019), and every model detects the unseen challenges well above chance.

    Measured with --quick (seeded): gradients 0.910, activations 0.857, one-class
    0.968 mean AUROC over the unseen challenge types; chance is 0.5, an inverted score
    gives 1 - AUROC.  The floors leave ~0.06 for another CPU's float32 rounding.
    --quick caps training on purpose: one line says so, no ConvergenceWarning.
    """
    proc, out, _ = run_example("plot_ood_digits.py")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "ConvergenceWarning" not in proc.stderr, proc.stderr[-4000:]
    assert "--quick: training stopped at its cap of 30 epochs" in proc.stdout, proc.stdout
    for name in ("roc_curves.png", "auroc_bars.png"):
        path = out / name
        assert path.is_file(), f"{name} was not written"
        assert path.stat().st_size > 10_000
    lines = [line for line in proc.stdout.splitlines() if "mean AUROC" in line]
    assert [line.split()[0] for line in lines] == ["gradients", "activations", "one-class"]
    auroc = {line.split()[0]: float(line.split()[-1]) for line in lines}
    assert auroc["gradients"] > auroc["activations"], auroc
    assert auroc["gradients"] >= 0.80 and auroc["activations"] >= 0.75 and auroc["one-class"] >= 0.75, auroc
