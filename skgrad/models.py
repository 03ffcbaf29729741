"""Autoencoder presets and the module protocol.

The protocol
------------
Any :class:`torch.nn.Module` can be used by the transformers.  Its ``forward(x)``
receives float32 ``(N, C, H, W)`` images in [0, 1] (``(N, F)`` rows for 2-D input)
and returns the reconstruction, of the same shape as ``x``, or
``(reconstruction, mu, logvar)`` for a variational autoencoder.  In evaluation
mode a VAE must use the latent mean (no sampling), so that features are
deterministic.  A module may declare, as plain attributes, the names that the
``"auto"`` choices use:

``reconstruction_parameter``
    parameter whose gradient ``"auto"`` takes for the ``"bce"``/``"mse"`` losses
    (default: the last parameter called ``*weight``).
``latent_parameter``
    parameter whose gradient ``"auto"`` takes for ``"kld"`` (required for kld with
    ``layers="auto"``).
``activation_module``
    submodule whose output :class:`~skgrad.ActivationFeatureTransformer` returns
    by default (default for a VAE: ``mu`` from its forward).

Presets
-------
``"vae"``
    the ICIP 2019 VAE (Kwon et al.); at 28x28x3 exactly the authors' network.
``"cae"``
    a plain convolutional autoencoder.
``"dense"``
    a fully connected autoencoder for tabular ``(n, F)`` input.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["he_init", "VAE", "ConvAutoencoder", "DenseAutoencoder", "PRESETS", "build_preset"]


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _convT_out(size, kernel, stride, padding, output_padding=0):
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def he_init(module):
    """He (Kaiming) normal weights and zero biases for every Linear/Conv layer of ``module``.

    The presets use it instead of PyTorch's default: with the paper's 3-channel
    layers, the default initialisation leaves a whole decoder ReLU layer dead (no
    gradient ever reaches ``up.6.weight``) for about one seed in six.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class VAE(nn.Module):
    """The paper's variational autoencoder, adapted to any image size and channel count.

    Encoder ``down``: Conv2d C->3->6->9->12 (kernel 4, stride 2, padding 2), ReLU
    after each; two Linear heads ``fc11`` (mu) and ``fc12`` (logvar).  Decoder:
    Linear ``fc2``, reshape, ``up``: ConvTranspose2d 12->9->6->3->C with ReLU
    between and a Sigmoid at the end.  At 28x28 the decoder paddings are the
    authors' (2, 1, 2, 1); at other sizes each transposed convolution mirrors the
    encoder (padding 2 and the output padding that restores the encoder's size).
    Weights are initialised by :func:`he_init` (see there why).

    Parameters
    ----------
    in_channels : int
    image_size : tuple of int
        ``(H, W)``.
    latent_dim : int, default=20

    Examples
    --------
    >>> import torch
    >>> vae = VAE(3, (28, 28)).eval()
    >>> recon, mu, logvar = vae(torch.rand(2, 3, 28, 28))
    >>> recon.shape, mu.shape, vae.up[6].weight.numel() + vae.down[6].weight.numel()
    (torch.Size([2, 3, 28, 28]), torch.Size([2, 20]), 1872)
    """

    reconstruction_parameter = "up.6.weight"
    latent_parameter = "down.6.weight"
    activation_module = "fc11"

    def __init__(self, in_channels=3, image_size=(28, 28), latent_dim=20):
        super().__init__()
        chans = [in_channels, 3, 6, 9, 12]
        sizes = [tuple(image_size)]
        layers = []
        for i in range(4):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=2), nn.ReLU()]
            sizes.append(tuple(_conv_out(s, 4, 2, 2) for s in sizes[-1]))
        self.down = nn.Sequential(*layers)
        self._bottleneck = (chans[-1],) + sizes[-1]
        n_flat = chans[-1] * sizes[-1][0] * sizes[-1][1]
        self.fc11 = nn.Linear(n_flat, latent_dim)
        self.fc12 = nn.Linear(n_flat, latent_dim)
        self.fc2 = nn.Linear(latent_dim, n_flat)

        # The authors' paddings when they give back the input size, else a mirror.
        paper = (2, 1, 2, 1)
        size = sizes[-1]
        for p in paper:
            size = tuple(_convT_out(s, 4, 2, p) for s in size)
        if size == tuple(image_size):
            pads = [(p, 0) for p in paper]
        else:
            pads = []
            for i in range(4):
                src, dst = sizes[4 - i], sizes[3 - i]
                op = tuple(d - _convT_out(s, 4, 2, 2) for s, d in zip(src, dst))
                pads.append((2, op))
        layers = []
        for i in range(4):
            pad, op = pads[i]
            layers.append(
                nn.ConvTranspose2d(chans[4 - i], chans[3 - i], 4, stride=2, padding=pad, output_padding=op)
            )
            layers.append(nn.ReLU() if i < 3 else nn.Sigmoid())
        self.up = nn.Sequential(*layers)
        he_init(self)

    def encode(self, x):
        h = self.down(x).flatten(1)
        return self.fc11(h), self.fc12(h)

    def reparameterize(self, mu, logvar):
        if self.training:
            return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return mu

    def decode(self, z):
        return self.up(self.fc2(z).view((-1,) + self._bottleneck))

    def forward(self, x):
        """``(reconstruction, mu, logvar)`` of the batch ``x``."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class ConvAutoencoder(nn.Module):
    """A plain convolutional autoencoder.

    ``encoder``: Conv2d (kernel 3, stride 2, padding 1) + ReLU per entry of
    ``channels``; its output is the bottleneck.  ``decoder``: the mirror image with
    ConvTranspose2d (output padding chosen to restore each size), ReLU between and
    a Sigmoid at the end.

    Examples
    --------
    >>> import torch
    >>> cae = ConvAutoencoder(3, (30, 20), channels=(8, 16))
    >>> cae(torch.rand(2, 3, 30, 20)).shape
    torch.Size([2, 3, 30, 20])
    """

    activation_module = "encoder"

    def __init__(self, in_channels=3, image_size=(28, 28), channels=(16, 32, 64)):
        super().__init__()
        chans = [in_channels] + list(channels)
        sizes = [tuple(image_size)]
        enc = []
        for i in range(len(channels)):
            enc += [nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1), nn.ReLU()]
            sizes.append(tuple(_conv_out(s, 3, 2, 1) for s in sizes[-1]))
        self.encoder = nn.Sequential(*enc)
        dec = []
        n = len(channels)
        for i in range(n):
            src, dst = sizes[n - i], sizes[n - i - 1]
            op = tuple(d - _convT_out(s, 3, 2, 1) for s, d in zip(src, dst))
            dec.append(nn.ConvTranspose2d(chans[n - i], chans[n - i - 1], 3, stride=2, padding=1, output_padding=op))
            dec.append(nn.ReLU() if i < n - 1 else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)
        he_init(self)
        self.reconstruction_parameter = f"decoder.{2 * n - 2}.weight"
        self.latent_parameter = f"encoder.{2 * n - 2}.weight"

    def forward(self, x):
        """The reconstruction of the batch ``x``."""
        return self.decoder(self.encoder(x))


class DenseAutoencoder(nn.Module):
    """A fully connected autoencoder for ``(N, F)`` rows.

    Examples
    --------
    >>> import torch
    >>> DenseAutoencoder(5)(torch.rand(4, 5)).shape
    torch.Size([4, 5])
    """

    activation_module = "encoder"

    def __init__(self, n_features, hidden_sizes=(64,), latent_dim=8, output_activation=None):
        super().__init__()
        sizes = [n_features] + list(hidden_sizes) + [latent_dim]
        enc = []
        for i in range(len(sizes) - 1):
            enc.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                enc.append(nn.ReLU())
        self.encoder = nn.Sequential(*enc)
        rev = sizes[::-1]
        dec = []
        for i in range(len(rev) - 1):
            dec.append(nn.Linear(rev[i], rev[i + 1]))
            if i < len(rev) - 2:
                dec.append(nn.ReLU())
        if output_activation == "sigmoid":
            dec.append(nn.Sigmoid())
        elif output_activation is not None:
            raise ValueError(f"output_activation must be None or 'sigmoid', got {output_activation!r}")
        self.decoder = nn.Sequential(*dec)
        he_init(self)
        self.reconstruction_parameter = f"decoder.{2 * (len(rev) - 2)}.weight"
        self.latent_parameter = f"encoder.{2 * (len(sizes) - 2)}.weight"

    def forward(self, x):
        """The reconstruction of the batch ``x``."""
        return self.decoder(self.encoder(x))


#: Names of the built-in autoencoders, for :func:`build_preset` and the transformers' ``module``.
PRESETS = ("vae", "cae", "dense")


def build_preset(name, sample_shape, *, losses=(), **kwargs):
    """Build preset ``name`` for samples of ``sample_shape`` (``(H, W, C)`` or ``(F,)``).

    >>> build_preset("vae", (28, 28, 3)).fc11
    Linear(in_features=108, out_features=20, bias=True)
    """
    if name not in PRESETS:
        raise ValueError(f"unknown module preset {name!r}; choose from {PRESETS} or pass a torch.nn.Module")
    if name == "dense":
        n_features = 1
        for s in sample_shape:
            n_features *= int(s)
        kwargs.setdefault("output_activation", "sigmoid" if "bce" in losses else None)
        return DenseAutoencoder(n_features, **kwargs)
    if len(sample_shape) != 3:
        raise ValueError(
            f"the {name!r} preset needs images: X of shape (n, H, W, C) or (n, H, W), or 2-D X "
            "with image_shape=(H, W, C); for tabular (n, F) data use module='dense'"
        )
    h, w, c = sample_shape
    if name == "vae":
        return VAE(c, (h, w), **kwargs)
    return ConvAutoencoder(c, (h, w), **kwargs)

