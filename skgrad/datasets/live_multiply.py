"""LIVE Multiply Distorted (MULTI-LIVE) IQA database loader (files supplied by the user)."""
import os

import numpy as np
from scipy.io import loadmat
from sklearn.utils import Bunch

from ._io import _casefold_listing, _check_root, _find_entry, _missing_error

__all__ = ["load_live_multiply_distorted"]

#: part number -> (folder, distortion name)
_PARTS = {1: ("Part 1", "blurjpeg"), 2: ("Part 2", "blurnoise")}

_LAYOUT = (
    "<root>/Part 1/blurjpeg/ and <root>/Part 2/blurnoise/ holding the images, with "
    "Imagelists.mat (distimgs, refimgs, ref4dist) and Scores.mat (DMOSscores) either "
    "in the Part folder or beside the images"
)


def _cellstr(value):
    """Flatten a MATLAB cell array of strings (as loadmat returns it) into a list of str."""
    out = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, bytes):
            out.append(v.decode())
        elif isinstance(v, np.ndarray):
            if v.dtype.kind in "US":
                if v.ndim == 0:
                    out.append(str(v.item()))
                else:
                    for item in v.reshape(-1):
                        out.append(str(item))
            else:
                for item in v.reshape(-1, order="F"):
                    walk(item)
        else:
            raise ValueError(f"expected strings in a MATLAB cell array, got {type(v).__name__}")

    walk(value)
    return [s.strip() for s in out]


def _resolve_part(part):
    if part is None:
        return [1, 2]
    parts = part if isinstance(part, (list, tuple)) else [part]
    out = []
    for p in parts:
        for num, (folder, dist) in _PARTS.items():
            if p in (num, dist) or (isinstance(p, str) and p.lower() in (dist, folder.lower())):
                out.append(num)
                break
        else:
            raise ValueError(
                f"part must be 1 ('blurjpeg'), 2 ('blurnoise') or None for both, got {p!r}"
            )
    return out


def _locate(names, dirs):
    maps = [(d, _casefold_listing(d)) for d in dirs if d.is_dir()]
    found = []
    for name in names:
        for d, m in maps:
            actual = m.get(name.lower())
            if actual is not None and (d / actual).is_file():
                found.append(os.fspath(d / actual))
                break
        else:
            found.append(None)
    return found


def load_live_multiply_distorted(root, *, part=None):
    """Load the LIVE Multiply Distorted (MULTI-LIVE) score tables and image pairs.

    Part 1 is blur followed by JPEG, part 2 blur followed by noise; 15
    references, 225 images per part. Scores are DMOS: **lower is better**.

    Parameters
    ----------
    root : str or path-like
        Folder holding ``Part 1/`` and ``Part 2/`` as distributed.
    part : {None, 1, 2, "blurjpeg", "blurnoise"} or list, default=None
        Which part(s) to load; None loads both (part 1 first).

    Returns
    -------
    Bunch
        ``pairs`` object ``(n, 2)`` absolute ``[reference, distorted]`` paths;
        ``mos`` float DMOS (lower is better); ``mos_std`` None (not shipped);
        ``groups`` reference name without extension (str; shared by both
        parts, so splitting by it keeps a content out of both);
        ``distortion`` ``"blurjpeg"`` or ``"blurnoise"``; ``level`` int
        ``(n, 2)`` (first and second distortion level, from
        ``distimgdistlevels``) or None when the file lacks it; ``part`` int;
        ``higher_is_better`` False; ``root``; ``description``.

    Raises
    ------
    FileNotFoundError
        If a part folder, a ``.mat`` file or an image listed in it is missing.
    ValueError
        If the ``.mat`` files are inconsistent.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> from scipy.io import savemat
    >>> root = tempfile.mkdtemp()
    >>> d = os.path.join(root, "Part 1", "blurjpeg")
    >>> os.makedirs(d)
    >>> for n in ("cat.bmp", "cat_1_2.bmp"):
    ...     Image.new("RGB", (4, 4)).save(os.path.join(d, n))
    >>> cell = lambda xs: np.array([[x] for x in xs], dtype=object)
    >>> savemat(os.path.join(d, "Imagelists.mat"), {"distimgs": cell(["cat_1_2.bmp"]),
    ...     "refimgs": cell(["cat.bmp"]), "ref4dist": np.array([[1.0]])})
    >>> savemat(os.path.join(d, "Scores.mat"), {"DMOSscores": np.array([[30.5]])})
    >>> b = load_live_multiply_distorted(root, part=1)
    >>> b.mos.tolist(), b.groups.tolist(), b.distortion.tolist(), b.higher_is_better
    ([30.5], ['cat'], ['blurjpeg'], False)
    """
    root = _check_root(root, "MULTI-LIVE", _LAYOUT)
    pairs, mos, groups, distortion, part_ids, levels = [], [], [], [], [], []
    have_levels = True
    for num in _resolve_part(part):
        folder, dist_name = _PARTS[num]
        part_dir = _find_entry(root, folder, "MULTI-LIVE", root, _LAYOUT, is_dir=True)
        img_dir = _find_entry(part_dir, dist_name, "MULTI-LIVE", root, _LAYOUT, is_dir=True)
        mats = {}
        for fname in ("Imagelists.mat", "Scores.mat"):
            try:
                mats[fname] = _find_entry(part_dir, fname, "MULTI-LIVE", root, _LAYOUT)
            except FileNotFoundError:
                mats[fname] = _find_entry(img_dir, fname, "MULTI-LIVE", root, _LAYOUT)
        lists = loadmat(mats["Imagelists.mat"])
        scores = loadmat(mats["Scores.mat"])
        for key in ("distimgs", "refimgs", "ref4dist"):
            if key not in lists:
                raise ValueError(f"{mats['Imagelists.mat']} lacks the variable {key!r}")
        if "DMOSscores" not in scores:
            raise ValueError(f"{mats['Scores.mat']} lacks the variable 'DMOSscores'")
        distimgs = _cellstr(lists["distimgs"])
        refimgs = _cellstr(lists["refimgs"])
        ref4dist = np.asarray(lists["ref4dist"], dtype=np.float64).ravel()
        dmos = np.asarray(scores["DMOSscores"], dtype=np.float64).ravel()
        if not (len(distimgs) == len(ref4dist) == len(dmos)):
            raise ValueError(
                f"MULTI-LIVE {folder}: distimgs ({len(distimgs)}), ref4dist ({len(ref4dist)}) "
                f"and DMOSscores ({len(dmos)}) differ in length"
            )
        idx = ref4dist.astype(np.int64)
        if np.any(idx != ref4dist) or np.any(idx < 1) or np.any(idx > len(refimgs)):
            raise ValueError(
                f"MULTI-LIVE {folder}: ref4dist must hold 1-based indices into refimgs "
                f"(1..{len(refimgs)})"
            )
        ref_names = [refimgs[i - 1] for i in idx]
        search = [img_dir, part_dir]
        dist_paths = _locate(distimgs, search)
        ref_paths = _locate(ref_names, search)
        missing = [
            os.path.join(folder, dist_name, n)
            for n, p in list(zip(distimgs, dist_paths)) + list(zip(ref_names, ref_paths))
            if p is None
        ]
        if missing:
            raise _missing_error(
                f"MULTI-LIVE root {os.fspath(root)}", list(dict.fromkeys(missing))
            )
        lv = lists.get("distimgdistlevels")
        if lv is not None and np.asarray(lv).shape == (len(distimgs), 2):
            levels.append(np.asarray(lv, dtype=np.int64))
        else:
            have_levels = False
        pairs.extend(zip(ref_paths, dist_paths))
        mos.append(dmos)
        groups.extend(os.path.splitext(n)[0] for n in ref_names)
        distortion.extend([dist_name] * len(distimgs))
        part_ids.extend([num] * len(distimgs))

    pair_arr = np.empty((len(pairs), 2), dtype=object)
    pair_arr[:] = pairs
    return Bunch(
        pairs=pair_arr,
        mos=np.concatenate(mos),
        mos_std=None,
        groups=np.asarray(groups, dtype=object),
        distortion=np.asarray(distortion, dtype=object),
        level=np.concatenate(levels) if have_levels and levels else None,
        part=np.asarray(part_ids, dtype=np.int64),
        higher_is_better=False,
        root=os.fspath(root),
        description=(
            "LIVE Multiply Distorted: part 1 blur+JPEG, part 2 blur+noise, 15 references; "
            "DMOS, lower is better; groups = reference name (split by it)"
        ),
    )
