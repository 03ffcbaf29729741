"""The tolerance helpers of tests/numerics.py: blocks are checked at their own scale."""
import numpy as np
import pytest

from numerics import BLOCK_ATOL, EPS, RTOL, assert_allclose_blocks, feature_blocks

NAMES = [f"bce:up.6.weight[{i}]" for i in range(4)] + [f"kld:down.6.weight[{i}]" for i in range(6)]


def _features():
    rng = np.random.RandomState(0)
    bce = rng.uniform(-10, 10, (3, 4))            # the paper's BCE block: up to ~10
    kld = rng.uniform(-1e-3, 1e-3, (3, 6))        # the KL block: ~1e-3 and below
    return np.hstack([bce, kld]).astype(np.float32)


def test_feature_blocks_group_by_the_name_before_the_index():
    blocks = feature_blocks(NAMES + ["bce:up.6.weight:norm", "fc11[0]", "fc11[1]"])
    assert list(blocks) == ["bce:up.6.weight", "kld:down.6.weight", "bce:up.6.weight:norm", "fc11"]
    np.testing.assert_array_equal(blocks["kld:down.6.weight"], np.arange(4, 10))
    np.testing.assert_array_equal(blocks["fc11"], [11, 12])


@pytest.mark.parametrize("blocks", [NAMES, [slice(0, 4), slice(4, 10)]], ids=["names", "slices"])
def test_a_small_error_in_the_small_block_fails(blocks):
    desired = _features()
    actual = desired.copy()
    actual[:, 4:] *= 1 + 1e-3                      # 0.1 % off, in the KL block only
    # a tolerance scaled by the largest feature of all would let it through ...
    np.testing.assert_allclose(actual, desired, rtol=1e-5, atol=1e-6 * np.abs(desired).max())
    # ... the block's own scale does not
    with pytest.raises(AssertionError, match="kld:down.6.weight|columns 4:10"):
        assert_allclose_blocks(actual, desired, blocks)


def test_float32_rounding_passes_and_ten_times_it_fails():
    desired = _features()
    scale = np.abs(desired[:, 4:]).max()
    actual = desired.astype(np.float64)
    actual[:, 4:] += 4 * EPS * scale              # a few roundings of the block's largest value
    assert_allclose_blocks(actual, desired, NAMES)
    actual[:, 4:] += 40 * EPS * scale
    with pytest.raises(AssertionError):
        assert_allclose_blocks(actual, desired, NAMES)
    assert BLOCK_ATOL == RTOL == 8 * EPS


def test_a_zero_block_must_stay_zero_and_every_column_must_be_covered():
    desired = _features()
    desired[:, 4:] = 0
    actual = desired.copy()
    actual[0, 5] = 1e-30
    with pytest.raises(AssertionError, match="kld:down.6.weight"):
        assert_allclose_blocks(actual, desired, NAMES)
    with pytest.raises(AssertionError, match="in no block"):
        assert_allclose_blocks(desired, desired, [slice(0, 4)])
    with pytest.raises(AssertionError, match="one feature name per column"):
        assert_allclose_blocks(desired, desired, NAMES[:-1])
