"""The working resolution: where the challenges with spatial settings are rendered.

CURE's settings are in pixels of a CURE-TSD frame (1628 x 1236), on which the
signs were crops of some tens of pixels.  An image is taken to be a crop whose
shorter side spans ``working_size`` frame pixels:

* an image smaller than that is resized up (bicubic) to the working size, where
  one pixel is one frame pixel, the challenge is rendered there, and the result
  is resized back down (bicubic, antialiased), as a CURE-TSR crop is when it is
  resized to 28 pixels;
* a larger image is rendered at its own size, with the frame-pixel settings
  multiplied by ``unit = shorter side / working_size`` (pixels per frame pixel),
  so that it looks as the same crop seen at a finer resolution.

Each image also gets a random place in the frame (:class:`Canvas`), which the
frame-wide layers of CURE (rain's gradient ramp, the blinds of shadow, haze's
radial gradient) are evaluated at.
"""
import numpy as np
from PIL import Image

from ._settings import FRAME_SHAPE

__all__ = ["Canvas", "resize_batch", "render_at_working_size"]


class Canvas:
    """Geometry of a batch rendered at ``shape`` (H, W) with ``unit`` pixels per frame pixel."""

    def __init__(self, shape, unit):
        self.shape = tuple(int(s) for s in shape)
        self.unit = float(unit)
        #: the crop's size in frame pixels
        self.frame_shape = tuple(max(1, int(round(s / self.unit))) for s in self.shape)

    def place(self, rng):
        """A random top-left corner (frame pixels) of the crop in the frame."""
        return tuple(rng.uniform(0.0, max(full - crop, 0.0)) for full, crop in zip(FRAME_SHAPE, self.frame_shape))

    def frame_coordinates(self, corner):
        """Frame coordinates (y of each row, x of each column) of the pixel centres."""
        h, w = self.shape
        return (corner[0] + (np.arange(h) + 0.5) / self.unit, corner[1] + (np.arange(w) + 0.5) / self.unit)

    def column_edges(self, corner):
        """Frame x coordinates of the left and right edges of each pixel column."""
        w = self.shape[1]
        edges = corner[1] + np.arange(w + 1) / self.unit
        return edges[:-1], edges[1:]

    def to_render(self, field):
        """A field drawn on the crop's frame-pixel grid ``(h, w[, c])``, resized to the render grid."""
        if field.shape[:2] == self.shape:
            return field
        return resize_batch(field[None] if field.ndim == 3 else field[None, ..., None], self.shape)[0].reshape(
            self.shape + field.shape[2:])


def resize_batch(x, shape):
    """Bicubic resize of float images ``(n, h, w, c)`` to ``shape`` (Pillow, float32 per channel;
    antialiased when shrinking)."""
    n, _, _, c = x.shape
    h, w = shape
    out = np.empty((n, h, w, c), dtype=np.float64)
    for i in range(n):
        for k in range(c):
            img = Image.fromarray(np.ascontiguousarray(x[i, :, :, k], dtype=np.float32))
            out[i, :, :, k] = np.asarray(img.resize((w, h), Image.Resampling.BICUBIC))
    return out


def render_at_working_size(func, x, level, rng, working_size):
    """``func(x, level, rng, canvas)`` at the working resolution, returned at ``x``'s size."""
    n, h, w, c = x.shape
    short = min(h, w)
    if short >= working_size:
        return func(x, level, rng, Canvas((h, w), short / working_size))
    scale = working_size / short
    shape = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    out = func(resize_batch(x, shape), level, rng, Canvas(shape, 1.0))
    return resize_batch(out, (h, w))
