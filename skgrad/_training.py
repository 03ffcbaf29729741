"""Training an autoencoder with Adam and early stopping (torch only; the estimators call it).

:func:`train_autoencoder` runs the epochs, keeps the weights of the epoch with the
lowest validation loss, stops when that loss has not improved by ``tol``
(relative) for ``n_iter_no_change`` epochs, and reports a diverged or
unfinished run.  :func:`mean_loss` is the validation loss.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .losses import loss_floor, per_sample_loss

__all__ = ["train_autoencoder", "mean_loss"]


def _progress(iterable=None, *, enabled, **kwargs):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, leave=False, **kwargs)


def _floor_total(data, losses, batch_size):
    """The summed floor of ``data``'s losses (:func:`skgrad.losses.loss_floor`), one value per
    sample: it does not change while the model trains, so it is computed once per fit, in
    chunks, instead of once per batch and epoch."""
    step = max(int(batch_size), 1024)
    return torch.cat([sum(loss_floor(l, data[s : s + step]) for l in losses)
                      for s in range(0, data.shape[0], step)])


def mean_loss(module, data, losses, batch_size, floor=None):
    """Mean per-sample loss of ``data`` in eval mode (deterministic: a VAE decodes its mean),
    above its floor (:func:`skgrad.losses.excess_loss`); ``floor`` is
    ``_floor_total(data, losses, batch_size)`` when the caller already has it."""
    module.eval()
    if floor is None:
        floor = _floor_total(data, losses, batch_size)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            xb = data[start : start + batch_size]
            out = module(xb)
            per_sample = sum(per_sample_loss(l, out, xb) for l in losses)
            total += float((per_sample - floor[start : start + batch_size]).sum())
    return total / len(data)


class _Adam:
    """torch's Adam with its default settings: the update of :class:`torch.optim.Adam`,
    called through its functional form (:func:`torch.optim.adam.adam`, which the class's
    ``step`` calls with the same arguments) on state kept here, so the weights are
    the same to the last bit.

    The class itself imports ``torch._dynamo`` on first use (its ``add_param_group``
    and ``step`` are wrapped to keep ``torch.compile`` out of them): about 1.2 s of
    CPU at the start of every process that trains, for a compiler skgrad never uses.

    The fused kernel runs where every parameter allows it (CPU or CUDA floating-point
    tensors: about a quarter of a small model's training step is spent in the
    optimizer otherwise), torch's default elsewhere.  Either is deterministic on a
    given machine.
    """

    #: Adam's defaults (``betas``, ``eps``), as :class:`torch.optim.Adam` has them.
    BETAS, EPS = (0.9, 0.999), 1e-8

    def __init__(self, params, lr, weight_decay):
        self.params = list(params)
        self.lr, self.weight_decay = lr, weight_decay
        self.fused = bool(self.params) and all(
            p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in self.params)
        self.state = {}     # index -> (step, exp_avg, exp_avg_sq), created at a parameter's first step

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _state(self, i, p):
        if i not in self.state:
            # as torch.optim.Adam: a float32 step on the parameter's device for the
            # fused kernel, else a scalar on the CPU in the default float dtype
            step = (torch.zeros((), dtype=torch.float32, device=p.device) if self.fused
                    else torch.tensor(0.0, dtype=torch.float64 if torch.get_default_dtype() == torch.float64
                                      else torch.float32))
            self.state[i] = (step, torch.zeros_like(p, memory_format=torch.preserve_format),
                             torch.zeros_like(p, memory_format=torch.preserve_format))
        return self.state[i]

    @torch.no_grad()
    def step(self):
        from torch.optim.adam import adam

        with_grad = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        states = [self._state(i, p) for i, p in with_grad]
        adam([p for _, p in with_grad], [p.grad for _, p in with_grad], [s[1] for s in states],
             [s[2] for s in states], [], [s[0] for s in states], foreach=None, capturable=False,
             differentiable=False, fused=self.fused or None, grad_scale=None, found_inf=None,
             has_complex=any(torch.is_complex(p) for _, p in with_grad), decoupled_weight_decay=False,
             amsgrad=False, beta1=self.BETAS[0], beta2=self.BETAS[1], lr=self.lr,
             weight_decay=self.weight_decay, eps=self.EPS, maximize=False)


def _adam(module, learning_rate, weight_decay):
    """:class:`_Adam` on the module's parameters."""
    return _Adam(module.parameters(), learning_rate, weight_decay)


def train_autoencoder(module, data, val_data, losses, rng, *, epochs, batch_size, learning_rate, weight_decay,
                      n_iter_no_change, tol, verbose=False, name="estimator"):
    """Adam on mini-batches of ``data`` (a float32 tensor), with early stopping on ``val_data``.

    Parameters
    ----------
    module : torch.nn.Module
        Trained in place; at the end it holds the best validation epoch's weights
        (or the last epoch's when ``val_data`` is None).
    data, val_data : torch.Tensor or None
        Training samples, and held-out samples (None: the training loss decides).
    losses : list of str
        Per-sample losses summed into the objective.
    rng : numpy.random.RandomState
        Shuffles each epoch.
    epochs, batch_size, learning_rate, weight_decay, n_iter_no_change, tol
        As the estimators' parameters.
    verbose : bool
        A tqdm bar with the losses.
    name : str
        Used in messages.

    Returns
    -------
    dict
        ``history`` (mean per-sample training loss per epoch), ``validation``
        (validation loss per epoch, None without ``val_data``), both above the
        loss's floor (a binary cross-entropy less the targets' entropy, which no
        model can remove: ``tol`` is relative to what training can still
        reduce), and
        ``best_epoch`` (the 1-based epoch whose weights ``module`` holds).

    Raises
    ------
    ValueError
        If the loss diverged and no earlier weights were kept.
    """
    run = {"history": [], "validation": None if val_data is None else [], "best_epoch": None}
    device = data.device
    n_train = data.shape[0]
    optimizer = _adam(module, learning_rate, weight_decay)
    floor = _floor_total(data, losses, batch_size)
    val_floor = None if val_data is None else _floor_total(val_data, losses, batch_size)
    bar = _progress(range(epochs), enabled=bool(verbose), desc=f"fit {name}", unit="epoch")
    best, best_state, no_improvement, stopped, diverged = np.inf, None, 0, False, None
    for epoch in bar:
        module.train()
        order = torch.from_numpy(rng.permutation(n_train)).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, n_train, batch_size):
            batch = order[start : start + batch_size]
            xb = data[batch]
            out = module(xb)
            # a diverged model gives NaN losses: the epoch's loss is NaN, caught below
            per_sample = sum(per_sample_loss(l, out, xb) for l in losses)
            loss = per_sample.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # recorded above the floor, as the validation loss
            total += per_sample.detach().sum() - floor[batch].sum()
        run["history"].append(float(total) / n_train)
        if val_data is not None:
            run["validation"].append(mean_loss(module, val_data, losses, batch_size, val_floor))
            monitored = run["validation"][-1]
        else:
            monitored = run["history"][-1]
        if not np.isfinite(monitored):
            diverged = epoch + 1
            break
        # an improvement by more than tol (relative) resets the patience
        if not np.isfinite(best) or monitored < best - tol * abs(best):
            no_improvement = 0
        else:
            no_improvement += 1
        if monitored < best:
            best, run["best_epoch"] = monitored, epoch + 1
            if val_data is not None:
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        if verbose:
            post = {"loss": f"{run['history'][-1]:.4g}"}
            if val_data is not None:
                post.update(val=f"{monitored:.4g}", best=run["best_epoch"])
            bar.set_postfix(post)
        if no_improvement >= n_iter_no_change:
            stopped = True
            break
    if diverged is not None and best_state is None:
        raise ValueError(
            f"{name}: training diverged at epoch {diverged} (loss {run['history'][-1]}), and no earlier "
            f"weights were kept{'' if val_data is not None else ' (early_stopping=False)'}; lower "
            f"learning_rate (now {learning_rate})"
        )
    if diverged is not None:
        warnings.warn(
            f"{name}: training diverged at epoch {diverged}; the weights of epoch {run['best_epoch']} (the "
            f"lowest validation loss) are kept; a lower learning_rate (now {learning_rate}) may train better",
            RuntimeWarning,
            stacklevel=4,
        )
    if best_state is not None:
        module.load_state_dict(best_state)  # the best validation epoch's weights
    elif val_data is None and run["history"]:
        run["best_epoch"] = len(run["history"])  # without validation: the last epoch's weights
    if not stopped and diverged is None and len(run["history"]) == epochs and np.isfinite(best):
        what = "validation" if val_data is not None else "training"
        warnings.warn(
            f"{name}: training stopped after epochs={epochs} while the {what} loss "
            f"was still falling (by more than tol={tol} relative within the last "
            f"{n_iter_no_change} epochs); the features may improve with a larger epochs",
            ConvergenceWarning,
            stacklevel=4,
        )
    return run
