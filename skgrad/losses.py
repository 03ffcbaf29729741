"""Per-sample losses.  Each returns one value per sample: the SUM over that sample's elements.

A module's forward returns either the reconstruction or ``(reconstruction, mu, logvar)``;
:func:`split_output` normalises both to a tuple.

>>> import torch
>>> x = torch.full((2, 3), 0.5)
>>> mse(x + 0.1, x)
tensor([0.0300, 0.0300])
"""
from __future__ import annotations

import torch

__all__ = ["bce", "bce_floor", "mse", "kld", "excess_loss", "loss_floor", "LOSSES", "RECONSTRUCTION_LOSSES",
           "check_loss", "check_bce_range", "split_output"]


#: The least value of a log in the binary cross-entropy, as in
#: :func:`torch.nn.functional.binary_cross_entropy`: a reconstruction of exactly 0
#: or 1 costs 100 per element, not infinity.
LOG_FLOOR = -100.0
#: The least denominator ``p (1 - p)`` of the gradient, as in torch's kernel: its
#: ``constexpr float EPSILON = 1e-12``, i.e. 1e-12 rounded to float32 (in float64 too).
GRAD_EPS = 9.999999960041972e-13


class _BinaryCrossEntropy(torch.autograd.Function):
    """Element-wise ``-(x log p + (1 - x) log(1 - p))``, logs floored at -100: the value
    and gradients of :func:`torch.nn.functional.binary_cross_entropy` (within float32
    rounding), from vectorised tensor operations.  torch's CPU kernel evaluates its
    logs one element at a time: a fifth of a small autoencoder's training step."""

    generate_vmap_rule = True   # torch.func.vmap (the per-sample fallback) batches it

    @staticmethod
    def forward(recon, x):
        log_p = torch.log(recon).clamp_min_(LOG_FLOOR)
        log_q = torch.log1p(-recon).clamp_min_(LOG_FLOOR)
        # torch's (x - 1) log(1 - p) - x log p: exact terms for binary targets
        return torch.addcmul(log_q.mul_(x - 1), x, log_p, value=-1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        recon, x = ctx.saved_tensors
        grad_recon = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_recon = grad * (recon - x) / ((1 - recon) * recon).clamp_min(GRAD_EPS)
        if ctx.needs_input_grad[1]:
            # the derivative of the floored loss (torch's own is infinite where a log is floored)
            grad_x = grad * (torch.log1p(-recon).clamp_min(LOG_FLOOR) - torch.log(recon).clamp_min(LOG_FLOOR))
        return grad_recon, grad_x


def bce(recon, x):
    """Binary cross-entropy of ``recon`` against ``x`` (both in [0, 1]), summed per sample.

    The values and gradients of :func:`torch.nn.functional.binary_cross_entropy` to
    float32 rounding (tested), several times faster on the CPU.  A ``recon`` outside
    [0, 1] (or NaN) gives NaN, where torch's function raises.
    """
    return _BinaryCrossEntropy.apply(recon, x).flatten(1).sum(1)


def bce_floor(x):
    """The least binary cross-entropy any reconstruction can reach for targets ``x``: their
    entropy ``-x log x - (1 - x) log(1 - x)``, summed per sample.

    It does not depend on the model, so ``bce(recon, x) - bce_floor(x)`` has the same
    gradients as ``bce``; it is the part of the loss the model can still reduce.  For
    near-binary images (digits) it is small; for photographs it dominates ``bce``.
    """
    return bce(x, x)


def mse(recon, x):
    """Squared error, summed per sample."""
    return (recon - x).square().flatten(1).sum(1)


def kld(mu, logvar):
    """Closed-form KL divergence of N(mu, exp(logvar)) to N(0, I), summed over latent dimensions."""
    return -0.5 * (1.0 + logvar - mu.square() - logvar.exp()).flatten(1).sum(1)


#: Name -> per-sample loss function: the names the transformers' ``loss`` accepts.
LOSSES = {"bce": bce, "mse": mse, "kld": kld}
#: The losses that compare the reconstruction with the input (``"kld"`` is the VAE's latent term).
RECONSTRUCTION_LOSSES = ("bce", "mse")


def check_loss(loss):
    """Normalise a ``loss`` parameter to a tuple of names.

    >>> check_loss("bce")
    ('bce',)
    >>> check_loss(("bce", "kld"))
    ('bce', 'kld')
    """
    names = (loss,) if isinstance(loss, str) else tuple(loss)
    if not names:
        raise ValueError("loss must name at least one of 'bce', 'mse', 'kld'")
    for name in names:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)} or a tuple of them")
    if len(set(names)) != len(names):
        raise ValueError(f"loss names must be distinct, got {names}")
    return names


def check_bce_range(recon, losses):
    """Raise a ``ValueError`` when ``losses`` include ``"bce"`` and a reconstruction
    ``recon`` (a module's output on a probe batch) lies outside [0, 1] or is NaN:
    :func:`bce` needs probabilities (a module that ends in a sigmoid).

    >>> import torch
    >>> check_bce_range(torch.tensor([0.0, 0.5, 1.0]), ("bce",))
    >>> check_bce_range(torch.tensor([-0.5, 2.0]), ("mse",))
    >>> check_bce_range(torch.tensor([-0.5, 2.0]), ("bce", "kld"))
    Traceback (most recent call last):
    ...
    ValueError: loss 'bce' needs reconstructions in [0, 1] (a module that ends in a sigmoid); the module returned values in [-0.5, 2]; use loss='mse' or end the module with torch.sigmoid
    """
    if "bce" not in losses or recon.numel() == 0:
        return
    low, high = (float(v) for v in torch.aminmax(recon.detach()))
    if not (low >= 0.0 and high <= 1.0):
        raise ValueError(
            "loss 'bce' needs reconstructions in [0, 1] (a module that ends in a sigmoid); the module "
            f"returned values in [{low:.6g}, {high:.6g}]; use loss='mse' or end the module with torch.sigmoid")


def split_output(out):
    """``(recon, mu, logvar)`` from a module's output; mu and logvar are None for a plain autoencoder."""
    if isinstance(out, (tuple, list)):
        if len(out) != 3:
            raise ValueError(
                "a module's forward must return the reconstruction or (reconstruction, mu, logvar); "
                f"got a {type(out).__name__} of length {len(out)}"
            )
        return tuple(out)
    return out, None, None


def loss_floor(name, x):
    """The least value of the per-sample loss ``name`` for inputs ``x``: :func:`bce_floor` for
    ``"bce"``, 0 for the others.

    >>> import torch
    >>> loss_floor("mse", torch.full((2, 3), 0.5))
    tensor([0., 0.])
    """
    return bce_floor(x) if name == "bce" else x.new_zeros(x.shape[0])


def excess_loss(name, out, x):
    """The per-sample loss ``name`` above the loss's floor (:func:`loss_floor`): ``bce`` minus
    :func:`bce_floor`; the other losses as they are.  Same gradients as the loss itself."""
    return per_sample_loss(name, out, x) - loss_floor(name, x)


def per_sample_loss(name, out, x):
    """Per-sample loss ``name`` for a module output ``out`` and input ``x``."""
    recon, mu, logvar = split_output(out)
    if name == "kld":
        if mu is None:
            raise ValueError(
                "loss 'kld' needs a variational module whose forward returns "
                "(reconstruction, mu, logvar); this module returns only a reconstruction"
            )
        return kld(mu, logvar)
    if recon.shape != x.shape:
        raise ValueError(
            f"the module's reconstruction has shape {tuple(recon.shape[1:])} per sample but its "
            f"input has shape {tuple(x.shape[1:])}; an autoencoder must reconstruct its input"
        )
    return LOSSES[name](recon, x)
