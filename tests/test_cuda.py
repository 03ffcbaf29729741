"""On a CUDA GPU: the per-sample gradient engine and the transformers' ``fit`` /
``transform`` against the batch-1 ``torch.autograd`` loop on the CPU.

Every check runs for ``device="cpu"`` too (at the CPU tolerance), so that the
comparison code itself is exercised on any machine; the ``cuda`` cases skip, with
their reason, where ``torch.cuda.is_available()`` is False.  On the GPU, TF32 is
switched off for the test (and restored after): with TF32, matrix products and
convolutions round their inputs to 10 mantissa bits and no float32 tolerance holds.
Tolerances: tests/numerics.py.
"""
import copy

import numpy as np
import pytest
import torch

from numerics import (BLOCK_ATOL, CUDA_ATOL, CUDA_RTOL, ORACLE_RTOL, assert_allclose_blocks, loop_oracle,
                      spec_blocks)
from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad._per_sample import PerSampleGradients
from skgrad.models import VAE, ConvAutoencoder

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]
#: Where the CPU case would repeat test_per_sample.py: the GPU only.
CUDA_ONLY = [pytest.param("cuda", marks=requires_cuda)]
#: (atol of each block's scale, rtol) against the CPU oracle, by device type.
TOLERANCES = {"cpu": (BLOCK_ATOL, ORACLE_RTOL), "cuda": (CUDA_ATOL, CUDA_RTOL)}


@pytest.fixture
def no_tf32(request):
    """TF32 off on the GPU for the test; the previous settings restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def engine_against_cpu_loop(module, x, spec, device):
    """The engine's features of ``x`` computed on ``device``, checked against the
    batch-1 autograd loop on a CPU copy of ``module``; returns them (on the CPU)."""
    cpu_module = copy.deepcopy(module).cpu().eval()
    expected = loop_oracle(cpu_module, x.cpu(), spec)
    on_device = copy.deepcopy(module).to(device).eval()
    got = PerSampleGradients(on_device, spec)(x.to(device))
    assert got.device.type == torch.device(device).type
    atol, rtol = TOLERANCES[torch.device(device).type]
    assert_allclose_blocks(got, expected, spec_blocks(module, spec), rtol=rtol, atol=atol)
    return got.cpu()


def _images_as_tensor(X):
    """uint8 (n, H, W, C) -> float32 (n, C, H, W) in [0, 1], as the transformers scale them."""
    return (torch.from_numpy(X).to(torch.float32) * (1 / 255)).permute(0, 3, 1, 2).contiguous()


def activation_loop_oracle(module, x, layers):
    """The outputs of the named submodules, one image at a time (forward hooks)."""
    modules = dict(module.named_modules())
    rows = []
    for i in range(x.shape[0]):
        seen = {}
        handles = [modules[n].register_forward_hook(lambda m, inp, out, n=n: seen.__setitem__(n, out))
                   for n in layers]
        try:
            with torch.no_grad():
                module(x[i : i + 1])
        finally:
            for h in handles:
                h.remove()
        rows.append(torch.cat([seen[n].reshape(1, -1) for n in layers], dim=1))
    return torch.cat(rows)


def transformer_against_cpu_loop(est, X):
    """``est`` (fitted on its device) transforms ``X`` there; checked against the
    batch-1 loop on the CPU with a copy of its fitted module."""
    got = est.transform(X)
    cpu_module = copy.deepcopy(est.module_).cpu().eval()
    x = _images_as_tensor(X)
    if isinstance(est, GradientFeatureTransformer):
        expected = loop_oracle(cpu_module, x, list(est.layers_.items()))
    else:
        expected = activation_loop_oracle(cpu_module, x, est.layers_)
    atol, rtol = TOLERANCES[est.device_.type]
    assert_allclose_blocks(got, expected, est.get_feature_names_out(), rtol=rtol, atol=atol)
    return got


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("device", DEVICES)
def test_engine_paper_features_match_cpu_loop(device, no_tf32):
    vae = VAE(3, (28, 28))
    x = torch.rand(6, 3, 28, 28)
    got = engine_against_cpu_loop(vae, x, [("bce", ["up.6.weight"]), ("kld", ["down.6.weight"])], device)
    assert got.shape == (6, 144 + 1728)


@pytest.mark.parametrize("device", CUDA_ONLY)
def test_engine_every_parameter_matches_cpu_loop(device, no_tf32):
    vae = VAE(1, (20, 17), latent_dim=5)
    names = [n for n, _ in vae.named_parameters()]
    engine_against_cpu_loop(vae, torch.rand(4, 1, 20, 17), [("bce", names), ("mse", names), ("kld", names)], device)
    cae = ConvAutoencoder(3, (16, 16), channels=(4, 8))
    engine_against_cpu_loop(cae, torch.rand(5, 3, 16, 16), [("bce", [n for n, _ in cae.named_parameters()])], device)


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).randint(0, 256, size=(16, 12, 12, 3), dtype=np.uint8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", [GradientFeatureTransformer, ActivationFeatureTransformer])
def test_transformer_fit_transform_on_device_match_cpu_loop(cls, device, images, no_tf32):
    est = cls(epochs=1, batch_size=8, random_state=0, device=device).fit(images)
    assert est.device_.type == device
    assert all(p.device.type == device for p in est.module_.parameters())
    got = transformer_against_cpu_loop(est, images[:6])
    assert got.dtype == np.float32 and got.shape == (6, est.n_features_out_)


def test_the_cpu_loop_check_catches_a_wrong_kl_block(monkeypatch):
    """The comparison fails when one block is off by 1e-4 of its scale: the KL block,
    ~1e-3 of the BCE block's scale, is checked at its own scale."""
    vae = VAE(3, (28, 28))
    x = torch.rand(3, 3, 28, 28)
    spec = [("bce", ["up.6.weight"]), ("kld", ["down.6.weight"])]
    real = PerSampleGradients.__call__

    def off(self, x):
        g = real(self, x)
        g[:, 144:] *= 1 + 1e-4
        return g

    monkeypatch.setattr(PerSampleGradients, "__call__", off)
    with pytest.raises(AssertionError, match="block columns 144:1872"):
        engine_against_cpu_loop(vae, x, spec, "cpu")
