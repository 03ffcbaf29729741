"""imresize against GNU Octave's imresize (fixtures) and basic properties."""
from pathlib import Path

import numpy as np
import pytest

from skgrad.iqa import imresize
from skgrad.iqa._imresize import _cubic

FIXTURES = np.load(Path(__file__).parent / "data" / "octave_fixtures.npz")
CASES = range(int(FIXTURES["n_resize"]))


def _case_id(k):
    return (f"{FIXTURES[f'resize_{k}_image'].shape}"
            f"x{float(FIXTURES[f'resize_{k}_scale']):.3g}")


@pytest.mark.parametrize("k", CASES, ids=[_case_id(k) for k in CASES])
def test_uint8_matches_octave_exactly(k):
    image = FIXTURES[f"resize_{k}_image"]
    expected = FIXTURES[f"resize_{k}_uint8"]
    result = imresize(image, float(FIXTURES[f"resize_{k}_scale"]))
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("k", CASES, ids=[_case_id(k) for k in CASES])
def test_float_matches_octave(k):
    image = FIXTURES[f"resize_{k}_image"].astype(np.float64)
    expected = FIXTURES[f"resize_{k}_double"]
    result = imresize(image, float(FIXTURES[f"resize_{k}_scale"]))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9)


def _direct_resize_1d(signal, scale):
    """Loop oracle for one axis, straight from MATLAB's documented algorithm."""
    n_in = len(signal)
    n_out = int(np.ceil(scale * n_in))
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.empty(n_out)
    for i in range(1, n_out + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        taps = np.arange(int(np.floor(u - width / 2)) + 1,
                         int(np.floor(u - width / 2)) + int(np.ceil(width)) + 3)
        dist = u - taps
        w = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
        w = w / w.sum()
        total = 0.0
        for t, wt in zip(taps, w):
            j = t
            while j < 1 or j > n_in:      # mirror: ... 2 1 | 1 2 ... n | n n-1 ...
                j = 1 - j if j < 1 else 2 * n_in + 1 - j
            total += wt * signal[j - 1]
        out[i - 1] = total
    return out


@pytest.mark.parametrize("scale", [0.75, 0.6, 0.3, 1.25])
def test_non_dyadic_scales_match_loop_oracle(scale):
    # Octave does not normalise the weights, so for these scales the oracle is
    # MATLAB's algorithm written as a plain loop (normalised weights).
    rng = np.random.default_rng(3)
    image = rng.random((13, 11))
    expected = np.array([_direct_resize_1d(col, scale) for col in image.T]).T
    expected = np.array([_direct_resize_1d(row, scale) for row in expected])
    np.testing.assert_allclose(imresize(image, scale), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [0.5, 0.3, 0.75, 2.0, (0.5, 1.5)])
def test_constant_image_stays_constant(scale):
    image = np.full((23, 17, 3), 137, dtype=np.uint8)
    result = imresize(image, scale)
    assert np.all(result == 137)
    floats = imresize(np.full((9, 12), 0.3), scale)
    np.testing.assert_allclose(floats, 0.3, rtol=0, atol=1e-13)


def test_scale_one_is_identity():
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    result = imresize(image, 1)
    np.testing.assert_array_equal(result, image)
    assert result is not image


def test_output_shape_and_dtype():
    image = np.zeros((17, 23, 3), dtype=np.float32)
    result = imresize(image, 0.5)
    assert result.shape == (9, 12, 3) and result.dtype == np.float32
    assert imresize(np.zeros((10, 10), np.uint16), (0.5, 0.25)).shape == (5, 3)


def test_uint8_saturates_and_rounds_half_away():
    # overshoot of the cubic kernel at a step edge is clipped to [0, 255]
    image = np.zeros((8, 16), dtype=np.uint8)
    image[:, 8:] = 255
    up = imresize(image, 2.0)
    ringing = imresize(image.astype(float), 2.0)
    assert ringing.min() < 0 and ringing.max() > 255
    np.testing.assert_array_equal(up, np.clip(np.floor(ringing + 0.5), 0, 255))


@pytest.mark.parametrize("bad", [0, -0.5, float("nan"), float("inf"), (0.5,),
                                 (0.5, 0.5, 0.5), "half"])
def test_rejects_bad_scale(bad):
    with pytest.raises(ValueError, match="scale"):
        imresize(np.zeros((4, 4)), bad)


def test_rejects_bad_images():
    with pytest.raises(TypeError, match="dtype bool"):
        imresize(np.zeros((4, 4), dtype=bool), 0.5)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        imresize(np.zeros(4), 0.5)
