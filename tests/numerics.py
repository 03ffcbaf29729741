"""The tests' numerical tolerances, stated once with their justification, and the
independent per-sample gradient oracle.

float32 features
----------------
A feature is a float32 number computed by a reduction: a per-sample weight gradient
sums, over the spatial positions of a layer (up to 28 x 28 = 784 here), products of
the layer's input and the gradient of its output, which are themselves results of
a forward and a backward pass.  Two computations of the same feature (the batched
closed-form engine vs one ``torch.autograd.grad`` per image; a batch of 8 vs a
batch of 7; one torch thread vs two; another process) sum in a different order, so
they differ by a few float32 roundings of the partial sums: a few units of the
machine epsilon ``EPS = 2**-23 = 1.19e-7`` times the magnitude of the terms.  That
magnitude is the one of the feature's *block* (the gradient of one loss with
respect to one parameter tensor), not of the largest feature overall: the paper's
1,872 VAE features are 144 gradients of the BCE loss (up to ~10) and 1,728
gradients of the KL loss (median ~5e-6, max ~1e-3).  A tolerance scaled by the
largest feature of all checks the KL block to ~10 % only; one scaled by each
block's largest value checks every block to the same few float32 roundings.

Measured (``|actual - desired| / (EPS * max|desired in the block|)``, worst element,
over 20 seeds for the engine and 5 fitted estimators of each preset, on this
machine's AVX2 kernels and on the generic ones selected by
``ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 DNNL_MAX_CPU_ISA=SSE41``):

- same kernels, other batches/threads (the engine on a batch of 8 vs one image
  at a time; ``transform`` chunked by 7 or by 1, or on one thread, vs in one
  call): <= 4.8 EPS;
- the engine vs the batch-1 ``torch.autograd`` loop (``test_per_sample.py``):
  <= 4.6 EPS for the paper's two blocks, <= 9.0 EPS over all the parameters of a
  VAE: the KL gradient with respect to the log-variance head carries the factor
  ``(exp(logvar) - 1) / 2``, which cancels for ``logvar`` near 0, so its rounding
  error is relative to ~1 while its value is ~1e-3.  Such an element is never
  more than ``8 EPS`` of its block's scale plus ``6.1 EPS`` of its own value.

Hence ``|actual - desired| <= BLOCK_ATOL * max|desired in block| + rtol * |desired|``
with ``BLOCK_ATOL = RTOL = 8 EPS`` (9.5e-7) and, against the autograd oracle,
``ORACLE_RTOL = 32 EPS`` (3.8e-6, five times the 6.1 EPS needed).  The worst
element measured uses 0.48 of this bound (same kernels) and 0.68 of it (oracle).
A block whose largest value is 0 must be 0 exactly.  Both are tighter, for every
element, than the ``rtol=1e-6..1e-5, atol=1e-6 * max|all features|`` they replace.

On a CUDA GPU (``tests/test_cuda.py``, TF32 off so that matrix products and
convolutions really are float32) cuBLAS and cuDNN reduce in other orders and may
pick other convolution algorithms (implicit GEMM, Winograd) than the CPU: their
error against the CPU oracle is bounded by ``CUDA_ATOL = CUDA_RTOL = 64 EPS``
(7.6e-6), eight times the CPU bound of the block scale and twice the oracle's
relative one.  Not yet measured: the machine this was written on has no GPU.

IQA parity
----------
``skgrad.iqa`` computes in float64 like the authors' MATLAB code.  Its scores
differ from the Octave table (``../shared/data/iqa-parity/scores.tsv``) by at most
1.5e-10: the table is rounded to 10 decimals (5e-11) and both sides sum ~1e5 patch
terms in a different order (~1e5 * 1.1e-16 = 1e-11).  ``PARITY_ATOL = 1e-8`` leaves
a factor ~60 for other BLAS builds, and is 2,000 times smaller than the smallest
difference between two rows of the table (2.2e-5), so a swapped or mislabelled pair
fails.
"""
from __future__ import annotations

import numpy as np

#: float32 machine epsilon (the spacing of float32 numbers at 1).
EPS = float(np.finfo(np.float32).eps)
#: Absolute tolerance, in units of each block's largest ``|desired|``.
BLOCK_ATOL = 8 * EPS
#: Relative tolerance of one element (same kernels, another batch/thread/process).
RTOL = 8 * EPS
#: Relative tolerance against the batch-1 ``torch.autograd`` loop (another algorithm).
ORACLE_RTOL = 32 * EPS
#: Absolute (of each block's scale) and relative tolerance of GPU float32 (TF32 off)
#: against the CPU oracle.
CUDA_ATOL = CUDA_RTOL = 64 * EPS
#: Absolute tolerance of the float64 IQA scores against the authors' Octave table.
PARITY_ATOL = 1e-8


def _numpy(a):
    if hasattr(a, "detach"):  # a torch tensor, possibly on a GPU
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def feature_blocks(names):
    """Column index arrays grouped by the part of each feature name before ``[``.

    ``"bce:up.6.weight[3]"`` belongs to block ``"bce:up.6.weight"``; a name without
    ``[`` (a reduced feature such as ``"bce:up.6.weight:norm"``, an activation
    layer's column) is its own block.  Returns ``{block name: column indices}`` in
    order of first appearance.
    """
    groups = {}
    for j, name in enumerate(names):
        groups.setdefault(str(name).split("[", 1)[0], []).append(j)
    return {k: np.asarray(v) for k, v in groups.items()}


def assert_allclose_blocks(actual, desired, blocks, *, rtol=RTOL, atol=BLOCK_ATOL):
    """Compare two ``(n_samples, n_features)`` float32 arrays block by block.

    Parameters
    ----------
    actual, desired : array-like or torch.Tensor
    blocks : list of slice, or sequence of str
        Column slices (or index arrays), or the feature names of
        ``get_feature_names_out()`` (grouped by :func:`feature_blocks`).  They must
        cover every column.
    rtol, atol : float
        ``|actual - desired| <= atol * max|desired[:, block]| + rtol * |desired|``.
    """
    actual, desired = _numpy(actual), _numpy(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    if len(blocks) and all(isinstance(b, str) for b in blocks):
        assert len(blocks) == desired.shape[-1], "one feature name per column"
        named = feature_blocks(blocks)
    else:
        named = {f"columns {b.start}:{b.stop}" if isinstance(b, slice) else f"block {i}": b
                 for i, b in enumerate(blocks)}
    covered = np.zeros(desired.shape[-1], bool)
    for name, cols in named.items():
        covered[cols] = True
        a = actual[..., cols].astype(np.float64)
        d = desired[..., cols].astype(np.float64)
        scale = float(np.abs(d).max()) if d.size else 0.0
        np.testing.assert_allclose(a, d, rtol=rtol, atol=atol * scale,
                                   err_msg=f"block {name} (max |desired| {scale:.3g})")
    assert covered.all(), f"columns {np.flatnonzero(~covered)[:10]}... are in no block"


def spec_blocks(module, spec):
    """Column slices of the features of ``PerSampleGradients(module, spec)``: one per
    (loss, parameter), in the engine's order."""
    sizes = {n: p.numel() for n, p in module.named_parameters()}
    out, start = [], 0
    for _, names in spec:
        for name in names:
            out.append(slice(start, start + sizes[name]))
            start += sizes[name]
    return out


def loop_oracle(module, x, spec):
    """Gradients of each single image's loss, one image at a time, with
    ``torch.autograd.grad``: the independent oracle of the per-sample engine.

    ``spec`` is the engine's ``[(loss, [parameter names]), ...]``.  Runs wherever
    ``module`` and ``x`` are.
    """
    import torch

    from skgrad.losses import per_sample_loss

    params = dict(module.named_parameters())
    rows = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        out = module(xi)
        cols = []
        for loss, names in spec:
            value = per_sample_loss(loss, out, xi).sum()
            grads = torch.autograd.grad(value, [params[n] for n in names], retain_graph=True, allow_unused=True)
            cols += [(torch.zeros_like(params[n]) if g is None else g).flatten() for g, n in zip(grads, names)]
        rows.append(torch.cat(cols))
    return torch.stack(rows)
