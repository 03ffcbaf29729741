"""TID2013 full-reference IQA database loader (files supplied by the user)."""
import os
import re

import numpy as np
from sklearn.utils import Bunch

from ._io import _casefold_listing, _check_root, _find_entry, _missing_error

__all__ = ["load_tid2013", "TID2013_DISTORTIONS"]

_LAYOUT = (
    "<root>/mos_with_names.txt (lines '<mos> <name>', e.g. '5.51429 i01_01_1.bmp'), "
    "<root>/mos_std.txt (optional, one value per line in the same order), "
    "<root>/distorted_images/iRR_DD_L.bmp and <root>/reference_images/IRR.BMP "
    "(file-name case does not matter)"
)

_NAME = re.compile(r"^i(\d{2})_(\d{2})_(\d)\.bmp$", re.IGNORECASE)

#: TID2013 distortion id -> name.
TID2013_DISTORTIONS = {
    1: "additive Gaussian noise",
    2: "additive noise in colour components",
    3: "spatially correlated noise",
    4: "masked noise",
    5: "high frequency noise",
    6: "impulse noise",
    7: "quantization noise",
    8: "Gaussian blur",
    9: "image denoising",
    10: "JPEG compression",
    11: "JPEG2000 compression",
    12: "JPEG transmission errors",
    13: "JPEG2000 transmission errors",
    14: "non eccentricity pattern noise",
    15: "local block-wise distortions of different intensity",
    16: "mean shift (intensity shift)",
    17: "contrast change",
    18: "change of colour saturation",
    19: "multiplicative Gaussian noise",
    20: "comfort noise",
    21: "lossy compression of noisy images",
    22: "image colour quantization with dither",
    23: "chromatic aberrations",
    24: "sparse sampling and reconstruction",
}


def load_tid2013(root):
    """Load the TID2013 score table and resolve the image pairs.

    No image is read: the returned paths are checked to exist. File names are
    matched case-insensitively (the distribution mixes ``i01_01_1.bmp``,
    ``I01_01_1.BMP`` and ``I01.BMP``).

    Parameters
    ----------
    root : str or path-like
        Folder holding ``mos_with_names.txt``, optionally ``mos_std.txt``,
        ``distorted_images/`` and ``reference_images/``.

    Returns
    -------
    Bunch
        ``pairs`` object array ``(n, 2)`` of absolute ``[reference, distorted]``
        path strings; ``mos`` float ``(n,)`` (0..9, higher is better);
        ``mos_std`` float ``(n,)`` or None when ``mos_std.txt`` is absent;
        ``groups`` int reference id 1..25; ``distortion`` int id 1..24
        (names in ``distortion_names``); ``level`` int 1..5; ``names``;
        ``higher_is_better`` True; ``root``; ``description``.

    Raises
    ------
    FileNotFoundError
        If the root, the score file or an image folder is missing, or images
        listed in the score file are absent (the first few are named).
    ValueError
        If a line of a score file cannot be parsed.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for d in ("distorted_images", "reference_images"):
    ...     os.mkdir(os.path.join(root, d))
    >>> Image.new("RGB", (4, 4)).save(os.path.join(root, "reference_images", "I01.BMP"))
    >>> Image.new("RGB", (4, 4)).save(os.path.join(root, "distorted_images", "i01_08_3.bmp"))
    >>> with open(os.path.join(root, "mos_with_names.txt"), "w") as f:
    ...     _ = f.write("4.5 I01_08_3.BMP\\n")
    >>> b = load_tid2013(root)
    >>> b.mos.tolist(), b.groups.tolist(), b.distortion.tolist(), b.level.tolist(), b.mos_std
    ([4.5], [1], [8], [3], None)
    """
    root = _check_root(root, "TID2013", _LAYOUT)
    mos_file = _find_entry(root, "mos_with_names.txt", "TID2013", root, _LAYOUT)
    dist_dir = _find_entry(root, "distorted_images", "TID2013", root, _LAYOUT, is_dir=True)
    ref_dir = _find_entry(root, "reference_images", "TID2013", root, _LAYOUT, is_dir=True)

    names, mos = [], []
    with open(mos_file, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 2 or not _NAME.match(fields[1]):
                    raise ValueError
                mos.append(float(fields[0]))
            except ValueError:
                raise ValueError(
                    f"{mos_file}:{lineno}: expected '<mos> iRR_DD_L.bmp', got {line.strip()!r}"
                ) from None
            names.append(fields[1])
    if not names:
        raise ValueError(f"{mos_file} lists no images")

    mos_std = None
    try:
        std_file = _find_entry(root, "mos_std.txt", "TID2013", root, _LAYOUT)
    except FileNotFoundError:
        std_file = None
    if std_file is not None:
        with open(std_file, encoding="utf-8", errors="replace") as fh:
            values = [line.split()[0] for line in fh if line.split()]
        try:
            mos_std = np.array([float(v) for v in values])
        except ValueError as exc:
            raise ValueError(f"{std_file}: non-numeric value ({exc})") from None
        if len(mos_std) != len(names):
            raise ValueError(
                f"{std_file} has {len(mos_std)} values but {mos_file} lists {len(names)} images"
            )

    dist_map = _casefold_listing(dist_dir)
    ref_map = _casefold_listing(ref_dir)
    groups, distortion, level, pairs, missing = [], [], [], [], []
    for name in names:
        rr, dd, ll = (int(g) for g in _NAME.match(name).groups())
        ref_name = f"i{rr:02d}.bmp"
        dist_actual = dist_map.get(name.lower())
        ref_actual = ref_map.get(ref_name)
        if dist_actual is None:
            missing.append(os.path.join(dist_dir.name, name))
        if ref_actual is None:
            missing.append(os.path.join(ref_dir.name, f"I{rr:02d}.BMP"))
        pairs.append(
            (
                os.fspath(ref_dir / ref_actual) if ref_actual else None,
                os.fspath(dist_dir / dist_actual) if dist_actual else None,
            )
        )
        groups.append(rr)
        distortion.append(dd)
        level.append(ll)
    if missing:
        missing = list(dict.fromkeys(missing))
        raise _missing_error(f"TID2013 root {os.fspath(root)}", missing)

    pair_arr = np.empty((len(pairs), 2), dtype=object)
    pair_arr[:] = pairs
    return Bunch(
        pairs=pair_arr,
        mos=np.asarray(mos, dtype=np.float64),
        mos_std=mos_std,
        groups=np.asarray(groups, dtype=np.int64),
        distortion=np.asarray(distortion, dtype=np.int64),
        level=np.asarray(level, dtype=np.int64),
        names=np.asarray(names, dtype=object),
        distortion_names=dict(TID2013_DISTORTIONS),
        higher_is_better=True,
        root=os.fspath(root),
        description=(
            "TID2013: 25 reference images x 24 distortion types x 5 levels; MOS 0..9, "
            "higher is better; groups = reference id (split by it)"
        ),
    )
