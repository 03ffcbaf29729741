"""The per-sample gradient engine against an independent oracle: a loop over single
images with ``torch.autograd.grad``."""
import pytest
import torch
from torch import nn

from numerics import ORACLE_RTOL, RTOL, assert_allclose_blocks, loop_oracle, spec_blocks
from skgrad._per_sample import PerSampleGradients
from skgrad.models import VAE, ConvAutoencoder, DenseAutoencoder


def assert_float32_close(actual, expected, blocks, rtol=ORACLE_RTOL):
    """Block by block at float32 precision (see tests/numerics.py)."""
    assert_allclose_blocks(actual, expected, blocks, rtol=rtol)


def check_against_loop(module, x, spec):
    """The engine's features of ``x`` against the batch-1 autograd loop; returns them."""
    got = PerSampleGradients(module, spec)(x)
    assert_float32_close(got, loop_oracle(module, x, spec), spec_blocks(module, spec))
    return got


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_vae_paper_features_match_loop():
    vae = VAE(3, (28, 28)).eval()
    x = torch.rand(6, 3, 28, 28)
    spec = [("bce", ["up.6.weight"]), ("kld", ["down.6.weight"])]
    got = check_against_loop(vae, x, spec)
    assert got.shape == (6, 144 + 1728)


def test_every_vae_parameter_every_loss_matches_loop():
    vae = VAE(1, (20, 17), latent_dim=5).eval()
    x = torch.rand(4, 1, 20, 17)
    names = [n for n, _ in vae.named_parameters()]
    spec = [("bce", names), ("mse", names), ("kld", names)]
    engine = PerSampleGradients(vae, spec)
    assert engine.fallback == []  # all closed forms: Linear, Conv2d, ConvTranspose2d
    check_against_loop(vae, x, spec)


def test_cae_and_dense_match_loop():
    cae = ConvAutoencoder(3, (16, 16), channels=(4, 8)).eval()
    x = torch.rand(5, 3, 16, 16)
    check_against_loop(cae, x, [("bce", [n for n, _ in cae.named_parameters()])])
    dense = DenseAutoencoder(7, hidden_sizes=(5,), latent_dim=3).eval()
    x = torch.randn(9, 7)
    check_against_loop(dense, x, [("mse", [n for n, _ in dense.named_parameters()])])


class _Unusual(nn.Module):
    """Layers without a closed form here: batch norm, grouped and strided/dilated convs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=2, dilation=2, stride=1)
        self.bn = nn.BatchNorm2d(6)
        self.group = nn.Conv2d(6, 6, 3, padding=1, groups=3)
        self.up = nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1, dilation=1)
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        h = torch.relu(self.group(h))
        return torch.sigmoid(self.down(self.up(h)))


def test_torch_func_fallback_and_mixed_layers_match_loop():
    m = _Unusual()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.1, 0.1)
        m.bn.running_var.uniform_(0.5, 1.5)
    m.eval()
    x = torch.rand(4, 3, 10, 10)
    names = [n for n, _ in m.named_parameters()]
    engine = PerSampleGradients(m, [("bce", names)])
    assert set(engine.fallback) == {"bn.weight", "bn.bias", "group.weight", "group.bias"}
    check_against_loop(m, x, [("bce", names)])


class _Shared(nn.Module):
    """A layer applied twice: its per-sample gradient is the sum over both uses."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.lin(torch.tanh(self.lin(x))))


def test_layer_used_twice_matches_loop():
    m = _Shared().eval()
    x = torch.rand(5, 4)
    check_against_loop(m, x, [("bce", ["lin.weight", "lin.bias"])])


def test_gradient_of_loss_that_does_not_reach_layer_is_zero():
    vae = VAE(3, (28, 28)).eval()
    x = torch.rand(3, 3, 28, 28)
    got = PerSampleGradients(vae, [("kld", ["up.6.weight"])])(x)
    assert torch.count_nonzero(got) == 0


def test_features_of_a_sample_do_not_depend_on_its_batch():
    vae = VAE(3, (28, 28)).eval()
    x = torch.rand(8, 3, 28, 28)
    spec = [("bce", ["up.6.weight"]), ("kld", ["down.6.weight"])]
    engine = PerSampleGradients(vae, spec)
    full = engine(x)
    alone = torch.cat([engine(x[i : i + 1]) for i in range(8)])
    # the same kernels on other batches: the same-computation tolerance
    assert_float32_close(full, alone, spec_blocks(vae, spec), rtol=RTOL)
    assert_float32_close(engine(x.flip(0)).flip(0), full, spec_blocks(vae, spec), rtol=RTOL)
