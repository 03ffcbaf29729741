"""The scikit-learn transformers: weight gradients and activations of a trained autoencoder."""
from __future__ import annotations

import difflib
import threading

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import AutoencoderTransformerBase
from ._docstrings import _doc
from ._image_stats import IMAGE_STATISTICS, image_statistics
from ._per_sample import PerSampleGradients
from ._validation import to_tensor
from .losses import RECONSTRUCTION_LOSSES, per_sample_loss

__all__ = ["GradientFeatureTransformer", "ActivationFeatureTransformer"]

_STATS = ("mean", "std", "min", "max", "l2")

@_doc
class GradientFeatureTransformer(AutoencoderTransformerBase):
    """Per-sample weight gradients of a trained autoencoder as features.

    ``fit`` trains an autoencoder on clean (in-distribution) samples.
    ``transform`` backpropagates each sample's own losses and returns the
    gradients with respect to chosen weights: how much the model would have to
    change to represent that sample (Kwon et al., ICIP 2019).  The gradients are
    exact per-sample gradients computed for a whole batch at once, in eval mode,
    so a sample's features do not depend on the rest of the batch.

    Parameters
    ----------
%(params)s
    layers : "auto", "all", list of str or dict, default="auto"
        Parameters (names from ``module.named_parameters()``) whose gradients are
        returned.  ``"auto"`` is the paper's choice: the last decoder weight for
        reconstruction losses, the last encoder weight before the latent heads
        for ``"kld"``.  ``"all"``: every ``*weight`` parameter the loss depends
        on (for ``"kld"`` the encoder's).  A list applies to every loss; a dict
        maps each loss to its list, or to ``"auto"`` or ``"all"``.
    reduction : {None, "norm", "stats"}, default=None
        ``None``: the raw flattened gradients.  ``"norm"``: one L2 norm per (loss,
        parameter) block.  ``"stats"``: mean, std, min, max and L2 norm per block.

    Attributes
    ----------
%(attrs)s
    layers_ : dict
        Loss name -> list of parameter names, as resolved in ``fit``.

    See Also
    --------
    ActivationFeatureTransformer : the latent code (activations) instead.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad import GradientFeatureTransformer
    >>> X = np.random.RandomState(0).randint(0, 256, size=(32, 28, 28, 3), dtype=np.uint8)
    >>> gft = GradientFeatureTransformer(epochs=1, random_state=0).fit(X)
    >>> gft.transform(X[:4]).shape
    (4, 1872)
    >>> gft.get_feature_names_out()[[0, -1]]
    array(['bce:up.6.weight[0]', 'kld:down.6.weight[1727]'], dtype=object)
    """

    def __init__(
        self,
        module="vae",
        *,
        loss="auto",
        layers="auto",
        reduction=None,
        image_shape=None,
        module_kwargs=None,
        epochs=200,
        batch_size=64,
        learning_rate=3e-3,
        weight_decay=0.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-3,
        inlier_label=None,
        random_state=None,
        device="auto",
        verbose=False,
        warm_start=False,
        n_threads="auto",
    ):
        super().__init__(
            module,
            loss=loss,
            image_shape=image_shape,
            module_kwargs=module_kwargs,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            inlier_label=inlier_label,
            random_state=random_state,
            device=device,
            verbose=verbose,
            warm_start=warm_start,
            n_threads=n_threads,
        )
        self.layers = layers
        self.reduction = reduction

    def _check_params(self):
        super()._check_params()
        if self.reduction not in (None, "norm", "stats"):
            raise ValueError(f"reduction must be None, 'norm' or 'stats', got {self.reduction!r}")

    def _resolve_layers(self, module, losses, probe=None):
        params = [n for n, _ in module.named_parameters()]
        known = set(params)

        def every(loss):
            """Every ``*weight`` parameter the loss depends on (found through the autograd graph)."""
            named = [(n, p) for n, p in module.named_parameters() if n.endswith("weight")]
            with torch.enable_grad():
                x = probe()
                value = per_sample_loss(loss, module(x), x).sum()
                grads = torch.autograd.grad(value, [p for _, p in named], allow_unused=True)
            found = [n for (n, _), g in zip(named, grads) if g is not None]
            if not found:
                raise ValueError(f"layers='all': loss {loss!r} depends on no '*weight' parameter; name the layers")
            return found

        def auto(loss):
            if loss in RECONSTRUCTION_LOSSES:
                name = getattr(module, "reconstruction_parameter", None)
                if name is None:
                    weights = [n for n in params if n.endswith("weight")]
                    if not weights:
                        raise ValueError("layers='auto' found no '*weight' parameter; name the layers")
                    name = weights[-1]
                return [name]
            name = getattr(module, "latent_parameter", None)
            if name is None:
                raise ValueError(
                    "layers='auto' for 'kld' needs the module to declare latent_parameter (the last "
                    "encoder weight before the latent heads); or pass layers={'kld': [parameter names]}"
                )
            return [name]

        keywords = {"auto": auto, "all": every}
        layers = self.layers
        if isinstance(layers, str):
            if layers not in keywords:
                layers = [layers]
            else:
                resolved = {loss: keywords[layers](loss) for loss in losses}
                layers = None
        if isinstance(layers, dict):
            unknown_losses = set(layers) - set(losses)
            if unknown_losses:
                raise ValueError(
                    f"layers names losses {sorted(unknown_losses)} that are not in loss={losses}"
                )
            missing = [l for l in losses if l not in layers]
            if missing:
                raise ValueError(f"layers is a dict but gives no parameters for loss(es) {missing}")
            resolved = {}
            for l in losses:
                value = layers[l]
                if isinstance(value, str):
                    resolved[l] = keywords[value](l) if value in keywords else [value]
                else:
                    resolved[l] = list(value)
        elif layers is not None:
            names = list(layers)
            if not names:
                raise ValueError("layers must name at least one parameter")
            resolved = {l: names for l in losses}
        for l, names in resolved.items():
            if not names:
                raise ValueError(f"layers gives no parameters for loss {l!r}")
            bad = [n for n in names if n not in known]
            if bad:
                close = sorted({m for n in bad for m in difflib.get_close_matches(n, params, n=3)})
                shown = ", ".join(params[:12]) + (", ..." if len(params) > 12 else "")
                raise ValueError(
                    f"layers names parameter(s) {bad} that the module does not have"
                    + (f" (did you mean {', '.join(close)}?)" if close else "")
                    + f"; its parameters are: {shown}"
                )
        return resolved

    _TRANSFORM_STATE = ("_engine", "_blocks")

    def _transform_state(self, state):
        module = state["module_"]
        shape = tuple(state["sample_shape_"])

        def probe():  # one blank sample, as transform feeds the module
            x = np.zeros((1,) + shape, dtype=np.float32)
            return to_tensor(x, 1.0, state["device_"], flat=self._flat(shape))

        layers = self._resolve_layers(module, state["losses_"], probe)
        engine = PerSampleGradients(module, list(layers.items()))
        blocks = [(l, n, int(np.prod(engine.shapes[n]))) for l, names in layers.items() for n in names]
        n_out = {None: sum(b[2] for b in blocks), "norm": len(blocks), "stats": len(blocks) * len(_STATS)}[
            self.reduction
        ]
        return {"layers_": layers, "n_features_out_": n_out, "_engine": engine, "_blocks": blocks}

    def _gradients_and_losses(self, X, *, image_stats=False):
        """Raw gradients (float64, as ``transform`` with ``reduction=None``) and the per-sample
        losses of ``losses_`` (``per_sample_losses(X)``), from one forward pass per batch;
        with ``image_stats`` also each image's :func:`skgrad._image_stats.image_statistics`."""
        check_is_fitted(self, "module_")
        X, _, scale = self._validate_X(X, reset=False)
        widths = [b[2] for b in self._blocks]
        G = np.empty((X.shape[0], sum(widths)), dtype=np.float64)
        L = np.empty((X.shape[0], len(self.losses_)), dtype=np.float64)
        I = np.empty((X.shape[0], len(IMAGE_STATISTICS)), dtype=np.float64) if image_stats else None
        with self._threads(self.device_, X.shape[0]) as threads:
            for start, stop, x in self._batches(X, scale, "transform", threads):
                g, values = self._engine(x, return_losses=True)
                G[start:stop] = g[: stop - start].cpu().numpy()
                for j, loss in enumerate(self.losses_):
                    v = values[loss] if loss in values else None
                    if v is None:  # a loss without gradient features here: its value alone
                        with torch.no_grad():
                            v = per_sample_loss(loss, self.module_(x), x)
                    L[start:stop, j] = v[: stop - start].double().cpu().numpy()
                if image_stats:
                    I[start:stop] = image_statistics(x[: stop - start]).cpu().numpy()
            return (G, L, I) if image_stats else (G, L)

    def _transform_batch(self, x):
        g = self._engine(x)
        if self.reduction is None:
            return g
        parts = torch.split(g, [b[2] for b in self._blocks], dim=1)
        if self.reduction == "norm":
            return torch.stack([p.norm(dim=1) for p in parts], dim=1)
        cols = []
        for p in parts:
            cols += [p.mean(1), p.std(1, unbiased=False), p.amin(1), p.amax(1), p.norm(dim=1)]
        return torch.stack(cols, dim=1)

    def _feature_names(self):
        names = []
        for loss, param, size in self._blocks:
            if self.reduction is None:
                names += [f"{loss}:{param}[{i}]" for i in range(size)]
            elif self.reduction == "norm":
                names.append(f"{loss}:{param}:norm")
            else:
                names += [f"{loss}:{param}:{s}" for s in _STATS]
        return names


@_doc
class ActivationFeatureTransformer(AutoencoderTransformerBase):
    """Activations of a trained autoencoder (e.g. its latent code) as features.

    The baseline the paper compares gradients with: ``fit`` trains the same
    autoencoder as :class:`GradientFeatureTransformer`; ``transform`` returns the
    flattened outputs of chosen submodules.

    Parameters
    ----------
%(params)s
    layers : "auto" or list of str, default="auto"
        Names of submodules (from ``module.named_modules()``) whose outputs are
        returned, flattened and concatenated.  ``"auto"``: the module's
        ``activation_module`` (the latent mean ``fc11`` for "vae", the bottleneck
        ``encoder`` for "cae" and "dense"), else ``mu`` of a variational module.
    pooling : {None, "avg"}, default=None
        ``"avg"`` averages 4-D outputs over their spatial dimensions (one value
        per channel).

    Attributes
    ----------
%(attrs)s
    layers_ : list of str
        Submodules whose outputs are returned (``["mu"]`` for a variational
        module's latent mean).

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad import ActivationFeatureTransformer
    >>> X = np.random.RandomState(0).randint(0, 256, size=(32, 28, 28, 3), dtype=np.uint8)
    >>> aft = ActivationFeatureTransformer(epochs=1, random_state=0).fit(X)
    >>> aft.transform(X[:4]).shape
    (4, 20)
    """

    def __init__(
        self,
        module="vae",
        *,
        loss="auto",
        layers="auto",
        pooling=None,
        image_shape=None,
        module_kwargs=None,
        epochs=200,
        batch_size=64,
        learning_rate=3e-3,
        weight_decay=0.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-3,
        inlier_label=None,
        random_state=None,
        device="auto",
        verbose=False,
        warm_start=False,
        n_threads="auto",
    ):
        super().__init__(
            module,
            loss=loss,
            image_shape=image_shape,
            module_kwargs=module_kwargs,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            inlier_label=inlier_label,
            random_state=random_state,
            device=device,
            verbose=verbose,
            warm_start=warm_start,
            n_threads=n_threads,
        )
        self.layers = layers
        self.pooling = pooling

    def _check_params(self):
        super()._check_params()
        if self.pooling not in (None, "avg"):
            raise ValueError(f"pooling must be None or 'avg', got {self.pooling!r}")

    _TRANSFORM_STATE = ("_sizes",)

    def _transform_state(self, state):
        module = state["module_"]
        modules = dict(module.named_modules())
        if isinstance(self.layers, str) and self.layers == "auto":
            name = getattr(module, "activation_module", None)
            if name is not None:
                layers = [name]
            elif state["variational_"]:
                layers = ["mu"]
            else:
                raise ValueError(
                    "layers='auto' needs the module to declare activation_module or to be variational; "
                    "pass layers=[submodule names]"
                )
        else:
            layers = [self.layers] if isinstance(self.layers, str) else list(self.layers)
            if not layers:
                raise ValueError("layers must name at least one submodule")
            bad = [n for n in layers if n not in modules]
            if bad:
                shown = ", ".join(n for n in list(modules)[:15] if n)
                raise ValueError(f"layers names submodule(s) {bad} that the module does not have; it has: {shown}")
        x1 = torch.zeros((1,) + tuple(state["sample_shape_"]), dtype=torch.float32)
        x1 = to_tensor(x1.numpy(), 1.0, state["device_"], flat=self._flat(state["sample_shape_"]))
        sizes = [a.shape[1] for a in self._activations(module, layers, x1)]
        return {"layers_": layers, "n_features_out_": sum(sizes), "_sizes": sizes}

    def _activations(self, module, layers, x):
        modules = dict(module.named_modules())
        store = {}
        caller = threading.get_ident()

        def keep(name):
            def hook(mod, inputs, output):
                if threading.get_ident() == caller:  # the module may be shared across threads
                    store[name] = output

            return hook

        handles = [
            modules[n].register_forward_hook(keep(n))
            for n in layers
            if n != "mu"
        ]
        try:
            with torch.no_grad():
                out = module(x)
        finally:
            for h in handles:
                h.remove()
        feats = []
        for n in layers:
            a = out[1] if n == "mu" else store[n]
            if isinstance(a, (tuple, list)):
                a = a[0]
            if self.pooling == "avg" and a.ndim == 4:
                a = a.mean(dim=(2, 3))
            feats.append(a.reshape(a.shape[0], -1))
        return feats

    def _transform_batch(self, x):
        return torch.cat(self._activations(self.module_, self.layers_, x), dim=1)

    def _feature_names(self):
        return [f"{n}[{i}]" for n, size in zip(self.layers_, self._sizes) for i in range(size)]

