"""KADID-10k full-reference IQA database loader (files supplied by the user)."""
import csv
import os
import re

import numpy as np
from sklearn.utils import Bunch

from ._io import _casefold_listing, _check_root, _find_entry, _missing_error

__all__ = ["load_kadid10k"]

_LAYOUT = (
    "<root>/dmos.csv (header 'dist_img,ref_img,dmos,var', e.g. 'I01_01_01.png,I01.png,4.57,0.496') "
    "and <root>/images/ holding both the distorted and the reference PNGs"
)
_DIST = re.compile(r"^i(\d+)_(\d+)_(\d+)\.\w+$", re.IGNORECASE)
_REF = re.compile(r"^i(\d+)\.\w+$", re.IGNORECASE)
_COLUMNS = ("dist_img", "ref_img", "dmos", "var")


def load_kadid10k(root):
    """Load the KADID-10k score table and resolve the image pairs.

    KADID-10k names its score column ``dmos``, but the values are mean
    opinion scores on a 1..5 scale where **higher is better** (pristine
    quality ~ 5), hence ``higher_is_better=True``.

    Parameters
    ----------
    root : str or path-like
        Folder holding ``dmos.csv`` and ``images/``.

    Returns
    -------
    Bunch
        ``pairs`` object ``(n, 2)`` absolute ``[reference, distorted]`` paths;
        ``mos`` float (the ``dmos`` column); ``mos_std`` float
        (``sqrt(var)``); ``groups`` int reference id (1..81); ``distortion``
        int type (1..25); ``level`` int (1..5); ``higher_is_better`` True;
        ``root``; ``description``.

    Raises
    ------
    FileNotFoundError
        If ``dmos.csv``, ``images/`` or listed images are missing.
    ValueError
        If ``dmos.csv`` lacks a column or holds an unparsable row.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(root, "images"))
    >>> for n in ("I01.png", "I01_07_2.png"):
    ...     Image.new("RGB", (4, 4)).save(os.path.join(root, "images", n))
    >>> with open(os.path.join(root, "dmos.csv"), "w") as f:
    ...     _ = f.write("dist_img,ref_img,dmos,var\\nI01_07_2.png,I01.png,4.0,0.25\\n")
    >>> b = load_kadid10k(root)
    >>> b.mos.tolist(), b.mos_std.tolist(), b.groups.tolist(), b.distortion.tolist(), b.level.tolist()
    ([4.0], [0.5], [1], [7], [2])
    """
    root = _check_root(root, "KADID-10k", _LAYOUT)
    csv_file = _find_entry(root, "dmos.csv", "KADID-10k", root, _LAYOUT)
    img_dir = _find_entry(root, "images", "KADID-10k", root, _LAYOUT, is_dir=True)

    rows = []
    with open(csv_file, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        absent = [c for c in _COLUMNS if c not in header]
        if absent:
            raise ValueError(f"{csv_file} lacks the column(s) {absent}; expected header {','.join(_COLUMNS)}")
        reader.fieldnames = header
        for lineno, row in enumerate(reader, start=2):
            try:
                dist, ref = row["dist_img"].strip(), row["ref_img"].strip()
                m = _DIST.match(dist)
                if not m or not _REF.match(ref):
                    raise ValueError
                rows.append((dist, ref, float(row["dmos"]), float(row["var"]), m.groups()))
            except (ValueError, AttributeError, TypeError):
                raise ValueError(
                    f"{csv_file}:{lineno}: expected 'IRR_TT_LL.png,IRR.png,<dmos>,<var>', got {row}"
                ) from None
    if not rows:
        raise ValueError(f"{csv_file} lists no images")

    listing = _casefold_listing(img_dir)
    pairs, missing = [], []
    for dist, ref, *_ in rows:
        found = []
        for name in (ref, dist):
            actual = listing.get(name.lower())
            if actual is None:
                missing.append(os.path.join(img_dir.name, name))
            found.append(os.fspath(img_dir / actual) if actual else None)
        pairs.append(tuple(found))
    if missing:
        raise _missing_error(f"KADID-10k root {os.fspath(root)}", list(dict.fromkeys(missing)))

    pair_arr = np.empty((len(pairs), 2), dtype=object)
    pair_arr[:] = pairs
    var = np.array([r[3] for r in rows])
    if np.any(var < 0):
        raise ValueError(f"{csv_file}: negative values in the 'var' column")
    return Bunch(
        pairs=pair_arr,
        mos=np.array([r[2] for r in rows]),
        mos_std=np.sqrt(var),
        groups=np.array([int(_REF.match(r[1]).group(1)) for r in rows], dtype=np.int64),
        distortion=np.array([int(r[4][1]) for r in rows], dtype=np.int64),
        level=np.array([int(r[4][2]) for r in rows], dtype=np.int64),
        higher_is_better=True,
        root=os.fspath(root),
        description=(
            "KADID-10k: 81 references x 25 distortion types x 5 levels; the 'dmos' column is "
            "a 1..5 opinion score, higher is better; groups = reference id (split by it)"
        ),
    )
