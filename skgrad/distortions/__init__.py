"""CURE-TSR's twelve challenge types, each at levels 1-5 (5 most severe), for any image.

CURE-TSR's challenges were rendered with Adobe After Effects on whole CURE-TSD
video frames (1628 x 1236) and the traffic signs cropped afterwards; the
CURE-TSD README documents the filters and their settings.  This module
re-creates them with numpy, scipy.ndimage and Pillow, reproducing the documented
settings where a still image allows it (``docs/guide/distortions.rst`` compares
each type with CURE's):

* exposure and darkening in stops (+-1, 3, 5, 7, 9): linear-light intensity
  times ``2 ** stops``, clipped, re-encoded (sRGB);
* lens blur with a hexagonal iris of radius 2..10 frame pixels; Gaussian blur of
  blurriness 5..25 (sigma 0.3 x blurriness);
* noise: five compounded layers of 20, 40, 60, 70, 71 %;
* rain: the blue gradient ramp and drops at 25 % opacity, 10k..200k per frame;
* shadow: Venetian blinds (width 142, completeness 47 %) at 15..75 % opacity;
* haze: Smart Blur, a radial gradient from the far point and a grey (#CECECE)
  layer at 10..50 % opacity;
* decolorization: the Black & White filter's weights.

Codec error is temporal in CURE (After Effects' Time Displacement: parts of the
frame taken from 1..5 frames earlier or later): no still image can reproduce
it; a JPEG round trip, the closest still artefact, stands in.  Dirty lens
(photographs of dirty lenses in CURE) and snow are skgrad's own.

Conventions
-----------
* Input: uint8 images ``(n, H, W)`` (greyscale) or ``(n, H, W, C)`` with
  ``C`` 1 or 3; output: uint8 of the same shape.
* The working resolution (``working_size``, default :data:`WORKING_SIZE` = 64):
  an image is taken to be a crop whose shorter side spans ``working_size``
  frame pixels.  Challenges with spatial settings are rendered there (a smaller
  image is resized up, rendered, and resized back down, as CURE renders on the
  frame and crops) so a challenge looks the same at any image size.
  Decolorization, exposure and darkening act pixel by pixel and codec error on
  the image's own 8 x 8 blocks: they are applied at the image's size.
* The random challenges (dirty lens, noise, rain, snow, shadow, haze) draw the
  same random numbers at every level, so with a fixed ``random_state`` a higher
  level adds to the lower one: severity rises monotonically.  Each image gets
  its own draw, including its place in the frame (which the frame-wide layers
  of rain, shadow and haze depend on).
* Decolorization cannot change a greyscale image (it is returned unchanged);
  see :func:`changes_greyscale`.

The parameters per level are listed in :data:`LEVEL_PARAMETERS`.
"""
import io
import numbers

import numpy as np
from PIL import Image
from sklearn.utils import check_random_state

from . import _filters, _layers
from ._colour import black_and_white, expose
from ._photo import PHOTO_DISTORTIONS, apply_photo_distortion
from ._render import render_at_working_size
from ._settings import CHALLENGE_CODES, CHALLENGES, LEVEL_PARAMETERS, WORKING_SIZE

__all__ = [
    "CHALLENGES",
    "CHALLENGE_CODES",
    "LEVEL_PARAMETERS",
    "WORKING_SIZE",
    "apply_challenge",
    "changes_greyscale",
    "PHOTO_DISTORTIONS",
    "apply_photo_distortion",
]


# --------------------------------------------------------------------------- #
# validation
# --------------------------------------------------------------------------- #
def _check_challenge(challenge):
    if isinstance(challenge, numbers.Integral) and not isinstance(challenge, bool):
        if 1 <= int(challenge) <= len(CHALLENGES):
            return CHALLENGES[int(challenge) - 1]
    elif isinstance(challenge, str) and challenge in CHALLENGE_CODES:
        return challenge
    raise ValueError(
        f"unknown challenge {challenge!r}; valid challenges are {', '.join(CHALLENGES)} "
        "(or their CURE-TSR codes 1..12)"
    )


def _check_level(level):
    if (
        not isinstance(level, numbers.Integral)
        or isinstance(level, bool)
        or not 1 <= int(level) <= 5
    ):
        raise ValueError(f"level must be an integer from 1 to 5 (5 most severe), got {level!r}")
    return int(level)


def _check_working_size(working_size):
    if isinstance(working_size, bool) or not isinstance(working_size, numbers.Integral) or working_size < 1:
        raise ValueError(f"working_size must be a positive integer (frame pixels), got {working_size!r}")
    return int(working_size)


def _check_images(images):
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"images must be of dtype uint8 (values 0..255), got dtype {arr.dtype}")
    if arr.ndim == 3:
        return arr[..., None], arr.shape
    if arr.ndim == 4 and arr.shape[-1] in (1, 3):
        return arr, arr.shape
    raise ValueError(
        "images must have shape (n, H, W) or (n, H, W, C) with C = 1 or 3, "
        f"got shape {arr.shape}"
    )


def changes_greyscale(challenge):
    """Whether a challenge type can change a greyscale image.

    Decolorization only removes colour, so it leaves greyscale (and already
    grey RGB) images unchanged; every other type changes them.

    Parameters
    ----------
    challenge : str or int
        Challenge name (see :data:`CHALLENGES`) or CURE-TSR code.

    Returns
    -------
    bool

    Examples
    --------
    >>> changes_greyscale("decolorization"), changes_greyscale("noise")
    (False, True)
    """
    return _check_challenge(challenge) != "decolorization"


# --------------------------------------------------------------------------- #
# the challenges applied at the image's own size (float images (n, H, W, C) in [0, 1])
# --------------------------------------------------------------------------- #
def _decolorization(x, level, rng):
    if x.shape[-1] == 1:
        return x
    grey = black_and_white(x)[..., None]
    return grey + LEVEL_PARAMETERS["decolorization"][level - 1] * (x - grey)


def _darkening(x, level, rng):
    return expose(x, LEVEL_PARAMETERS["darkening"][level - 1])


def _exposure(x, level, rng):
    return expose(x, LEVEL_PARAMETERS["exposure"][level - 1])


def _codec_error(x, level, rng):
    quality = LEVEL_PARAMETERS["codec_error"][level - 1]
    u8 = _to_uint8(x)
    out = np.empty_like(u8)
    grey = u8.shape[-1] == 1
    for i, img in enumerate(u8):
        buf = io.BytesIO()
        Image.fromarray(img[..., 0] if grey else img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as decoded:
            dec = np.asarray(decoded.convert("L" if grey else "RGB"))
        out[i] = dec[..., None] if grey else dec
    return out.astype(np.float64) / 255.0


_AT_IMAGE_SIZE = {
    "decolorization": _decolorization,
    "codec_error": _codec_error,
    "darkening": _darkening,
    "exposure": _exposure,
}
_AT_WORKING_SIZE = {
    "lens_blur": _filters.lens_blur,
    "gaussian_blur": _filters.gaussian_blur,
    "noise": _filters.noise,
    "dirty_lens": _layers.dirty_lens,
    "rain": _layers.rain,
    "shadow": _layers.shadow,
    "snow": _layers.snow,
    "haze": _layers.haze,
}


def _to_uint8(x):
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def apply_challenge(images, challenge, level, random_state=None, *, working_size=WORKING_SIZE):
    """Apply one CURE-TSR challenge type at one level to a batch of images.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, H, W) or (n, H, W, C), C in {1, 3}
        Clean images.
    challenge : str or int
        One of :data:`CHALLENGES` (``"decolorization"``, ``"lens_blur"``,
        ``"codec_error"``, ``"darkening"``, ``"dirty_lens"``, ``"exposure"``,
        ``"gaussian_blur"``, ``"noise"``, ``"rain"``, ``"shadow"``,
        ``"snow"``, ``"haze"``) or its CURE-TSR code 1..12.
    level : int
        Severity 1..5 (5 most severe); parameters in :data:`LEVEL_PARAMETERS`.
    random_state : int, RandomState instance or None, default=None
        Seeds the random challenge types (dirty lens, noise, rain, snow,
        shadow, haze); each image gets its own draw. The same seed draws the
        same pattern at every level.
    working_size : int, default=64
        How many CURE-TSD frame pixels an image's shorter side is taken to
        span: the challenges with spatial settings are rendered at this
        resolution (one pixel = one frame pixel), an image smaller than that
        being resized up and the result back down (see the module docstring).

    Returns
    -------
    ndarray of uint8
        Distorted images, same shape as ``images``. Decolorization returns
        greyscale images unchanged.

    Raises
    ------
    ValueError
        Unknown challenge (the message lists the valid names), level outside
        1..5, a bad shape or ``working_size``.
    TypeError
        If ``images`` is not uint8.

    Examples
    --------
    >>> imgs = np.full((2, 28, 28, 3), 128, dtype=np.uint8)
    >>> out = apply_challenge(imgs, "noise", 3, random_state=0)
    >>> out.shape, out.dtype
    ((2, 28, 28, 3), dtype('uint8'))

    Darkening by 1 stop halves the linear-light intensity: sRGB 128 becomes 92.

    >>> int(apply_challenge(imgs, "darkening", 1)[0, 0, 0, 0])
    92
    """
    name = _check_challenge(challenge)
    level = _check_level(level)
    working_size = _check_working_size(working_size)
    arr, shape = _check_images(images)
    rng = check_random_state(random_state)
    if arr.shape[0] == 0:
        return np.asarray(images).copy()
    x = arr.astype(np.float64) / 255.0
    if name in _AT_IMAGE_SIZE:
        out = _AT_IMAGE_SIZE[name](x, level, rng)
    else:
        out = render_at_working_size(_AT_WORKING_SIZE[name], x, level, rng, working_size)
    return _to_uint8(out).reshape(shape)
