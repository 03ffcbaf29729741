"""What a careless user gets: each mistake raises a precise exception type, and the
message names the problem and what is accepted."""
import re

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer

ESTIMATORS = [GradientFeatureTransformer, ActivationFeatureTransformer]
ACCEPTED_SHAPES = re.escape("(n, H, W, C), (n, H, W) or (n, F)")
ACCEPTED_VALUES = r"uint8 images.*float images in \[0, 1\]|float images in \[0, 1\].*uint8"


def raises(exc_type, X_or_call, *patterns):
    """Run ``X_or_call`` and check the exception type and that every regex pattern is in its message."""
    with pytest.raises(exc_type) as info:
        X_or_call()
    assert info.type is exc_type, f"expected exactly {exc_type.__name__}, got {info.type.__name__}: {info.value}"
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message, flags=re.S), f"{pattern!r} not in message:\n{message}"
    return message


def _est(cls=GradientFeatureTransformer, **kw):
    kw.setdefault("epochs", 0)
    kw.setdefault("device", "cpu")
    kw.setdefault("random_state", 0)
    return cls(**kw)


IMAGES = np.random.RandomState(0).randint(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda c: c.__name__)
def fitted(request):
    return _est(request.param).fit(IMAGES)


# ------------------------------------------------------- number of dimensions
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_too_many_dimensions(cls):
    X = np.zeros((2, 2, 8, 8, 3), np.uint8)
    raises(ValueError, lambda: _est(cls).fit(X), cls.__name__, "5 dimensions", re.escape(str(X.shape)), ACCEPTED_SHAPES)


def test_too_many_dimensions_at_transform(fitted):
    X = np.zeros((1, 4, 8, 8, 3), np.uint8)
    raises(ValueError, lambda: fitted.transform(X), "5 dimensions", ACCEPTED_SHAPES)


@pytest.mark.parametrize("X", [np.zeros(192, np.uint8), np.float64(0.5)], ids=["1-D", "0-D"])
def test_too_few_dimensions(X):
    # "Reshape your data" stays: scikit-learn's check_fit2d_predict1d requires it
    raises(ValueError, lambda: _est().fit(X), "GradientFeatureTransformer", r"\b[01] dimensions?\b|[01]-D|scalar",
           ACCEPTED_SHAPES, "Reshape your data")


def test_one_image_without_the_batch_axis_at_transform(fitted):
    """A single (H, W, C) image reads as H greyscale images of W x C: the message shows both shapes."""
    raises(ValueError, lambda: fitted.transform(IMAGES[0]), re.escape("(8, 3, 1)"), re.escape("(8, 8, 3)"),
           "same image size and channel count")


# -------------------------------------------------------------------- empty X
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_no_samples(cls):
    raises(ValueError, lambda: _est(cls).fit(np.zeros((0, 8, 8, 3), np.uint8)), "0 sample", "minimum of 1")


def test_no_samples_at_transform(fitted):
    raises(ValueError, lambda: fitted.transform(IMAGES[:0]), "0 sample", "minimum of 1")


def test_rows_without_features():
    raises(ValueError, lambda: _est(module="dense").fit(np.zeros((3, 0))), "0 feature", "minimum of 1")


@pytest.mark.parametrize("shape", [(2, 0, 8, 3), (2, 8, 0, 3), (2, 8, 8, 0), (2, 8, 0)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_images_without_pixels_or_channels(shape, dtype):
    sample_shape = shape[1:] if len(shape) == 4 else shape[1:] + (1,)
    raises(ValueError, lambda: _est().fit(np.zeros(shape, dtype)), "GradientFeatureTransformer",
           re.escape(str(sample_shape)), r"at least one|positive|empty")


# ----------------------------------------------------------------- NaN or inf
@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
def test_nan_or_inf(bad, what):
    X = IMAGES / 255.0
    X[1, 2, 3, 0] = bad
    raises(ValueError, lambda: _est().fit(X), "GradientFeatureTransformer", what, r"finite", ACCEPTED_VALUES)


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_or_inf_is_refused_at_fit_and_transform(fitted, bad, what):
    """NaN and inf are refused at fit and at transform, for images and rows alike."""
    X = IMAGES / 255.0
    X[0, 0, 0, 0] = bad
    raises(ValueError, lambda: _est().fit(X), what)
    raises(ValueError, lambda: fitted.transform(X), what)
    rows = np.random.RandomState(0).rand(3, 4)
    rows[1, 1] = bad
    raises(ValueError, lambda: _est(module="dense", loss="mse").fit(rows), what)


# ------------------------------------------------------------ values in [0, 1]
@pytest.mark.parametrize("lo, hi", [(0.0, 1.5), (-0.25, 1.0), (0.0, 255.0)])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_float_images_outside_unit_range(cls, lo, hi):
    X = np.full((2, 8, 8, 3), 0.5)
    X[0, 0, 0, 0], X[1, 1, 1, 1] = lo, hi
    raises(ValueError, lambda: _est(cls).fit(X), cls.__name__, r"must lie in \[0, 1\]",
           re.escape(f"[{lo:.4g}, {hi:.4g}]"), "pass uint8 images", r"rescale X to \[0, 1\]")


def test_float_images_outside_unit_range_at_transform(fitted):
    raises(ValueError, lambda: fitted.transform(IMAGES.astype(np.float32)), r"must lie in \[0, 1\]",
           re.escape("[0, 255]"), "uint8")


def test_rows_outside_unit_range_with_bce():
    rows = np.random.RandomState(0).rand(5, 4) * 10
    raises(ValueError, lambda: _est(module="dense", loss="bce").fit(rows),
           r"binary cross-entropy loss must lie in \[0, 1\]", r"rescale X to \[0, 1\]")


def test_uint16_images():
    X = np.full((2, 8, 8, 3), 40000, np.uint16)
    raises(ValueError, lambda: _est().fit(X), "uint16", r"\[0, 1\]", "uint8")


# ---------------------------------------------- image size/channels at transform
@pytest.mark.parametrize(
    "X, shape",
    [
        (np.zeros((2, 9, 8, 3), np.uint8), (9, 8, 3)),
        (np.zeros((2, 8, 16, 3), np.uint8), (8, 16, 3)),
        (np.zeros((2, 8, 8, 1), np.uint8), (8, 8, 1)),
        (np.zeros((2, 8, 8), np.uint8), (8, 8, 1)),
        (np.zeros((2, 8, 8, 4), np.uint8), (8, 8, 4)),
    ],
    ids=["height", "width", "one-channel", "greyscale-3d", "rgba"],
)
def test_transform_image_shape_differs_from_fit(fitted, X, shape):
    raises(ValueError, lambda: fitted.transform(X), re.escape(str(shape)), r"fitted on images of shape \(8, 8, 3\)",
           "same image size and channel count")


def test_transform_flat_rows_of_the_wrong_width(fitted):
    raises(ValueError, lambda: fitted.transform(np.zeros((2, 100), np.uint8)), "100 features", "expecting 192")


def test_transform_before_fit():
    raises(NotFittedError, lambda: GradientFeatureTransformer().transform(IMAGES), "not fitted", "fit")


# -------------------------------------------------------------- non-numeric X
@pytest.mark.parametrize("X", [np.full((2, 8, 8, 3), "a"), np.full((2, 8, 8, 3), b"a"), [["0.1", "0.2"]]],
                         ids=["str", "bytes", "list-of-str"])
def test_strings(X):
    raises(TypeError, lambda: _est().fit(X), "GradientFeatureTransformer", "numeric", "strings", ACCEPTED_VALUES)


def test_torch_tensor():
    raises(TypeError, lambda: _est().fit(torch.zeros(2, 8, 8, 3)), "not torch tensors", "numpy arrays",
           re.escape("X.cpu().numpy()"))


@pytest.mark.parametrize(
    "X",
    [
        np.full((2, 8, 8, 3), "a", dtype=object),
        np.full((2, 8, 8, 3), np.datetime64("2020-01-01")),
        np.full((2, 8, 8, 3), np.timedelta64(1, "s")),
    ],
    ids=["object-str", "datetime64", "timedelta64"],
)
def test_other_non_numeric_dtypes(X):
    message = raises(TypeError, lambda: _est().fit(X), "GradientFeatureTransformer", re.escape(str(X.dtype)),
                     ACCEPTED_VALUES)
    assert len(message) < 500  # not the whole array


def test_complex_images():
    X = np.full((2, 8, 8, 3), 0.5 + 0j)
    # ValueError with scikit-learn's wording: its check_complex_data (tests/test_estimator_checks.py) requires both
    message = raises(ValueError, lambda: _est().fit(X), "Complex data not supported", "GradientFeatureTransformer",
                     re.escape(str(X.dtype)), ACCEPTED_VALUES)
    assert len(message) < 500  # not the whole array


def test_dataframe_with_a_text_column():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [0.1, 0.2], "b": ["x", "y"]})
    raises(TypeError, lambda: _est(module="dense").fit(df), "GradientFeatureTransformer", "numeric", ACCEPTED_VALUES)


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    "layers, bad",
    [(["up.7.weight"], "up.7.weight"), ("nope", "nope"), ({"bce": ["up.6.weight"], "kld": ["fc9.weight"]}, "fc9.weight")],
    ids=["list", "str", "dict"],
)
def test_layers_names_a_missing_parameter(layers, bad):
    raises(ValueError, lambda: _est(layers=layers).fit(IMAGES), re.escape(repr(bad)), "does not have",
           "its parameters are:", r"down\.0\.weight")


def test_layers_typo_shows_the_intended_parameter():
    raises(ValueError, lambda: _est(layers=["up.7.weight"]).fit(IMAGES), "'up.7.weight'", r"up\.6\.weight")


def test_activation_layers_names_a_missing_submodule():
    raises(ValueError, lambda: _est(ActivationFeatureTransformer, layers=["fc99"]).fit(IMAGES), "'fc99'",
           "does not have", "it has:", "fc11")


def test_layers_dict_names_an_unknown_loss():
    raises(ValueError, lambda: _est(layers={"mse": ["up.6.weight"]}).fit(IMAGES), r"\['mse'\]",
           "not in loss=", "bce", "kld")


class PlainAE(nn.Module):
    """Not variational: returns the reconstruction only."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8 * 8 * 3, 8 * 8 * 3)

    def forward(self, x):
        return torch.sigmoid(self.lin(x.flatten(1))).view_as(x)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("loss", ["kld", ("bce", "kld")])
def test_kld_with_a_module_that_returns_no_mu_logvar(cls, loss):
    raises(ValueError, lambda: _est(cls, module=PlainAE(), loss=loss).fit(IMAGES), "'kld'", "not variational",
           re.escape("(reconstruction, mu, logvar)"), "module='vae' or drop 'kld'")


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("preset", ["resnet", "VAE", ""])
def test_unknown_preset(cls, preset):
    raises(ValueError, lambda: _est(cls, module=preset).fit(IMAGES), cls.__name__, "unknown module preset",
           re.escape(repr(preset)), re.escape("('vae', 'cae', 'dense')"), "torch.nn.Module")


def test_module_class_instead_of_instance():
    raises(TypeError, lambda: _est(module=PlainAE).fit(IMAGES), "PlainAE", "instance")


def test_image_preset_on_tabular_rows():
    raises(ValueError, lambda: _est(module="vae").fit(np.random.RandomState(0).rand(4, 5)), "'vae' preset needs images",
           "image_shape", "module='dense'")


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_requested_without_cuda(device, monkeypatch):
    # a CPU-only machine, simulated so that the message is tested on GPU machines too
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    raises(ValueError, lambda: _est(device=device).fit(IMAGES), re.escape(f"device={device!r}"),
           "CUDA is not available", "device='auto' or 'cpu'")


def test_unknown_device_name():
    raises(ValueError, lambda: _est(device="gpu").fit(IMAGES), "'gpu'", "'auto', 'cpu', 'cuda' or 'cuda:N'")


# ------------------------------------------------------- module output shape
class Cropping(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)

    def forward(self, x):
        return x[:, :, :4]


class Flattening(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8 * 8 * 3, 8 * 8 * 3)

    def forward(self, x):
        return torch.sigmoid(self.lin(x.flatten(1)))  # forgets to reshape back


class WrongTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)

    def forward(self, x):
        return x, x  # neither a tensor nor (reconstruction, mu, logvar)


@pytest.mark.parametrize("module, shape", [(Cropping(), "(2, 3, 4, 8)"), (Flattening(), "(2, 192)")],
                         ids=["cropping", "flattening"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_module_output_shape_differs_from_input(cls, module, shape):
    raises(ValueError, lambda: _est(cls, module=module, loss="bce").fit(IMAGES),
           re.escape(f"reconstruction has shape {shape}"), re.escape("input of shape (2, 3, 8, 8)"),
           "must return a tensor of its input's shape", re.escape("(reconstruction, mu, logvar)"))


def test_module_output_is_a_pair():
    raises(ValueError, lambda: _est(module=WrongTuple(), loss="bce").fit(IMAGES), "length 2",
           re.escape("(reconstruction, mu, logvar)"))


def test_module_that_fails_on_the_input():
    class For28(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(28 * 28 * 3, 28 * 28 * 3)

        def forward(self, x):
            return self.lin(x.flatten(1)).view_as(x)

    raises(ValueError, lambda: _est(module=For28(), loss="mse").fit(IMAGES), "module failed on input of shape",
           re.escape("(2, 3, 8, 8)"), "RuntimeError")
