"""Layers composited over the image, rendered on a :class:`~._render.Canvas`: rain, shadow
(Venetian blinds), haze, snow and dirty lens (float images ``(n, H, W, C)`` in [0, 1]).

The random layers draw the same numbers at every level (a higher level adds
streaks, flakes or smudges at the same places), and each image its own.
"""
import numpy as np

from ._colour import brightness_contrast, expose, screen
from ._filters import smart_blur
from ._settings import BLINDS, FRAME_SHAPE, HAZE_GRADIENT, HAZE_GREY, LEVEL_PARAMETERS, RAIN_RAMP

__all__ = ["rain", "shadow", "haze", "snow", "dirty_lens", "RAIN_DROP"]

#: A CC Rainfall drop: colour, opacity (README: 25 %) and streak length range in frame
#: pixels (the colour and the lengths are skgrad's reading of the filter's defaults).
RAIN_DROP = {"colour": 0.7, "opacity": 0.25, "length": (30.0, 120.0)}
_LUMA = np.array([0.299, 0.587, 0.114])
_MAX_SNOW = 40
_MAX_DIRT = 12


def _channels(colour, c):
    """An RGB colour for ``c`` channels (its BT.601 luma for one)."""
    colour = np.asarray(colour, dtype=np.float64)
    return colour if c == 3 else np.array([colour @ _LUMA])


def rain(x, level, rng, canvas):
    """Gradient Ramp (#0F1E2D at the top of the frame to #5A7492 at the bottom) in Screen
    mode, then rain streaks: one frame pixel wide, at 25 % opacity each, as many per frame
    as the level's drop count."""
    n, h, w, c = x.shape
    top, bottom = (np.asarray(col, dtype=np.float64) / 255 for col in RAIN_RAMP)
    fh, fw = canvas.frame_shape
    scale = fh * fw / (FRAME_SHAPE[0] * FRAME_SHAPE[1])  # drops per frame -> drops on this crop
    counts = [int(round(d * scale)) for d in LEVEL_PARAMETERS["rain"]]
    count = counts[level - 1]
    lo, hi = RAIN_DROP["length"]
    keep = 1.0 - RAIN_DROP["opacity"]
    out = np.empty_like(x)
    for i in range(n):
        corner = canvas.place(rng)
        ys, _ = canvas.frame_coordinates(corner)
        t = np.clip(ys / FRAME_SHAPE[0], 0.0, 1.0)[:, None, None]
        xi = screen(x[i], _channels(top, c) + t * (_channels(bottom, c) - _channels(top, c)))
        # the streaks of the most severe level, of which this level keeps the first ones
        col = rng.randint(0, fw, size=max(counts))
        length = rng.uniform(lo, hi, size=max(counts))
        start = rng.uniform(-length, fh)
        y0 = np.clip(np.floor(start), 0, fh).astype(int)[:count]
        y1 = np.clip(np.floor(start + length), 0, fh).astype(int)[:count]
        diff = np.zeros((fh + 1, fw))
        np.add.at(diff, (y0, col[:count]), 1.0)
        np.add.at(diff, (y1, col[:count]), -1.0)
        overlaps = canvas.to_render(np.cumsum(diff, axis=0)[:fh, :, None])
        veil = keep ** np.maximum(overlaps, 0.0)
        out[i] = RAIN_DROP["colour"] + (xi - RAIN_DROP["colour"]) * veil
    return out


def shadow(x, level, rng, canvas):
    """Venetian Blinds over a black layer: vertical blinds 142 frame pixels apart, 53 % of
    each period shaded (transition completeness 47 %), at the level's opacity (15..75 %).

    Pixel columns that straddle a blind's edge are shaded in proportion (exact area)."""
    opacity = LEVEL_PARAMETERS["shadow"][level - 1]
    period, clear = BLINDS["width"], BLINDS["completeness"] * BLINDS["width"]

    def shaded_length(u):  # frame length of shade in [0, u)
        return np.floor(u / period) * (period - clear) + np.clip(np.mod(u, period) - clear, 0.0, period - clear)

    out = np.empty_like(x)
    for i in range(len(x)):
        left, right = canvas.column_edges(canvas.place(rng))
        cover = (shaded_length(right) - shaded_length(left)) / (right - left)
        out[i] = x[i] * (1.0 - opacity * cover)[None, :, None]
    return out


def haze_veil():
    """The grey of haze's gradient: #D6D6D6 after the layer's Exposure (-1 stop) and
    Brightness & Contrast (-34, -13)."""
    g = HAZE_GRADIENT
    return float(brightness_contrast(expose(g["colour"], g["exposure"]), g["brightness"], g["contrast"]))


def haze(x, level, rng, canvas):
    """Smart Blur (radius 3 frame pixels, threshold 25), a radial gradient of the veil grey
    in Screen mode (opaque at the far point, transparent at the edge of an ellipse
    inscribed in the frame), and a #CECECE solid at the level's opacity (10..50 %)."""
    g = HAZE_GRADIENT
    blurred = smart_blur(x, g["smart_blur_radius"] * canvas.unit, g["smart_blur_threshold"] / 255)
    veil = haze_veil()
    fh, fw = FRAME_SHAPE
    out = np.empty_like(x)
    for i in range(len(x)):
        far = (rng.uniform(0.3, 0.5) * fh, rng.uniform(0.25, 0.75) * fw)
        ys, xs = canvas.frame_coordinates(canvas.place(rng))
        rho = np.hypot((ys[:, None] - far[0]) / (fh / 2), (xs[None, :] - far[1]) / (fw / 2))
        alpha = np.clip(1.0 - rho, 0.0, 1.0)[..., None]
        out[i] = blurred[i] + alpha * (screen(blurred[i], veil) - blurred[i])
    opacity = LEVEL_PARAMETERS["haze"][level - 1]
    return (1.0 - opacity) * out + opacity * HAZE_GREY


def _grid(h, w):
    return np.mgrid[0:h, 0:w].astype(np.float64)


def snow(x, level, rng, canvas):
    """White flakes (discs) and a whitening; sizes are fractions of the shorter side (skgrad's own)."""
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


def dirty_lens(x, level, rng, canvas):
    """Brownish Gaussian smudges; sizes are fractions of the shorter side (skgrad's own)."""
    count, opacity = LEVEL_PARAMETERS["dirty_lens"][level - 1]
    n, h, w, c = x.shape
    short = min(h, w)
    yy, xx = _grid(h, w)
    colour = np.array([0.35, 0.3, 0.25]) if c == 3 else np.array([0.3])
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
