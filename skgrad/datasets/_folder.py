"""A folder of image files: listing, a lazily read array, and its layout.

The one way skgrad turns a folder into images: ``skgrad extract`` (local or on a
dask cluster), ``skgrad ood``, :func:`skgrad.extract.extract` given a folder,
and a user calling :func:`read_images` on :func:`list_images` all read the same
files in the same order with :func:`read_image` (Pillow, bicubic resizing), so
the same folder gives the same features whichever way it is read.
"""
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._io import read_image

__all__ = ["IMAGE_SUFFIXES", "list_images", "check_images", "ImageFolderArray", "load_image_folder"]

#: File name suffixes read as images (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
#: Subfolder names that label their images (``load_image_folder``): 0 inlier, 1 outlier.
LABEL_FOLDERS = {"inlier": 0, "inliers": 0, "outlier": 1, "outliers": 1}


def _folder(root):
    root = Path(os.path.expanduser(os.fspath(root)))
    if not root.exists():
        raise FileNotFoundError(f"{os.fspath(root)}: no such directory")
    if not root.is_dir():
        raise NotADirectoryError(f"{os.fspath(root)}: not a directory")
    return root


def list_images(root):
    """The image files below ``root``, recursively, sorted by their path relative to it.

    Files whose suffix is one of :data:`IMAGE_SUFFIXES` (any case); hidden files
    and folders (a leading ``.``) are skipped.  Nothing is read.

    Parameters
    ----------
    root : str or path-like
        A folder.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        If ``root`` does not exist or is not a folder.
    ValueError
        If no image file lies in it or its subfolders.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(root, "b"))
    >>> for name in ("b/x.BMP", "a.png", "notes.txt"):
    ...     open(os.path.join(root, name), "w").close()
    >>> [p.relative_to(root).as_posix() for p in list_images(root)]
    ['a.png', 'b/x.BMP']
    """
    root = _folder(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / name for name in filenames
                  if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)]
    if not found:
        raise ValueError(f"{os.fspath(root)}: no image files found in it or its subfolders "
                         f"(looked for {', '.join(IMAGE_SUFFIXES)})")
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return found


def check_images(paths):
    """Open every file's header (cheap): a file that is not an image fails here.

    Raises
    ------
    ValueError
        Naming the first file Pillow cannot identify (``FileNotFoundError`` for a
        missing one).
    """
    from PIL import Image, UnidentifiedImageError

    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image file {os.fspath(path)} does not exist")
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - the header is parsed on open
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"cannot read image {os.fspath(path)}: {' '.join(str(exc).split())}") from None


class ImageFolderArray:
    """Image files as a lazily read uint8 array ``(n, H, W, C)``.

    Slicing reads only the requested files, each with :func:`read_image`:
    converted to RGB (``channels=3``) or greyscale (``channels=1``) and resized
    to ``size`` with bicubic resampling.  :func:`skgrad.extract.extract` streams
    such an array of any length through an estimator, in this process or on
    dask workers (the object pickles as its list of paths).

    Parameters
    ----------
    paths : sequence of str or path-like
        The image files, in row order (e.g. :func:`list_images`).
    size : (int, int)
        ``(H, W)`` of every row.
    channels : {3, 1}, default=3
        RGB or greyscale.
    resize : bool, default=True
        Resize images of another size.  With False such an image raises a
        ``ValueError`` naming it (gradient features respond to the fine detail
        that resizing changes).

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for i, size in enumerate([(30, 20), (8, 8)]):
    ...     Image.new("L", size, 40 * i).save(os.path.join(root, f"{i}.png"))
    >>> X = ImageFolderArray(list_images(root), (16, 16))
    >>> X.shape, X[1:].shape, X[0].dtype
    ((2, 16, 16, 3), (1, 16, 16, 3), dtype('uint8'))
    """

    ndim = 4
    dtype = np.dtype(np.uint8)

    def __init__(self, paths, size, channels=3, *, resize=True):
        if int(channels) not in (1, 3):
            raise ValueError(f"images are read as RGB (3 channels) or greyscale (1); got channels={channels!r}")
        self.paths = [Path(p) for p in paths]
        self.size = (int(size[0]), int(size[1]))
        self.channels = int(channels)
        self.resize = bool(resize)
        self.shape = (len(self.paths),) + self.size + (self.channels,)

    def __len__(self):
        return len(self.paths)

    def _read(self, path):
        if not self.resize:
            native = read_image(path, mode="RGB" if self.channels == 3 else "L")
            if native.shape[:2] != self.size:
                raise ValueError(
                    f"{os.fspath(path)}: image of size {native.shape[0]}x{native.shape[1]} (HxW), but the rows "
                    f"are {self.size[0]}x{self.size[1]}; pass resize=True to resize")
            img = native
        else:
            img = read_image(path, mode="RGB" if self.channels == 3 else "L", size=self.size)
        return img if img.ndim == 3 else img[..., None]

    def __getitem__(self, index):
        if isinstance(index, tuple):  # dask slices every axis: read the images, then slice the rest
            return self[index[0]][(slice(None),) + tuple(index[1:])]
        if isinstance(index, slice):
            chunk = [self._read(p) for p in self.paths[index]]
            if not chunk:
                return np.zeros((0,) + self.shape[1:], dtype=np.uint8)
            return np.stack(chunk)
        return self._read(self.paths[index])

    def __array__(self, dtype=None, copy=None):
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)


def _layout(root, paths):
    """``("cure-tsr" | "flat" | "classes", per-file class names or None)``."""
    from .cure_tsr import is_cure_tsr_name

    rels = [p.relative_to(root) for p in paths]
    cure = [is_cure_tsr_name(r.name) for r in rels]
    if all(cure):
        return "cure-tsr", None
    if any(cure):
        example = next(r for r, c in zip(rels, cure) if c)
        other = next(r for r, c in zip(rels, cure) if not c)
        raise ValueError(
            f"{os.fspath(root)}: unknown layout: {sum(cure)} of {len(rels)} images are named like CURE-TSR files "
            f"(e.g. {example.as_posix()}) and the others are not (e.g. {other.as_posix()}); use one kind per folder"
        )
    top = [len(r.parts) == 1 for r in rels]
    if all(top):
        return "flat", None
    if any(top):
        example = next(r for r, t in zip(rels, top) if t)
        raise ValueError(
            f"{os.fspath(root)}: unknown layout: images lie both directly in the folder (e.g. {example.as_posix()}) "
            "and in subfolders; use a flat folder or one subfolder per class"
        )
    return "classes", [r.parts[0] for r in rels]


def load_image_folder(root, *, subset=None):
    """Index a folder of images and its labels, by its layout (no image is read).

    Layouts:

    * ``"cure-tsr"``: every file is named like a CURE-TSR image
      (:func:`is_cure_tsr_name`; indexed by :func:`load_cure_tsr`): each has a
      challenge type and level; level 0 (challenge-free) is an inlier (label 0),
      the others outliers (1);
    * ``"flat"``: all images lie directly in ``root``; no labels;
    * ``"classes"``: all images lie in subfolders, the class being the first
      one; subfolders named only ``inlier(s)``/``outlier(s)`` (any case) give
      labels 0/1.

    Parameters
    ----------
    root : str or path-like
        The folder.
    subset : {None, "inliers", "outliers"}, default=None
        For a CURE-TSR folder, keep only its challenge-free images
        (``"inliers"``) or only those with a challenge (``"outliers"``);
        ``ValueError`` if there are none.  Other layouts are kept whole.

    Returns
    -------
    Bunch
        ``root`` (Path), ``paths`` (list of Path, sorted), ``layout``,
        ``classes`` (list, or None), ``labels`` (list of 0/1, or None),
        ``challenge`` and ``level`` (lists for a CURE-TSR folder, else None),
        ``n_left_out`` (images dropped by ``subset``).

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        If ``root`` does not exist or is not a folder.
    ValueError
        If it holds no image, mixes layouts, or ``subset`` leaves nothing.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for folder in ("inlier", "outlier"):
    ...     os.mkdir(os.path.join(root, folder))
    ...     Image.new("RGB", (8, 8)).save(os.path.join(root, folder, "a.png"))
    >>> folder = load_image_folder(root)
    >>> folder.layout, folder.classes, folder.labels
    ('classes', ['inlier', 'outlier'], [0, 1])
    """
    if subset not in (None, "inliers", "outliers"):
        raise ValueError(f"subset must be None, 'inliers' or 'outliers', got {subset!r}")
    root = _folder(root)
    paths = list_images(root)
    layout, classes = _layout(root, paths)
    folder = Bunch(root=root, paths=paths, layout=layout, classes=classes, labels=None,
                   challenge=None, level=None, n_left_out=0)
    if layout == "classes" and {c.lower() for c in classes} <= set(LABEL_FOLDERS):
        folder.labels = [LABEL_FOLDERS[c.lower()] for c in classes]
    if layout != "cure-tsr":
        return folder
    from .cure_tsr import load_cure_tsr

    bunch = load_cure_tsr(root)
    keep = [True] * len(bunch.paths)
    if subset == "inliers":
        keep = [lv == 0 for lv in bunch.level]
        if not any(keep):
            raise ValueError(f"{os.fspath(root)}: a CURE-TSR folder without challenge-free images (challenge 00)")
    elif subset == "outliers":
        keep = [lv > 0 for lv in bunch.level]
        if not any(keep):
            raise ValueError(f"{os.fspath(root)}: a CURE-TSR folder without any challenge images (level > 0)")
    folder.root = Path(bunch.root)  # resolved: the paths are absolute
    folder.paths = [Path(p) for p, k in zip(bunch.paths, keep) if k]
    folder.challenge = [c for c, k in zip(bunch.challenge, keep) if k]
    folder.level = [int(lv) for lv, k in zip(bunch.level, keep) if k]
    folder.labels = [int(lv > 0) for lv in folder.level]
    folder.n_left_out = len(keep) - sum(keep)
    return folder
