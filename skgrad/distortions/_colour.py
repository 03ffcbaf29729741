"""Colour operations of the challenges: sRGB linearisation, exposure in stops, the
Black & White filter, brightness/contrast and the Screen blend (float images in [0, 1])."""
import numpy as np

__all__ = ["srgb_to_linear", "linear_to_srgb", "expose", "black_and_white", "brightness_contrast", "screen",
           "BLACK_AND_WHITE_WEIGHTS"]

#: The Black & White filter's weights as CURE-TSD's README sets them (percent / 100):
#: primaries red, green, blue and secondaries yellow, cyan, magenta.
BLACK_AND_WHITE_WEIGHTS = {"reds": 0.40, "yellows": 0.60, "greens": 0.40, "cyans": 0.60, "blues": 0.20,
                           "magentas": 0.80}


def srgb_to_linear(x):
    """Linear-light intensity of sRGB-encoded values in [0, 1] (IEC 61966-2-1)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    """sRGB encoding of linear-light values in [0, 1] (IEC 61966-2-1)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055)


def expose(x, stops):
    """An exposure change of ``stops`` f-stops, as After Effects' Exposure filter does it
    (its linear-light conversion on): linearise, multiply by ``2 ** stops``, clip to
    [0, 1], re-encode."""
    return linear_to_srgb(np.clip(srgb_to_linear(x) * 2.0**stops, 0.0, 1.0))


def black_and_white(x, weights=None):
    """Grey of the Black & White filter: ``min + (mid - min) w_secondary + (max - mid) w_primary``.

    Per pixel, the largest channel names the primary colour (red, green, blue) and
    the two largest the secondary one (yellow = red + green, cyan = green + blue,
    magenta = red + blue); a neutral grey keeps its value.  ``x`` has 3 channels
    last; returns the grey, shape ``x.shape[:-1]``.
    """
    w = BLACK_AND_WHITE_WEIGHTS if weights is None else weights
    primary = np.array([w["reds"], w["greens"], w["blues"]])
    # secondary by the sum of the two largest channels' indices: 0+1 yellow, 0+2 magenta, 1+2 cyan
    secondary = np.array([0.0, w["yellows"], w["magentas"], w["cyans"]])
    order = np.argsort(x, axis=-1, kind="stable")
    lo, mid, hi = (np.take_along_axis(x, order[..., i : i + 1], axis=-1)[..., 0] for i in range(3))
    return lo + (mid - lo) * secondary[order[..., 1] + order[..., 2]] + (hi - mid) * primary[order[..., 2]]


def brightness_contrast(x, brightness, contrast):
    """Brightness (-150..150, in 0..255 steps) and contrast (-100..100, percent around mid-grey),
    the linear form of the Brightness & Contrast filter."""
    return (x - 0.5) * (1.0 + contrast / 100.0) + 0.5 + brightness / 255.0


def screen(x, layer):
    """The Screen blend of ``layer`` over ``x``: ``1 - (1 - x)(1 - layer)`` (never darkens)."""
    return 1.0 - (1.0 - x) * (1.0 - layer)
