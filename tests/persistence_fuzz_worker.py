"""Subprocess side of tests/test_persistence_fuzz.py: load each mutated file, then use the estimator.

Run as ``python persistence_fuzz_worker.py MANIFEST RESULTS START``.  For each case
from index START of the JSON manifest it appends ``{"i": ..., "status": "start"}`` and
then the outcome to the RESULTS file (one JSON object a line, flushed at once), so
that the parent sees which case was running if this process dies.  A case that runs
longer than the manifest's ``timeout`` seconds ends the process (faulthandler), even
inside C code.

Outcomes: ``ok`` (the file loaded, and the estimator then worked on sensible data),
``ValueError``/``TypeError`` (refused at load, with the message), ``broke`` (loaded,
then failed on sensible data) and ``other`` (another exception type at load).
"""
import faulthandler
import json
import os
import sys
import time
import traceback
import warnings


def _use(est, kind, data):
    """What a user does with a loaded estimator; raises if it does not work."""
    import numpy as np

    if kind == "transformer":
        X = data["X"]
        first = est.transform(X)
        assert first.shape == (len(X), est.n_features_out_), first.shape
        est.set_params(warm_start=True, epochs=1)  # one more epoch from the loaded weights
        est.fit(X)
        assert est.transform(X).shape == first.shape
    elif kind == "detector":
        X = data["X"]
        assert est.score_samples(X).shape == (len(X),)
        assert set(np.unique(est.predict(X))) <= {-1, 1}
    elif kind == "pairs":
        out = est.transform(data["X"])
        assert out.shape == (len(data["X"]), est.n_features_out_), out.shape
    else:  # pragma: no cover - a manifest error
        raise AssertionError(f"unknown kind {kind!r}")


def main(manifest, results, start):
    import numpy as np

    from skgrad.persistence import load

    with open(manifest) as fh:
        spec = json.load(fh)
    data = {name: dict(np.load(path)) for name, path in spec["data"].items()}
    warnings.simplefilter("ignore")
    with open(results, "a") as out:

        def report(**record):
            record["t"] = round(time.perf_counter(), 3)
            out.write(json.dumps(record) + "\n")
            out.flush()

        for i, case in enumerate(spec["cases"][start:], start):
            report(i=i, status="start")
            faulthandler.dump_traceback_later(spec["timeout"], exit=True)
            try:
                est = load(case["file"])
            except (ValueError, TypeError) as exc:
                report(i=i, status=type(exc).__name__, message=str(exc))
            except BaseException as exc:  # noqa: BLE001 - every other outcome is a finding
                report(i=i, status="other", message=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
            else:
                try:
                    _use(est, case["kind"], data[case["data"]])
                except BaseException as exc:  # noqa: BLE001
                    report(i=i, status="broke", message=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
                else:
                    report(i=i, status="ok")
            faulthandler.cancel_dump_traceback_later()


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
