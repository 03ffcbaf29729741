"""Tests for skgrad.distortions on real images (sklearn sample photos and digits)."""
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.datasets import load_digits, load_sample_images
from sklearn.neighbors import KNeighborsClassifier

from skgrad.distortions import (
    CHALLENGE_CODES,
    CHALLENGES,
    LEVEL_PARAMETERS,
    apply_challenge,
    changes_greyscale,
)

LEVELS = (1, 2, 3, 4, 5)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def photo_crops():
    """Four 64x64 real colour crops from scikit-learn's sample photos."""
    china, flower = load_sample_images().images
    return np.stack(
        [china[100:164, 200:264], china[250:314, 300:364], flower[150:214, 250:314], flower[50:114, 100:164]]
    )


@pytest.fixture(scope="module")
def digits28():
    """scikit-learn digits scaled to 0..255 and upscaled to 28x28 (Pillow bicubic)."""
    d = load_digits()
    imgs = np.clip(np.rint(d.images * 255 / 16), 0, 255).astype(np.uint8)
    up = np.stack([np.asarray(Image.fromarray(i).resize((28, 28), Image.BICUBIC)) for i in imgs])
    return up, d.target


def test_challenge_names_and_cure_tsr_codes():
    # codes from the CURE-TSR file-name convention (paper notes, section 5)
    assert CHALLENGE_CODES == {
        "decolorization": 1,
        "lens_blur": 2,
        "codec_error": 3,
        "darkening": 4,
        "dirty_lens": 5,
        "exposure": 6,
        "gaussian_blur": 7,
        "noise": 8,
        "rain": 9,
        "shadow": 10,
        "snow": 11,
        "haze": 12,
    }
    assert CHALLENGES == tuple(sorted(CHALLENGE_CODES, key=CHALLENGE_CODES.get))
    assert set(LEVEL_PARAMETERS) == set(CHALLENGES)
    assert all(len(v) == 5 for v in LEVEL_PARAMETERS.values())


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_psnr_strictly_falls_with_level_on_colour_photos(challenge, photo_crops):
    values = [psnr(apply_challenge(photo_crops, challenge, lv, random_state=0), photo_crops) for lv in LEVELS]
    assert np.isfinite(values[0])
    assert all(a > b for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_psnr_strictly_falls_with_level_on_greyscale_digits(challenge, digits28):
    imgs = digits28[0][:40]
    if not changes_greyscale(challenge):  # decolorization: a greyscale image stays as it is
        for lv in LEVELS:
            np.testing.assert_array_equal(apply_challenge(imgs, challenge, lv, random_state=0), imgs)
        return
    values = [psnr(apply_challenge(imgs, challenge, lv, random_state=0), imgs) for lv in LEVELS]
    assert np.isfinite(values[0])
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_level_one_digits_remain_recognisable(digits28):
    # a 1-NN classifier trained on clean digits (per-image standardised pixels)
    # must still recognise level-1 challenged digits about as well as clean ones
    imgs, target = digits28
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(imgs))
    tr, te = idx[:1000], idx[1000:1200]

    def feat(x):
        x = x.reshape(len(x), -1).astype(np.float64)
        x = x - x.mean(1, keepdims=True)
        return x / (x.std(1, keepdims=True) + 1e-9)

    knn = KNeighborsClassifier(1).fit(feat(imgs[tr]), target[tr])
    clean = knn.score(feat(imgs[te]), target[te])
    rgb = np.repeat(imgs[te][..., None], 3, axis=-1)
    for challenge in CHALLENGES:
        out = apply_challenge(rgb, challenge, 1, random_state=0).mean(axis=-1)
        assert knn.score(feat(out), target[te]) >= clean - 0.03, challenge


@pytest.mark.parametrize("challenge", CHALLENGES)
@pytest.mark.parametrize("shape", [(3, 20, 24), (3, 20, 24, 1), (3, 20, 24, 3)])
def test_shape_dtype_and_reproducibility(challenge, shape):
    rng = np.random.RandomState(1)
    imgs = rng.randint(0, 256, size=shape).astype(np.uint8)
    a = apply_challenge(imgs, challenge, 3, random_state=7)
    assert a.shape == imgs.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, apply_challenge(imgs, challenge, 3, random_state=7))
    np.testing.assert_array_equal(
        a, apply_challenge(imgs, challenge, 3, random_state=np.random.RandomState(7))
    )
    # (n, H, W) and (n, H, W, 1) give the same pixels
    if len(shape) == 3:
        b = apply_challenge(imgs[..., None], challenge, 3, random_state=7)
        np.testing.assert_array_equal(a, b[..., 0])


@pytest.mark.parametrize("challenge", ["dirty_lens", "noise", "rain", "snow", "shadow", "haze"])
def test_random_challenges_depend_on_the_seed(challenge, photo_crops):
    a = apply_challenge(photo_crops, challenge, 4, random_state=0)
    b = apply_challenge(photo_crops, challenge, 4, random_state=1)
    assert not np.array_equal(a, b)
    # and each image of a batch gets its own draw
    twins = np.stack([photo_crops[0], photo_crops[0]])
    c = apply_challenge(twins, challenge, 4, random_state=0)
    assert not np.array_equal(c[0], c[1])


def test_decolorization():
    rng = np.random.RandomState(2)
    grey = rng.randint(0, 256, (2, 16, 16)).astype(np.uint8)
    for lv in LEVELS:
        np.testing.assert_array_equal(apply_challenge(grey, "decolorization", lv), grey)
    grey_rgb = np.repeat(grey[..., None], 3, axis=-1)
    np.testing.assert_array_equal(apply_challenge(grey_rgb, "decolorization", 5), grey_rgb)
    assert changes_greyscale("decolorization") is False
    assert all(changes_greyscale(c) for c in CHALLENGES if c != "decolorization")
    assert changes_greyscale(8) is True


def test_decolorization_level5_is_grey_and_saturation_falls(photo_crops):
    def saturation(x):
        x = x.astype(np.float64)
        return np.mean(x.max(-1) - x.min(-1))

    sats = [saturation(apply_challenge(photo_crops, "decolorization", lv)) for lv in LEVELS]
    assert all(a > b for a, b in zip([saturation(photo_crops)] + sats, sats))
    out = apply_challenge(photo_crops, "decolorization", 5).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1
    # which grey: the Black & White filter's (tests/test_distortions_cure.py, pixel by pixel)


def test_blurs_keep_constant_images_and_smooth_detail(photo_crops):
    flat = np.full((1, 30, 30, 3), 93, np.uint8)
    for challenge in ("lens_blur", "gaussian_blur"):
        np.testing.assert_array_equal(apply_challenge(flat, challenge, 5), flat)
        lap = [
            np.var(ndimage.laplace(apply_challenge(photo_crops, challenge, lv).astype(float)))
            for lv in LEVELS
        ]
        assert all(a > b for a, b in zip(lap, lap[1:]))


@pytest.mark.parametrize("channels", [1, 3])
def test_smart_blur_is_the_mean_of_the_close_neighbours(channels):
    """Haze's Smart Blur against its definition, pixel by pixel: the mean of the pixels
    within the radius (reflected at the borders) whose every channel is within the
    threshold of the centre's.  Float64 means of <= 37 values, summed in another order:
    equal to 1e-15 relative."""
    from skgrad.distortions._filters import smart_blur

    rng = np.random.default_rng(0)
    x = rng.random((2, 9, 11, channels))
    x[:, :4, :5] = 0.5                   # a flat area: every neighbour is close
    x[1, 5:, 6:] += 0.02 * rng.random((4, 5, channels))
    radius, threshold = 3.2, 0.25
    r = 3
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= radius**2]
    assert len(offsets) == 37

    def reflect(i, n):                   # numpy's "reflect": the edge is not repeated
        return -i if i < 0 else 2 * (n - 1) - i if i >= n else i

    expected = np.empty_like(x)
    for n, i, j in np.ndindex(x.shape[:3]):
        centre = x[n, i, j]
        near = [x[n, reflect(i + dy, 9), reflect(j + dx, 11)] for dy, dx in offsets]
        near = [v for v in near if np.all(np.abs(v - centre) < threshold)]
        expected[n, i, j] = np.mean(near, axis=0)
    got = smart_blur(x, radius, threshold, chunk=1)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(smart_blur(x, radius, threshold), got)   # chunks change nothing
    assert not np.allclose(got, x) and (got[:, 0, 0] == 0.5).all()   # its neighbours: all flat


def test_photometric_challenges_move_brightness_the_right_way(photo_crops):
    mean0 = photo_crops.mean()
    dark = [apply_challenge(photo_crops, "darkening", lv).mean() for lv in LEVELS]
    bright = [apply_challenge(photo_crops, "exposure", lv).mean() for lv in LEVELS]
    assert mean0 > dark[0] and all(a > b for a, b in zip(dark, dark[1:]))
    assert mean0 < bright[0] and all(a < b for a, b in zip(bright, bright[1:]))
    contrast = [apply_challenge(photo_crops, "haze", lv, random_state=0).std() for lv in LEVELS]
    assert photo_crops.std() > contrast[0] and all(a > b for a, b in zip(contrast, contrast[1:]))
    # shadow only darkens
    assert np.all(apply_challenge(photo_crops, "shadow", 3, random_state=0) <= photo_crops)


def test_codec_error_is_a_pillow_jpeg_round_trip(photo_crops):
    import io

    buf = io.BytesIO()
    Image.fromarray(photo_crops[0]).save(buf, format="JPEG", quality=LEVEL_PARAMETERS["codec_error"][2])
    expected = np.asarray(Image.open(buf).convert("RGB"))
    np.testing.assert_array_equal(apply_challenge(photo_crops[:1], "codec_error", 3)[0], expected)


def test_validation_errors():
    imgs = np.zeros((1, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown challenge 'fog'.*decolorization.*haze"):
        apply_challenge(imgs, "fog", 1)
    with pytest.raises(ValueError, match="unknown challenge"):
        apply_challenge(imgs, 13, 1)
    for bad in (0, 6, 2.5, True, "3"):
        with pytest.raises(ValueError, match="level"):
            apply_challenge(imgs, "noise", bad)
    with pytest.raises(TypeError, match="uint8"):
        apply_challenge(imgs.astype(np.float32), "noise", 1)
    with pytest.raises(ValueError, match="shape"):
        apply_challenge(np.zeros((8, 8), np.uint8), "noise", 1)
    with pytest.raises(ValueError, match="shape"):
        apply_challenge(np.zeros((1, 8, 8, 4), np.uint8), "noise", 1)
    # codes are accepted as challenge names
    np.testing.assert_array_equal(
        apply_challenge(imgs + 50, 12, 2, random_state=0), apply_challenge(imgs + 50, "haze", 2, random_state=0)
    )
    for bad in (0, -3, 2.5, True, "64"):
        with pytest.raises(ValueError, match="working_size"):
            apply_challenge(imgs, "noise", 1, working_size=bad)
