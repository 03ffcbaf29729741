"""``skgrad challenges`` and ``skgrad ood --cure-tsr``: the authors' layout written from any
images, and the authors' OOD protocol run on it end to end.

The numbers of the protocol are checked against scikit-learn's metrics computed here from
the per-image scores the command saves (an independent oracle of skgrad.metrics).
"""
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images
from sklearn.metrics import roc_auc_score, roc_curve

from skgrad.cure import FEATURE_SETS, POSTER_ACCURACY, make_cure_challenges
from skgrad.datasets import center_crop_resize, load_cure_tsr, read_image
from skgrad.distortions import CHALLENGES, apply_challenge

PROTOCOL_TYPES = (1, 2, 3, 5, 7, 8, 9)
TEST_NAMES = ["decolorization", "lens_blur", "codec_error", "dirty_lens", "noise", "rain"]


def _tiles(n, size=48):
    """``n`` colour tiles of scikit-learn's two sample photos."""
    tiles = []
    for photo in load_sample_images().images:
        h, w = photo.shape[:2]
        for y in range(0, h - size, 61):
            for x in range(0, w - size, 83):
                tiles.append(photo[y : y + size, x : x + size])
    return np.stack(tiles[:: max(1, len(tiles) // n)][:n])


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    for i, tile in enumerate(_tiles(30)):
        sub = folder / ("a" if i % 2 else "b")  # the generator searches subfolders too
        sub.mkdir(exist_ok=True)
        Image.fromarray(tile).save(sub / f"tile{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def tree(sources, tmp_path_factory):
    """A small CURE-TSR tree in the authors' layout, written by ``skgrad challenges``."""
    from skgrad.cli import main

    root = tmp_path_factory.mktemp("cure") / "cure-tsr"
    rc = main(["challenges", "--images", str(sources), "--out", str(root), "--size", "28",
               "--types", *map(str, PROTOCOL_TYPES), "--random-state", "3"])
    assert rc == 0
    return root


# --------------------------------------------------------------------------- #
# the generator
# --------------------------------------------------------------------------- #
def test_challenges_writes_the_authors_layout_that_the_loader_reads(tree, sources):
    n = {"train": 21, "val": 3, "test": 6}
    free = {split: load_cure_tsr(tree / "RealChallengeFree" / split) for split in n}
    for split, bunch in free.items():
        assert len(bunch.paths) == n[split] and set(bunch.split) == {split}
        assert set(bunch.challenge) == {"challenge_free"}
        # the authors' 7 fields: 01_01_00_00_00_SS_IIII.bmp
        assert all(Path(p).name.startswith("01_01_00_00_00_01_") for p in bunch.paths)
    for code in PROTOCOL_TYPES:
        for level in range(1, 6):
            for split in n:
                folder = tree / "RealChallenge" / f"{code:02d}_{level:02d}" / split
                b = load_cure_tsr(folder)
                assert set(b.challenge) == {CHALLENGES[code - 1]} and set(b.level) == {level}
                assert set(b.split) == {split}
                # the same source images, by index, in every folder of a split
                np.testing.assert_array_equal(np.sort(b.index), np.sort(free[split].index))
                assert all(Path(p).name.startswith(f"01_01_01_{code:02d}_{level:02d}_01_") for p in b.paths)
    assert not (tree / "RealChallenge" / "04_01").exists()  # only the asked types
    with open(tree / "sources.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(int(r["index"]) for r in rows) == list(range(1, 31))
    # the challenge-free image is the source, centre-cropped and resized; a challenge image is
    # apply_challenge of it
    row = next(r for r in rows if r["split"] == "test")
    index = int(row["index"])
    expected = center_crop_resize(read_image(sources / row["source"]), 28, 28)
    clean = read_image(tree / "RealChallengeFree" / "test" / f"01_01_00_00_00_01_{index:04d}.bmp")
    np.testing.assert_array_equal(clean, expected)
    blurred = read_image(tree / "RealChallenge" / "02_05" / "test" / f"01_01_01_02_05_01_{index:04d}.bmp")
    np.testing.assert_array_equal(blurred, apply_challenge(clean[None], "lens_blur", 5)[0])


def test_challenge_levels_grow_on_the_same_images(tree):
    def psnr(a, b):
        return 10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))

    clean = load_cure_tsr(tree / "RealChallengeFree" / "test").load_images()
    for code in PROTOCOL_TYPES:
        values = [psnr(load_cure_tsr(tree / "RealChallenge" / f"{code:02d}_{lv:02d}" / "test").load_images(), clean)
                  for lv in range(1, 6)]
        assert all(a > b for a, b in zip(values, values[1:])), (code, values)


def test_challenges_refuses_bad_input_with_one_line_naming_it(sources, tmp_path, capsys):
    from skgrad.cli import main

    bad = tmp_path / "bad"
    shutil.copytree(sources, bad)
    (bad / "a" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        make_cure_challenges(bad, tmp_path / "out1", size=16, challenge_types=[7], levels=[1])
    cases = [
        (["--images", str(bad), "--out", str(tmp_path / "out2")], "broken.png"),
        (["--images", str(tmp_path / "nope"), "--out", str(tmp_path / "out3")], "--images"),
        (["--images", str(sources), "--out", str(tmp_path / "out4"), "--train", "0.8", "--val", "0.3"], "--val 0.3"),
        (["--images", str(sources), "--out", str(tmp_path / "out5"), "--size", "4"], "--size"),
        (["--images", str(sources), "--out", str(tmp_path / "out6"), "--types", "13"], "--types"),
    ]
    for argv, expected in cases:
        assert main(["challenges", *argv]) == 2
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("skgrad: error: ") and expected in lines[0], err
    assert not (tmp_path / "out2" / "RealChallengeFree").exists(), "nothing written before every image was read"
    # a tree is never written over
    make_cure_challenges(sources, tmp_path / "out7", size=16, challenge_types=[7], levels=[1])
    with pytest.raises(ValueError, match="already holds RealChallengeFree"):
        make_cure_challenges(sources, tmp_path / "out7", size=16, challenge_types=[7], levels=[1])
    with pytest.raises(ValueError, match="fractions"):
        make_cure_challenges(sources, tmp_path / "out8", fractions=(0.5, 0.5, 0.5))


# --------------------------------------------------------------------------- #
# the protocol, end to end
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def run(tree, tmp_path_factory):
    from skgrad.cli import main

    out = tmp_path_factory.mktemp("report")
    rc = main(["ood", "--cure-tsr", str(tree), "--epochs", "2", "--classifier", "mlp", "--classifier-epochs", "8",
               "--fpr-convention", "authors", "--output", str(out), "--random-state", "0"])
    assert rc == 0
    with open(out / "scores.csv", newline="") as fh:
        scores = list(csv.DictReader(fh))
    return json.loads((out / "metrics.json").read_text()), scores, out


def test_cure_protocol_json_has_every_number(run, tree):
    metrics, scores, out = run
    assert set(metrics) == {"protocol", "classifiers", "results", "table", "poster_accuracy_percent",
                            "fpr_at_95_tpr_shown", "timing"}
    p = metrics["protocol"]
    assert p["classifier"] == "mlp" and p["train_outlier"] == {"code": 7, "level": 1, "name": "gaussian_blur"}
    assert list(p["test_types"]) == TEST_NAMES and p["levels"] == [1, 2, 3, 4, 5]
    assert p["sets"]["inliers_train"] == {"folder": "RealChallengeFree/train", "n_images": 21}
    assert p["sets"]["outliers_val"] == {"folder": "RealChallenge/07_01/val", "n_images": 3}
    assert p["sets"]["test_09_05"] == {"folder": "RealChallenge/09_05/test", "n_images": 6}
    assert p["autoencoder"]["n_epochs"] == 2 and 1 <= metrics["classifiers"]["grad_both"]["n_epochs"] <= 8
    assert set(metrics["classifiers"]) == set(FEATURE_SETS)
    for fs in FEATURE_SETS:
        info = metrics["classifiers"][fs]
        assert info["val_loss"] == min(info["val_loss_history"])  # the best validation-loss epoch is kept
        assert info["val_loss_history"].index(info["val_loss"]) + 1 == info["best_epoch"]
        assert set(metrics["results"][fs]) == set(TEST_NAMES)
        for name in TEST_NAMES:
            levels = metrics["results"][fs][name]["levels"]
            assert list(levels) == ["1", "2", "3", "4", "5"]
            assert set(levels["3"]) == {"accuracy", "auroc", "fpr_at_95_tpr", "fpr_at_95_tpr_authors",
                                        "detection_error", "aupr_in", "aupr_out", "n_inliers", "n_outliers"}
    assert set(metrics["table"]) == {"accuracy", "auroc", "fpr_at_95_tpr", "detection_error"}
    poster = metrics["poster_accuracy_percent"]
    assert poster["grad_both"]["rain"] == 95.85 and poster["activations"]["decolorization"] == 56.51
    assert {fs: sorted(v.values()) for fs, v in poster.items()} == {
        fs: sorted(v.values()) for fs, v in POSTER_ACCURACY.items()}
    assert len(scores) == 6 + 6 * 5 * 6  # the clean test images once, then every test set
    html = (out / "report.html").read_text()
    assert "poster's published number" in html and "95.85" in html and "ours" in html
    assert "authors' convention" in html  # which FPR at 95% TPR the table shows


def _fpr95_exact(inlier, s):
    fpr, tpr, _ = roc_curve(inlier, s, drop_intermediate=False)
    return fpr[np.argmax(tpr >= 0.95)]


def _fpr95_authors(inlier, s):
    grid = np.arange(0.0, 1.0, 0.05)
    tpr = np.array([np.mean(s[inlier] >= t) for t in grid])
    return np.mean(s[~inlier] >= grid[np.argmin(np.abs(tpr - 0.95))])


def test_cure_protocol_numbers_follow_the_metrics_definitions(run):
    """Recompute every table entry from scores.csv with scikit-learn."""
    metrics, scores, _ = run
    clean = [r for r in scores if r["label"] == "inlier"]
    assert {r["set"] for r in clean} == {"RealChallengeFree/test"}
    for fs in FEATURE_SETS:
        s_in = np.array([float(r[fs]) for r in clean])
        for code, name in zip((1, 2, 3, 5, 8, 9), TEST_NAMES):
            per_level = []
            for level in range(1, 6):
                rows = [r for r in scores if r["set"] == f"RealChallenge/{code:02d}_{level:02d}/test"]
                assert len(rows) == 6 and all(int(r["challenge"]) == code and int(r["level"]) == level for r in rows)
                s = np.r_[s_in, [float(r[fs]) for r in rows]]
                inlier = np.r_[np.ones(len(s_in)), np.zeros(len(rows))].astype(bool)
                fpr, tpr, _ = roc_curve(inlier, s, drop_intermediate=False)
                expected = {
                    "accuracy": np.mean((s >= 0.5) == inlier),
                    "auroc": roc_auc_score(inlier, s),
                    "fpr_at_95_tpr": _fpr95_exact(inlier, s),
                    "fpr_at_95_tpr_authors": _fpr95_authors(inlier, s),
                    "detection_error": np.min(0.5 * (1 - tpr) + 0.5 * fpr),
                }
                got = metrics["results"][fs][name]["levels"][str(level)]
                for key, value in expected.items():
                    # scores.csv keeps 9 significant digits: ties and thresholds survive
                    assert got[key] == pytest.approx(value, abs=1e-9), (fs, name, level, key)
                per_level.append(expected)
            mean = {k: np.mean([e[k] for e in per_level]) for k in per_level[0]}
            table = metrics["table"]
            assert table["accuracy"][fs][name] == pytest.approx(100 * mean["accuracy"])
            assert table["auroc"][fs][name] == pytest.approx(mean["auroc"])
            assert table["detection_error"][fs][name] == pytest.approx(mean["detection_error"])
            # the table shows the authors' FPR convention, as asked
            assert table["fpr_at_95_tpr"][fs][name] == pytest.approx(mean["fpr_at_95_tpr_authors"])


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("remove, expected", [
    ("RealChallenge/02_03/test", "RealChallenge/02_03/test (lens_blur level 3, test split)"),
    ("RealChallengeFree/val", "RealChallengeFree/val (challenge-free, val split)"),
    ("RealChallenge/07_01", "RealChallenge/07_01/train (gaussian_blur level 1, train split)"),
])
def test_a_missing_folder_is_one_line_naming_it(tree, tmp_path, capsys, remove, expected):
    from skgrad.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    shutil.rmtree(copy / remove)
    assert main(["ood", "--cure-tsr", str(copy), "--output", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skgrad: error: --cure-tsr ") and expected in lines[0], err
    assert "lacks the folder" in lines[0]
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_an_empty_folder_or_a_bad_file_is_one_line_naming_it(tree, tmp_path, capsys):
    from skgrad.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    for f in (copy / "RealChallenge" / "08_04" / "test").iterdir():
        f.unlink()
    assert main(["ood", "--cure-tsr", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "08_04" in err[0] and "holds no files" in err[0]
    shutil.rmtree(copy)
    shutil.copytree(tree, copy)
    bad = copy / "RealChallenge" / "05_02" / "test" / "01_01_01_05_02_01_9999.bmp"
    bad.write_bytes(b"BM not really")
    assert main(["ood", "--cure-tsr", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "01_01_01_05_02_01_9999.bmp" in err[0]
    # --cure-tsr with the folders of the other mode, or without either
    for argv, expected in ((["--cure-tsr", str(tree), "--train", str(tree)], "drop --train"),
                           (["--cure-tsr", str(tmp_path / "nope")], "--cure-tsr"),
                           (["--test", str(tree)], "--train")):
        assert main(["ood", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
    os.chdir(tmp_path)  # nothing was written in the working folder
    assert not Path("skgrad-ood").exists()


def test_the_mlp_is_the_authors_shape_kept_at_its_best_validation_loss():
    """1872 -> 40 -> 20 -> 1 (scikit-learn's MLPClassifier); the epoch with the lowest validation
    log-loss is returned, not the last, when the validation loss turns up (here: the validation
    labels contradict the training labels on half of the samples, so fitting harder hurts)."""
    from sklearn.metrics import log_loss

    from skgrad.cure._classifiers import fit_classifier, inlier_probability

    rng = np.random.RandomState(0)
    X_in, X_out = rng.normal(0.3, 1, (60, 1872)), rng.normal(-0.3, 1, (60, 1872))
    X_in_val = np.vstack([rng.normal(0.3, 1, (20, 1872)), rng.normal(-0.3, 1, (20, 1872))])
    X_out_val = np.vstack([rng.normal(-0.3, 1, (20, 1872)), rng.normal(0.3, 1, (20, 1872))])
    model, info = fit_classifier("mlp", X_in, X_out, X_in_val, X_out_val, random_state=0, max_epochs=60,
                                 n_iter_no_change=60)
    assert [c.shape for c in model.coefs_] == [(1872, 40), (40, 20), (20, 1)]
    assert model.out_activation_ == "logistic" and model.activation == "relu" and model.alpha == 0.0
    history = info["val_loss_history"]
    assert info["n_epochs"] == 60 and info["best_epoch"] < 60 and history[-1] > min(history)
    y_val = np.r_[np.ones(40), np.zeros(40)]
    p = inlier_probability(model, np.vstack([X_in_val, X_out_val]))
    assert log_loss(y_val, p) == pytest.approx(min(history)) == pytest.approx(info["val_loss"])
    # the logistic route: P(inlier) is higher for the inliers
    model, info = fit_classifier("logistic", X_in, X_out, X_in_val, X_out_val)
    assert inlier_probability(model, X_in).mean() > 0.9 > 0.1 > inlier_probability(model, X_out).mean()
    assert "best_epoch" not in info
