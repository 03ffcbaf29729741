"""A CURE-TSR-style benchmark from any folder of images, in the authors' layout.

Every image is read once (:func:`skgrad.datasets.read_image`), centre-cropped to
a square and resized to ``size``; the images are split at random into train, val
and test; each split is written challenge-free to ``RealChallengeFree/<split>/``
and, for every challenge type and level, through
:func:`skgrad.distortions.apply_challenge` to ``RealChallenge/TT_LL/<split>/``,
with the authors' 7-field file names.  An image keeps its index in every folder,
and its random draws (noise pattern, streaks, place in the frame) are the same at
every level of a type, as CURE's levels are one video with a stronger effect.
``sources.csv`` maps each index to its split and source file.
"""
import csv
import numbers
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..distortions import CHALLENGES, WORKING_SIZE, _check_challenge, apply_challenge
from ._layout import CHALLENGE, FREE, LEVELS, SPLITS, file_name, set_parts

__all__ = ["make_cure_challenges"]

_CHUNK = 256


def _check_fractions(fractions):
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise ValueError(f"split fractions must be three numbers (train, val, test), got {fractions!r}") from None
    if len(values) != 3 or any(not np.isfinite(v) or v <= 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"split fractions must be three positive numbers (train, val, test) summing to 1, "
                         f"got {fractions!r}")
    return values


def _split_sizes(n, fractions):
    """Sizes of the three splits, each at least 1, summing to ``n``."""
    if n < 3:
        raise ValueError(f"at least 3 images are needed (one per split: train, val, test), got {n}")
    sizes = [max(1, int(round(f * n))) for f in fractions[:2]]
    sizes.append(n - sum(sizes))
    while sizes[2] < 1:  # rounding took all: give test one from the largest
        sizes[int(np.argmax(sizes[:2]))] -= 1
        sizes[2] += 1
    return sizes


def _write(folder, images, indices):
    folder.mkdir(parents=True, exist_ok=True)
    for img, name in zip(images, indices):
        Image.fromarray(img).save(folder / name, format="BMP")


def make_cure_challenges(images, out, *, size=64, fractions=(0.7, 0.1, 0.2), challenge_types=None, levels=LEVELS,
                         working_size=WORKING_SIZE, random_state=0, progress=False):
    """Write a CURE-TSR-style benchmark made from the images of a folder.

    Parameters
    ----------
    images : str or path-like
        A folder of images (searched recursively; :func:`skgrad.datasets.list_images`).
    out : str or path-like
        The folder to write ``RealChallengeFree/`` and ``RealChallenge/`` into
        (created; it must not hold either yet).
    size : int, default=64
        Side of the written square images (centre crop, bicubic resize).
    fractions : (float, float, float), default=(0.7, 0.1, 0.2)
        Shares of the images in train, val and test.
    challenge_types : sequence of int or str, optional
        Challenge codes or names to write (default: all 12).
    levels : sequence of int, default=(1, 2, 3, 4, 5)
    working_size : int, default=64
        Passed to :func:`skgrad.distortions.apply_challenge`.
    random_state : int, default=0
        Seeds the split and the challenges.
    progress : bool, default=False
        A tqdm bar.

    Returns
    -------
    dict
        ``n_images`` per split, ``challenge_types`` (codes), ``levels``,
        ``size``, ``working_size``, ``n_files`` written, ``root``.

    Raises
    ------
    ValueError
        For an image file that cannot be decoded (the message names it), bad
        fractions, too few images, unknown challenges, or an ``out`` that
        already holds a CURE-TSR tree.
    FileNotFoundError
        If ``images`` does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_sample_image
    >>> china = load_sample_image("china.jpg")
    >>> src, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> for i in range(6):
    ...     Image.fromarray(china[40 * i : 40 * i + 200, 100:300]).save(os.path.join(src, f"{i}.png"))
    >>> info = make_cure_challenges(src, out, size=32, challenge_types=[7], levels=[1])
    >>> info["n_images"], info["n_files"]
    ({'train': 4, 'val': 1, 'test': 1}, 12)
    >>> sorted(os.listdir(os.path.join(out, "RealChallenge", "07_01", "test")))
    ['01_01_01_07_01_01_0005.bmp']
    """
    from tqdm.auto import tqdm

    from ..datasets import center_crop_resize, list_images, read_image

    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 8:
        raise ValueError(f"size must be an integer >= 8 (pixels), got {size!r}")
    fractions = _check_fractions(fractions)
    codes = list(range(1, len(CHALLENGES) + 1)) if challenge_types is None else \
        sorted({CHALLENGES.index(_check_challenge(c)) + 1 for c in challenge_types})
    if not levels or any(isinstance(lv, bool) or not isinstance(lv, numbers.Integral) or not 1 <= lv <= 5
                         for lv in levels):
        raise ValueError(f"levels must be integers 1..5, got {levels!r}")
    levels = sorted({int(lv) for lv in levels})
    out = Path(os.path.expanduser(os.fspath(out)))
    for top in (FREE, CHALLENGE):
        if out.is_dir() and any(p.name.lower() == top.lower() for p in out.iterdir()):
            raise ValueError(f"{os.fspath(out)} already holds {top}/: choose an empty folder, or remove it")
    paths = list_images(images)
    source_root = Path(os.path.expanduser(os.fspath(images))).resolve()
    n_train, n_val, n_test = _split_sizes(len(paths), fractions)
    src = np.stack([center_crop_resize(read_image(p), size, size) for p in
                    tqdm(paths, disable=not progress, desc="reading", leave=False)])
    rng = np.random.RandomState(random_state)
    order = rng.permutation(len(paths))
    bounds = np.cumsum([0, n_train, n_val, n_test])
    members = {split: np.sort(order[bounds[i] : bounds[i + 1]]) for i, split in enumerate(SPLITS)}
    seeds = {(c, split): int(rng.randint(2**31 - 1)) for c in codes for split in SPLITS}

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sources.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "split", "source"])
        for split in SPLITS:
            for i in members[split]:
                w.writerow([i + 1, split, Path(paths[i]).resolve().relative_to(source_root).as_posix()])
    n_files = 0
    jobs = [(0, 0)] + [(c, lv) for c in codes for lv in levels]
    bar = tqdm(total=len(jobs) * len(paths), disable=not progress, desc="writing", unit="image")
    for code, level in jobs:
        for split in SPLITS:
            idx = members[split]
            folder = out.joinpath(*set_parts(code, level, split))
            for start in range(0, len(idx), _CHUNK):
                chunk = idx[start : start + _CHUNK]
                batch = src[chunk]
                if code:
                    batch = apply_challenge(batch, code, level, random_state=seeds[code, split] + start,
                                            working_size=working_size)
                _write(folder, batch, [file_name(code, level, i + 1) for i in chunk])
                n_files += len(chunk)
                bar.update(len(chunk))
    bar.close()
    return {"n_images": {"train": n_train, "val": n_val, "test": n_test}, "challenge_types": codes,
            "levels": levels, "size": size, "working_size": working_size, "n_files": n_files, "root": os.fspath(out)}
