"""skgrad.distortions against the settings the CURE-TSD README documents.

Each test measures the output of :func:`apply_challenge` and compares it with
the README's setting through an oracle written here, independently of the
package: scikit-image's sRGB conversion for exposure, a per-pixel Black & White
rule, edge profiles for the blurs, column runs for the blinds.  Images whose
shorter side is 64 pixels (the default working size) are rendered without
resampling, one pixel per frame pixel.
"""
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2xyz, xyz2rgb

from skgrad.distortions import LEVEL_PARAMETERS, WORKING_SIZE, apply_challenge

LEVELS = (1, 2, 3, 4, 5)


def _all_grey_values():
    """Every uint8 value in each channel, in one (1, 16, 16, 3) image (channels permuted)."""
    v = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return np.stack([v, v.T, v[::-1]], axis=-1)[None]


@pytest.mark.parametrize("challenge, stops", [("exposure", (1, 3, 5, 7, 9)), ("darkening", (-1, -3, -5, -7, -9))])
def test_exposure_and_darkening_scale_linear_light_by_two_to_the_stops(challenge, stops):
    """README: Exposure filter, master exposure +-1, 3, 5, 7, 9 stops.  Oracle: scikit-image's
    sRGB -> XYZ (linear light), times 2**stops, XYZ -> sRGB (which clips)."""
    assert LEVEL_PARAMETERS[challenge] == stops
    img = _all_grey_values()
    for level, k in zip(LEVELS, stops):
        exact = 255 * xyz2rgb(rgb2xyz(img[0] / 255.0) * 2.0**k)
        got = apply_challenge(img, challenge, level)[0].astype(float)
        # equal, but where the exact value is a tie (x.5, e.g. halving 1 in the linear segment
        # of sRGB), which two float paths may round either way
        tie = np.abs(exact - np.floor(exact) - 0.5) < 1e-6
        np.testing.assert_array_equal(got[~tie], np.rint(exact[~tie]))
        assert np.abs(got - exact).max() <= 0.5 + 1e-6, (challenge, level)
    # one stop doubles the linear intensity of sRGB 128 (0.2159 linear): 0.4317 -> sRGB 175.55
    assert int(apply_challenge(np.full((1, 2, 2, 3), 128, np.uint8), "exposure", 1)[0, 0, 0, 0]) == 176


def _black_and_white_pixel(r, g, b):
    """Photoshop's Black & White rule with CURE's weights, written per ordering of the channels."""
    reds, yellows, greens, cyans, blues, magentas = 0.4, 0.6, 0.4, 0.6, 0.2, 0.8
    if r >= g >= b:
        return b + (g - b) * yellows + (r - g) * reds
    if r >= b >= g:
        return g + (b - g) * magentas + (r - b) * reds
    if g >= r >= b:
        return b + (r - b) * yellows + (g - r) * greens
    if g >= b >= r:
        return r + (b - r) * cyans + (g - b) * greens
    if b >= r >= g:
        return g + (r - g) * magentas + (b - r) * blues
    return r + (g - r) * cyans + (b - g) * blues  # b >= g >= r


def test_decolorization_level5_is_the_black_and_white_filter():
    """README: Black & White filter, reds 40, yellows 60, greens 40, cyans 60, blues 20, magentas 80."""
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (1, 20, 20, 3)).astype(np.uint8)
    img[0, 0, :3] = [[255, 0, 0], [255, 255, 0], [0, 0, 255]]  # red 40 %, yellow 60 %, blue 20 %
    out = apply_challenge(img, "decolorization", 5)[0].astype(float)
    expected = np.array([[_black_and_white_pixel(*(p / 255.0)) for p in row] for row in img[0]]) * 255
    assert np.abs(out - np.rint(expected)[..., None]).max() <= 1
    assert out[0, 0, 0] == 102 and out[0, 1, 0] == 153 and out[0, 2, 0] == 51
    # a lower level keeps part of the colour, blending towards the same grey
    keep = LEVEL_PARAMETERS["decolorization"][1]
    out2 = apply_challenge(img, "decolorization", 2)[0].astype(float)
    assert np.abs(out2 - (expected[..., None] + keep * (img[0] - expected[..., None]))).max() <= 1


def _edge_width(profile, lo=0.16, hi=0.84):
    """Distance between the points where a rising edge profile crosses lo and hi (linear interpolation)."""
    p = (profile - profile.min()) / (profile.max() - profile.min())
    x = np.arange(len(p))
    return np.interp(hi, p, x) - np.interp(lo, p, x)


def test_gaussian_blur_sigma_is_0_3_times_the_blurriness():
    """README: Gaussian Blur, blurriness 5..25 frame pixels; sigma = 0.3 x blurriness (the
    After Effects match of lottie-web and Skottie).  Oracle: a Gaussian-blurred step rises from
    16 % to 84 % over 2 sigma."""
    step = np.zeros((1, WORKING_SIZE, 160), np.uint8)
    step[:, :, 80:] = 250
    for level, blurriness in zip(LEVELS, LEVEL_PARAMETERS["gaussian_blur"]):
        out = apply_challenge(step, "gaussian_blur", level)[0].astype(float)
        assert _edge_width(out[WORKING_SIZE // 2]) == pytest.approx(2 * 0.3 * blurriness, abs=0.35)


def test_lens_blur_is_a_hexagonal_iris_of_the_documented_radius():
    """README: Camera Lens Blur, hexagonal iris, radius 2, 4, 6, 8, 10 frame pixels.  A hexagon of
    circumradius R with corners left and right spreads a vertical edge over 2 R columns and a
    horizontal edge over sqrt(3) R rows (a disk: 2 R both)."""
    vertical = np.zeros((1, WORKING_SIZE, 96), np.uint8)
    vertical[:, :, 48:] = 255
    horizontal = np.ascontiguousarray(np.swapaxes(vertical, 1, 2))
    for level, radius in zip(LEVELS, LEVEL_PARAMETERS["lens_blur"]):
        row = apply_challenge(vertical, "lens_blur", level)[0, WORKING_SIZE // 2].astype(int)
        col = apply_challenge(horizontal, "lens_blur", level)[0, :, WORKING_SIZE // 2].astype(int)
        spread_x = np.count_nonzero((row > 0) & (row < 255))
        spread_y = np.count_nonzero((col > 0) & (col < 255))
        # pixels at the very tips receive less than half a grey level: up to 2 fewer
        assert 2 * radius - 2 <= spread_x <= 2 * radius + 1, (level, spread_x)
        assert np.sqrt(3) * radius - 2 <= spread_y <= np.sqrt(3) * radius + 1, (level, spread_y)


def test_shadow_is_venetian_blinds_of_width_142_completeness_47_at_the_documented_opacity():
    """README: Venetian Blinds, completeness 47 %, direction 0 deg, width 142, opacity 15..75 %."""
    assert LEVEL_PARAMETERS["shadow"] == (0.15, 0.30, 0.45, 0.60, 0.75)
    grey = np.full((3, WORKING_SIZE, 4 * 142), 200, np.uint8)
    for level, opacity in zip(LEVELS, LEVEL_PARAMETERS["shadow"]):
        out = apply_challenge(grey, "shadow", level, random_state=level).astype(int)
        assert (out == out[:, :1]).all(), "blinds at 0 degrees: every column is uniform"
        shade = int(np.rint(200 * (1 - opacity)))
        for row in out[:, 0]:
            assert set(np.unique(row)) - set(range(shade, 201)) == set()
            # over 4 whole periods, shade covers 53 % of the width (edge columns in part)
            cover = (200 - row) / (200 * opacity)
            assert cover.mean() == pytest.approx(0.53, abs=0.5 / (200 * opacity))
            full = row == shade
            # runs of full shade, between edge columns: 53 % of 142 = 75.3 columns
            edges = np.flatnonzero(np.diff(full.astype(int)))
            runs = np.diff(edges)[full[edges[:-1] + 1]]
            assert len(runs) >= 2 and all(abs(r - 0.53 * 142) <= 1.5 for r in runs), runs


def test_haze_adds_the_grey_solid_at_the_documented_opacity():
    """README: a #CECECE solid at 10..50 % opacity.  On white the rest of haze (Smart Blur, the
    gradient in Screen mode) changes nothing, so the solid alone remains."""
    white = np.full((4, WORKING_SIZE, WORKING_SIZE, 3), 255, np.uint8)
    for level, opacity in zip(LEVELS, LEVEL_PARAMETERS["haze"]):
        out = apply_challenge(white, "haze", level, random_state=0).astype(float)
        assert np.abs(out - (255 * (1 - opacity) + 0xCE * opacity)).max() <= 0.5 + 1e-9


def test_haze_gradient_brightens_near_the_far_point_and_smart_blur_keeps_edges():
    black = np.zeros((40, WORKING_SIZE, WORKING_SIZE, 3), np.uint8)
    out = apply_challenge(black, "haze", 1, random_state=0).astype(float)
    floor = np.rint(0.1 * 0xCE)  # the solid alone
    means = out.mean(axis=(1, 2, 3))
    assert out.min() >= floor - 1e-9
    assert (means > floor + 5).sum() >= 5 and (means < floor + 2).sum() >= 5, "gradient depends on the place"


def _smart_blur_pixelwise(img, radius, threshold):
    """Smart Blur by its definition, one pixel at a time (reflected borders)."""
    h, w, _ = img.shape
    r = int(radius)
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    out = np.empty_like(img)
    for i in range(h):
        for j in range(w):
            near = [pad[i + r + dy, j + r + dx] for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                    if dy * dy + dx * dx <= radius * radius
                    and np.all(np.abs(pad[i + r + dy, j + r + dx] - img[i, j]) < threshold)]
            out[i, j] = np.mean(near, axis=0)
    return out


def test_haze_smart_blur_keeps_edges_and_smooths_detail():
    """README: Smart Blur, radius 3, threshold 25: an edge of 100 grey levels stays, detail of
    10 levels is averaged away."""
    from skgrad.distortions._filters import smart_blur

    img = np.zeros((14, 14, 3))
    img[:, 7:] = 100 / 255
    img[::2, :7] += 10 / 255
    out = smart_blur(img[None], 3, 25 / 255)[0]
    np.testing.assert_allclose(out, _smart_blur_pixelwise(img, 3, 25 / 255), rtol=0, atol=1e-12)
    assert np.abs(out[:, 8:] - 100 / 255).max() < 1e-12 and out[:, :6].std() < 0.25 * img[:, :6].std()


def test_rain_tints_with_the_blue_ramp_and_adds_streaks():
    """README: a Gradient Ramp #0F1E2D -> #5A7492 for a blue hue, drops at 25 % opacity."""
    top, bottom = np.array([0x0F, 0x1E, 0x2D]), np.array([0x5A, 0x74, 0x92])
    black = np.zeros((6, WORKING_SIZE, WORKING_SIZE, 3), np.uint8)
    out = apply_challenge(black, "rain", 1, random_state=0).astype(float)
    # on black, Screen leaves the ramp's colour; the median of a row avoids the few streaks
    rows = np.median(out, axis=2)  # (n, H, 3)
    t = (rows - top) / (bottom - top)
    assert np.abs(t - t.mean(axis=-1, keepdims=True)).max() < 0.03, "each row is a colour of the ramp"
    assert ((t > -0.02) & (t < 1.02)).all()
    assert (np.diff(t.mean(axis=-1), axis=1) >= -1e-9).all(), "the ramp darkens upwards"
    # streaks: grey (0.7) at 25 % opacity, so a streak over the ramp is lighter than its row
    lighter = out - rows[:, :, None, :]
    assert (lighter.max(axis=-1) > 0.25 * (0.7 * 255 - 146) - 2).any()
    # drops per frame scale with the level: the share of streaked pixels grows
    shares = [np.mean(np.abs(apply_challenge(black, "rain", lv, random_state=0).astype(float)
                             - rows[:, :, None, :]).max(axis=-1) > 3) for lv in LEVELS]
    assert all(a < b for a, b in zip(shares, shares[1:])), shares


def test_noise_is_compounded_uniform_layers_of_the_documented_amounts():
    """README: Noise filter, amounts 20, 40, 60, 70, 71 %, compounded layers.  Uniform noise of
    width ``amount``: level 1 stays within +-10 % of the range, level 2 has the standard deviation
    of the sum of two layers (no clipping from mid-grey)."""
    flat = np.full((8, WORKING_SIZE, WORKING_SIZE, 3), 128, np.uint8)
    a = np.array(LEVEL_PARAMETERS["noise"]) / 100
    assert tuple(LEVEL_PARAMETERS["noise"]) == (20, 40, 60, 70, 71)
    one = apply_challenge(flat, "noise", 1, random_state=0).astype(float) - 128
    assert np.abs(one).max() <= 0.1 * 255 + 0.5 and np.abs(one).max() > 0.095 * 255
    for level in (1, 2):
        out = apply_challenge(flat, "noise", level, random_state=0).astype(float)
        sd = 255 * np.sqrt(np.sum(a[:level] ** 2) / 12)
        assert out.std() == pytest.approx(np.sqrt(sd**2 + 1 / 12), rel=0.02)
        assert out.mean() == pytest.approx(128, abs=0.3)


def _pillow_resize(x, size):
    return np.stack([np.asarray(Image.fromarray(i).resize((size, size), Image.BICUBIC)) for i in x])


@pytest.mark.parametrize("challenge", ["lens_blur", "gaussian_blur"])
def test_small_images_are_rendered_at_the_working_size_and_resized_back(challenge):
    """A 28-pixel image gets the challenge of its 64-pixel version, resized down (bicubic)."""
    china = np.asarray(Image.open(__import__("sklearn.datasets", fromlist=["x"]).load_sample_images().filenames[0]))
    crops = np.stack([china[100:164, 200:264], china[250:314, 300:364]])
    small = _pillow_resize(crops, 28)
    for level in (1, 5):
        direct = apply_challenge(small, challenge, level).astype(float)
        oracle = _pillow_resize(apply_challenge(_pillow_resize(small, WORKING_SIZE), challenge, level), 28)
        # the oracle rounds to uint8 between the steps: at most 2 grey levels apart
        assert np.abs(direct - oracle).max() <= 2
    # the blur is much weaker than the same frame-pixel settings applied to the 28 pixels themselves
    def detail(x):  # variance of the Laplacian, per image and channel
        return np.mean([np.var(ndimage.laplace(x[i, :, :, k].astype(float))) for i in range(len(x)) for k in range(3)])

    assert detail(apply_challenge(small, challenge, 3)) > 3 * detail(apply_challenge(small, challenge, 3, working_size=28))


def test_larger_images_scale_the_frame_pixel_settings():
    """A 128-pixel image spanning 64 frame pixels: 2 pixels per frame pixel, so blurriness 10
    there is blurriness 20 with one pixel per frame pixel."""
    rng = np.random.RandomState(0)
    img = ndimage.zoom(rng.randint(0, 256, (1, 32, 32, 3)), (1, 4, 4, 1), order=1).clip(0, 255).astype(np.uint8)
    np.testing.assert_array_equal(apply_challenge(img, "gaussian_blur", 2, working_size=64),
                                  apply_challenge(img, "gaussian_blur", 4, working_size=128))
    np.testing.assert_array_equal(apply_challenge(img, "lens_blur", 1, working_size=64),
                                  apply_challenge(img, "lens_blur", 2, working_size=128))
