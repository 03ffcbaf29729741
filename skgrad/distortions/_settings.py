"""The settings of the twelve challenge types per level, in CURE's own units.

CURE-TSR's challenges were rendered with Adobe After Effects 14.1 on whole
CURE-TSD video frames, and the signs cropped afterwards; the CURE-TSD README
(olivesgatech/CURE-TSD, "Challenging Condition Generation") documents the
settings.  Where a setting is given there, the value here is that setting in its
unit (stops, frame pixels, percent); the other values are skgrad's own choice
(marked below).  ``docs/guide/distortions.rst`` compares both, type by type.
"""

__all__ = ["CHALLENGES", "CHALLENGE_CODES", "LEVEL_PARAMETERS", "FRAME_SHAPE", "WORKING_SIZE", "BLUR_SIGMA_PER_BLURRINESS",
           "RAIN_RAMP", "HAZE_GRADIENT", "HAZE_GREY", "BLINDS"]

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

#: (height, width) of a CURE-TSD frame, the canvas the README's pixel settings refer to.
FRAME_SHAPE = (1236, 1628)

#: Default working resolution: the number of frame pixels an image's shorter side
#: is taken to span.  Challenges with spatial settings are rendered at this size
#: (one pixel = one frame pixel) and resized back.  The README gives no crop sizes;
#: 64 is skgrad's choice for a typical sign crop.
WORKING_SIZE = 64

#: Gaussian sigma per unit of After Effects' "blurriness" (an empirical match to After
#: Effects' Gaussian Blur, the value lottie-web and Skia's Skottie use; Adobe does not
#: document the relation).
BLUR_SIGMA_PER_BLURRINESS = 0.3

#: Rain's "Gradient Ramp" colours (top, bottom of the frame), 0..255.
RAIN_RAMP = ((0x0F, 0x1E, 0x2D), (0x5A, 0x74, 0x92))

#: Haze: the radial gradient's centre colour (#D6D6D6) with the shape layer's Exposure
#: (-1 stop) and Brightness & Contrast (-34, -13), and the grey solid (#CECECE).
HAZE_GRADIENT = {"colour": 0xD6 / 255, "exposure": -1.0, "brightness": -34, "contrast": -13,
                 "smart_blur_radius": 3, "smart_blur_threshold": 25}
HAZE_GREY = 0xCE / 255

#: Shadow: Venetian Blinds, width (period) 142 frame pixels, transition completeness
#: 47 % (that share of each period is left clear), direction 0 degrees (vertical blinds).
BLINDS = {"width": 142, "completeness": 0.47}

#: The parameter that sets the severity, per challenge, for levels 1..5.
LEVEL_PARAMETERS = {
    # share of the colour kept, blending to the Black & White filter's grey (README: the
    # filter, compounded over adjustment layers whose opacities it does not give: ours)
    "decolorization": (0.75, 0.55, 0.35, 0.15, 0.0),
    # Camera Lens Blur radius, frame pixels, hexagonal iris (README)
    "lens_blur": (2, 4, 6, 8, 10),
    # JPEG quality (Pillow); CURE's codec error is temporal (Time Displacement, 1..5
    # frames) and cannot be made from a still: ours
    "codec_error": (25, 15, 10, 6, 3),
    # Exposure filter, stops (README)
    "darkening": (-1, -3, -5, -7, -9),
    # (number of smudges, opacity); CURE superimposes photographs of dirty lenses: ours
    "dirty_lens": ((3, 0.45), (5, 0.55), (7, 0.65), (9, 0.75), (12, 0.85)),
    # Exposure filter, stops (README)
    "exposure": (1, 3, 5, 7, 9),
    # Gaussian Blur "blurriness" (README); sigma = BLUR_SIGMA_PER_BLURRINESS x blurriness frame pixels
    "gaussian_blur": (5, 10, 15, 20, 25),
    # Noise filter amounts, percent; level L compounds the layers 1..L (README)
    "noise": (20, 40, 60, 70, 71),
    # CC Rainfall drops per frame, each at 25 % opacity (README: 10k, 20k, 50k, 100k for
    # five compounded levels; the fifth count is not given: ours, 200k)
    "rain": (10_000, 20_000, 50_000, 100_000, 200_000),
    # Venetian Blinds opacity (README)
    "shadow": (0.15, 0.30, 0.45, 0.60, 0.75),
    # (number of flakes, flake-size factor, whitening); CURE: Glow + CC Snowfall: ours
    "snow": ((8, 1.0, 0.03), (16, 1.1, 0.06), (24, 1.2, 0.1), (32, 1.3, 0.14), (40, 1.4, 0.18)),
    # opacity of the grey (#CECECE) solid (README)
    "haze": (0.10, 0.20, 0.30, 0.40, 0.50),
}
