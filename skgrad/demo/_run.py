"""The job behind ``skgrad demo``: the paper's two experiments on built-in real images, run side by side.

1. Out-of-distribution (OOD) detection (Kwon et al., ICIP 2019, section 2 of the
   reference notes) on real handwritten digits: the paper's VAE is trained on
   clean digits; a logistic regression learns clean vs Gaussian blur level 1 from
   three kinds of features (weight gradients, activations = the latent mean,
   reconstruction error); it is tested on held-out digits with challenge types it
   never saw.  The one-class :class:`~skgrad.outlier.GradientOutlierDetector`
   (clean images only, no outlier examples) runs beside them (:mod:`._ood`).
2. An image quality (IQA) proxy on the built-in colour photographs: no human
   opinion scores ship with any package, so the check is whether each metric
   falls as the distortion level rises (Spearman correlation between score and
   level within each reference and distortion type; :mod:`._iqa`).

Nothing is downloaded.  :func:`run_demo` returns a JSON-able dict; the report
(:mod:`skgrad.report`) is written from it.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


from ._iqa import run_iqa
from ._ood import run_ood

__all__ = ["DemoConfig", "FULL", "QUICK", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of one demo run (:data:`FULL` or :data:`QUICK`)."""

    n_autoencoder: int  # clean digits the VAE is trained on
    n_classifier: int  # clean digits (plus their blurred copies) the classifier is trained on
    n_test: int  # held-out clean digits (plus their distorted copies) per test set
    epochs: object  # the most epochs (early stopping ends sooner); None: the estimators' default
    levels: tuple
    iqa_size: tuple  # (width, height): photos are centre-cropped to 4:3 and resized
    iqa_distortions: tuple  # keys of skgrad.distortions.PHOTO_DISTORTIONS
    iqa_hidden: int
    iqa_patches: int
    iqa_iter: int


#: The sizes of ``skgrad demo`` (minutes).
FULL = DemoConfig(
    n_autoencoder=2000,
    n_classifier=1000,
    n_test=2000,
    epochs=None,
    levels=(1, 3, 5),
    iqa_size=(384, 288),
    iqa_distortions=("noise", "blur", "jpeg", "contrast"),
    iqa_hidden=400,
    iqa_patches=10000,
    iqa_iter=60,
)

#: The sizes of ``skgrad demo --quick`` (seconds).
QUICK = DemoConfig(
    n_autoencoder=500,
    n_classifier=250,
    n_test=250,
    epochs=30,
    levels=(1, 5),
    iqa_size=(192, 144),
    iqa_distortions=("noise", "blur", "jpeg", "contrast"),
    iqa_hidden=100,
    iqa_patches=3000,
    iqa_iter=25,
)

class _Clock:
    def __init__(self, log):
        self.t0 = time.perf_counter()
        self.log = log
        self.marks = {}

    def __call__(self, msg):
        if self.log is not None:
            self.log(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}")

    def mark(self, name, start):
        self.marks[name] = round(time.perf_counter() - start, 2)


# --------------------------------------------------------------------------- #
def _start_iqa_process(cfg, random_state, threads, tmp):
    """Run :func:`run_iqa` in a fresh interpreter (no multiprocessing: it would
    re-import the caller's ``__main__``); the result comes back as JSON."""
    result_path = Path(tmp) / "iqa.json"
    job = json.dumps({"cfg": asdict(cfg), "random_state": random_state, "threads": threads,
                      "out": os.fspath(result_path)})
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding skgrad/
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from skgrad.demo._run import _iqa_worker; _iqa_worker(sys.argv[1])", job],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    return proc, result_path


def _finish_iqa_process(proc, result_path):
    _, err = proc.communicate()
    if proc.returncode != 0 or not result_path.exists():
        tail = "\n".join(err.decode("utf-8", "replace").strip().splitlines()[-8:])
        raise RuntimeError(f"the IQA proxy process failed (exit code {proc.returncode}):\n{tail}")
    return json.loads(result_path.read_text())


def _iqa_worker(job):
    job = json.loads(job)
    cfg = DemoConfig(**job["cfg"])
    c0 = time.process_time()
    result = run_iqa(cfg, random_state=job["random_state"], threads=job["threads"])
    result["cpu_s"] = round(time.process_time() - c0, 1)
    Path(job["out"]).write_text(json.dumps(result))  # nan/inf pass through (non-strict JSON)


def run_demo(*, quick=False, random_state=0, device="auto", batch_size=64, threads=1, parallel=None, log=None):
    """Run both experiments of ``skgrad demo``; returns every number as a JSON-able dict.

    Parameters
    ----------
    quick : bool, default=False
        The :data:`QUICK` sizes (seconds to a minute) instead of :data:`FULL`.
    random_state : int, default=0
        Seeds the splits, the distortions and the models.
    device : str, default="auto"
        Where the autoencoders train and run.
    batch_size : int, default=64
        Of the gradient transformers.
    threads : int or None, default=1
        Limits torch's and the BLAS libraries' thread pools for the run (the
        models here are small: more threads gain little, and on a busy
        machine their spin-waiting makes fitting many times slower).  ``None``
        leaves them as they are.
    parallel : bool or None, default=None
        Run the IQA proxy in a second process beside the OOD experiment
        (default: when there are two or more CPU cores).
    log : callable or None, default=None
        Called with one line of text per stage.

    Returns
    -------
    dict
        ``"ood"``, ``"iqa"``, ``"config"``, ``"timing"``, ``"environment"``:
        what :func:`skgrad.report.write_report` and
        :func:`skgrad.report.format_summary` read.

    Examples
    --------
    A run takes from a minute (``quick``) to a few:

    >>> from skgrad.demo import run_demo
    >>> results = run_demo(quick=True)                            # doctest: +SKIP
    >>> results["ood"]["summary"]["gradients"]["auroc"] > 0.65    # doctest: +SKIP
    True
    """
    import torch
    from threadpoolctl import threadpool_limits

    cfg = QUICK if quick else FULL
    clock = _Clock(log)
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    t0 = time.perf_counter()
    c0 = time.process_time()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    proc = None
    try:
        with threadpool_limits(limits=threads), tempfile.TemporaryDirectory(prefix="skgrad-demo-") as tmp:
            if parallel:
                # The IQA proxy (numpy) runs in a second process while this one runs
                # the OOD experiment (torch): two cores, both busy.
                proc, result_path = _start_iqa_process(cfg, random_state, threads, tmp)
                clock("IQA proxy started in a second process")
            ood = run_ood(cfg, random_state=random_state, device=device, batch_size=batch_size, clock=clock)
            if parallel:
                clock("OOD done; waiting for the IQA proxy")
                iqa = _finish_iqa_process(proc, result_path)
            else:
                iqa = run_iqa(cfg, random_state=random_state, clock=clock)
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    clock.marks.update(iqa.pop("stages_s"))
    iqa_cpu = iqa.pop("cpu_s", 0.0) if parallel else 0.0
    return {
        "skgrad_demo": 1,
        "mode": "quick" if quick else "full",
        "config": {**asdict(cfg), "random_state": random_state, "device": device, "batch_size": batch_size},
        "ood": ood,
        "iqa": iqa,
        "timing": {
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0 + iqa_cpu, 1),
            "stages_s": clock.marks,
            "cpu_count": os.cpu_count(),
            "threads": used_threads,
            "iqa_in_second_process": bool(parallel),
            "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        },
        "environment": {"python": platform.python_version(), "platform": platform.platform()},
    }
