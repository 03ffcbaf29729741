"""Shared file helpers for the dataset loaders."""
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["read_image", "read_images"]


def read_image(path, *, mode="RGB", size=None):
    """Read one image file with Pillow into a uint8 array.

    Parameters
    ----------
    path : str or path-like
        Image file.
    mode : str or None, default="RGB"
        Pillow mode to convert to (``"RGB"`` gives ``(H, W, 3)``, ``"L"``
        gives ``(H, W)``); ``None`` keeps the file's mode.
    size : int or (int, int) or None, default=None
        Resize to ``size x size`` (or ``(height, width)``) with bicubic
        resampling; ``None`` keeps the native size.

    Returns
    -------
    ndarray of uint8

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message names it).
    ValueError
        If Pillow cannot decode the file (the message names it).

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "a.png")
    >>> Image.new("RGB", (4, 3), (10, 20, 30)).save(p)
    >>> read_image(p).shape, read_image(p, size=8).shape, read_image(p, mode="L").shape
    ((3, 4, 3), (8, 8, 3), (3, 4))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {os.fspath(path)} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            if mode is not None and img.mode != mode:
                img = img.convert(mode)
            if size is not None:
                h, w = (size, size) if np.isscalar(size) else tuple(size)
                img = img.resize((int(w), int(h)), Image.BICUBIC)
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot decode image file {os.fspath(path)}: {exc}") from exc
    if arr.dtype != np.uint8:
        # e.g. 16-bit greyscale: scale into 0..255
        arr = np.asarray(arr, dtype=np.float64)
        top = arr.max() if arr.size and arr.max() > 255 else 255.0
        arr = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
    return arr


def read_images(paths, image_size=None, *, mode="RGB"):
    """Read several images into one uint8 array (or a list when sizes differ).

    Parameters
    ----------
    paths : sequence of str or path-like
        Image files.
    image_size : int or (int, int) or None, default=None
        Common size to resize to; ``None`` keeps native sizes (a list is
        returned if they differ).
    mode : str, default="RGB"
        Pillow mode (``"RGB"`` gives ``(n, H, W, 3)``).

    Returns
    -------
    ndarray of uint8 of shape (n, H, W, 3) for ``mode="RGB"``, or list

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> d = tempfile.mkdtemp()
    >>> ps = [os.path.join(d, f"{i}.bmp") for i in range(2)]
    >>> for p in ps:
    ...     Image.new("L", (5, 7)).save(p)
    >>> read_images(ps, 28).shape
    (2, 28, 28, 3)
    """
    arrays = [read_image(p, mode=mode, size=image_size) for p in paths]
    if not arrays:
        if image_size is None:
            return np.zeros((0, 0, 0, 3) if mode == "RGB" else (0, 0, 0), dtype=np.uint8)
        h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
        return np.zeros((0, h, w, 3) if mode == "RGB" else (0, h, w), dtype=np.uint8)
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    return arrays


def _check_root(root, dataset, layout):
    """Absolute root directory, or FileNotFoundError describing the layout."""
    path = Path(os.path.expanduser(os.fspath(root))).resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{dataset} root {os.fspath(path)} does not exist or is not a directory; "
            f"expected layout: {layout}"
        )
    return path


def _find_entry(directory, name, dataset, root, layout, *, is_dir=False):
    """Find ``name`` in ``directory`` case-insensitively or raise FileNotFoundError."""
    listing = _casefold_listing(directory) if Path(directory).is_dir() else {}
    actual = listing.get(name.lower())
    if actual is not None:
        path = Path(directory) / actual
        if path.is_dir() == is_dir:
            return path
    rel = os.path.relpath(Path(directory) / name, root)
    raise FileNotFoundError(
        f"{dataset} root {os.fspath(root)} lacks {rel}{'/' if is_dir else ''}; "
        f"expected layout: {layout}"
    )


def _casefold_listing(directory):
    """Map lower-cased file name -> actual name for the files in ``directory``."""
    return {name.lower(): name for name in os.listdir(directory)}


def _missing_error(what, missing):
    shown = ", ".join(missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return FileNotFoundError(
        f"{what}: {len(missing)} image file(s) listed in the score file are missing: {shown}{more}"
    )
