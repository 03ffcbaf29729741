"""Chunked extraction to a .npy file: identical to transform, atomic, resumable."""
import json

import numpy as np
import pytest

from skgrad import GradientFeatureTransformer
from skgrad.extract import transform_to_npy


@pytest.fixture(scope="module")
def fitted_and_X():
    X = np.random.RandomState(0).randint(0, 256, (50, 28, 28, 3), dtype=np.uint8)
    return GradientFeatureTransformer(epochs=0, batch_size=8, random_state=0, device="cpu").fit(X), X


def test_memmap_output_equals_transform(fitted_and_X, tmp_path):
    est, X = fitted_and_X
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    path = transform_to_npy(est, Xm, tmp_path / "out" / "f.npy", chunk_size=16)
    np.testing.assert_array_equal(np.load(path), est.transform(X))
    assert not list((tmp_path / "out").glob("*.partial*"))


def test_interrupted_run_leaves_no_output_and_resumes(fitted_and_X, tmp_path, monkeypatch):
    est, X = fitted_and_X
    out = tmp_path / "f.npy"
    calls = {"n": 0}
    real = type(est).transform

    def flaky(self, Xc):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, Xc)

    monkeypatch.setattr(type(est), "transform", flaky)
    with pytest.raises(KeyboardInterrupt):
        transform_to_npy(est, X, out, chunk_size=12)
    assert not out.exists()
    meta = json.loads((tmp_path / "f.npy.partial.json").read_text())
    assert meta["rows_done"] == 32  # two chunks of 12 rounded up to whole batches of 8
    monkeypatch.setattr(type(est), "transform", real)
    transform_to_npy(est, X, out, chunk_size=12, resume=True)
    np.testing.assert_array_equal(np.load(out), est.transform(X))


def test_resume_refuses_another_input_estimator_or_chunking(fitted_and_X, tmp_path, monkeypatch):
    from skgrad.extract import ResumeError, extract, progress

    est, X = fitted_and_X
    out = tmp_path / "f.npy"
    real = type(est).transform
    calls = {"n": 0}

    def flaky(self, Xc):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, Xc)

    monkeypatch.setattr(type(est), "transform", flaky)
    with pytest.raises(KeyboardInterrupt):
        extract(est, X, out, chunk_size=16)
    monkeypatch.setattr(type(est), "transform", real)
    assert progress(out) == 16 and progress(tmp_path / "other.npy") is None
    other = GradientFeatureTransformer(epochs=0, batch_size=8, random_state=1, device="cpu").fit(X)
    with pytest.raises(ResumeError, match="estimator is not that of the interrupted run"):
        extract(other, X, out, chunk_size=16, resume=True)
    with pytest.raises(ResumeError, match="input are not those of the interrupted run"):
        extract(est, X[::-1].copy()[:40], out, chunk_size=16, resume=True)
    with pytest.raises(ResumeError, match="chunks of 16 rows, this run 24"):
        extract(est, X, out, chunk_size=24, resume=True)
    assert isinstance(ResumeError("x"), ValueError)  # callers that catch ValueError still do
    assert progress(out) == 16  # a refused resume leaves the interrupted run as it was
    extract(est, X, out, chunk_size=16, resume=True)
    np.testing.assert_array_equal(np.load(out), est.transform(X))
    assert progress(out) is None
