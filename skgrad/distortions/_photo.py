"""Pixel-based distortions of photographs for image quality work (not CURE's challenges)."""
import io
import numbers

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter
from sklearn.utils import check_random_state

__all__ = ["PHOTO_DISTORTIONS", "apply_photo_distortion"]


#: Pixel-based distortions for image quality work on photographs (the kind found in
#: TID2013 and LIVE), with their parameter at levels 1..5: Gaussian noise sigma (grey
#: levels), Pillow GaussianBlur radius (pixels), Pillow JPEG quality, Pillow contrast
#: factor.  Unlike the CURE-TSR challenges above, they do not scale with image size.
PHOTO_DISTORTIONS = {
    "noise": (4, 8, 14, 22, 32),
    "blur": (0.6, 1.0, 1.6, 2.4, 3.2),
    "jpeg": (70, 45, 25, 12, 5),
    "contrast": (0.85, 0.7, 0.55, 0.4, 0.25),
}


def apply_photo_distortion(image, kind, level, random_state=0):
    """One uint8 RGB photo with a pixel-based distortion (see :data:`PHOTO_DISTORTIONS`).

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8
    kind : {"noise", "blur", "jpeg", "contrast"}
    level : int in 1..5
        5 is the most severe.
    random_state : int, RandomState or None, default=0
        For the noise.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((16, 16, 3), 128, np.uint8)
    >>> apply_photo_distortion(img, "contrast", 5).shape
    (16, 16, 3)
    """
    if kind not in PHOTO_DISTORTIONS:
        raise ValueError(f"unknown photo distortion {kind!r}; choose from {sorted(PHOTO_DISTORTIONS)}")
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not 1 <= level <= 5:
        raise ValueError(f"level must be an int in 1..5, got {level!r}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError(f"apply_photo_distortion needs a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    value = PHOTO_DISTORTIONS[kind][level - 1]
    if kind == "noise":
        noise = check_random_state(random_state).normal(0.0, value, image.shape)
        return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)
    pil = Image.fromarray(image)
    if kind == "blur":
        return np.asarray(pil.filter(ImageFilter.GaussianBlur(value)))
    if kind == "contrast":
        return np.asarray(ImageEnhance.Contrast(pil).enhance(value))
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=value)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))
