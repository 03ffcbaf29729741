"""CURE-TSR loader on fixture trees (flat and the authors' split layout, both namings)."""
import re

import numpy as np
import pytest
from PIL import Image

from skgrad.datasets import is_cure_tsr_name, load_cure_tsr


def _bmp(path, size=(30, 20), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_flat_folder(tmp_path):
    _bmp(tmp_path / "01_05_00_00_0003.bmp")
    _bmp(tmp_path / "02_14_12_05_0001.BMP", size=(50, 60))
    _bmp(tmp_path / "01_01_02_03_0010.bmp")
    (tmp_path / "notes.txt").write_text("ignored")
    _bmp(tmp_path / "other.bmp")
    # a .bmp that is not CURE-named is skipped, but not silently
    with pytest.warns(UserWarning, match=r"1 \.bmp file\(s\) not named like CURE-TSR files were ignored: other\.bmp"):
        b = load_cure_tsr(tmp_path)
    assert b.ignored == [str(tmp_path.resolve() / "other.bmp")]
    assert "1 .bmp file(s) not named like CURE-TSR files were ignored: other.bmp" in b.description
    assert [p.rsplit("/", 1)[1] for p in b.paths] == [
        "01_01_02_03_0010.bmp", "01_05_00_00_0003.bmp", "02_14_12_05_0001.BMP"]
    assert b.sequence.tolist() == [1, 1, 2]
    assert b.sign_type.tolist() == [1, 5, 14]
    assert b.challenge_code.tolist() == [2, 0, 12]
    assert b.challenge.tolist() == ["lens_blur", "challenge_free", "haze"]
    assert b.level.tolist() == [3, 0, 5]
    assert b.index.tolist() == [10, 3, 1]
    assert b.sequence_number.tolist() == [-1, -1, -1]  # five-field names carry no video number
    assert b.split is None
    imgs = b.load_images()
    assert imgs.shape == (3, 28, 28, 3) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(imgs[0, 14, 14], [200, 10, 10])
    assert b.load_images([2]).shape == (1, 28, 28, 3)
    with pytest.warns(UserWarning, match="other.bmp"):
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


def _table(b, root):
    """{path relative to root: (challenge_code, level, split, sequence, sequence_number, sign_type, index)}."""
    rel = [str(p)[len(str(root.resolve())) + 1:] for p in b.paths]
    split = b.split if b.split is not None else [None] * len(rel)
    return {r: (int(c), int(lv), s, int(q), int(n), int(g), int(i)) for r, c, lv, s, q, n, g, i in zip(
        rel, b.challenge_code, b.level, split, b.sequence, b.sequence_number, b.sign_type, b.index)}


# The authors' split: RealChallengeFree/{train,val,test} and RealChallenge/TT_LL/{train,val,test}
# with 7-field names (their README's examples are the first and third), folder names in mixed
# case, and a release-style 5-field name mixed in.  Expected values:
# (challenge_code, level, split, sequence, sequence_number, sign_type, index).
AUTHORS_TREE = {
    "realchallengeFREE/Train/01_01_00_00_00_05_0003.bmp": (0, 0, "train", 1, 1, 5, 3),
    "realchallengeFREE/VAL/02_49_00_00_00_14_0100.bmp": (0, 0, "val", 2, 49, 14, 100),
    "REALCHALLENGE/01_01/test/01_01_01_01_01_05_0003.bmp": (1, 1, "test", 1, 1, 5, 3),
    "REALCHALLENGE/07_01/Test/01_04_01_07_01_13_0021.bmp": (7, 1, "test", 1, 4, 13, 21),
    "REALCHALLENGE/12_05/train/02_31_01_12_05_01_7.bmp": (12, 5, "train", 2, 31, 1, 7),
    "REALCHALLENGE/08_03/val/01_09_08_03_0042.BMP": (8, 3, "val", 1, -1, 9, 42),
}


def test_authors_seven_field_layout(tmp_path):
    for rel in AUTHORS_TREE:
        _bmp(tmp_path / rel)
    b = load_cure_tsr(tmp_path)
    assert _table(b, tmp_path) == AUTHORS_TREE
    assert b.ignored == []
    assert b.challenge.tolist() == [
        "decolorization", "gaussian_blur", "noise", "haze", "challenge_free", "challenge_free"]

    def kept(**kw):
        return sorted(_table(load_cure_tsr(tmp_path, **kw), tmp_path))

    assert kept(challenge_types="gaussian_blur") == ["REALCHALLENGE/07_01/Test/01_04_01_07_01_13_0021.bmp"]
    assert kept(levels=0) == sorted(r for r, v in AUTHORS_TREE.items() if v[1] == 0)
    assert kept(challenge_types=["challenge_free", 12], levels=[0, 5]) == sorted(
        r for r, v in AUTHORS_TREE.items() if v[0] in (0, 12))
    assert kept(challenge_types=[1, "noise"], levels=[1, 2, 3]) == [
        "REALCHALLENGE/01_01/test/01_01_01_01_01_05_0003.bmp", "REALCHALLENGE/08_03/val/01_09_08_03_0042.BMP"]
    assert load_cure_tsr(tmp_path, levels=5).load_images().shape == (1, 28, 28, 3)


def test_seven_field_names_outside_challenge_folders(tmp_path):
    # no RealChallenge/TT_LL folder: type and level are fields 4 and 5 of the name
    for rel in ("01_04_01_07_03_13_0021.bmp", "sub/test/01_01_00_00_00_05_0003.bmp",
                "02_02_01_02_05_11_0001.bmp", "01_05_02_03_0012.bmp"):
        _bmp(tmp_path / rel)
    assert _table(load_cure_tsr(tmp_path), tmp_path) == {
        "01_04_01_07_03_13_0021.bmp": (7, 3, None, 1, 4, 13, 21),
        "01_05_02_03_0012.bmp": (2, 3, None, 1, -1, 5, 12),
        "02_02_01_02_05_11_0001.bmp": (2, 5, None, 2, 2, 11, 1),
        "sub/test/01_01_00_00_00_05_0003.bmp": (0, 0, "test", 1, 1, 5, 3),
    }


def test_root_inside_the_split_layout(tmp_path):
    # the challenge folder may lie above root, and root itself may be the split folder
    for rel in AUTHORS_TREE:
        _bmp(tmp_path / rel)
    b = load_cure_tsr(tmp_path / "REALCHALLENGE" / "07_01")
    assert (b.challenge_code.tolist(), b.level.tolist(), b.split.tolist()) == ([7], [1], ["test"])
    b = load_cure_tsr(tmp_path / "realchallengeFREE" / "VAL")
    assert (b.challenge_code.tolist(), b.level.tolist(), b.split.tolist()) == ([0], [0], ["val"])


def test_is_cure_tsr_name():
    good = ["01_05_02_03_0012.bmp", "01_05_02_03_0012.BMP", "01_01_00_00_00_05_0003.bmp", "a/b/02_14_12_05_1.bmp"]
    bad = ["01_05_02_03_0012.png", "01_05_02_03_04_0012.bmp", "01_01_01_01_01_05_03_0003.bmp", "1_5_2_3_12.bmp",
           "01_05_02_0012.bmp", "other.bmp", "._01_05_02_03_0012.bmp", "01_05_02_03_0012 (copy).bmp"]
    assert [is_cure_tsr_name(n) for n in good] == [True] * len(good)
    assert [is_cure_tsr_name(n) for n in bad] == [False] * len(bad)


@pytest.mark.parametrize("rel, problem", [
    # impossible values in a 5-field name
    ("01_05_13_01_0001.bmp", "challenge type 13 does not exist"),
    ("01_05_02_06_0001.bmp", "level 06 does not exist"),
    ("01_05_00_02_0001.bmp", "challenge type 00 with level 02"),
    ("01_05_02_00_0001.bmp", "challenge type 02 with level 00"),
    ("03_05_02_01_0001.bmp", "sequence type 03"),
    ("01_15_02_01_0001.bmp", "sign type 15"),
    ("01_00_02_01_0001.bmp", "sign type 00"),
    # 7-field names outside the challenge folders whose fields 3-5 are valid in neither
    # reading (source/type/level, or type/level in fields 3-4)
    ("01_01_01_13_01_05_0001.bmp", "no valid challenge.*01/13/01"),
    ("01_01_01_07_06_05_0001.bmp", "no valid challenge"),
    ("01_01_02_07_01_05_0001.bmp", "no valid challenge"),
    ("01_01_00_07_01_05_0001.bmp", "no valid challenge"),
    ("01_01_01_00_00_05_0001.bmp", "no valid challenge"),
    ("01_01_01_07_01_15_0001.bmp", "sign type 15"),
    ("03_01_01_07_01_05_0001.bmp", "sequence type 03"),
    # look-alikes: not one of the two namings
    ("01_05_02_03_04_0012.bmp", "has 6 field"),
    ("01_01_01_01_01_05_03_0003.bmp", "has 8 field"),
    ("01_05_02_0012.bmp", "has 4 field"),
    ("1_5_2_3_12.bmp", "has 5 field.*codes of two digits"),
    # impossible challenge folders
    ("RealChallenge/13_01/train/01_05_01_01_0001.bmp", "folder RealChallenge/13_01: challenge type 13 does not exist"),
    ("RealChallenge/02_06/train/01_05_02_01_0001.bmp", "folder RealChallenge/02_06: .*level 06 does not exist"),
    ("realchallenge/00_03/val/01_01_00_00_00_05_0003.bmp", "folder realchallenge/00_03: challenge type 00"),
    ("RealChallenge/00_00/test/01_01_00_00_00_05_0003.bmp", "belong in RealChallengeFree"),
    # a five-field name (documented fields) that disagrees with its folder
    ("RealChallengeFree/train/01_05_02_03_0012.bmp", "name says challenge type 02 level 03 .*RealChallengeFree"),
    ("RealChallengeFree/RealChallenge/07_01/test/01_04_01_07_01_13_0021.bmp", "several challenge folders"),
])
def test_inconsistent_files_raise(tmp_path, rel, problem):
    _bmp(tmp_path / "RealChallengeFree" / "train" / "01_01_00_00_0003.bmp")  # a good file next to the bad one
    _bmp(tmp_path / rel)
    name = rel.rsplit("/", 1)[-1]
    with pytest.raises(ValueError, match=re.escape(name) + ".*" + problem):
        load_cure_tsr(tmp_path)
    # checked before any filter: the bad file is reported even when it would be filtered out
    with pytest.raises(ValueError, match=re.escape(name)):
        load_cure_tsr(tmp_path, challenge_types="challenge_free", levels=0)


def test_only_ignored_files(tmp_path):
    _bmp(tmp_path / "._01_05_02_03_0012.bmp")  # e.g. a macOS resource fork: not a CURE name
    with pytest.raises(FileNotFoundError, match=r"holds no files.*1 \.bmp file\(s\) .*ignored: \._01_05_02_03_0012"):
        load_cure_tsr(tmp_path)
    _bmp(tmp_path / "01_05_02_03_0012.bmp")
    with pytest.warns(UserWarning, match=r"\._01_05_02_03_0012\.bmp"):
        b = load_cure_tsr(tmp_path)
    assert [p.rsplit("/", 1)[1] for p in b.paths] == ["01_05_02_03_0012.bmp"]
    assert b.ignored == [str(tmp_path.resolve() / "._01_05_02_03_0012.bmp")]


@pytest.mark.parametrize("rel, challenge, level", [
    # in a challenge folder the folder decides, as in the authors' code (the seven-field
    # names' challenge fields are undocumented): whatever fields 3-5 say
    ("RealChallenge/07_01/test/01_04_01_07_02_13_0021.bmp", "gaussian_blur", 1),
    ("RealChallenge/08_03/test/01_01_08_03_03_05_0003.bmp", "noise", 3),
    ("RealChallenge/08_03/test/01_01_01_08_03_05_0003.bmp", "noise", 3),
    ("RealChallengeFree/test/01_01_00_00_00_05_0003.bmp", "challenge_free", 0),
    # outside them: source/type/level when valid...
    ("flat/01_01_01_08_03_05_0003.bmp", "noise", 3),
    ("flat/01_01_00_00_00_05_0003.bmp", "challenge_free", 0),
    # ...else type and level where the five-field names have them (fields 3 and 4)
    ("flat/01_01_08_03_03_05_0003.bmp", "noise", 3),
    ("flat/01_01_00_00_03_05_0003.bmp", "challenge_free", 0),
])
def test_seven_field_challenge_comes_from_the_folder_else_the_name(tmp_path, rel, challenge, level):
    _bmp(tmp_path / rel)
    b = load_cure_tsr(tmp_path)
    assert (b.challenge.tolist(), b.level.tolist()) == ([challenge], [level])
    assert b.sign_type.tolist() == [int(rel.rsplit("/", 1)[1].split("_")[5])]
