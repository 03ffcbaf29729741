"""The ``skgrad`` command, driven in subprocesses on tiny data written to tmp_path."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from sklearn.metrics import roc_auc_score

from numerics import assert_allclose_blocks

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONWARNINGS", None)
    return env


def run_cli(*args, cwd=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "skgrad.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=_env(), timeout=timeout,
    )


def _default_sigint():
    # A job started in the background by a shell (as CI runners may start the suite)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler:
    # give the command the disposition a terminal's Ctrl+C meets.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args, cwd=None):
    return subprocess.Popen(
        [sys.executable, "-m", "skgrad.cli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=_env(),
        preexec_fn=_default_sigint,
    )


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def _digits(n, offset=0):
    from skgrad.datasets import load_digits_images

    imgs = load_digits_images(size=28).images[offset : offset + n]
    return np.repeat(imgs[..., None], 3, axis=-1)


def _save(images, folder, fmt="png", names=None):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / (names[i] if names else f"{i:05d}.{fmt}"))
    return folder


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
def test_demo_quick_writes_a_self_contained_report(tmp_path):
    out = tmp_path / "report"
    proc = _ok(run_cli("demo", "--quick", "--output", out, timeout=180))
    for name in ("report.html", "metrics.json", "training.png", "ood_roc.png", "ood_auroc.png", "iqa_levels.png"):
        assert (out / name).is_file(), name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # strict JSON: no NaN/Infinity tokens
    def no_constants(token):
        raise AssertionError(f"metrics.json holds {token}")

    m = json.loads((out / "metrics.json").read_text(), parse_constant=no_constants)
    ood, iqa = m["ood"], m["iqa"]
    from skgrad.distortions import CHALLENGES

    assert set(ood["challenges"]) == set(CHALLENGES) - {"decolorization", "gaussian_blur"}
    assert {"gradients", "activations", "reconstruction_error"} <= set(ood["features"])
    assert ood["model"]["gradient_features"] == 1872  # the paper's 144 + 1728
    # the training record: early stopping's epochs, the kept one the lowest validation loss
    model = ood["model"]
    assert len(model["history"]) == len(model["validation_history"]) == model["n_epochs"] <= model["epochs"]
    assert model["best_epoch"] == int(np.argmin(model["validation_history"])) + 1
    # --quick caps training on purpose: no ConvergenceWarning (with this machine's file paths)
    # on the console; the report says instead that the loss was still falling at the cap
    assert "ConvergenceWarning" not in proc.stderr, proc.stderr
    assert model["converged"] is False and model["n_epochs"] == model["epochs"] == 30
    assert "still falling when this quick run's cap of epochs stopped it" in (out / "report.html").read_text()
    # every (challenge, level, feature) was tested, and the summaries follow from the rows
    rows = ood["results"]
    assert len(rows) == len(ood["challenges"]) * len(ood["levels"]) * len(ood["features"])
    for c in ood["challenges"]:
        for f in ood["features"]:
            aucs = [r["auroc"] for r in rows if r["challenge"] == c and r["feature"] == f]
            assert ood["mean_auroc_by_challenge"][c][f] == pytest.approx(np.mean(aucs), abs=1e-12)
    # each row's metrics are counts over the 250 clean + 250 distorted test digits:
    # accuracy in steps of 1/500, AUROC (Mann-Whitney U, ties count half) of 1/(2 * 250 * 250)
    n_clean = ood["data"]["n_test_clean"]
    assert n_clean == 250
    for r in rows:
        for value, steps in ((r["accuracy"], 2 * n_clean), (r["auroc"], 2 * n_clean**2)):
            assert value * steps == pytest.approx(round(value * steps), abs=1e-6), (r, steps)
    # real behaviour, not chance: gradients separate clean digits from unseen haze and rain.
    # (Not exposure any more: exposure in stops, as CURE's, leaves the black background of a
    # digit black and saturates its strokes - a sharper digit, which a classifier trained on
    # blur takes for a clean one: AUROC 0.37 measured, and the one-class detector 0.80.)
    by = ood["mean_auroc_by_challenge"]
    assert by["haze"]["gradients"] > 0.9 and by["rain"]["gradients"] > 0.8
    assert ood["summary"]["gradients"]["auroc"] > 0.65

    # IQA summary recomputed from the raw rows with scipy (signed: 1 = the score falls with the level)
    assert {"psnr", "ssim", "unique", "gradient"} <= set(iqa["metrics"])
    for metric in iqa["metrics"]:
        per_type = []
        for d in iqa["distortions"]:
            rhos = []
            for photo in iqa["photos"]:
                sel = [r for r in iqa["scores"] if r["reference"] == photo and r["distortion"] == d]
                assert [r["level"] for r in sel] == [1, 2, 3, 4, 5]
                rhos.append(-stats.spearmanr([r[metric] for r in sel], [1, 2, 3, 4, 5]).statistic)
            per_type.append(np.mean(rhos))
            assert iqa["spearman_vs_level"][metric]["by_distortion"][d] == pytest.approx(per_type[-1])
        assert iqa["spearman_vs_level"][metric]["mean"] == pytest.approx(np.mean(per_type))
        across = [-stats.spearmanr(*zip(*[(r[metric], r["level"]) for r in iqa["scores"] if r["reference"] == p]))
                  .statistic for p in iqa["photos"]]
        assert iqa["spearman_vs_level_across_types"][metric]["mean"] == pytest.approx(np.mean(across))
    # PSNR must fall with the level of additive noise on every photo
    assert iqa["spearman_vs_level"]["psnr"]["by_distortion"]["noise"] == pytest.approx(1.0)

    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4  # the plots are embedded: training, AUROC bars, ROC, IQA levels
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert "<table>" in page and "Gradients vs activations" in page and "What the numbers mean" in page
    # the score convention is stated, in the page and in metrics.json
    assert "normality score, higher = more in-distribution" in page
    assert ood["score_convention"].startswith("normality scores, higher = more in-distribution")
    # the summary printed on stdout, with the report path
    assert "OOD detection" in proc.stdout and "IQA proxy" in proc.stdout
    assert f"report: {(out / 'report.html').resolve()}" in proc.stdout


# --------------------------------------------------------------------------- #
# extract
# --------------------------------------------------------------------------- #
def test_extract_equals_in_process_transform(tmp_path):
    import torch

    from skgrad import GradientFeatureTransformer
    from skgrad.cli import main
    from skgrad.datasets import read_images
    from skgrad.persistence import save

    imgs = _digits(40)
    folder = _save(imgs[:30], tmp_path / "imgs" / "a")
    _save(imgs[30:], tmp_path / "imgs" / "b", fmt="bmp")
    # a larger image and a greyscale one: both are resized/converted like the rest
    Image.fromarray(np.kron(imgs[0], np.ones((2, 2, 1), np.uint8))).save(folder / "big.png")
    Image.fromarray(imgs[1][..., 0]).save(folder / "grey.png")
    (folder / "notes.txt").write_text("not an image")
    files = sorted(p.relative_to(tmp_path / "imgs").as_posix() for p in (tmp_path / "imgs").rglob("*")
                   if p.suffix in (".png", ".bmp"))
    X = read_images([tmp_path / "imgs" / f for f in files], 28)

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        est = GradientFeatureTransformer(epochs=1, batch_size=8, random_state=3, device="cpu").fit(X)
        expected = est.transform(X)
    finally:
        torch.set_num_threads(previous)
    model = save(est, tmp_path / "model.skgrad")

    # Bit for bit: both sides run on the CPU with one torch thread (set at run time by
    # torch.set_num_threads, here and by --threads 1 in the command) on the same batches.
    # a saved model
    out = tmp_path / "feats" / "saved.npy"
    _ok(run_cli("extract", "--model", model, "--images", tmp_path / "imgs", "--out", out, "--batch-size", 8,
                "--threads", 1, "--device", "cpu"))
    np.testing.assert_array_equal(np.load(out), expected)
    assert Path(str(out) + ".paths.txt").read_text().splitlines() == files
    # a preset fitted on the images by the command itself: the same network (through
    # ``main`` in this process: the subprocess above already ran the command)
    out2 = tmp_path / "feats" / "preset.npy"
    assert main(["extract", "--model", "vae", "--epochs", "1", "--random-state", "3", "--images",
                 str(tmp_path / "imgs"), "--out", str(out2), "--batch-size", "8", "--threads", "1",
                 "--device", "cpu"]) == 0
    np.testing.assert_array_equal(np.load(out2), expected)
    assert sorted(p.name for p in (tmp_path / "feats").iterdir()) == [
        "preset.npy", "preset.npy.paths.txt", "saved.npy", "saved.npy.paths.txt"]


N_MANY = 480  # extracting them in batches of 2 takes ~2 s: time to interrupt the run midway


@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many") / "imgs"
    rng = np.random.RandomState(0)
    base = _digits(200)
    return _save(base[rng.randint(0, len(base), N_MANY)], folder)


#: An untrained VAE (--epochs 0: resuming does not depend on the weights, and training 600
#: steps would cost most of these tests' time), on the CPU with one thread in every run,
#: so that a resumed run's rows are bit for bit those of an uninterrupted one.
EXTRACT_ARGS = ("--model", "vae", "--epochs", "0", "--batch-size", "2", "--chunk-size", "2", "--threads", "1",
                "--device", "cpu")


def _extract_in_process(*args):
    """``skgrad extract`` through ``main`` in this process (the interrupted runs are the
    subprocesses; running the others here saves a torch import each)."""
    from skgrad.cli import main

    return main(["extract", *EXTRACT_ARGS, *map(str, args)])


@pytest.fixture(scope="module")
def uninterrupted(many_images, tmp_path_factory):
    """The features of an extract run that nothing interrupted."""
    out = tmp_path_factory.mktemp("ref") / "ref.npy"
    assert _extract_in_process("--images", many_images, "--out", out) == 0
    return out


def _interrupt_midway(proc, progress, sig):
    """Send ``sig`` as soon as the progress file reports rows done; returns that count."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the extract run ended (exit {proc.returncode}) before it could be interrupted: "
                        f"{proc.stderr.read()}")
        try:
            done = json.loads(progress.read_text())["rows_done"]
        except (OSError, ValueError):
            done = 0
        if done > 0:
            proc.send_signal(sig)
            proc.wait(timeout=60)
            assert done < N_MANY, "interrupted too late to test resuming"
            return done
        time.sleep(0.002)  # no delay in the extraction itself: poll fast
    proc.kill()
    pytest.fail("no progress within 90 s")


def test_extract_killed_then_resumed_equals_uninterrupted(many_images, uninterrupted, tmp_path, capsys):
    out = tmp_path / "f.npy"
    proc = start_cli("extract", *EXTRACT_ARGS, "--images", many_images, "--out", out)
    done = _interrupt_midway(proc, tmp_path / "f.npy.partial.json", signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and not Path(str(out) + ".paths.txt").exists()  # no truncated output
    assert (tmp_path / "f.npy.partial").exists() and (tmp_path / "f.npy.partial.model").exists()

    capsys.readouterr()
    assert _extract_in_process("--images", many_images, "--out", out, "--resume") == 0
    err = capsys.readouterr().err
    at = int(err.split("continuing the interrupted run at row")[1].split()[0])
    assert done <= at < N_MANY  # it continued; it did not start again
    a = np.load(out)
    assert a.shape == (N_MANY, 1872)
    np.testing.assert_array_equal(a, np.load(uninterrupted))
    assert Path(str(out) + ".paths.txt").read_text() == Path(str(uninterrupted) + ".paths.txt").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy", "f.npy.paths.txt"]  # no leftovers


def test_extract_ctrl_c_exits_130_and_resumes(many_images, uninterrupted, tmp_path, capsys):
    out = tmp_path / "f.npy"
    proc = start_cli("extract", *EXTRACT_ARGS, "--images", many_images, "--out", out)
    _interrupt_midway(proc, tmp_path / "f.npy.partial.json", signal.SIGINT)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "--resume" in err
    assert not out.exists()
    # another folder cannot be resumed into the same file
    extra = _save(_digits(3), many_images.parent / "extra")
    assert _extract_in_process("--images", extra, "--out", out, "--resume") == 2
    assert "not those of the interrupted run" in capsys.readouterr().err
    assert _extract_in_process("--images", many_images, "--out", out, "--resume") == 0
    np.testing.assert_array_equal(np.load(out), np.load(uninterrupted))


# --------------------------------------------------------------------------- #
# ood and iqa
# --------------------------------------------------------------------------- #
def test_ood_labelled_subfolders_and_cure_tsr_names(tmp_path, capsys):
    from skgrad.cli import main
    from skgrad.distortions import apply_challenge

    X = _digits(160)
    _save(X[:100], tmp_path / "train")
    _save(X[100:130], tmp_path / "test" / "inlier")
    _save(apply_challenge(X[130:160], "darkening", 5), tmp_path / "test" / "outlier")
    # the example outliers are milder darkening: the plumbing is under test, not how a classifier
    # trained on one type generalises to another (with blur examples, --random-state 1 ranked
    # strong haze as MORE normal than clean digits: AUROC 0.13, measured).  (Darkening, not haze:
    # haze follows CURE now, with a veil whose strength depends on each image's place in the
    # frame, and haze 3 -> haze 5 after 3 epochs gave AUROC 0.81.)
    _save(apply_challenge(X[:30], "darkening", 3), tmp_path / "outl")

    proc = _ok(run_cli("ood", "--train", tmp_path / "train", "--test", tmp_path / "test", "--outliers",
                       tmp_path / "outl", "--epochs", 3, "--threads", 1, "--output", tmp_path / "o1"))
    rows = _read_csv(tmp_path / "o1" / "scores.csv")
    assert len(rows) == 60 and rows[0].keys() >= {"path", "class", "label", "normality_score", "prediction"}
    y = np.array([r["label"] == "outlier" for r in rows])
    assert all((r["class"] == "outlier") == yy for r, yy in zip(rows, y))
    s = np.array([float(r["normality_score"]) for r in rows])
    assert ((s >= 0) & (s <= 1)).all()  # probabilities of being an inlier
    assert [r["prediction"] for r in rows] == ["inlier" if v >= 0.5 else "outlier" for v in s]
    m = json.loads((tmp_path / "o1" / "metrics.json").read_text())
    rep = m["ood_report"]
    assert m["info"]["score"] == "normality score, higher = more in-distribution"
    # normality scores: the inliers are the positive class
    assert rep["auroc"] == pytest.approx(roc_auc_score(~y, s), abs=1e-6)
    assert rep["accuracy"] == pytest.approx(np.mean([(r["prediction"] == "outlier") == yy for r, yy in zip(rows, y)]))
    # trained on darkening level 3 (-5 stops), it flags darkening by -9 stops: AUROC 0.97-1.0
    # measured for --random-state 0-2 and --epochs 3; chance is 0.5,
    # an inverted score ~0
    assert rep["auroc"] > 0.85
    assert "AUROC" in proc.stdout and "normality score, higher = more in-distribution" in proc.stdout

    # CURE-TSR names: level 00 = challenge-free (inlier), the others outliers; one-class detector
    names, imgs = [], []
    for i in range(20):
        names.append(f"01_03_00_00_{i:04d}.bmp")
        imgs.append(X[100 + i])
        names.append(f"01_03_12_05_{i:04d}.bmp")
        imgs.append(apply_challenge(X[100 + i][None], "haze", 5)[0])
    _save(imgs, tmp_path / "cure", names=names)
    # (in this process: the run above already ran the command as a subprocess)
    capsys.readouterr()
    assert main(["ood", "--train", str(tmp_path / "train"), "--test", str(tmp_path / "cure"), "--epochs", "3",
                 "--threads", "1", "--output", str(tmp_path / "o2")]) == 0
    stdout = capsys.readouterr().out
    rows = _read_csv(tmp_path / "o2" / "scores.csv")
    assert len(rows) == 40
    for r in rows:
        assert r["label"] == ("outlier" if r["level"] != "0" else "inlier")
        assert r["challenge"] in ("challenge_free", "haze")
    y = np.array([r["label"] == "outlier" for r in rows])
    s = np.array([float(r["normality_score"]) for r in rows])
    m = json.loads((tmp_path / "o2" / "metrics.json").read_text())
    assert m["ood_report"]["auroc"] == pytest.approx(roc_auc_score(~y, s), abs=1e-6)
    assert m["auroc_by_challenge"] == {"haze": pytest.approx(m["ood_report"]["auroc"])}  # the only type
    threshold = m["info"]["threshold"]  # the detector's offset_: predict() says outlier below it
    assert [r["prediction"] for r in rows] == ["inlier" if v >= threshold else "outlier" for v in s]
    assert m["ood_report"]["auroc"] > 0.9  # strong haze is far from clean digits
    assert "one-class" in stdout


def test_folder_layout_knows_both_cure_tsr_namings(tmp_path):
    from skgrad.datasets._folder import _layout

    root = tmp_path
    five = [root / "01_05_02_03_0012.bmp"]
    seven = [root / "RealChallengeFree" / "train" / "01_01_00_00_00_05_0003.bmp",
             root / "RealChallenge" / "07_01" / "Test" / "01_04_01_07_01_13_0021.BMP"]
    assert _layout(root, five + seven) == ("cure-tsr", None)
    assert _layout(root, seven) == ("cure-tsr", None)
    with pytest.raises(ValueError, match=r"2 of 3 images are named like CURE-TSR.*01_05_02_03_04_0012\.bmp"):
        _layout(root, seven + [root / "01_05_02_03_04_0012.bmp"])  # 6 fields


def test_ood_on_the_authors_seven_field_cure_tsr_tree(tmp_path):
    from skgrad.distortions import apply_challenge

    X = _digits(60)
    # --train: the whole tree; only RealChallengeFree is used for training
    _save(X[:20], tmp_path / "cure" / "RealChallengeFree" / "train",
          names=[f"01_01_00_00_00_05_{i:04d}.bmp" for i in range(20)])
    _save(apply_challenge(X[20:25], "gaussian_blur", 1), tmp_path / "cure" / "realchallenge" / "07_01" / "train",
          names=[f"01_02_01_07_01_03_{i:04d}.bmp" for i in range(5)])
    # --test: clean, haze 5 and lens blur 3, folder names in other cases
    _save(X[30:40], tmp_path / "test" / "REALCHALLENGEFREE" / "Test",
          names=[f"01_04_00_00_00_05_{i:04d}.bmp" for i in range(10)])
    _save(apply_challenge(X[40:50], "haze", 5), tmp_path / "test" / "RealChallenge" / "12_05" / "Test",
          names=[f"01_04_01_12_05_05_{i:04d}.bmp" for i in range(10)])
    _save(apply_challenge(X[50:60], "lens_blur", 3), tmp_path / "test" / "RealChallenge" / "02_03" / "test",
          names=[f"02_07_01_02_03_14_{i:04d}.BMP" for i in range(10)])
    proc = _ok(run_cli("ood", "--train", tmp_path / "cure", "--test", tmp_path / "test", "--epochs", 1,
                       "--threads", 1, "--output", tmp_path / "o"))
    assert "training on its 20 challenge-free images (ignoring 5 with challenges)" in proc.stderr
    rows = _read_csv(tmp_path / "o" / "scores.csv")
    assert len(rows) == 30
    expected = {"REALCHALLENGEFREE": ("challenge_free", "0", "inlier"),
                "RealChallenge/12_05": ("haze", "5", "outlier"), "RealChallenge/02_03": ("lens_blur", "3", "outlier")}
    for r in rows:
        folder = r["path"].split("/")[0] if r["path"].startswith("REAL") else "/".join(r["path"].split("/")[:2])
        assert (r["challenge"], r["level"], r["label"]) == expected[folder], r
    y = np.array([r["label"] == "outlier" for r in rows])
    s = np.array([float(r["normality_score"]) for r in rows])
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    # normality scores: the inliers are the positive class
    assert m["ood_report"]["auroc"] == pytest.approx(roc_auc_score(~y, s), abs=1e-6)
    ch = np.array([r["challenge"] for r in rows])
    assert m["auroc_by_challenge"] == pytest.approx({
        c: roc_auc_score(~y[(ch == c) | ~y], s[(ch == c) | ~y]) for c in ("haze", "lens_blur")}, abs=1e-6)


def _fake_tid2013(root, size=64):
    from skgrad.datasets import load_sample_photos
    from skgrad.distortions import apply_challenge

    photos = load_sample_photos(size=size)[:3]
    (root / "reference_images").mkdir(parents=True)
    (root / "distorted_images").mkdir()
    lines = []
    for r, img in enumerate(photos, 1):
        Image.fromarray(img).save(root / "reference_images" / f"I{r:02d}.BMP")
        for d, name in ((1, "noise"), (8, "gaussian_blur")):
            for lv in range(1, 6):
                dist = apply_challenge(img[None], name, lv, random_state=r)[0]
                Image.fromarray(dist).save(root / "distorted_images" / f"i{r:02d}_{d:02d}_{lv}.bmp")
                lines.append(f"{6.5 - lv + 0.05 * r + 0.01 * d:.4f} i{r:02d}_{d:02d}_{lv}.bmp")
    (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
    return root


def test_iqa_on_a_tid2013_layout_fits_a_model(tmp_path):
    root = _fake_tid2013(tmp_path / "tid")
    proc = _ok(run_cli("iqa", "--dataset", "tid2013", "--root", root, "--fit-hidden", 20, "--fit-patches", 1000,
                       "--fit-iter", 5, "--threads", 1, "--output", tmp_path / "o"))
    assert "no --weights given" in proc.stderr and "SROCC" in proc.stdout
    rows = _read_csv(tmp_path / "o" / "scores.csv")
    assert len(rows) == 30
    # PSNR recomputed from the image files
    for r in rows[:3]:
        ref = np.asarray(Image.open(root / r["reference"]).convert("RGB"), dtype=float)
        dist = np.asarray(Image.open(root / r["distorted"]).convert("RGB"), dtype=float)
        assert float(r["psnr"]) == pytest.approx(10 * np.log10(255**2 / np.mean((ref - dist) ** 2)), rel=1e-6)
    reports = json.loads((tmp_path / "o" / "metrics.json").read_text())["reports"]
    mos = [float(r["mos"]) for r in rows]
    for metric in ("psnr", "unique", "gradient"):
        assert reports[metric]["srocc"] == pytest.approx(
            stats.spearmanr([float(r[metric]) for r in rows], mos).statistic, abs=1e-9)


def test_iqa_with_the_authors_weights_gives_the_library_scores(tmp_path, shared_dir):
    from skgrad.cli import main
    from skgrad.iqa import SparsePatchAutoencoder, activation_quality, gradient_quality

    weights = shared_dir / "data" / "unique" / "ImageNet_Weights_YGCr.mat"  # checked by the fixture
    root = _fake_tid2013(tmp_path / "tid")
    # in this process (test_iqa_on_a_tid2013_layout_fits_a_model runs the command as one)
    assert main(["iqa", "--dataset", "tid2013", "--root", str(root), "--weights", str(weights), "--limit", "3",
                 "--output", str(tmp_path / "w")]) == 0
    rows = _read_csv(tmp_path / "w" / "scores.csv")
    assert len(rows) == 3
    # one worker or two: the same file
    assert main(["iqa", "--dataset", "tid2013", "--root", str(root), "--weights", str(weights), "--limit", "3",
                 "--n-jobs", "1", "--output", str(tmp_path / "w1")]) == 0
    assert (tmp_path / "w1" / "scores.csv").read_text() == (tmp_path / "w" / "scores.csv").read_text()
    model = SparsePatchAutoencoder.from_mat(weights)
    for r in rows:
        ref = np.asarray(Image.open(root / r["reference"]).convert("RGB"))
        dist = np.asarray(Image.open(root / r["distorted"]).convert("RGB"))
        assert float(r["unique"]) == pytest.approx(activation_quality(reference=ref, distorted=dist, model=model), rel=1e-7)
        assert float(r["gradient"]) == pytest.approx(gradient_quality(reference=ref, distorted=dist, model=model), rel=1e-7)


# --------------------------------------------------------------------------- #
# bad input: exit code 2, one line, no traceback
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    t = tmp_path_factory.mktemp("bad")
    _save(_digits(6), t / "good")
    corrupt = _save(_digits(3), t / "corrupt")
    (corrupt / "00001.png").write_bytes(b"this is not a PNG file")
    (t / "empty").mkdir()
    (t / "afile.txt").write_text("x")
    mixed = _save(_digits(2), t / "mixed")
    _save(_digits(2), mixed / "sub")
    _save(_digits(2), t / "cure_mixed", names=["01_01_00_00_0001.bmp", "photo.bmp"])
    _save(_digits(2), t / "cure_no_clean", names=["01_01_04_02_0001.bmp", "01_01_04_03_0001.bmp"])
    (t / "weights.mat").write_text("not a mat file")
    _fake_tid2013(t / "tid", size=32)
    return t


X = ("extract", "--model", "vae", "--out", "f.npy")
#: case -> (arguments, text the message must contain); paths are relative to the fixture folder.
BAD_CASES = {
    "images-missing": ([*X, "--images", "nope"], "--images nope: no such directory"),
    "images-is-file": ([*X, "--images", "afile.txt"], "not a directory"),
    "images-empty": ([*X, "--images", "empty"], "no image files"),
    "corrupt-image": ([*X, "--images", "corrupt"], "cannot read image corrupt/00001.png"),
    "model-unknown": (["extract", "--model", "vea", "--images", "good", "--out", "f.npy"], "neither a preset"),
    "model-not-a-save": (["extract", "--model", "afile.txt", "--images", "good", "--out", "f.npy"],
                         "not an skgrad estimator file"),
    "out-is-dir": (["extract", "--model", "vae", "--images", "good", "--out", "good"], "is a directory"),
    "batch-size-zero": ([*X, "--images", "good", "--batch-size", "0"], "--batch-size"),
    "batch-size-text": ([*X, "--images", "good", "--batch-size", "x"], "--batch-size"),
    "epochs-negative": ([*X, "--images", "good", "--epochs", "-1"], "--epochs"),
    "device-unknown": ([*X, "--images", "good", "--device", "tpu"], "--device tpu"),
    "seed-negative": (["demo", "--random-state", "-1"], "--random-state"),
    "output-is-file": (["demo", "--quick", "--output", "afile.txt"], "--output afile.txt"),
    "train-missing": (["ood", "--train", "nope", "--test", "good"], "--train nope"),
    "test-mixed-layout": (["ood", "--train", "good", "--test", "mixed"], "unknown layout"),
    "test-mixed-cure": (["ood", "--train", "good", "--test", "cure_mixed"], "unknown layout"),
    "train-cure-no-clean": (["ood", "--train", "cure_no_clean", "--test", "good"], "challenge-free"),
    "dataset-unknown": (["iqa", "--dataset", "live", "--root", "tid"], "--dataset"),
    "root-missing": (["iqa", "--dataset", "tid2013", "--root", "nope"], "--root nope"),
    "root-wrong-layout": (["iqa", "--dataset", "kadid10k", "--root", "good"], "not a KADID-10k folder"),
    "weights-missing": (["iqa", "--dataset", "tid2013", "--root", "tid", "--weights", "nope.mat"], "--weights"),
    "weights-corrupt": (["iqa", "--dataset", "tid2013", "--root", "tid", "--weights", "weights.mat"], "--weights"),
    "n-jobs-zero": (["iqa", "--dataset", "tid2013", "--root", "tid", "--n-jobs", "0"], "--n-jobs: must be a positive"),
    "n-jobs-text": (["iqa", "--dataset", "tid2013", "--root", "tid", "--n-jobs", "all"], "--n-jobs"),
    "seed-text": (["demo", "--random-state", "x"], "--random-state: must be an integer seed in [0, 2**32), got 'x'"),
    "size-too-small": (["challenges", "--images", "good", "--out", "c", "--size", "4"],
                       "--size: must be an integer >= 8, got '4'"),
    "train-share-one": (["challenges", "--images", "good", "--out", "c", "--train", "1"],
                        "--train: must be a number in (0, 1), got '1'"),
    "val-share-nan": (["challenges", "--images", "good", "--out", "c", "--val", "nan"],
                      "--val: must be a number in (0, 1), got 'nan'"),
    "types-unknown-code": (["challenges", "--images", "good", "--out", "c", "--types", "1", "13"],
                           "--types: must be a challenge code 1..12, got '13'"),
    "unknown-command": (["train"], "invalid choice"),
    "no-command": ([], "required"),
}
#: One case per way of failing (a command's own check, the argument parser), each in its own
#: ``python -m skgrad.cli`` process: the exit code and stderr of a real process.  (Every
#: process pays ~3 s of importing torch and scikit-learn, so all other cases run in-process
#: through ``main``, the function the module's ``__main__`` exits with, with the same checks.)
SUBPROCESS_CASES = ["images-missing", "no-command"]


def _check_one_line_error(rc, out, err, expected):
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("skgrad: error: ")
    assert expected in lines[0], lines[0]
    assert out == ""


@pytest.fixture(scope="module")
def bad_subprocess_results(bad):
    with ThreadPoolExecutor(2) as pool:
        procs = pool.map(lambda c: run_cli(*BAD_CASES[c][0], cwd=bad), SUBPROCESS_CASES)
        return dict(zip(SUBPROCESS_CASES, procs))


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_in_a_subprocess(bad_subprocess_results, case):
    proc = bad_subprocess_results[case]
    _check_one_line_error(proc.returncode, proc.stdout, proc.stderr, BAD_CASES[case][1])


@pytest.mark.parametrize("case", [c for c in BAD_CASES if c not in SUBPROCESS_CASES])
def test_bad_input_in_process(bad, case, capsys, monkeypatch):
    from skgrad.cli import main

    monkeypatch.chdir(bad)
    rc = main(BAD_CASES[case][0])
    out, err = capsys.readouterr()
    _check_one_line_error(rc, out, err, BAD_CASES[case][1])


def test_debug_shows_the_traceback(bad, capsys, monkeypatch):
    from skgrad.cli import main

    monkeypatch.chdir(bad)
    assert main([*X, "--images", "nope", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("skgrad: error: --images nope")


def test_extract_on_a_dask_scheduler_equals_local_extract(tmp_path):
    """``extract --scheduler``: workers read the images and write their rows; same features."""
    distributed = pytest.importorskip("distributed", reason="--scheduler needs the dask extra")
    from skgrad.cli import main
    from skgrad.persistence import load, save
    from skgrad import GradientFeatureTransformer
    from skgrad.datasets import read_images

    imgs = _digits(24)
    folder = _save(imgs, tmp_path / "imgs")
    X = read_images(sorted(folder.glob("*.png")), 28)
    model = save(GradientFeatureTransformer(epochs=1, batch_size=8, random_state=0, device="cpu").fit(X),
                 tmp_path / "m.skgrad")
    local = tmp_path / "local.npy"
    assert main(["extract", "--model", str(model), "--images", str(folder), "--out", str(local),
                 "--device", "cpu"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tcp",
                                  dashboard_address=":0") as cluster:
        remote = tmp_path / "remote.npy"
        assert main(["extract", "--model", str(model), "--images", str(folder), "--out", str(remote),
                     "--scheduler", cluster.scheduler_address, "--chunk-size", "8", "--device", "cpu"]) == 0
    # Other batches (chunks of 8 vs the default 16 x batch size) on worker threads running
    # concurrently: the float32 tolerance of tests/numerics.py, not bit for bit.
    assert_allclose_blocks(np.load(remote), np.load(local), load(model).get_feature_names_out())
    assert Path(str(remote) + ".paths.txt").read_text() == Path(str(local) + ".paths.txt").read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


# --------------------------------------------------------------------------- #
# a light parser, and errors routed by their class
# --------------------------------------------------------------------------- #
HEAVY = ("torch", "dask", "distributed", "matplotlib", "skgrad.iqa", "skgrad.transformers", "sklearn", "scipy")


@pytest.mark.parametrize("argv", [["--help"], ["extract", "--help"], ["extract", "--model", "vae"], ["nope"],
                                  ["challenges", "--help"], ["ood", "--cure-tsr", "nope"],
                                  ["iqa", "--help"], ["iqa", "--dataset", "tid2013", "--root", ".", "--n-jobs", "0"]])
def test_help_and_argument_errors_import_nothing_heavy(argv):
    code = ("import sys\nfrom skgrad.cli import main\ntry:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    rc = e.code\nprint('RC', rc)\nprint('LOADED', sorted(m for m in %r if m in sys.modules))" % (HEAVY,))
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=_env(), timeout=60)
    out = proc.stdout.splitlines()
    assert out[-1] == "LOADED []", proc.stdout + proc.stderr
    assert out[-2] == ("RC 0" if "--help" in argv else "RC 2"), proc.stdout + proc.stderr


def test_errors_are_routed_by_class_not_by_message(tmp_path, capsys, monkeypatch):
    import skgrad.extract
    from skgrad.cli import main
    from skgrad.extract import ResumeError

    folder = _save(_digits(4), tmp_path / "imgs")
    args = ["extract", *EXTRACT_ARGS, "--images", str(folder), "--out", str(tmp_path / "f.npy")]

    def raising(exc):
        def fake(*a, **k):
            raise exc
        return fake

    # a ResumeError, whatever it says, is the user's problem: exit 2, one line
    monkeypatch.setattr(skgrad.extract, "extract", raising(ResumeError("the input differs")))
    assert main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "skgrad: error: --resume: the input differs; run again without --resume")
    # a plain ValueError that merely says "cannot resume" is a bug: exit 1, an internal error
    monkeypatch.setattr(skgrad.extract, "extract", raising(ValueError("cannot resume: not a user error")))
    assert main(args) == 1
    assert "internal error: ValueError: cannot resume" in capsys.readouterr().err
