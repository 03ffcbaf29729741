"""Colour conversion, patch extraction and whitening against independent oracles."""
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from skgrad.iqa import (extract_patches, prepare_patches, rgb2ycbcr, to_ygcr,
                        zca_whiten, imresize)
from skgrad.iqa.quality import unit_weights

FIXTURES = np.load(Path(__file__).parent / "data" / "octave_fixtures.npz")


def test_rgb2ycbcr_matches_octave():
    # random colours plus every colour where MATLAB's 3-decimal formula and
    # Octave disagree (see make_octave_fixtures.py)
    colours = FIXTURES["colours"][:, None, :]
    np.testing.assert_array_equal(rgb2ycbcr(colours)[:, 0, :], FIXTURES["ycbcr"])


def test_rgb2ycbcr_ranges_and_grey_axis():
    grey = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    ycc = rgb2ycbcr(grey).astype(int)
    assert np.all(np.abs(ycc[..., 1:] - 128) == 0)
    y = ycc[..., 0].ravel()
    assert y[0] == 16 and y[-1] == 235 and np.all(np.diff(y) >= 0)


def test_to_ygcr_swaps_in_green():
    image = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    ygcr = to_ygcr(image)
    ycc = rgb2ycbcr(image)
    np.testing.assert_array_equal(ygcr[..., 0], ycc[..., 0])
    np.testing.assert_array_equal(ygcr[..., 1], image[..., 1])
    np.testing.assert_array_equal(ygcr[..., 2], ycc[..., 2])


def _loop_patches(image, p):
    """The authors' loop, transcribed with 1-based MATLAB indices."""
    height, width, _ = image.shape
    patches = []
    i = 1
    while i < height - (p - 2):
        j = 1
        while j < width - (p - 2):
            block = image[i - 1:i - 1 + p, j - 1:j - 1 + p, :]
            patches.append(block.flatten(order="F"))     # MATLAB reshape(.., [], 1)
            j += p
        i += p
    return np.array(patches)


@pytest.mark.parametrize("shape,p", [((24, 32, 3), 8), ((23, 41, 3), 8),
                                     ((17, 9, 3), 8), ((11, 13, 2), 3)])
def test_patches_match_authors_loop(shape, p):
    image = np.random.default_rng(1).random(shape)
    np.testing.assert_array_equal(extract_patches(image, p), _loop_patches(image, p))


def test_patch_flattening_order():
    # one 8x8x3 patch whose values encode (row, column, channel)
    r, c, ch = np.meshgrid(np.arange(8), np.arange(8), np.arange(3), indexing="ij")
    image = 100 * ch + 10 * c + r
    flat = extract_patches(image)[0]
    assert list(flat[:3]) == [0, 1, 2]            # row fastest
    assert flat[8] == 10 and flat[64] == 100      # then column, then channel


def test_too_small_image_is_rejected():
    with pytest.raises(ValueError, match="smaller than one 8x8 patch"):
        extract_patches(np.zeros((7, 20, 3)))
    with pytest.raises(ValueError, match="too small"):
        prepare_patches(np.zeros((14, 40, 3), dtype=np.uint8))


def test_zca_whitening_spectrum():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    eps = 0.1
    white = zca_whiten(x, epsilon=eps)
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / len(x)
    eigval = np.linalg.eigvalsh(cov)
    white_cov = white.T @ white / len(x)
    # covariance becomes U diag(s / (s + eps)) U': identity up to the eps effect
    np.testing.assert_allclose(np.linalg.eigvalsh(white_cov), eigval / (eigval + eps),
                               rtol=1e-10)
    np.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-12)
    # ZCA (symmetric) rather than PCA whitening: the result stays close to the
    # input directions, i.e. the whitening matrix is symmetric positive definite
    zca = np.linalg.lstsq(centred, white, rcond=None)[0]
    np.testing.assert_allclose(zca, zca.T, atol=1e-10)
    assert np.all(np.linalg.eigvalsh(zca) > 0)
    np.testing.assert_allclose(zca_whiten(x, epsilon=0.0).T @ zca_whiten(x, 0.0)
                               / len(x), np.eye(6), atol=1e-9)


def test_prepare_patches_chains_the_steps():
    image = np.random.default_rng(4).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    expected = zca_whiten(_loop_patches(to_ygcr(imresize(image, 0.5)) / 255.0, 8), 0.1)
    np.testing.assert_allclose(prepare_patches(image), expected, rtol=0, atol=1e-12)


def test_kurtosis_convention_matches_octave():
    # unit_weights relies on scipy's kurtosis(fisher=False, bias=False) being
    # Octave's kurtosis(x, 0, 2)
    np.testing.assert_allclose(
        stats.kurtosis(FIXTURES["kurtosis_input"], axis=1, fisher=False, bias=False),
        FIXTURES["kurtosis"], rtol=1e-12)


def test_unit_weights_loop_oracle():
    rng = np.random.default_rng(5)
    gradient = rng.standard_t(3, size=(192, 40))
    luma = gradient[:64].T.copy()
    luma -= luma.sum() / luma.size
    for col in range(luma.shape[1]):
        luma[:, col] /= np.max(np.abs(luma[:, col]))
    expected = []
    for row in luma:
        n = row.size
        d = row - row.mean()
        m2, m4 = np.mean(d ** 2), np.mean(d ** 4)
        k = 3 + (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2 ** 2 - 3 * (n - 1))
        expected.append(2.0 if k > 3 else 1.0)
    np.testing.assert_array_equal(unit_weights(gradient), expected)
    assert 0 < np.sum(unit_weights(gradient) == 2) < 40
