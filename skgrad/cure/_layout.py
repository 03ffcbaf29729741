"""The authors' CURE-TSR folder layout: the folders of each set, the 7-field file names,
and the sets the OOD protocol reads.

::

    ROOT/RealChallengeFree/{train,val,test}/01_01_00_00_00_05_0003.bmp
    ROOT/RealChallenge/TT_LL/{train,val,test}/01_01_01_TT_LL_05_0003.bmp

``TT`` is the challenge type (01..12), ``LL`` the level (01..05).
"""
import os
from pathlib import Path

from ..datasets._io import _casefold_listing
from ..distortions import CHALLENGES

__all__ = ["CureTSRLayoutError", "FREE", "CHALLENGE", "SPLITS", "TEST_TYPES", "LEVELS", "TRAIN_OUTLIER", "set_parts", "file_name",
           "find_set", "protocol_sets", "describe_set"]

class CureTSRLayoutError(ValueError):
    """A CURE-TSR folder the protocol cannot use: a missing or empty set folder, a file the
    loader refuses or Pillow cannot read (the message names it)."""


FREE = "RealChallengeFree"
CHALLENGE = "RealChallenge"
SPLITS = ("train", "val", "test")
#: The poster's test challenge types: decolorization, lens blur, codec error, dirty lens, noise, rain.
TEST_TYPES = (1, 2, 3, 5, 8, 9)
#: The challenge levels of CURE-TSR, all of which the protocol tests.
LEVELS = (1, 2, 3, 4, 5)
#: The outliers the classifier is trained on: Gaussian blur, level 1.
TRAIN_OUTLIER = (7, 1)


def set_parts(code, level, split):
    """Folder of a set below the root, as path parts (``code`` 0 = challenge-free)."""
    if code == 0:
        return (FREE, split)
    return (CHALLENGE, f"{code:02d}_{level:02d}", split)


def file_name(code, level, index, *, sign=1, sequence_type=1, sequence_number=1):
    """The authors' 7-field name: ``sequenceType_sequenceNumber_source_type_level_sign_index.bmp``
    (source 00 for challenge-free images, 01 for After Effects challenges)."""
    source = 0 if code == 0 else 1
    return (f"{sequence_type:02d}_{sequence_number:02d}_{source:02d}_{code:02d}_{level:02d}_{sign:02d}_"
            f"{index:04d}.bmp")


def _what(code, level):
    return "challenge-free" if code == 0 else f"{CHALLENGES[code - 1]} level {level}"


def describe_set(code, level, split):
    """E.g. ``"RealChallenge/02_03/test (lens_blur level 3)"``."""
    return f"{'/'.join(set_parts(code, level, split))} ({_what(code, level)})"


def find_set(root, code, level, split):
    """The folder of a set, its names matched case-insensitively (as the loader does).

    Raises
    ------
    FileNotFoundError
        Naming the first missing folder and what the protocol needs it for.
    """
    path = Path(root)
    for part in set_parts(code, level, split):
        listing = _casefold_listing(path) if path.is_dir() else {}
        actual = listing.get(part.lower())
        if actual is None or not (path / actual).is_dir():
            raise FileNotFoundError(
                f"CURE-TSR root {os.fspath(root)} lacks the folder {'/'.join(set_parts(code, level, split))} "
                f"({_what(code, level)}, {split} split); the protocol reads "
                f"{FREE}/{{train,val,test}}, {CHALLENGE}/{TRAIN_OUTLIER[0]:02d}_{TRAIN_OUTLIER[1]:02d}/{{train,val}} "
                f"and {CHALLENGE}/TT_LL/test for the test types and levels"
            )
        path = path / actual
    return path


def protocol_sets(test_types=TEST_TYPES, levels=LEVELS, train_outlier=TRAIN_OUTLIER):
    """``{role: (code, level, split)}`` of every set the protocol reads, in reading order."""
    code, level = train_outlier
    sets = {
        "inliers_train": (0, 0, "train"),
        "inliers_val": (0, 0, "val"),
        "outliers_train": (code, level, "train"),
        "outliers_val": (code, level, "val"),
        "inliers_test": (0, 0, "test"),
    }
    for t in test_types:
        for lv in levels:
            sets[f"test_{t:02d}_{lv:02d}"] = (t, lv, "test")
    return sets
