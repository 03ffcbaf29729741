"""Property-based tests of input validation: skgrad._validation and the estimators' fit/transform.

Estimators are fitted with ``epochs=0`` (build, probe and prepare only), so each
example costs milliseconds; ``max_examples`` stays modest.
"""
import functools
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad._validation import check_input, to_tensor

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ESTIMATORS = [GradientFeatureTransformer, ActivationFeatureTransformer]

sizes = st.integers(1, 9)
n_samples = st.integers(1, 3)
channels = st.integers(1, 4)


@st.composite
def image_shapes(draw, ndim=None):
    """The shape of X: (n, H, W) or (n, H, W, C)."""
    ndim = draw(st.sampled_from([3, 4])) if ndim is None else ndim
    shape = (draw(n_samples), draw(sizes), draw(sizes))
    return shape + ((draw(channels),) if ndim == 4 else ())


def sample_shape_of(shape):
    return tuple(shape[1:]) if len(shape) == 4 else tuple(shape[1:]) + (1,)


@st.composite
def uint8_images(draw, ndim=None):
    return draw(hnp.arrays(np.uint8, draw(image_shapes(ndim)), elements=st.integers(0, 255)))


float_dtypes = st.sampled_from([np.float16, np.float32, np.float64])


@st.composite
def unit_float_images(draw, ndim=None):
    dtype = draw(float_dtypes)
    elements = st.floats(0, 1, width=np.finfo(dtype).bits)
    return draw(hnp.arrays(dtype, draw(image_shapes(ndim)), elements=elements))


def _estimator(cls, **kw):
    # the small conv autoencoder keeps each fit cheap; device='cpu' for determinism
    kw.setdefault("module", "cae")
    if kw["module"] == "cae":
        kw.setdefault("module_kwargs", {"channels": (2,)})
    return cls(epochs=0, random_state=0, device="cpu", **kw)


@functools.lru_cache(maxsize=None)
def _fitted(cls, sample_shape):
    return _estimator(cls).fit(np.zeros((2,) + sample_shape, np.uint8))


# ------------------------------------------------------------- accepted input
@SETTINGS
@given(X=uint8_images())
def test_uint8_images_are_accepted_and_scaled_by_1_over_255(X):
    V, sample_shape, scale = check_input(X)
    assert sample_shape == sample_shape_of(X.shape)
    assert scale == 1 / 255
    assert V.dtype == np.uint8 and np.shares_memory(V, X)  # validated without a copy
    t = to_tensor(V, scale, "cpu")
    assert t.dtype == torch.float32
    assert tuple(t.shape) == (X.shape[0], sample_shape[2], sample_shape[0], sample_shape[1])
    expected = (X.reshape((X.shape[0],) + sample_shape) / 255).astype(np.float32).transpose(0, 3, 1, 2)
    np.testing.assert_array_max_ulp(t.numpy(), expected, maxulp=1)
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    flat = to_tensor(V, scale, "cpu", flat=True)
    assert tuple(flat.shape) == (X.shape[0], int(np.prod(sample_shape)))


@SETTINGS
@given(X=unit_float_images())
def test_float_images_in_unit_range_are_accepted_unscaled(X):
    V, sample_shape, scale = check_input(X)
    assert sample_shape == sample_shape_of(X.shape) and scale == 1.0
    t = to_tensor(V, scale, "cpu")
    np.testing.assert_array_equal(
        t.numpy(), X.reshape((X.shape[0],) + sample_shape).astype(np.float32).transpose(0, 3, 1, 2)
    )


@SETTINGS
@given(data=st.data(), cls=st.sampled_from(ESTIMATORS))
def test_fit_transform_output_is_float32_for_every_accepted_dtype(data, cls):
    shape = data.draw(image_shapes())
    dtype = data.draw(st.sampled_from([np.uint8, np.float16, np.float32, np.float64, np.int64, np.bool_]))
    if dtype == np.uint8:
        elements = st.integers(0, 255)
    elif dtype in (np.int64, np.bool_):
        elements = st.integers(0, 1).map(dtype)  # integer images other than uint8 must be 0/1
    else:
        elements = st.floats(0, 1, width=np.finfo(dtype).bits)
    X = data.draw(hnp.arrays(dtype, shape, elements=elements))
    est = _estimator(cls).fit(X)
    out = est.transform(X)
    assert out.dtype == np.float32
    assert out.shape == (X.shape[0], est.n_features_out_)
    assert est.sample_shape_ == sample_shape_of(X.shape)
    assert est.n_features_in_ == int(np.prod(est.sample_shape_))
    assert np.isfinite(out).all()


@SETTINGS
@given(X=uint8_images(ndim=4))
def test_flat_rows_with_image_shape_read_row_major(X):
    n, h, w, c = X.shape
    flat = X.reshape(n, -1)
    V, sample_shape, scale = check_input(flat, image_shape=(h, w, c))
    assert sample_shape == (h, w, c) and scale == 1 / 255
    np.testing.assert_array_equal(V, X)


@SETTINGS
@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(n_samples, st.integers(1, 6)),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    )
)
def test_tabular_rows_take_any_finite_value_without_bce(X):
    V, sample_shape, scale = check_input(X, require_unit_range=False)
    assert sample_shape == (X.shape[1],) and scale == 1.0
    est = GradientFeatureTransformer(module="dense", loss="mse", epochs=0, random_state=0, device="cpu").fit(X)
    assert est.transform(X).dtype == np.float32


# ------------------------------------------------------------- refused input
@st.composite
def out_of_range_float_images(draw):
    """Finite float images with at least one value outside [0, 1]."""
    dtype = draw(float_dtypes)
    bits = np.finfo(dtype).bits
    X = draw(hnp.arrays(dtype, draw(image_shapes()), elements=st.floats(0, 1, width=bits)))
    big = float(np.finfo(dtype).max)
    bad = draw(
        st.one_of(
            st.floats(-big, 0, exclude_max=True, width=bits, allow_infinity=False),
            st.floats(1, big, exclude_min=True, width=bits, allow_infinity=False),
        )
    )
    index = tuple(draw(st.integers(0, s - 1)) for s in X.shape)
    X[index] = bad
    return X


@SETTINGS
@given(X=out_of_range_float_images(), cls=st.sampled_from(ESTIMATORS))
def test_float_images_outside_unit_range_always_raise(X, cls):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_input(X)
    # images are held to [0, 1] whatever the loss
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_input(X, require_unit_range=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _estimator(cls).fit(X)
    fitted = _fitted(cls, sample_shape_of(X.shape))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fitted.transform(X)


@SETTINGS
@given(data=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]), cls=st.sampled_from(ESTIMATORS))
def test_nan_and_inf_always_raise(data, bad, cls):
    dtype = data.draw(float_dtypes)
    tabular = data.draw(st.booleans())
    shape = data.draw(st.tuples(n_samples, st.integers(1, 6)) if tabular else image_shapes())
    X = data.draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=np.finfo(dtype).bits)))
    X[tuple(data.draw(st.integers(0, s - 1)) for s in shape)] = bad
    what = "NaN" if np.isnan(bad) else "infinity"
    for require_unit_range in (True, False):
        with pytest.raises(ValueError, match=what):
            check_input(X, require_unit_range=require_unit_range)
    kw = {"module": "dense", "loss": "mse"} if tabular else {}
    with pytest.raises(ValueError, match=what):
        _estimator(cls, **kw).fit(X)


@SETTINGS
@given(
    X=st.one_of(
        hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(0, 1)),
        hnp.arrays(np.uint8, hnp.array_shapes(min_dims=5, max_dims=6, min_side=1, max_side=3)),
    ),
    cls=st.sampled_from(ESTIMATORS),
)
def test_ndim_1_or_above_4_always_raises(X, cls):
    # "1D array" is scikit-learn's wording (today, for 1-D), "N dimension(s)" skgrad's
    pattern = r"1D array|\b1 dimension" if X.ndim == 1 else rf"\b{X.ndim} dimensions"
    with pytest.raises(ValueError, match=pattern):
        check_input(X)
    with pytest.raises(ValueError, match=pattern):
        _estimator(cls).fit(X)
    fitted = _fitted(cls, (1, 1, 1))
    with pytest.raises(ValueError, match=pattern):
        fitted.transform(X)


@SETTINGS
@given(
    data=st.data(),
    kind=st.sampled_from(["U", "S"]),
    cls=st.sampled_from(ESTIMATORS),
)
def test_string_arrays_raise_a_type_error_naming_the_dtype(data, kind, cls):
    shape = data.draw(st.one_of(image_shapes(), st.tuples(n_samples, st.integers(1, 5))))
    text = st.text(alphabet="0123456789.abc", min_size=1, max_size=3)
    X = np.array(data.draw(hnp.arrays(object, shape, elements=text)).tolist(), dtype=kind)
    assume(X.shape == shape)
    message = rf"numeric images or rows.*dtype {re.escape(str(X.dtype))}.*accepted: uint8 images, or float images in \[0, 1\]"
    with pytest.raises(TypeError, match=message):
        check_input(X, estimator_name=cls.__name__)
    with pytest.raises(TypeError, match=cls.__name__ + " needs " + message):
        _estimator(cls).fit(X)


@SETTINGS
@given(
    fit_shape=st.tuples(sizes, sizes, channels),
    transform_shape=st.tuples(sizes, sizes, channels),
    n=n_samples,
    cls=st.sampled_from(ESTIMATORS),
)
def test_transform_with_other_image_shape_names_both_shapes(fit_shape, transform_shape, n, cls):
    assume(fit_shape != transform_shape)
    fitted = _fitted(cls, fit_shape)
    X = np.zeros((n,) + transform_shape, np.uint8)
    with pytest.raises(ValueError) as info:
        fitted.transform(X)
    message = str(info.value)
    assert str(transform_shape) in message and str(fit_shape) in message
    assert "same image size and channel count" in message
    if transform_shape[2] == 1:  # greyscale images may come as (n, H, W)
        with pytest.raises(ValueError, match=re.escape(str(fit_shape))):
            fitted.transform(X[..., 0])


@SETTINGS
@given(fit_shape=st.tuples(sizes, sizes, channels), n=n_samples, cls=st.sampled_from(ESTIMATORS))
def test_transform_with_the_fitted_shape_is_accepted(fit_shape, n, cls):
    fitted = _fitted(cls, fit_shape)
    X = np.full((n,) + fit_shape, 128, np.uint8)
    out = fitted.transform(X)
    assert out.shape == (n, fitted.n_features_out_) and out.dtype == np.float32
    # the same pixels as flat rows (row-major H, W, C) give the same features
    np.testing.assert_array_equal(fitted.transform(X.reshape(n, -1)), out)
