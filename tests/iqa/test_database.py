"""score_pairs, the batch behind ``skgrad iqa``: the pair-by-pair functions are its oracle."""
import subprocess
import sys

import numpy as np
import pytest
from joblib import parallel_config
from PIL import Image

from skgrad.datasets import center_crop_resize, load_sample_photos
from skgrad.distortions import apply_photo_distortion
from skgrad.iqa import (SparsePatchAutoencoder, activation_quality, gradient_quality, quality_scores,
                        score_pairs)
from skgrad.iqa import _scoring
from skgrad.metrics import psnr

KINDS = [("noise", 2), ("blur", 3), ("jpeg", 4), ("contrast", 1), ("noise", 5)]


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    return SparsePatchAutoencoder(n_hidden=24, n_patches=1500, max_iter=15, random_state=0).fit(
        [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """Three real photos (96x128) and five distorted versions each, as PNG files; the
    pairs interleave the references (a database need not group them)."""
    root = tmp_path_factory.mktemp("db")
    photos = [center_crop_resize(p, 128, 96) for p in load_sample_photos()[:3]]
    pairs = []
    for level, (kind, strength) in enumerate(KINDS):
        for r, photo in enumerate(photos):
            Image.fromarray(photo).save(root / f"ref{r}.png")
            path = root / f"dist{r}_{level}.png"
            Image.fromarray(apply_photo_distortion(photo, kind, strength, r)).save(path)
            pairs.append([str(root / f"ref{r}.png"), str(path)])
    Image.fromarray(photos[0]).save(root / "same.png")    # an identical pair: PSNR inf
    pairs.append([str(root / "ref0.png"), str(root / "same.png")])
    return root, np.array(pairs, dtype=object)


def _read(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def pair_by_pair(database, model):
    _, pairs = database
    rows = []
    for ref, dist in pairs:
        reference, distorted = _read(ref), _read(dist)
        rows.append((activation_quality(reference=reference, distorted=distorted, model=model),
                     gradient_quality(reference=reference, distorted=distorted, model=model),
                     psnr(reference, distorted)))
    return {name: np.array(column) for name, column in zip(("unique", "gradient", "psnr"), zip(*rows))}


@pytest.mark.parametrize("n_jobs", [None, 2, -1])
def test_score_pairs_equals_the_pair_by_pair_scores(database, model, pair_by_pair, n_jobs):
    """Reference side once, on several threads: the same arithmetic on the same
    arrays as the per-pair functions (float64, one BLAS thread), so the same bits."""
    _, pairs = database
    scores = score_pairs(pairs, model, n_jobs=n_jobs)
    for name, expected in pair_by_pair.items():
        np.testing.assert_array_equal(scores[name], expected, err_msg=name)
    assert scores["psnr"][-1] == np.inf and scores["gradient"][-1] == 1.0
    assert len(set(np.round(scores["gradient"], 12))) == len(pairs)   # no pair got another's value


def test_score_pairs_in_worker_processes(database, model, pair_by_pair):
    """A joblib context may choose processes (loky): same scores."""
    _, pairs = database
    with parallel_config(backend="loky", n_jobs=2):
        scores = score_pairs(pairs[:6], model)
    for name, expected in pair_by_pair.items():
        np.testing.assert_array_equal(scores[name], expected[:6], err_msg=name)


def test_the_reference_side_is_computed_once_per_reference_and_share(database, model, monkeypatch):
    _, pairs = database
    calls = []
    original = _scoring.reference_side
    monkeypatch.setattr("skgrad.iqa.database.reference_side",
                        lambda image, model: calls.append(image.shape) or original(image, model))
    score_pairs(pairs, model)                    # one worker: once per reference
    assert len(calls) == 3
    calls.clear()
    # 2 workers: each reference's pairs in shares of ceil(16 / (2 * 2)) = 4 pairs, so
    # that every worker stays busy: 6 + 5 + 5 pairs make 2 + 2 + 2 shares
    score_pairs(pairs, model, n_jobs=2)
    assert len(calls) == 6


def test_the_worker_threads_run_on_one_blas_thread(database, model, monkeypatch):
    """OpenBLAS's thread count is process-wide and, for threadpoolctl, owned by the
    thread that set it: the limit is held in the caller's thread around all the
    workers, also after an earlier call set and restored it in this thread."""
    import threadpoolctl

    _, pairs = database
    seen = []
    original = _scoring.distorted_scores

    def spy(*args, **kwargs):
        seen.append({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})
        return original(*args, **kwargs)

    monkeypatch.setattr("skgrad.iqa.database.distorted_scores", spy)
    score_pairs(pairs[:3], model)                # in this thread first
    score_pairs(pairs, model, n_jobs=2)
    assert len(seen) == 3 + len(pairs) and all(s == {1} for s in seen), seen


def test_progress_bar(database, model, capsys):
    _, pairs = database
    score_pairs(pairs[:4], model, verbose=True)
    err = capsys.readouterr().err
    assert "iqa" in err and "4/4" in err
    score_pairs(pairs[:4], model)
    assert capsys.readouterr().err == ""


def test_bad_files_name_the_pair_and_the_file(database, model, tmp_path):
    root, pairs = database
    (tmp_path / "broken.png").write_bytes(b"not a png")
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(small)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    cases = {
        (pairs[0][0], str(tmp_path / "broken.png")): r"pair 2 \(distorted .*broken.png\)",
        (str(tmp_path / "missing.png"), pairs[0][1]): r"pair 2 \(reference .*missing.png\).*does not exist",
        (pairs[0][0], str(small)): r"pair 2 \(distorted .*small.png\).*same shape.*\(96, 128, 3\).*\(40, 40, 3\)",
        (str(tiny), str(tiny)): r"pair 2 \(reference .*tiny.png\).*too small",
    }
    for bad, message in cases.items():
        for n_jobs in (1, 2):
            with pytest.raises(ValueError, match=message):
                score_pairs([pairs[0], list(bad)], model, n_jobs=n_jobs)


def test_bad_arguments(database, model):
    _, pairs = database
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 2\)"):
        score_pairs(pairs[:, 0], model)
    with pytest.raises(ValueError, match="n_jobs"):
        score_pairs(pairs, model, n_jobs=1.5)
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        score_pairs(pairs, SparsePatchAutoencoder())
    empty = score_pairs(np.empty((0, 2), dtype=object), model)
    assert all(v.shape == (0,) for v in empty.values())


def test_quality_scores_is_the_batch_of_one(database, model, pair_by_pair):
    _, pairs = database
    got = quality_scores(reference=_read(pairs[4][0]), distorted=_read(pairs[4][1]), model=model)
    assert got == {"unique": pair_by_pair["unique"][4], "gradient": pair_by_pair["gradient"][4]}


def test_scoring_a_database_loads_neither_torch_nor_matplotlib(database, model, tmp_path):
    """The IQA stack is NumPy, SciPy and scikit-learn: torch would cost each start of
    ``skgrad iqa`` seconds."""
    _, pairs = database
    code = ("import sys, numpy as np\n"
            "from skgrad.iqa import SparsePatchAutoencoder, score_pairs, report_scores\n"
            "rng = np.random.default_rng(0)\n"
            "m = SparsePatchAutoencoder(n_hidden=4, n_patches=100, max_iter=2).fit("
            "[rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)])\n"
            f"s = score_pairs({pairs[:4].tolist()!r}, m, n_jobs=2)\n"
            "report_scores(s, [1.0, 2.0, 3.0, 4.0])\n"
            "print(sorted(k for k in ('torch', 'matplotlib', 'dask') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
