"""CURE-TSR traffic-sign challenge data set loader (files supplied by the user), lazy."""
import os
import re
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..distortions import CHALLENGE_CODES, CHALLENGES
from ._io import _check_root, read_images

__all__ = ["load_cure_tsr", "is_cure_tsr_name", "CURE_TSR_CHALLENGES"]

_LAYOUT = (
    "files named sequenceType_signType_challengeType_challengeLevel_Index.bmp "
    "(e.g. 01_05_02_03_0012.bmp) or with the 7 fields of the authors' split "
    "(e.g. 01_01_01_01_01_05_0003.bmp) anywhere below the root: a flat folder, or the authors' "
    "RealChallengeFree/{train,val,test}/ and RealChallenge/TT_LL/{train,val,test}/ split"
)
# The one definition of a CURE-TSR file name (both namings); the CLI uses it through
# is_cure_tsr_name.  Codes are two digits, the index any number of digits.
_NAME_5 = re.compile(r"^(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d+)\.bmp$", re.IGNORECASE)
_NAME_7 = re.compile(r"^(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d+)\.bmp$", re.IGNORECASE)
# A .bmp name made only of digits and underscores: meant as a CURE-TSR name, so one
# that is not a valid one (6 or 8 fields, one-digit codes, ...) is an error, not skipped.
_LOOKALIKE = re.compile(r"^[0-9_]*_[0-9_]*\.bmp$", re.IGNORECASE)
_CHALLENGE_DIR = re.compile(r"^(\d+)_(\d+)$")
_SPLITS = ("train", "val", "test")
_N_SIGNS = 14

#: CURE-TSR challenge code -> name (0 = challenge-free).
CURE_TSR_CHALLENGES = {0: "challenge_free", **{c: n for n, c in CHALLENGE_CODES.items()}}


def is_cure_tsr_name(name):
    """Whether a file name has the shape of a CURE-TSR file name (either naming).

    Only the shape is checked (``.bmp`` in any case; five fields
    ``01_05_02_03_0012.bmp`` or seven fields ``01_01_01_01_01_05_0003.bmp``,
    two-digit codes and a numeric index); :func:`load_cure_tsr` checks the
    values.

    Parameters
    ----------
    name : str or path-like
        File name (a path's directories are ignored).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_cure_tsr_name("01_05_02_03_0012.bmp"), is_cure_tsr_name("01_01_01_01_01_05_0003.BMP")
    (True, True)
    >>> is_cure_tsr_name("01_05_02_03_04_0012.bmp"), is_cure_tsr_name("photo.bmp")
    (False, False)
    """
    base = os.path.basename(os.fspath(name))
    return bool(_NAME_5.match(base) or _NAME_7.match(base))


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


def _bad(path, problem):
    return ValueError(
        f"CURE-TSR file {os.fspath(path)}: {problem}; see the docstring of skgrad.datasets.load_cure_tsr "
        "for the file names and folders it reads"
    )


def _valid_pair(chal, lev):
    return chal in CURE_TSR_CHALLENGES and 0 <= lev <= 5 and (chal == 0) == (lev == 0)


def _parse_name(path, fname, folder):
    """``(sequence, sequence_number, sign, challenge, level, index)`` from a CURE-TSR name, validated.

    ``folder`` is ``(type, level, where)`` of a challenge folder above the file, or None.
    """
    m5, m7 = _NAME_5.match(fname), _NAME_7.match(fname)
    if m5:
        seq, sign, chal, lev, idx = (int(g) for g in m5.groups())
        seq_no = -1
        _check_pair(path, chal, lev)
        if folder is not None and (chal, lev) != folder[:2]:
            raise _bad(path, f"its name says challenge type {chal:02d} level {lev:02d} but it lies under "
                             f"{folder[2]} (type {folder[0]:02d}, level {folder[1]:02d})")
    elif m7:
        seq, seq_no, source, chal, lev, sign, idx = (int(g) for g in m7.groups())
        if folder is not None:
            # the folder gives type and level, as in the authors' code (their file names'
            # challenge fields are undocumented: they are not read)
            chal, lev = folder[:2]
        elif source in (0, 1) and (source == 0) == (chal == 0) and _valid_pair(chal, lev):
            pass  # the CURE-TSD reading: challenge source, type, level
        elif _valid_pair(source, chal):
            chal, lev = source, chal  # type and level where the five-field names have them
        else:
            raise _bad(
                path,
                "fields 3-5 give no valid challenge: neither source/type/level "
                f"({source:02d}/{chal:02d}/{lev:02d}) nor type/level ({source:02d}/{chal:02d}); put the file "
                "under RealChallengeFree or RealChallenge/TT_LL, which give its challenge",
            )
    else:
        n = len(fname[: -len(".bmp")].split("_"))
        raise _bad(
            path,
            f"the name looks like a CURE-TSR name but has {n} field(s); expected 5 "
            "(01_05_02_03_0012.bmp) or 7 (01_01_01_01_01_05_0003.bmp), codes of two digits",
        )
    if seq not in (1, 2):
        raise _bad(path, f"sequence type {seq:02d} is neither 01 (real) nor 02 (unreal)")
    if not 1 <= sign <= _N_SIGNS:
        raise _bad(path, f"sign type {sign:02d} is not one of 01..{_N_SIGNS}")
    return seq, seq_no, sign, chal, lev, idx


def _check_pair(path, chal, lev, where=""):
    if chal not in CURE_TSR_CHALLENGES:
        raise _bad(path, f"{where}challenge type {chal:02d} does not exist (00 challenge-free, 01..12)")
    if not 0 <= lev <= 5:
        raise _bad(path, f"{where}level {lev:02d} does not exist (00 challenge-free, 01..05)")
    if (chal == 0) != (lev == 0):
        raise _bad(path, f"{where}challenge type {chal:02d} with level {lev:02d}: only challenge-free (00) "
                         "has level 00")


def _folder_challenge(path):
    """``(type, level)`` from a ``RealChallengeFree`` or ``RealChallenge/TT_LL`` folder above ``path``, or None."""
    parts = path.parent.parts
    found = []
    for i, part in enumerate(parts):
        low = part.lower()
        if low == "realchallengefree":
            found.append((0, 0, part))
        elif low == "realchallenge" and i + 1 < len(parts):
            m = _CHALLENGE_DIR.match(parts[i + 1])
            if m:
                chal, lev = int(m.group(1)), int(m.group(2))
                where = f"{part}/{parts[i + 1]}"
                if chal == 0:
                    raise _bad(path, f"folder {where}: challenge type 00 under {part} (challenge-free images "
                                     "belong in RealChallengeFree)")
                _check_pair(path, chal, lev, f"folder {where}: ")
                found.append((chal, lev, where))
    if len(found) > 1:
        raise _bad(path, f"it lies under several challenge folders ({', '.join(f[2] for f in found)})")
    return found[0] if found else None


def _split(path, root):
    """The nearest folder named train, val or test (any case), between ``root`` (included) and ``path``."""
    rel = [root.name, *path.parent.relative_to(root).parts]
    return next((p.lower() for p in reversed(rel) if p.lower() in _SPLITS), None)


def load_cure_tsr(root, *, challenge_types=None, levels=None, image_size=28):
    """Index a CURE-TSR folder (lazy: no image is read until asked).

    Every ``*.bmp`` below ``root`` whose name follows one of two namings is
    indexed:

    * the CURE-TSR release,
      ``sequenceType_signType_challengeType_challengeLevel_Index.bmp``, e.g.
      ``01_05_02_03_0012.bmp``;
    * the seven fields of the split used by Kwon et al.'s code, e.g.
      ``01_01_01_01_01_05_0003.bmp``.  The authors do not document these
      fields; their code takes an image's challenge from its folder (see
      below) and only tests whether field 3 is 00.  skgrad reads them as
      ``sequenceType_sequenceNumber_challengeSourceType_challengeType_challengeLevel_signType_Index``:
      the first five fields as the CURE-TSD video names that CURE-TSR signs
      are cropped from (challenge source 00 = none, 01 = After Effects), then
      the sign type (01..14) and the index.  This fits the authors' only
      examples (``01_01_00_00_00_05_0003.bmp`` in ``RealChallengeFree``,
      ``01_01_01_01_01_05_0003.bmp`` in ``RealChallenge/01_01``).  The
      challenge fields are read only for a file outside the challenge folders:
      as source/type/level when that is valid, else as type and level in
      fields 3 and 4 (where the five-field names have them).

    Folders (names in any case):

    * a file below a ``RealChallengeFree`` folder is challenge-free (type 0,
      level 0); a file below ``RealChallenge/TT_LL`` (e.g.
      ``RealChallenge/07_01``) has challenge type TT (01..12) and level LL
      (01..05), as the authors' code reads them.  The folder decides the
      challenge of a seven-field name; a five-field name (whose fields are
      documented) must agree with it.  These folders may lie above ``root``
      (``root`` may be ``.../RealChallenge/07_01``).
    * ``split`` is the nearest folder named ``train``, ``val`` or ``test``
      from ``root`` (included) down to the file.

    Nothing inconsistent is accepted: a file with a CURE-TSR name whose
    values are impossible (sequence type not 01/02, sign type not 01..14,
    challenge type over 12, level over 5, a challenge type of 00 with a level
    other than 00 or the reverse), a ``.bmp`` name made only of digits and
    underscores that is not one of the two namings (e.g. 6 or 8 fields), a
    ``RealChallenge/TT_LL`` folder with impossible values, or a five-field
    five-field name that disagrees with its folder raises ``ValueError`` naming the file. Other
    ``.bmp`` files (e.g. ``notes.bmp``) are skipped with a ``UserWarning``
    naming them; they are listed in ``ignored`` and counted in
    ``description``. Files that are not ``.bmp`` are not looked at.

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
        Side length ``load_images`` resizes to (the paper uses 28).

    Returns
    -------
    Bunch
        ``paths`` (object array of absolute paths, sorted), ``sequence`` int
        (1 real, 2 unreal), ``sequence_number`` int (the CURE-TSD video, field
        2 of a seven-field name; -1 for five-field names), ``sign_type`` int
        1..14, ``challenge`` name, ``challenge_code`` int, ``level`` int (0 for
        challenge-free), ``index`` int, ``split`` (object array of
        "train"/"val"/"test", or None when no file lies under such a folder),
        ``ignored`` (list of the skipped ``.bmp`` paths), ``image_size``,
        ``load_images(indices=None)`` returning uint8 ``(n, size, size, 3)``
        through :func:`skgrad.datasets.read_images` (a file that cannot be
        decoded raises ``ValueError`` naming it), ``root``, ``description``.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist or holds no CURE-TSR file (after filtering).
    ValueError
        For an unknown challenge type or level, or an inconsistent file or
        folder (see above; the message names the file).

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

    The authors' split layout, seven-field names:

    >>> split = tempfile.mkdtemp()
    >>> for d, n in (("RealChallengeFree/train", "01_01_00_00_00_05_0003.bmp"),
    ...              ("RealChallenge/07_01/test", "01_04_01_07_01_13_0021.bmp")):
    ...     os.makedirs(os.path.join(split, d))
    ...     Image.new("RGB", (40, 30)).save(os.path.join(split, d, n))
    >>> b = load_cure_tsr(split)
    >>> b.challenge.tolist(), b.level.tolist(), b.split.tolist(), b.sign_type.tolist()
    (['gaussian_blur', 'challenge_free'], [1, 0], ['test', 'train'], [13, 5])
    """
    root = _check_root(root, "CURE-TSR", _LAYOUT)
    codes = _as_codes(challenge_types)
    if levels is not None:
        levels = {levels} if isinstance(levels, (int, np.integer)) else set(levels)
        bad = [lv for lv in levels if not isinstance(lv, (int, np.integer)) or not 0 <= lv <= 5]
        if bad:
            raise ValueError(f"levels must be integers 0..5 (0 = challenge-free), got {bad}")
        levels = {int(lv) for lv in levels}

    records, ignored = [], []
    n_seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fname in sorted(filenames):
            if not fname.lower().endswith(".bmp"):
                continue
            path = Path(dirpath) / fname
            if not (is_cure_tsr_name(fname) or _LOOKALIKE.match(fname)):
                ignored.append(os.fspath(path))
                continue
            seq, seq_no, sign, chal, lev, idx = _parse_name(path, fname, _folder_challenge(path))
            n_seen += 1
            if codes is not None and chal not in codes:
                continue
            if levels is not None and lev not in levels:
                continue
            records.append((os.fspath(path), seq, seq_no, sign, chal, lev, idx, _split(path, root)))
    skipped = ""
    if ignored:
        shown = ", ".join(os.path.relpath(p, root) for p in ignored[:5])
        skipped = (f"{len(ignored)} .bmp file(s) not named like CURE-TSR files were ignored: {shown}"
                   f"{' ...' if len(ignored) > 5 else ''}")
    if not records:
        what = "no files" if n_seen == 0 else "no files matching the requested challenge types/levels"
        raise FileNotFoundError(
            f"CURE-TSR root {os.fspath(root)} holds {what}; expected {_LAYOUT}" + (f" ({skipped})" if skipped else "")
        )
    if ignored:
        warnings.warn(f"load_cure_tsr: {skipped}", UserWarning, stacklevel=2)
    records.sort(key=lambda r: r[0])

    paths = np.array([r[0] for r in records], dtype=object)
    splits = [r[7] for r in records]
    image_size = int(image_size)

    def load_images(indices=None):
        """Read the indexed images (all, or ``indices``) as uint8 ``(n, size, size, 3)``."""
        sel = paths if indices is None else paths[np.asarray(indices)]
        return read_images(list(np.atleast_1d(sel)), image_size)

    col = lambda i: np.array([r[i] for r in records], dtype=np.int64)  # noqa: E731
    return Bunch(
        paths=paths,
        sequence=col(1),
        sequence_number=col(2),
        sign_type=col(3),
        challenge=np.array([CURE_TSR_CHALLENGES[r[4]] for r in records], dtype=object),
        challenge_code=col(4),
        level=col(5),
        index=col(6),
        split=None if all(s is None for s in splits) else np.array(splits, dtype=object),
        ignored=ignored,
        image_size=image_size,
        load_images=load_images,
        root=os.fspath(root),
        description=(
            "CURE-TSR traffic signs; challenge codes 01..12 as in skgrad.distortions, "
            "00 = challenge-free (level 0); images resized to image_size by load_images"
            + (f"; {skipped}" if skipped else "")
        ),
    )
