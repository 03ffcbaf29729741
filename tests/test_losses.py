"""The per-sample losses against torch's own functions (the oracle), edges included."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from numerics import EPS, RTOL
from skgrad import GradientFeatureTransformer
from skgrad.losses import bce, bce_floor, check_bce_range


def _probabilities(dtype, seed=0):
    """Reconstructions and targets in [0, 1], with the edges: exact 0 and 1 on both
    sides, values that round to 0 or 1 in float32, and equal pairs (loss near 0)."""
    g = torch.Generator().manual_seed(seed)
    recon = torch.rand(6, 3, 7, 7, generator=g, dtype=dtype)
    x = torch.rand(6, 3, 7, 7, generator=g, dtype=dtype)
    x[0] = (x[0] > 0.5).to(dtype)                        # binary targets (digits)
    recon[1, 0, 0, :6] = torch.tensor([0.0, 1.0, 1e-30, 1 - 1e-8, 1e-45, 0.5], dtype=dtype)
    x[1, 0, 0, :6] = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 0.5], dtype=dtype)
    recon[2, 0, 0, :4] = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    x[2, 0, 0, :4] = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype)   # the floor's -100 and 0
    recon[3] = x[3]                                      # the loss's minimum
    return recon, x


def _rtol(dtype):
    """``RTOL`` of tests/numerics.py (8 float32 roundings) for float32; as many float64
    roundings for float64."""
    return RTOL / EPS * torch.finfo(dtype).eps


def _bound(recon, x, dtype):
    """The elementwise loss is ``x log p + (1 - x) log(1 - p)``: two float roundings of
    each log and of each product and sum, relative to the terms' magnitude (the sum
    cancels where p = x)."""
    terms = (x * torch.log(recon).clamp_min(-100)).abs() + ((1 - x) * torch.log1p(-recon).clamp_min(-100)).abs()
    return _rtol(dtype) * (terms + 1e-30)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_values_equal_torchs_function(dtype):
    from skgrad.losses import _BinaryCrossEntropy

    recon, x = _probabilities(dtype)
    expected = F.binary_cross_entropy(recon, x, reduction="none")
    elementwise = _BinaryCrossEntropy.apply(recon, x)
    assert elementwise.dtype == dtype and elementwise.shape == recon.shape
    assert torch.isfinite(elementwise).all()
    error = (elementwise - expected).abs()
    assert (error <= _bound(recon, x, dtype)).all(), float((error / _bound(recon, x, dtype)).max())
    # the edges exactly: log floored at -100, never inf
    assert elementwise[2, 0, 0, :4].tolist() == [100.0, 100.0, 0.0, 0.0]
    # per sample: the sum over each sample's elements
    torch.testing.assert_close(bce(recon, x), expected.flatten(1).sum(1), rtol=_rtol(dtype), atol=0)
    torch.testing.assert_close(bce_floor(x), F.binary_cross_entropy(x, x, reduction="none").flatten(1).sum(1),
                               rtol=_rtol(dtype), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_gradients_equal_torchs_function(dtype):
    """The same formula as torch's backward for the reconstruction (its clamp of
    ``p (1 - p)`` at 1e-12 keeps the edges finite); the target's gradient is
    ``log(1 - p) - log p`` with the floored logs."""
    recon, x = _probabilities(dtype, seed=1)
    weights = torch.rand(recon.shape[0], dtype=dtype)            # a per-sample upstream gradient
    grads = []
    for loss in (lambda r, t: bce(r, t), lambda r, t: F.binary_cross_entropy(r, t, reduction="none").flatten(1).sum(1)):
        r, t = recon.clone().requires_grad_(True), x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad((loss(r, t) * weights).sum(), (r, t)))
    (ours_r, ours_x), (torch_r, torch_x) = grads
    assert torch.isfinite(ours_r).all() and torch.isfinite(ours_x).all()
    torch.testing.assert_close(ours_r, torch_r, rtol=_rtol(dtype), atol=0)
    # torch's target gradient is the unfloored log(1 - p) - log p: compared where no log is floored
    inside = (torch.log(recon) > -100) & (torch.log1p(-recon) > -100)
    assert (~inside).sum() >= 5
    # a difference of two logs: rounding relative to the logs, not to their difference
    scale = (torch.log(recon).abs() + torch.log1p(-recon).abs()) * weights.view(-1, 1, 1, 1)
    assert ((ours_x - torch_x).abs() <= _rtol(dtype) * scale)[inside].all()
    # there, the derivative of the floored loss: log(1 - p) - log p with each log at least -100
    floored = torch.log1p(-recon).clamp_min(-100) - torch.log(recon).clamp_min(-100)
    torch.testing.assert_close(ours_x[~inside], (floored * weights.view(-1, 1, 1, 1).expand_as(recon))[~inside],
                               rtol=_rtol(dtype), atol=0)


def test_bce_under_vmap_equals_one_sample_at_a_time():
    """The per-sample engine's fallback batches the loss with torch.func.vmap."""
    from torch.func import grad, vmap

    recon, x = _probabilities(torch.float32, seed=2)

    def one(r, t):
        return bce(r[None], t[None]).sum()

    batched = vmap(grad(one))(recon, x)
    r = recon.clone().requires_grad_(True)
    oracle = torch.autograd.grad(F.binary_cross_entropy(r, x, reduction="sum"), r)[0]   # torch's, summed
    torch.testing.assert_close(batched, oracle, rtol=RTOL, atol=0)
    for k in range(len(recon)):                       # and one sample at a time, exactly
        torch.testing.assert_close(batched[k], grad(one)(recon[k], x[k]), rtol=0, atol=0)


def test_bce_of_values_outside_the_unit_interval_is_nan_and_fit_refuses_them():
    recon = torch.tensor([[-0.1, 0.5], [1.5, float("nan")]])
    x = torch.full((2, 2), 0.5)
    assert torch.isnan(bce(recon, x)).all()
    with pytest.raises(ValueError, match=r"loss 'bce' needs reconstructions in \[0, 1\].*\[-0.1, 1.5\]"):
        check_bce_range(recon[:, :1].flatten(), ("bce",))

    class Linear(torch.nn.Module):         # forgets the sigmoid
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(16, 16)

        def forward(self, x):
            return self.lin(x.flatten(1)).view_as(x) * 10

    X = np.random.default_rng(0).integers(0, 256, (20, 4, 4, 1), dtype=np.uint8)
    est = GradientFeatureTransformer(Linear(), loss="bce", epochs=2, device="cpu", random_state=0)
    with pytest.raises(ValueError, match="loss 'bce' needs reconstructions in \\[0, 1\\].*loss='mse'"):
        est.fit(X)
    assert not hasattr(est, "module_")
    GradientFeatureTransformer(Linear(), loss="mse", epochs=2, device="cpu", random_state=0).fit(X)


def test_training_with_it_equals_training_with_torchs_bce_bit_for_bit(monkeypatch):
    """The backward pass is torch's formula, operation for operation, so the default VAE
    trained with skgrad's bce has the weights, bit for bit, of one trained with
    torch.nn.functional.binary_cross_entropy (only recorded loss values may differ
    in their last bits)."""
    from skgrad import losses
    from skgrad.datasets import load_digits_images

    digits = load_digits_images(size=28).images[:96]
    X = np.repeat(digits[..., None], 3, axis=-1)
    params = dict(epochs=3, batch_size=32, early_stopping=False, random_state=0, device="cpu", n_threads=1)
    ours = GradientFeatureTransformer(**params).fit(X)
    features = ours.transform(X[:8])                    # the per-sample gradients of skgrad's bce
    monkeypatch.setitem(losses.LOSSES, "bce",
                        lambda recon, x: F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1))
    torchs = GradientFeatureTransformer(**params).fit(X)
    a, b = ours.module_.state_dict(), torchs.module_.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(features, torchs.transform(X[:8]))
