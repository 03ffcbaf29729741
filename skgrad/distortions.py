"""Synthetic CURE-TSR challenge types, each at levels 1-5 (5 most severe).

The twelve challenge types of the CURE-TSR traffic-sign data set are
re-created with numpy, scipy.ndimage and Pillow so that any uint8 image batch
can be degraded the way the paper's out-of-distribution test sets are.

Conventions
-----------
* Input: uint8 images ``(n, H, W)`` (greyscale) or ``(n, H, W, C)`` with
  ``C`` 1 or 3; output: uint8 of the same shape.
* Spatial parameters (blur radii, streak lengths, blob sizes) are fractions of
  the image's shorter side, so a challenge looks the same whatever the
  resolution (a level-1 blur of a 512-pixel photo, resized to 28 pixels,
  looks like a level-1 blur of a 28-pixel image).
* The random challenges (dirty lens, noise, rain, snow, shadow) draw the same
  random numbers at every level, so with a fixed ``random_state`` a higher
  level adds to the lower one (more blobs, streaks or flakes at the same
  places, stronger noise of the same pattern): severity rises monotonically.
* Decolorization cannot change a greyscale image (it is returned unchanged);
  see :func:`changes_greyscale`.

The parameters per level are listed in :data:`LEVEL_PARAMETERS`.
"""
import io
import numbers

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter
from scipy import ndimage
from sklearn.utils import check_random_state

__all__ = [
    "CHALLENGES",
    "CHALLENGE_CODES",
    "LEVEL_PARAMETERS",
    "apply_challenge",
    "changes_greyscale",
    "PHOTO_DISTORTIONS",
    "apply_photo_distortion",
]

#: Challenge type names in CURE-TSR code order (``CHALLENGES[i]`` has code ``i + 1``).
CHALLENGES = (
    "decolorization",
    "lens_blur",
    "codec_error",
    "darkening",
    "dirty_lens",
    "exposure",
    "gaussian_blur",
    "noise",
    "rain",
    "shadow",
    "snow",
    "haze",
)

#: Name -> CURE-TSR challenge code (01..12 in the file names; 00 = challenge-free).
CHALLENGE_CODES = {name: code for code, name in enumerate(CHALLENGES, start=1)}

#: The parameter that sets the severity, per challenge, for levels 1..5.
#: Fractions marked "x short side" are multiplied by ``min(H, W)``.
LEVEL_PARAMETERS = {
    # fraction of the original saturation kept
    "decolorization": (0.75, 0.55, 0.35, 0.15, 0.0),
    # disk (defocus) kernel radius, x short side
    "lens_blur": (0.03, 0.05, 0.07, 0.095, 0.125),
    # JPEG quality (Pillow)
    "codec_error": (25, 15, 10, 6, 3),
    # (scale, gamma): out = scale * x ** gamma
    "darkening": ((0.8, 1.1), (0.65, 1.25), (0.5, 1.4), (0.35, 1.6), (0.22, 1.8)),
    # (number of smudges, opacity)
    "dirty_lens": ((3, 0.45), (5, 0.55), (7, 0.65), (9, 0.75), (12, 0.85)),
    # e: out = clip(x * (1 + 2 e) + e)
    "exposure": (0.1, 0.2, 0.3, 0.42, 0.55),
    # Gaussian sigma, x short side
    "gaussian_blur": (0.02, 0.035, 0.05, 0.07, 0.095),
    # noise standard deviation (image range 0..1)
    "noise": (0.04, 0.08, 0.13, 0.19, 0.27),
    # (number of streaks, length x short side, opacity)
    "rain": ((8, 0.12, 0.35), (13, 0.16, 0.45), (18, 0.2, 0.55), (24, 0.25, 0.65), (30, 0.3, 0.75)),
    # darkening factor inside the shadow: out = x * (1 - d)
    "shadow": (0.25, 0.4, 0.55, 0.68, 0.8),
    # (number of flakes, flake-size factor, whitening)
    "snow": ((8, 1.0, 0.03), (16, 1.1, 0.06), (24, 1.2, 0.1), (32, 1.3, 0.14), (40, 1.4, 0.18)),
    # blend weight towards the airlight (grey 0.8)
    "haze": (0.2, 0.35, 0.5, 0.62, 0.75),
}

_LUMA = np.array([0.299, 0.587, 0.114])
_MAX_RAIN = 30
_MAX_SNOW = 40
_MAX_DIRT = 12


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

    Decolorization only reduces saturation, so it leaves greyscale (and
    already grey RGB) images unchanged; every other type changes them.

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
# the challenge types (float images (n, H, W, C) in [0, 1])
# --------------------------------------------------------------------------- #
def _decolorization(x, level, rng):
    keep = LEVEL_PARAMETERS["decolorization"][level - 1]
    if x.shape[-1] == 1:
        return x
    luma = (x @ _LUMA)[..., None]
    return luma + keep * (x - luma)


def _disk_kernel(radius, supersample=9):
    half = int(np.ceil(radius - 0.5)) if radius > 0.5 else 0
    half = max(half, 1)
    offs = (np.arange(supersample) + 0.5) / supersample - 0.5
    grid = np.arange(-half, half + 1)
    sub = (grid[:, None] + offs[None, :]).ravel()
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (yy**2 + xx**2 <= radius**2).astype(np.float64)
    k = inside.reshape(2 * half + 1, supersample, 2 * half + 1, supersample).mean(axis=(1, 3))
    if k.sum() == 0:  # radius tiny: identity
        k[half, half] = 1.0
    return k / k.sum()


def _lens_blur(x, level, rng):
    radius = LEVEL_PARAMETERS["lens_blur"][level - 1] * min(x.shape[1:3])
    k = _disk_kernel(radius)
    return ndimage.correlate(x, k[None, :, :, None], mode="reflect")


def _gaussian_blur(x, level, rng):
    sigma = LEVEL_PARAMETERS["gaussian_blur"][level - 1] * min(x.shape[1:3])
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect")


def _codec_error(x, level, rng):
    quality = LEVEL_PARAMETERS["codec_error"][level - 1]
    u8 = _to_uint8(x)
    out = np.empty_like(u8)
    grey = u8.shape[-1] == 1
    for i, img in enumerate(u8):
        pil = Image.fromarray(img[..., 0] if grey else img, mode="L" if grey else "RGB")
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        dec = np.asarray(Image.open(buf).convert("L" if grey else "RGB"))
        out[i] = dec[..., None] if grey else dec
    return out.astype(np.float64) / 255.0


def _darkening(x, level, rng):
    scale, gamma = LEVEL_PARAMETERS["darkening"][level - 1]
    return scale * x**gamma


def _exposure(x, level, rng):
    e = LEVEL_PARAMETERS["exposure"][level - 1]
    return x * (1.0 + 2.0 * e) + e


def _noise(x, level, rng):
    sigma = LEVEL_PARAMETERS["noise"][level - 1]
    return x + sigma * rng.standard_normal(x.shape)


def _grid(h, w):
    return np.mgrid[0:h, 0:w].astype(np.float64)


def _dirty_lens(x, level, rng):
    count, opacity = LEVEL_PARAMETERS["dirty_lens"][level - 1]
    n, h, w, c = x.shape
    short = min(h, w)
    yy, xx = _grid(h, w)
    colour = np.array([0.35, 0.3, 0.25])[:c] if c == 3 else np.array([0.3])
    out = np.empty_like(x)
    for i in range(n):
        cy = rng.uniform(0, h, _MAX_DIRT)
        cx = rng.uniform(0, w, _MAX_DIRT)
        r = short * rng.uniform(0.06, 0.14, _MAX_DIRT)
        mask = np.zeros((h, w))
        for j in range(count):
            mask += np.exp(-((yy - cy[j]) ** 2 + (xx - cx[j]) ** 2) / (2 * r[j] ** 2))
        m = opacity * np.minimum(mask, 1.0)[..., None]
        out[i] = x[i] * (1 - m) + m * colour
    return out


def _segment_coverage(yy, xx, p0, p1, half_width):
    """Anti-aliased coverage of a thick segment p0-p1 on the pixel grid."""
    d = p1 - p0
    length2 = float(d @ d)
    t = ((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / length2
    t = np.clip(t, 0.0, 1.0)
    dist = np.hypot(yy - (p0[0] + t * d[0]), xx - (p0[1] + t * d[1]))
    return np.clip(half_width + 0.5 - dist, 0.0, 1.0)


def _rain(x, level, rng):
    count, length, opacity = LEVEL_PARAMETERS["rain"][level - 1]
    n, h, w, c = x.shape
    short = min(h, w)
    length = length * short
    half_width = max(0.5, short / 60.0) / 2.0
    out = np.empty_like(x)
    for i in range(n):
        angle = rng.uniform(-0.35, 0.35)  # common direction, radians from vertical
        jitter = rng.uniform(-0.05, 0.05, _MAX_RAIN)
        sy = rng.uniform(-0.2 * h, h, _MAX_RAIN)
        sx = rng.uniform(0, w, _MAX_RAIN)
        mask = np.zeros((h, w))
        for j in range(count):
            a = angle + jitter[j]
            p0 = np.array([sy[j], sx[j]])
            p1 = p0 + length * np.array([np.cos(a), np.sin(a)])
            pad = int(np.ceil(half_width + 1))
            y0 = max(int(min(p0[0], p1[0])) - pad, 0)
            y1 = min(int(max(p0[0], p1[0])) + pad + 1, h)
            x0 = max(int(min(p0[1], p1[1])) - pad, 0)
            x1 = min(int(max(p0[1], p1[1])) + pad + 1, w)
            if y0 >= y1 or x0 >= x1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
            cov = _segment_coverage(yy, xx, p0, p1, half_width)
            np.maximum(mask[y0:y1, x0:x1], cov, out=mask[y0:y1, x0:x1])
        m = opacity * mask[..., None]
        out[i] = x[i] * (1 - m) + m * 0.85
    return out


def _snow(x, level, rng):
    count, size, whiten = LEVEL_PARAMETERS["snow"][level - 1]
    n, h, w, c = x.shape
    short = min(h, w)
    yy, xx = _grid(h, w)
    out = np.empty_like(x)
    for i in range(n):
        cy = rng.uniform(0, h, _MAX_SNOW)
        cx = rng.uniform(0, w, _MAX_SNOW)
        r = size * short * rng.uniform(0.012, 0.03, _MAX_SNOW)
        mask = np.zeros((h, w))
        for j in range(count):
            y0, y1 = max(int(cy[j] - r[j]) - 2, 0), min(int(cy[j] + r[j]) + 3, h)
            x0, x1 = max(int(cx[j] - r[j]) - 2, 0), min(int(cx[j] + r[j]) + 3, w)
            d = np.hypot(yy[y0:y1, x0:x1] - cy[j], xx[y0:y1, x0:x1] - cx[j])
            cov = np.clip(r[j] + 0.5 - d, 0.0, 1.0)
            np.maximum(mask[y0:y1, x0:x1], cov, out=mask[y0:y1, x0:x1])
        m = 0.95 * mask[..., None]
        hazed = x[i] * (1 - whiten) + whiten
        out[i] = hazed * (1 - m) + m
    return out


def _shadow(x, level, rng):
    darkness = LEVEL_PARAMETERS["shadow"][level - 1]
    n, h, w, c = x.shape
    short = min(h, w)
    yy, xx = _grid(h, w)
    soft = max(0.04 * short, 0.5)
    out = np.empty_like(x)
    for i in range(n):
        phi = rng.uniform(0, 2 * np.pi)
        py, px = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        signed = (yy - py) * np.cos(phi) + (xx - px) * np.sin(phi)
        s = np.clip(0.5 + signed / soft, 0.0, 1.0)
        out[i] = x[i] * (1 - darkness * s)[..., None]
    return out


def _haze(x, level, rng):
    t = LEVEL_PARAMETERS["haze"][level - 1]
    return x * (1 - t) + 0.8 * t


_FUNCS = {
    "decolorization": _decolorization,
    "lens_blur": _lens_blur,
    "codec_error": _codec_error,
    "darkening": _darkening,
    "dirty_lens": _dirty_lens,
    "exposure": _exposure,
    "gaussian_blur": _gaussian_blur,
    "noise": _noise,
    "rain": _rain,
    "shadow": _shadow,
    "snow": _snow,
    "haze": _haze,
}


def _to_uint8(x):
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def apply_challenge(images, challenge, level, random_state=None):
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
        shadow); each image gets its own draw. The same seed draws the same
        pattern at every level.

    Returns
    -------
    ndarray of uint8
        Distorted images, same shape as ``images``. Decolorization returns
        greyscale images unchanged.

    Raises
    ------
    ValueError
        Unknown challenge (the message lists the valid names), level outside
        1..5, or a bad shape.
    TypeError
        If ``images`` is not uint8.

    Examples
    --------
    >>> imgs = np.full((2, 28, 28, 3), 128, dtype=np.uint8)
    >>> out = apply_challenge(imgs, "noise", 3, random_state=0)
    >>> out.shape, out.dtype
    ((2, 28, 28, 3), dtype('uint8'))
    >>> bool((apply_challenge(imgs, "darkening", 5) < imgs).all())
    True
    """
    name = _check_challenge(challenge)
    level = _check_level(level)
    arr, shape = _check_images(images)
    rng = check_random_state(random_state)
    if arr.shape[0] == 0:
        return np.asarray(images).copy()
    x = arr.astype(np.float64) / 255.0
    out = _FUNCS[name](x, level, rng)
    return _to_uint8(out).reshape(shape)


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
