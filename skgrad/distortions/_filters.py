"""Filters of the challenges, rendered on a :class:`~._render.Canvas`: lens blur (hexagonal iris),
Gaussian blur, sensor noise and the Smart Blur of haze (float images ``(n, H, W, C)`` in [0, 1])."""
import numpy as np
from scipy import ndimage

from ._settings import BLUR_SIGMA_PER_BLURRINESS, LEVEL_PARAMETERS

__all__ = ["hexagon_kernel", "lens_blur", "gaussian_blur", "noise", "smart_blur"]


def hexagon_kernel(radius, supersample=9):
    """Normalised kernel of a regular hexagon of circumradius ``radius`` pixels, corners
    left and right (anti-aliased by supersampling each pixel ``supersample`` x ``supersample``)."""
    half = max(int(np.ceil(radius)), 1)
    offs = (np.arange(supersample) + 0.5) / supersample - 0.5
    sub = (np.arange(-half, half + 1)[:, None] + offs[None, :]).ravel()
    yy, xx = np.meshgrid(np.abs(sub), np.abs(sub), indexing="ij")
    root3 = np.sqrt(3.0)
    inside = (yy <= radius * root3 / 2) & (root3 * xx + yy <= root3 * radius)
    k = inside.astype(np.float64).reshape(2 * half + 1, supersample, 2 * half + 1, supersample).mean(axis=(1, 3))
    if k.sum() == 0:  # a radius far below a pixel: identity
        k[half, half] = 1.0
    return k / k.sum()


def lens_blur(x, level, rng, canvas):
    """Camera Lens Blur: a hexagonal iris of radius 2..10 frame pixels."""
    k = hexagon_kernel(LEVEL_PARAMETERS["lens_blur"][level - 1] * canvas.unit)
    return ndimage.correlate(x, k[None, :, :, None], mode="reflect")


def gaussian_blur(x, level, rng, canvas):
    """Gaussian Blur: sigma = 0.3 x blurriness (5..25) frame pixels."""
    sigma = BLUR_SIGMA_PER_BLURRINESS * LEVEL_PARAMETERS["gaussian_blur"][level - 1] * canvas.unit
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect")


def noise(x, level, rng, canvas):
    """Noise filter, colour noise, compounded: level L adds the layers 1..L in turn, each
    uniform noise of width ``amount`` per frame pixel and channel, clipped after each layer.

    Every level draws the five layers' noise, so that a higher level adds to a lower one.
    """
    amounts = np.asarray(LEVEL_PARAMETERS["noise"], dtype=np.float64) / 100.0
    n, _, _, c = x.shape
    h, w = canvas.frame_shape
    out = np.empty_like(x)
    for i in range(n):
        fields = rng.uniform(-0.5, 0.5, size=(len(amounts), h, w, c))
        xi = x[i]
        for amount, field in zip(amounts[:level], fields[:level]):
            xi = np.clip(xi + amount * canvas.to_render(field), 0.0, 1.0)
        out[i] = xi
    return out


def smart_blur(x, radius, threshold, chunk=8):
    """Edge-keeping blur: each pixel becomes the mean of the pixels within ``radius`` whose
    every channel differs from it by less than ``threshold`` (itself included).

    Computed ``chunk`` images at a time (the temporaries stay in the CPU's cache), in
    working arrays reused for every offset: ``np.all`` over the 1-3 channels and a
    ``np.where`` copy per offset took more than half of the time."""
    r = int(np.floor(radius))
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= radius * radius]
    h, w, c = x.shape[1:]
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        xc = x[start : start + chunk]
        pad = np.pad(xc, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect") if r else xc
        total = np.zeros_like(xc)
        count = np.zeros(xc.shape[:-1] + (1,), dtype=np.float64)
        diff = np.empty_like(xc)
        close = np.empty(xc.shape, dtype=bool)
        near = np.empty(count.shape, dtype=bool)
        for dy, dx in offsets:
            shifted = pad[:, r + dy : r + dy + h, r + dx : r + dx + w]
            np.abs(np.subtract(shifted, xc, out=diff), out=diff)
            np.less(diff, threshold, out=close)
            np.copyto(near, close[..., :1])                    # every channel close
            for k in range(1, c):
                np.logical_and(near, close[..., k : k + 1], out=near)
            np.add(total, shifted, out=total, where=near)
            count += near
        out[start : start + chunk] = total / count
    return out
