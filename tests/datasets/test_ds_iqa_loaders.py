"""Fixture trees for TID2013, MULTI-LIVE and KADID-10k; parsing and every error path."""
import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from skgrad.datasets import load_kadid10k, load_live_multiply_distorted, load_tid2013


def _img(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 4), (value, value, value)).save(path)


# --------------------------------------------------------------------------- #
# TID2013
# --------------------------------------------------------------------------- #
@pytest.fixture
def tid_root(tmp_path):
    root = tmp_path / "tid2013"
    # mixed case as in the real distribution
    _img(root / "reference_images" / "I01.BMP")
    _img(root / "reference_images" / "i02.bmp")
    _img(root / "distorted_images" / "i01_01_1.bmp")
    _img(root / "distorted_images" / "I01_17_5.BMP")
    _img(root / "distorted_images" / "i02_24_3.bmp")
    (root / "mos_with_names.txt").write_text(
        "5.51429 i01_01_1.bmp\n1.5 i01_17_5.bmp\n\n4.0 I02_24_3.BMP\n"
    )
    (root / "mos_std.txt").write_text("0.13\n0.2\n0.5\n")
    return root


def test_tid2013_parsing(tid_root):
    b = load_tid2013(tid_root)
    np.testing.assert_allclose(b.mos, [5.51429, 1.5, 4.0])
    np.testing.assert_allclose(b.mos_std, [0.13, 0.2, 0.5])
    assert b.groups.tolist() == [1, 1, 2]
    assert b.distortion.tolist() == [1, 17, 24]
    assert b.level.tolist() == [1, 5, 3]
    assert b.higher_is_better is True
    assert b.pairs.shape == (3, 2) and b.pairs.dtype == object
    r = tid_root.resolve()
    assert b.pairs[0].tolist() == [str(r / "reference_images" / "I01.BMP"), str(r / "distorted_images" / "i01_01_1.bmp")]
    assert b.pairs[1, 1] == str(r / "distorted_images" / "I01_17_5.BMP")
    assert b.pairs[2, 0] == str(r / "reference_images" / "i02.bmp")
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in b.pairs.ravel())
    assert b.root == str(r) and "TID2013" in b.description
    assert b.distortion_names[8] == "Gaussian blur"


def test_tid2013_without_mos_std(tid_root):
    (tid_root / "mos_std.txt").unlink()
    assert load_tid2013(tid_root).mos_std is None


def test_tid2013_errors(tid_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tid2013(tmp_path / "elsewhere")
    (tid_root / "mos_std.txt").write_text("0.1\n")
    with pytest.raises(ValueError, match="1 values but .* 3 images"):
        load_tid2013(tid_root)
    (tid_root / "mos_std.txt").unlink()
    os.remove(tid_root / "distorted_images" / "I01_17_5.BMP")
    os.remove(tid_root / "reference_images" / "i02.bmp")
    with pytest.raises(FileNotFoundError, match=r"missing: .*i01_17_5\.bmp.*I02\.BMP"):
        load_tid2013(tid_root)
    (tid_root / "mos_with_names.txt").write_text("4.0 garbage.png\n")
    with pytest.raises(ValueError, match=r"mos_with_names.txt:1.*garbage"):
        load_tid2013(tid_root)
    (tid_root / "mos_with_names.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"TID2013 root .* lacks mos_with_names.txt; expected layout"):
        load_tid2013(tid_root)
    empty = tmp_path / "half"
    empty.mkdir()
    (empty / "mos_with_names.txt").write_text("1 i01_01_1.bmp\n")
    with pytest.raises(FileNotFoundError, match="lacks distorted_images/"):
        load_tid2013(empty)


# --------------------------------------------------------------------------- #
# MULTI-LIVE
# --------------------------------------------------------------------------- #
def _cell(strings):
    """A MATLAB cell column of strings, as numpy object array (what savemat writes as cell)."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def _live_part(root, folder, sub, refs, dists, ref4dist, dmos, mats_in_part=True, levels=True):
    img_dir = root / folder / sub
    for name in refs + dists:
        _img(img_dir / name)
    mat_dir = root / folder if mats_in_part else img_dir
    lists = {"distimgs": _cell(dists), "refimgs": _cell(refs), "ref4dist": np.array(ref4dist, float)[:, None]}
    if levels:
        lists["distimgdistlevels"] = np.arange(2 * len(dists), dtype=float).reshape(-1, 2)
    savemat(mat_dir / "Imagelists.mat", lists)
    savemat(mat_dir / "Scores.mat", {"DMOSscores": np.array([dmos], float), "dist_diffscores": np.zeros((3, len(dists)))})


@pytest.fixture
def live_root(tmp_path):
    root = tmp_path / "LIVEmultidistortion"
    _live_part(root, "Part 1", "blurjpeg", ["babygirl.bmp", "cactus.bmp"],
               ["babygirl_1_0.bmp", "cactus_2_3.bmp", "babygirl_0_2.bmp"], [1, 2, 1], [20.0, 35.5, 12.25])
    # part 2: .mat files beside the images, no level variable
    _live_part(root, "Part 2", "blurnoise", ["cactus.bmp"], ["cactus_3_1.bmp"], [1], [50.0],
               mats_in_part=False, levels=False)
    return root


def test_live_multiply_parsing(live_root):
    b = load_live_multiply_distorted(live_root)
    np.testing.assert_allclose(b.mos, [20.0, 35.5, 12.25, 50.0])
    assert b.groups.tolist() == ["babygirl", "cactus", "babygirl", "cactus"]
    assert b.distortion.tolist() == ["blurjpeg"] * 3 + ["blurnoise"]
    assert b.part.tolist() == [1, 1, 1, 2]
    assert b.higher_is_better is False and b.mos_std is None
    r = live_root.resolve()
    assert b.pairs[1].tolist() == [str(r / "Part 1" / "blurjpeg" / "cactus.bmp"), str(r / "Part 1" / "blurjpeg" / "cactus_2_3.bmp")]
    assert b.pairs[3, 0] == str(r / "Part 2" / "blurnoise" / "cactus.bmp")
    assert b.level is None  # part 2 has no distimgdistlevels
    p1 = load_live_multiply_distorted(live_root, part="blurjpeg")
    assert len(p1.mos) == 3 and p1.level.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert load_live_multiply_distorted(live_root, part=2).pairs.shape == (1, 2)
    with pytest.raises(ValueError, match="part must be"):
        load_live_multiply_distorted(live_root, part=3)


def test_live_multiply_errors(live_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_live_multiply_distorted(tmp_path / "none")
    os.remove(live_root / "Part 1" / "blurjpeg" / "cactus_2_3.bmp")
    with pytest.raises(FileNotFoundError, match="missing: .*cactus_2_3.bmp"):
        load_live_multiply_distorted(live_root, part=1)
    os.remove(live_root / "Part 2" / "blurnoise" / "Scores.mat")
    with pytest.raises(FileNotFoundError, match="lacks Part 2/blurnoise/Scores.mat"):
        load_live_multiply_distorted(live_root, part=2)
    savemat(live_root / "Part 2" / "blurnoise" / "Scores.mat", {"DMOSscores": np.array([[1.0, 2.0]])})
    with pytest.raises(ValueError, match="differ in length"):
        load_live_multiply_distorted(live_root, part=2)
    savemat(live_root / "Part 2" / "blurnoise" / "Imagelists.mat",
            {"distimgs": _cell(["cactus_3_1.bmp"]), "refimgs": _cell(["cactus.bmp"]), "ref4dist": np.array([[2.0]])})
    savemat(live_root / "Part 2" / "blurnoise" / "Scores.mat", {"DMOSscores": np.array([[1.0]])})
    with pytest.raises(ValueError, match="1-based"):
        load_live_multiply_distorted(live_root, part=2)
    os.rename(live_root / "Part 2", live_root / "elsewhere")
    with pytest.raises(FileNotFoundError, match="lacks Part 2/; expected layout"):
        load_live_multiply_distorted(live_root, part=2)


# --------------------------------------------------------------------------- #
# KADID-10k
# --------------------------------------------------------------------------- #
@pytest.fixture
def kadid_root(tmp_path):
    root = tmp_path / "kadid10k"
    for n in ("I01.png", "I01_01_01.png", "I01_25_05.png", "I81.png", "i81_13_3.png"):
        _img(root / "images" / n)
    (root / "dmos.csv").write_text(
        "dist_img,ref_img,dmos,var\n"
        "I01_01_01.png,I01.png,4.57,0.496\n"
        "I01_25_05.png,I01.png,1.2,0.25\n"
        "I81_13_3.png,I81.png,3.0,0.0\n"
    )
    return root


def test_kadid_parsing(kadid_root):
    b = load_kadid10k(kadid_root)
    np.testing.assert_allclose(b.mos, [4.57, 1.2, 3.0])
    np.testing.assert_allclose(b.mos_std, [np.sqrt(0.496), 0.5, 0.0])
    assert b.groups.tolist() == [1, 1, 81]
    assert b.distortion.tolist() == [1, 25, 13]
    assert b.level.tolist() == [1, 5, 3]
    assert b.higher_is_better is True
    r = kadid_root.resolve()
    assert b.pairs[2].tolist() == [str(r / "images" / "I81.png"), str(r / "images" / "i81_13_3.png")]


def test_kadid_errors(kadid_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_kadid10k(tmp_path / "nothing")
    os.remove(kadid_root / "images" / "I01_25_05.png")
    with pytest.raises(FileNotFoundError, match="missing: .*I01_25_05.png"):
        load_kadid10k(kadid_root)
    (kadid_root / "dmos.csv").write_text("dist_img,ref_img,score\nI01_01_01.png,I01.png,4\n")
    with pytest.raises(ValueError, match="lacks the column"):
        load_kadid10k(kadid_root)
    (kadid_root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,high,0.1\n")
    with pytest.raises(ValueError, match="dmos.csv:2"):
        load_kadid10k(kadid_root)
    (kadid_root / "dmos.csv").unlink()
    with pytest.raises(FileNotFoundError, match="KADID-10k root .* lacks dmos.csv"):
        load_kadid10k(kadid_root)
