"""The fitted state of the transformers: made from another fitted one, restored, pickled.

:class:`FittedStateMixin` is what ``skgrad.persistence`` and pickling need of
an estimator (``_restore`` rebuilds a fitted estimator from its public fitted
attributes, exactly as ``fit`` leaves it), and what
:meth:`~skgrad.GradientFeatureTransformer.from_fitted` uses to make a fitted
estimator around another one's trained module.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

from ._validation import resolve_device, to_tensor
from .losses import per_sample_loss

__all__ = ["FittedStateMixin"]


class FittedStateMixin:
    """Restore, copy and pickle the fitted state of an autoencoder transformer."""

    @classmethod
    def from_fitted(cls, fitted, **params):
        """A fitted estimator of this class around another one's trained autoencoder.

        The new estimator reads a copy of ``fitted.module_``: the same weights,
        no training.  Use it to compare the gradients and the activations of
        one network, or to read other layers of it.  The parameters the two
        classes share (``module``, ``loss``, ``batch_size``, ``device``, ...)
        are copied from ``fitted``; those of this class alone (``layers``,
        ``reduction``, ``pooling``) keep their defaults unless ``fitted`` is of
        this class; ``params`` overrides any of them.  The fitted attributes
        that describe the training (``history_``, ``n_epochs_``,
        ``best_epoch_``, ...) are ``fitted``'s; :func:`sklearn.base.clone` of
        the result is an unfitted estimator that would train its own module.

        Parameters
        ----------
        fitted : GradientFeatureTransformer or ActivationFeatureTransformer
            A fitted transformer.
        **params
            Parameters of the new estimator, e.g. ``layers=...``,
            ``reduction="norm"``, ``device="cpu"`` (the module is then moved
            there).

        Returns
        -------
        estimator
            A fitted instance of this class.

        Examples
        --------
        >>> import numpy as np
        >>> from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
        >>> X = np.random.RandomState(0).randint(0, 256, size=(32, 28, 28, 3), dtype=np.uint8)
        >>> gft = GradientFeatureTransformer(epochs=1, random_state=0, device="cpu").fit(X)
        >>> aft = ActivationFeatureTransformer.from_fitted(gft)   # the latent mean of the same VAE
        >>> aft.transform(X[:4]).shape, aft.n_epochs_ == gft.n_epochs_
        ((4, 20), True)
        >>> bce = GradientFeatureTransformer.from_fitted(gft, loss="bce")   # the reconstruction gradient alone
        >>> bool(np.array_equal(bce.transform(X[:4]), gft.transform(X[:4])[:, :144]))
        True
        """
        from sklearn.utils.validation import check_is_fitted

        from ._base import AutoencoderTransformerBase

        if not isinstance(fitted, AutoencoderTransformerBase):
            raise TypeError(f"{cls.__name__}.from_fitted takes a fitted GradientFeatureTransformer or "
                            f"ActivationFeatureTransformer, got {type(fitted).__name__}")
        check_is_fitted(fitted, "module_")
        names = set(cls._get_param_names())
        unknown = sorted(set(params) - names)
        if unknown:
            raise TypeError(f"{cls.__name__}.from_fitted got unknown parameter(s) {unknown}; valid: {sorted(names)}")
        shared = set(AutoencoderTransformerBase._get_param_names()) if type(fitted) is not cls else names
        est = cls(**{**{k: v for k, v in fitted.get_params(deep=False).items() if k in shared}, **params})
        est._check_params()
        device = resolve_device(params["device"]) if "device" in params else fitted.device_
        state = {key: copy.deepcopy(getattr(fitted, key)) for key in est._FITTED_STATE}
        if hasattr(fitted, "feature_names_in_"):
            state["feature_names_in_"] = fitted.feature_names_in_.copy()
        state.update(module_=state["module_"].to(device), device_=device,
                     losses_=est._resolve_losses(fitted.variational_))
        return est._restore(state)

    def _fitted_attributes(self):
        """Names of the public fitted attributes (those ending in ``_``), in a stable order."""
        return sorted(k for k in vars(self) if k.endswith("_") and not k.startswith("_"))

    def _restore(self, state):
        """Make a fitted estimator from public fitted attributes (``module_`` and ``device_`` included).

        The attributes that only ``transform`` needs are rebuilt by
        ``_transform_state``, exactly as ``fit`` builds them.  Used by
        :func:`skgrad.persistence.load` and unpickling.  Returns ``self``.
        """
        state.setdefault("n_threads_", None)  # unknown for files written before it was recorded
        missing = [k for k in self._FITTED_STATE if k not in state]
        if missing:
            raise ValueError(f"the fitted state misses attribute(s) {missing}")
        module = state["module_"]
        module.eval()
        for p in module.parameters():
            p.requires_grad_(True)
        extra = self._transform_state(state)
        for key in ("n_features_out_", "layers_"):
            if key in state and key in extra and state[key] != extra[key]:
                raise ValueError(
                    f"the rebuilt {type(self).__name__} gives {key}={extra[key]!r}, but the saved one "
                    f"had {state[key]!r}"
                )
        for k, v in {**state, **extra}.items():
            setattr(self, k, v)
        # A file's weights must at least give finite losses and features for a blank, a
        # mid-grey and a noise image (NaN or absurd weights are no trained model).  A
        # failure here fails the load; the half-restored object is discarded.
        shape = tuple(self.sample_shape_)
        images = np.stack([np.zeros(shape), np.full(shape, 0.5), np.random.RandomState(0).rand(*shape)])
        probe = to_tensor(images.astype(np.float32), 1.0, self.device_, flat=self._flat(shape))
        with torch.no_grad():
            out = module(probe)
            values = [per_sample_loss(l, out, probe) for l in self.losses_]
        values.append(self._transform_batch(probe))
        if not all(bool(torch.isfinite(t).all()) for t in values):
            raise ValueError(
                f"the {type(self).__name__}'s module gives non-finite losses or features for blank and noise "
                "images: its weights are not those of a trained model"
            )
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never change the live estimator
        if "module_" in state:
            # Always pickled from the CPU so that a CUDA-fitted model loads anywhere.
            module = state["module_"]
            if any(p.device.type != "cpu" for p in module.parameters()):
                module = copy.deepcopy(module).cpu()
            state["module_"] = module
            state["device_"] = str(state["device_"])
            for key in self._TRANSFORM_STATE:
                state.pop(key, None)  # rebuilt by _restore
        return state

    def __setstate__(self, state):
        if "module_" not in state:
            super().__setstate__(state)
            return
        device = torch.device(state["device_"])
        if device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"this model was fitted on {device}, which is not available here; it now runs on the CPU",
                UserWarning,
                stacklevel=2,
            )
            device = torch.device("cpu")
        public = {k: v for k, v in state.items() if k.endswith("_") and not k.startswith("_")}
        super().__setstate__({k: v for k, v in state.items() if k not in public})
        public.update(module_=state["module_"].to(device), device_=device)
        self._restore(public)

