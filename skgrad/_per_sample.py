"""Exact per-sample gradients of per-sample losses, in one batched pass.

For the weight and bias of ``Linear``, ``Conv2d`` and ``ConvTranspose2d`` layers the
per-sample gradient is a product of the layer's input and the gradient of its
output (a batched matrix product, or one grouped convolution backward): one forward pass (with hooks that keep each target layer's input and
output) and, per loss, one ``torch.autograd.grad`` of the summed loss with respect
to the target layers' OUTPUTS give every sample's gradient, because sample ``n``'s
loss depends only on sample ``n``'s activations (the module is in eval mode).
The backward therefore stops at the target layers: it never computes the batch's
parameter gradients.  Any other parameter falls back to ``torch.func``
(``vmap`` over ``grad`` of a single-sample loss).
"""
from __future__ import annotations

import contextlib
import threading

import torch
from torch import nn

from .losses import per_sample_loss

__all__ = ["PerSampleGradients", "per_sample_gradients"]


def _analytic(sub, attr):
    """Whether the gradient of ``sub.<attr>`` has a closed form here."""
    if attr not in ("weight", "bias"):
        return False
    if type(sub) is nn.Linear:
        return True
    if type(sub) in (nn.Conv2d, nn.ConvTranspose2d):
        return sub.groups == 1 and sub.padding_mode == "zeros" and not isinstance(sub.padding, str)
    return False


def _linear_grad(attr, inp, gout):
    if attr == "bias":
        return gout.reshape(gout.shape[0], -1, gout.shape[-1]).sum(1)
    i = inp.reshape(inp.shape[0], -1, inp.shape[-1])
    g = gout.reshape(gout.shape[0], -1, gout.shape[-1])
    return torch.bmm(g.transpose(1, 2), i)


def _grouped_weight_grad(inp, gout, weight_shape, sub):
    """Per-sample ``conv2d`` weight gradients as ONE grouped convolution backward.

    Stacking the batch along channels (groups = batch size) turns the N
    per-sample weight gradients into a single ``conv2d_weight`` call, which is
    much faster than materialising im2col patches.
    """
    n = inp.shape[0]
    grad = torch.nn.grad.conv2d_weight(
        inp.reshape((1, n * inp.shape[1]) + tuple(inp.shape[2:])),
        (n * weight_shape[0],) + tuple(weight_shape[1:]),
        gout.reshape((1, n * gout.shape[1]) + tuple(gout.shape[2:])),
        stride=sub.stride,
        padding=sub.padding,
        dilation=sub.dilation,
        groups=n,
    )
    return grad.view((n,) + tuple(weight_shape))


def _conv_grad(sub, attr, inp, gout):
    if attr == "bias":
        return gout.flatten(2).sum(2)
    return _grouped_weight_grad(inp, gout, tuple(sub.weight.shape), sub)


def _conv_transpose_grad(sub, attr, inp, gout):
    if attr == "bias":
        return gout.flatten(2).sum(2)
    # ConvTranspose2d is the adjoint of a convolution with the same geometry: its
    # weight gradient is that convolution's weight gradient with the roles of
    # input and output gradient swapped (weight layout Cin x Cout x kh x kw).
    return _grouped_weight_grad(gout, inp, tuple(sub.weight.shape), sub)


_CLOSED_FORMS = {
    nn.Linear: lambda sub, attr, inp, gout: _linear_grad(attr, inp, gout),
    nn.Conv2d: _conv_grad,
    nn.ConvTranspose2d: _conv_transpose_grad,
}


def _closed_form(sub, attr, inp, gout):
    return _CLOSED_FORMS[type(sub)](sub, attr, inp, gout)


class PerSampleGradients:
    """Per-sample gradients of several losses with respect to named parameters.

    Parameters
    ----------
    module : torch.nn.Module
        Used as it is (the caller puts it in eval mode).
    spec : list of (str, list of str)
        ``[(loss_name, [parameter names]), ...]``; the output columns follow this
        order, each parameter's gradient flattened.

    Examples
    --------
    >>> import torch
    >>> from skgrad.models import VAE
    >>> vae = VAE(3, (28, 28)).eval()
    >>> engine = PerSampleGradients(vae, [("bce", ["up.6.weight"]), ("kld", ["down.6.weight"])])
    >>> engine(torch.rand(5, 3, 28, 28)).shape
    torch.Size([5, 1872])
    """

    def __init__(self, module, spec):
        self.module = module
        self.spec = [(loss, list(names)) for loss, names in spec]
        params = dict(module.named_parameters())
        modules = dict(module.named_modules())
        self.shapes = {}
        self.hooked = {}  # module name -> submodule, for the closed forms
        self.fallback = []  # parameter names for torch.func
        for _, names in self.spec:
            for name in names:
                if name not in params:
                    raise KeyError(name)
                self.shapes[name] = tuple(params[name].shape)
                modname, _, attr = name.rpartition(".")
                sub = modules.get(modname)
                if sub is not None and _analytic(sub, attr):
                    self.hooked[modname] = sub
                elif name not in self.fallback:
                    self.fallback.append(name)

    def __call__(self, x, *, return_losses=False):
        """Gradients for a batch ``x``: a float32 tensor ``(N, n_features)`` on x's device.

        With ``return_losses=True`` also the per-sample values of the spec's losses,
        from the same forward pass: ``(gradients, {loss: (N,) tensor})``.
        """
        records = {name: [] for name in self.hooked}
        caller = threading.get_ident()

        def make_hook(name):
            def hook(mod, inputs, output):
                # the module may be shared with other threads' calls: keep our own
                if threading.get_ident() == caller:
                    records[name].append((inputs[0], output))

            return hook

        with contextlib.ExitStack() as stack, torch.enable_grad():
            for name, sub in self.hooked.items():
                stack.callback(sub.register_forward_hook(make_hook(name)).remove)
            out = self.module(x)
        blocks, values = {}, {}
        with torch.enable_grad():
            for li, (loss, names) in enumerate(self.spec):
                hooked = [n for n in names if n.rpartition(".")[0] in self.hooked]
                if hooked or return_losses:
                    per = per_sample_loss(loss, out, x)
                    values[loss] = per.detach()
                if hooked:
                    value = per.sum()
                    mods = list(dict.fromkeys(n.rpartition(".")[0] for n in hooked))
                    outs = [o for m in mods for (_, o) in records[m]]
                    retain = li < len(self.spec) - 1
                    grads = torch.autograd.grad(value, outs, retain_graph=retain, allow_unused=True)
                    k = 0
                    gouts = {}
                    for m in mods:
                        gouts[m] = grads[k : k + len(records[m])]
                        k += len(records[m])
                    for n in hooked:
                        modname, _, attr = n.rpartition(".")
                        sub = self.hooked[modname]
                        total = None
                        for (inp, _), g in zip(records[modname], gouts[modname]):
                            if g is None:
                                continue
                            part = _closed_form(sub, attr, inp.detach(), g)
                            total = part if total is None else total + part
                        if total is None:
                            total = x.new_zeros((x.shape[0],) + self.shapes[n])
                        blocks[(li, n)] = total.reshape(x.shape[0], -1)
                rest = [n for n in names if n not in hooked]
                if rest:
                    for n, g in zip(rest, self._func_grads(loss, rest, x)):
                        blocks[(li, n)] = g.reshape(x.shape[0], -1)
        cols = [blocks[(li, n)] for li, (_, names) in enumerate(self.spec) for n in names]
        grads = torch.cat(cols, dim=1).detach()
        return (grads, values) if return_losses else grads

    def _func_grads(self, loss, names, x):
        from torch.func import functional_call, grad, vmap

        module = self.module
        params = {k: v.detach() for k, v in module.named_parameters()}
        buffers = {k: v.detach() for k, v in module.named_buffers()}
        chosen = {n: params[n] for n in names}

        def sample_loss(sub, xi):
            xb = xi.unsqueeze(0)
            out = functional_call(module, ({**params, **sub}, buffers), (xb,))
            return per_sample_loss(loss, out, xb).sum()

        g = vmap(grad(sample_loss), in_dims=(None, 0))(chosen, x)
        return [g[n] for n in names]


def per_sample_gradients(module, x, spec):
    """Functional form of :class:`PerSampleGradients` for one batch.

    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(3, 3)
    >>> per_sample_gradients(lin, torch.rand(4, 3), [("mse", ["weight", "bias"])]).shape
    torch.Size([4, 12])
    """
    return PerSampleGradients(module, spec)(x)
