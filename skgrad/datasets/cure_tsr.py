"""CURE-TSR traffic-sign challenge data set loader (files supplied by the user), lazy."""
import os
import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..distortions import CHALLENGE_CODES, CHALLENGES
from ._io import _check_root, read_images

__all__ = ["load_cure_tsr", "CURE_TSR_CHALLENGES"]

_LAYOUT = (
    "files named sequenceType_signType_challengeType_challengeLevel_Index.bmp "
    "(e.g. 01_05_02_03_0012.bmp) anywhere below the root: a flat folder, or the authors' "
    "RealChallengeFree/{train,val,test}/ and RealChallenge/TT_LL/{train,val,test}/ split"
)
_NAME = re.compile(r"^(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d+)\.bmp$", re.IGNORECASE)
_SPLITS = ("train", "val", "test")

#: CURE-TSR challenge code -> name (0 = challenge-free).
CURE_TSR_CHALLENGES = {0: "challenge_free", **{c: n for n, c in CHALLENGE_CODES.items()}}


def _as_codes(challenge_types):
    if challenge_types is None:
        return None
    if isinstance(challenge_types, (str, int, np.integer)):
        challenge_types = [challenge_types]
    codes = set()
    names = {v: k for k, v in CURE_TSR_CHALLENGES.items()}
    for c in challenge_types:
        if isinstance(c, str) and c in names:
            codes.add(names[c])
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and int(c) in CURE_TSR_CHALLENGES:
            codes.add(int(c))
        else:
            raise ValueError(
                f"unknown CURE-TSR challenge {c!r}; valid: challenge_free, {', '.join(CHALLENGES)} "
                "(or codes 0..12)"
            )
    return codes


def load_cure_tsr(root, *, challenge_types=None, levels=None, image_size=28):
    """Index a CURE-TSR folder (lazy: no image is read until asked).

    Every ``*.bmp`` below ``root`` whose name follows
    ``sequenceType_signType_challengeType_challengeLevel_Index.bmp`` is indexed.
    The folder may be flat or the authors' split layout; files under a folder
    named ``train``, ``val`` or ``test`` get that ``split``.

    Parameters
    ----------
    root : str or path-like
        CURE-TSR folder.
    challenge_types : str, int or list, optional
        Keep only these challenge types (names from
        :data:`skgrad.distortions.CHALLENGES`, ``"challenge_free"``, or codes
        0..12). Default: all.
    levels : int or list of int, optional
        Keep only these levels (0 = challenge-free, 1..5). Default: all.
    image_size : int, default=28
        Side length :meth:`load_images` resizes to (the paper uses 28).

    Returns
    -------
    Bunch
        ``paths`` (object array of absolute paths, sorted), ``sequence`` int
        (1 real, 2 unreal), ``sign_type`` int, ``challenge`` name,
        ``challenge_code`` int, ``level`` int (0 for challenge-free),
        ``index`` int, ``split`` (object array of "train"/"val"/"test", or
        None when no file lies under such a folder), ``image_size``,
        ``load_images(indices=None)`` returning uint8 ``(n, size, size, 3)``,
        ``root``, ``description``.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist or holds no CURE-TSR file (after filtering).
    ValueError
        For an unknown challenge type or level.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for n in ("01_03_00_00_0001.bmp", "01_03_08_04_0001.bmp"):
    ...     Image.new("RGB", (40, 30)).save(os.path.join(root, n))
    >>> b = load_cure_tsr(root)
    >>> b.challenge.tolist(), b.level.tolist(), b.load_images().shape
    (['challenge_free', 'noise'], [0, 4], (2, 28, 28, 3))
    """
    root = _check_root(root, "CURE-TSR", _LAYOUT)
    codes = _as_codes(challenge_types)
    if levels is not None:
        levels = {levels} if isinstance(levels, (int, np.integer)) else set(levels)
        bad = [lv for lv in levels if not isinstance(lv, (int, np.integer)) or not 0 <= lv <= 5]
        if bad:
            raise ValueError(f"levels must be integers 0..5 (0 = challenge-free), got {bad}")
        levels = {int(lv) for lv in levels}

    records = []
    n_seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_parts = [p.lower() for p in Path(dirpath).relative_to(root).parts]
        split = next((p for p in reversed(rel_parts) if p in _SPLITS), None)
        for fname in sorted(filenames):
            m = _NAME.match(fname)
            if not m:
                continue
            n_seen += 1
            seq, sign, chal, lev, idx = (int(g) for g in m.groups())
            if chal not in CURE_TSR_CHALLENGES:
                continue
            if codes is not None and chal not in codes:
                continue
            if levels is not None and lev not in levels:
                continue
            records.append((os.path.join(dirpath, fname), seq, sign, chal, lev, idx, split))
    if not records:
        what = "no files" if n_seen == 0 else "no files matching the requested challenge types/levels"
        raise FileNotFoundError(f"CURE-TSR root {os.fspath(root)} holds {what}; expected {_LAYOUT}")
    records.sort(key=lambda r: r[0])

    paths = np.array([r[0] for r in records], dtype=object)
    splits = [r[6] for r in records]
    image_size = int(image_size)

    def load_images(indices=None):
        """Read the indexed images (all, or ``indices``) as uint8 ``(n, size, size, 3)``."""
        sel = paths if indices is None else paths[np.asarray(indices)]
        return read_images(list(np.atleast_1d(sel)), image_size)

    return Bunch(
        paths=paths,
        sequence=np.array([r[1] for r in records], dtype=np.int64),
        sign_type=np.array([r[2] for r in records], dtype=np.int64),
        challenge=np.array([CURE_TSR_CHALLENGES[r[3]] for r in records], dtype=object),
        challenge_code=np.array([r[3] for r in records], dtype=np.int64),
        level=np.array([r[4] for r in records], dtype=np.int64),
        index=np.array([r[5] for r in records], dtype=np.int64),
        split=None if all(s is None for s in splits) else np.array(splits, dtype=object),
        image_size=image_size,
        load_images=load_images,
        root=os.fspath(root),
        description=(
            "CURE-TSR traffic signs; challenge codes 01..12 as in skgrad.distortions, "
            "00 = challenge-free (level 0); images resized to image_size by load_images"
        ),
    )
