"""CURE-TSR loader on fixture trees (flat and the authors' split layout)."""
import numpy as np
import pytest
from PIL import Image

from skgrad.datasets import load_cure_tsr


def _bmp(path, size=(30, 20), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_flat_folder(tmp_path):
    _bmp(tmp_path / "01_05_00_00_0003.bmp")
    _bmp(tmp_path / "02_14_12_05_0001.BMP", size=(50, 60))
    _bmp(tmp_path / "01_01_02_03_0010.bmp")
    (tmp_path / "notes.txt").write_text("ignored")
    _bmp(tmp_path / "other.bmp")
    b = load_cure_tsr(tmp_path)
    assert [p.rsplit("/", 1)[1] for p in b.paths] == [
        "01_01_02_03_0010.bmp", "01_05_00_00_0003.bmp", "02_14_12_05_0001.BMP"]
    assert b.sequence.tolist() == [1, 1, 2]
    assert b.sign_type.tolist() == [1, 5, 14]
    assert b.challenge_code.tolist() == [2, 0, 12]
    assert b.challenge.tolist() == ["lens_blur", "challenge_free", "haze"]
    assert b.level.tolist() == [3, 0, 5]
    assert b.index.tolist() == [10, 3, 1]
    assert b.split is None
    imgs = b.load_images()
    assert imgs.shape == (3, 28, 28, 3) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(imgs[0, 14, 14], [200, 10, 10])
    assert b.load_images([2]).shape == (1, 28, 28, 3)
    assert load_cure_tsr(tmp_path, image_size=12).load_images().shape == (3, 12, 12, 3)


def test_authors_split_layout_and_filters(tmp_path):
    _bmp(tmp_path / "RealChallengeFree" / "train" / "01_01_00_00_0001.bmp")
    _bmp(tmp_path / "RealChallengeFree" / "test" / "01_02_00_00_0002.bmp")
    _bmp(tmp_path / "RealChallenge" / "01_01" / "train" / "01_01_01_01_0001.bmp")
    _bmp(tmp_path / "RealChallenge" / "08_05" / "val" / "01_03_08_05_0004.bmp")
    _bmp(tmp_path / "RealChallenge" / "08_02" / "test" / "01_03_08_02_0004.bmp")
    b = load_cure_tsr(tmp_path)
    assert len(b.paths) == 5
    got = dict(zip(b.paths, b.split))
    assert got[str(tmp_path.resolve() / "RealChallenge" / "08_05" / "val" / "01_03_08_05_0004.bmp")] == "val"
    assert sorted(b.split.tolist()) == ["test", "test", "train", "train", "val"]
    noise = load_cure_tsr(tmp_path, challenge_types="noise")
    assert noise.challenge.tolist() == ["noise", "noise"]
    sel = load_cure_tsr(tmp_path, challenge_types=["challenge_free", 8], levels=[0, 5])
    assert sorted(zip(sel.challenge_code.tolist(), sel.level.tolist())) == [(0, 0), (0, 0), (8, 5)]
    assert load_cure_tsr(tmp_path, levels=1).challenge.tolist() == ["decolorization"]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cure_tsr(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds no files.*sequenceType_signType"):
        load_cure_tsr(tmp_path)
    _bmp(tmp_path / "01_01_00_00_0001.bmp")
    with pytest.raises(FileNotFoundError, match="no files matching"):
        load_cure_tsr(tmp_path, challenge_types="rain")
    with pytest.raises(ValueError, match="unknown CURE-TSR challenge"):
        load_cure_tsr(tmp_path, challenge_types="fog")
    with pytest.raises(ValueError, match="levels"):
        load_cure_tsr(tmp_path, levels=[6])
    (tmp_path / "01_01_01_01_0002.bmp").write_bytes(b"junk")
    b = load_cure_tsr(tmp_path)
    with pytest.raises(ValueError, match="01_01_01_01_0002.bmp"):
        b.load_images()
