"""Per-sample losses.  Each returns one value per sample: the SUM over that sample's elements.

A module's forward returns either the reconstruction or ``(reconstruction, mu, logvar)``;
:func:`split_output` normalises both to a tuple.

>>> import torch
>>> x = torch.full((2, 3), 0.5)
>>> mse(x + 0.1, x)
tensor([0.0300, 0.0300])
"""
from __future__ import annotations

import torch.nn.functional as F

__all__ = ["bce", "bce_floor", "mse", "kld", "excess_loss", "loss_floor", "LOSSES", "RECONSTRUCTION_LOSSES", "check_loss",
           "split_output"]


def bce(recon, x):
    """Binary cross-entropy of ``recon`` against ``x`` (both in [0, 1]), summed per sample."""
    return F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1)


def bce_floor(x):
    """The least binary cross-entropy any reconstruction can reach for targets ``x``: their
    entropy ``-x log x - (1 - x) log(1 - x)``, summed per sample.

    It does not depend on the model, so ``bce(recon, x) - bce_floor(x)`` has the same
    gradients as ``bce``; it is the part of the loss the model can still reduce.  For
    near-binary images (digits) it is small; for photographs it dominates ``bce``.
    """
    return F.binary_cross_entropy(x, x, reduction="none").flatten(1).sum(1)


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
