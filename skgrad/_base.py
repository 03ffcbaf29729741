"""What both transformers share: validation, device, seeding, the training loop
with early stopping, warm start, chunked transform and pickling across devices."""
from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._training import _progress, train_autoencoder
from ._state import FittedStateMixin
from ._threads import ThreadPolicy
from ._validation import check_estimator_params, check_input, check_output_memory, resolve_device, to_tensor
from .losses import RECONSTRUCTION_LOSSES, check_bce_range, check_loss, excess_loss, per_sample_loss, split_output
from .models import build_preset

__all__ = ["AutoencoderTransformerBase"]


class AutoencoderTransformerBase(FittedStateMixin, TransformerMixin, BaseEstimator):
    """Base class: fits an autoencoder, then maps each sample to features.

    Subclasses implement ``_transform_state`` (called at the end of ``fit``, by
    :func:`skgrad.persistence.load` and by unpickling: returns the attributes
    ``transform`` needs, given the public fitted ones), ``_transform_batch`` and
    ``_feature_names``, and list in ``_TRANSFORM_STATE`` the private attributes
    that ``_transform_state`` rebuilds (never stored).
    """

    _TRANSFORM_STATE = ()
    #: The public attributes that ``fit`` sets besides those of ``_transform_state``:
    #: ``_restore`` needs every one, so that a restored estimator also warm-starts.
    _FITTED_STATE = ("module_", "device_", "losses_", "variational_", "sample_shape_", "image_shape_",
                     "input_scale_", "history_", "validation_history_", "n_epochs_", "best_epoch_", "n_features_in_",
                     "n_threads_")

    def __init__(
        self,
        module="vae",
        *,
        loss="auto",
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
        self.module = module
        self.loss = loss
        self.image_shape = image_shape
        self.module_kwargs = module_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.inlier_label = inlier_label
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_threads = n_threads

    # ------------------------------------------------------------------ params
    def _check_params(self):
        check_estimator_params(self)

    def _resolve_losses(self, variational):
        if isinstance(self.loss, str) and self.loss == "auto":
            if self.module == "vae":
                return ("bce", "kld")
            if self.module == "cae":
                return ("bce",)
            return ("mse", "kld") if variational else ("mse",)
        losses = check_loss(self.loss)
        if "kld" in losses and not variational:
            raise ValueError(
                f"loss {self.loss!r} includes 'kld', but the module is not variational: its forward "
                "must return (reconstruction, mu, logvar); use module='vae' or drop 'kld'"
            )
        return losses

    def _loss_hint(self):
        """Losses known before the module is built (for the input range check)."""
        if isinstance(self.loss, str) and self.loss == "auto":
            return ("bce",) if self.module in ("vae", "cae") else ()
        try:
            return check_loss(self.loss)
        except (TypeError, ValueError):
            return ()

    # -------------------------------------------------------------- validation
    def _validate_X(self, X, reset):
        """Validate X; returns (array, sample_shape, scale)."""
        name = type(self).__name__
        ndim = getattr(X, "ndim", None)
        if ndim is None and not hasattr(X, "__array__"):
            try:
                X = np.asarray(X)
            except Exception:  # ragged lists and the like
                raise ValueError(f"{name}: X must be an array-like of images or rows") from None
            ndim = X.ndim
        if ndim == 2 or hasattr(X, "columns"):
            validate_data(self, X, reset=reset, skip_check_array=True)
        elif reset:
            for attr in ("feature_names_in_",):
                if hasattr(self, attr):
                    delattr(self, attr)
        if reset:
            image_shape = self.image_shape
        else:  # flat rows are read as the fitted image shape; images are compared below
            image_shape = self.image_shape_ if ndim == 2 else None
        given_shape = tuple(getattr(X, "shape", ()))
        X, sample_shape, scale = check_input(
            X,
            image_shape=image_shape,
            require_unit_range="bce" in (self._loss_hint() if reset else self.losses_),
            estimator_name=name,
        )
        if not reset:
            if sample_shape != self.sample_shape_:
                what = "images of shape (H, W, C)" if len(sample_shape) == 3 else "rows of"
                raise ValueError(
                    f"X has {what} {sample_shape}, but {name} was fitted on "
                    f"{'images of shape' if len(self.sample_shape_) == 3 else 'rows of'} {self.sample_shape_}; "
                    "transform needs the same image size and channel count as fit"
                    + self._single_sample_hint(given_shape)
                )
        return X, sample_shape, scale

    def _single_sample_hint(self, given_shape):
        """A hint when X is one sample without its batch axis."""
        one = self.sample_shape_
        if given_shape in (one, one[:2] if one[-1:] == (1,) else one):
            return f"; X looks like ONE sample of shape {given_shape}: pass X[np.newaxis]"
        return ""

    def _select_inliers(self, X, y):
        """The samples the autoencoder is trained on: all, or those with ``y == inlier_label``."""
        if self.inlier_label is None or y is None:
            return X
        name = type(self).__name__
        y = column_or_1d(y, warn=True)
        if len(y) != len(X):
            raise ValueError(f"{name}: X has {len(X)} samples but y has {len(y)}")
        mask = y == self.inlier_label
        if not np.any(mask):
            found = np.unique(y)
            raise ValueError(
                f"{name}: no sample has y == inlier_label={self.inlier_label!r}; the labels in y are "
                f"{found[:10].tolist()}{' ...' if len(found) > 10 else ''}"
            )
        return X[mask]

    def _flat(self, sample_shape):
        return len(sample_shape) == 1 or self.module == "dense"

    def _new_module(self, sample_shape):
        """A fresh module for samples of ``sample_shape``: the preset, or a deep copy of ``module``.

        Draws from torch's global generator (a preset's initial weights): callers fork it.
        """
        if isinstance(self.module, str):
            flat = self._flat(sample_shape)
            return build_preset(
                self.module,
                (int(np.prod(sample_shape)),) if flat else tuple(sample_shape),
                losses=self._loss_hint(),
                **(self.module_kwargs or {}),
            )
        return copy.deepcopy(self.module)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Train the autoencoder on ``X``.

        Training stops early, by default, when the loss on a held-out
        ``validation_fraction`` of the samples has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; the weights of the epoch with the lowest
        validation loss are kept (as the paper's authors keep their best
        checkpoint).  ``epochs`` is the most epochs a call runs.  An
        interrupted ``fit`` (``KeyboardInterrupt``) leaves the estimator as it
        was: unfitted, or at its previous fitted state with ``warm_start``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W, C), (n_samples, H, W) or (n_samples, n_features)
            uint8 images (scaled by 1/255) or float images in [0, 1]; 2-D rows with
            ``module="dense"`` or with ``image_shape``.
        y : array-like of shape (n_samples,), default=None
            Labels.  Used only when ``inlier_label`` is set: the autoencoder is
            then trained on the samples with ``y == inlier_label`` alone.

        Returns
        -------
        self
        """
        self._check_params()
        warm = self.warm_start and hasattr(self, "module_")
        X, sample_shape, scale = self._validate_X(X, reset=True)
        X = self._select_inliers(X, y)
        if warm and sample_shape != self.sample_shape_:
            raise ValueError(
                f"warm_start: X has samples of shape {sample_shape}, but the fitted module takes {self.sample_shape_}"
            )
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        flat = self._flat(sample_shape)
        cuda_devices = [device.index or 0] if device.type == "cuda" else []

        threads = self._threads(device, X.shape[0] * max(int(self.epochs), 1), adaptive=False)
        with threads:  # torch's thread count for the whole fit, the caller's restored after
            with torch.random.fork_rng(devices=cuda_devices):
                torch.manual_seed(seed)
                module = copy.deepcopy(self.module_) if warm else self._new_module(sample_shape)
                module = module.to(device)
                variational, recon = self._probe(module, X[:2], scale, device, flat)
                losses = self._resolve_losses(variational)
                check_bce_range(recon, losses)
                run = self._train(module, X, scale, device, flat, variational, rng)

            module.eval()
            for p in module.parameters():
                p.requires_grad_(True)
            # Only now, with training complete, is the estimator changed: an interrupted
            # fit leaves it unfitted (or at its previous fitted state with warm_start).
            before = self.n_epochs_ if warm else 0
            history = (list(self.history_) if warm else []) + run["history"]
            val_before = (list(self.validation_history_ or [np.nan] * before)) if warm else []
            if run["validation"] is None and not any(np.isfinite(val_before)):
                validation = None
            else:
                validation = val_before + (run["validation"] or [np.nan] * len(run["history"]))
            if run["best_epoch"] is not None:
                best_epoch = before + run["best_epoch"]
            else:
                best_epoch = self.best_epoch_ if warm else None
            state = dict(
                module_=module,
                device_=device,
                losses_=losses,
                variational_=variational,
                sample_shape_=sample_shape,
                image_shape_=sample_shape if len(sample_shape) == 3 else None,
                input_scale_=scale,
                history_=history,
                validation_history_=validation,
                n_epochs_=before + len(run["history"]),
                best_epoch_=best_epoch,
                n_features_in_=int(np.prod(sample_shape)),
                n_threads_=threads.count if threads.count is not None else torch.get_num_threads(),
            )
            state.update(self._transform_state(state))
            for k, v in state.items():
                setattr(self, k, v)
            return self

    def _probe(self, module, X, scale, device, flat):
        """One forward pass on a sample or two: checks the module protocol.  Returns
        ``(variational, reconstruction)``."""
        x = to_tensor(X, scale, device, flat=flat)
        module.eval()
        try:
            with torch.no_grad():
                out = module(x)
        except Exception as exc:
            raise ValueError(
                f"the module failed on input of shape {tuple(x.shape)} (float32 in [0, 1]): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        recon, mu, logvar = split_output(out)
        if not isinstance(recon, torch.Tensor) or recon.shape != x.shape:
            shape = tuple(recon.shape) if isinstance(recon, torch.Tensor) else type(recon).__name__
            raise ValueError(
                f"the module's reconstruction has shape {shape} for input of shape {tuple(x.shape)}; "
                "an autoencoder must return a tensor of its input's shape (or (reconstruction, mu, logvar))"
            )
        return mu is not None, recon

    def _training_losses(self, variational):
        """What the module is trained on: the reconstruction losses in ``loss``, plus KL when variational."""
        losses = self._resolve_losses(variational)
        recon_losses = [l for l in losses if l in RECONSTRUCTION_LOSSES]
        if not recon_losses:
            recon_losses = ["bce" if self.module in ("vae", "cae") else "mse"]
        return recon_losses + (["kld"] if variational else [])

    def _train(self, module, X, scale, device, flat, variational, rng):
        """Split off the validation samples and train ``module`` (see :mod:`skgrad._training`)."""
        if self.epochs == 0:
            return {"history": [], "validation": None, "best_epoch": None}
        n = X.shape[0]
        val_data = None
        if self.early_stopping:
            n_val = int(np.ceil(self.validation_fraction * n))
            if n - n_val < 1:
                raise ValueError(
                    f"{type(self).__name__}: early_stopping holds out validation_fraction="
                    f"{self.validation_fraction} of the samples, which leaves none of the {n} samples to train "
                    "on; pass more samples, or early_stopping=False"
                )
            order = rng.permutation(n)
            val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
            val_data = to_tensor(X[val_idx], scale, device, flat=flat)
            data = to_tensor(X[train_idx], scale, device, flat=flat)
        else:
            data = to_tensor(X, scale, device, flat=flat)
        return train_autoencoder(
            module, data, val_data, self._training_losses(variational), rng,
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, n_iter_no_change=self.n_iter_no_change, tol=self.tol,
            verbose=self.verbose, name=type(self).__name__,
        )

    # --------------------------------------------------------------- transform
    def transform(self, X):
        """Features of each sample, a float32 array of shape ``(n_samples, n_features_out_)``.

        ``X`` is processed in chunks of ``batch_size``; the last chunk is padded
        to ``batch_size``, so that every sample goes through kernels of the
        same shape: a sample's features depend on that sample alone, not on
        the size or the content of the batch it came in (up to float32
        rounding of the machine's kernels).
        """
        check_is_fitted(self, "module_")
        if type(X).__module__.split(".")[0] == "dask":
            from .dask import dask_transform  # optional: only when dask is in use

            return dask_transform(self, X)
        X, _, scale = self._validate_X(X, reset=False)
        check_output_memory(X.shape[0], self.n_features_out_, type(self).__name__)
        out = np.empty((X.shape[0], self.n_features_out_), dtype=np.float32)
        with self._threads(self.device_, X.shape[0]) as threads:
            for start, stop, x in self._batches(X, scale, "transform", threads):
                out[start:stop] = self._transform_batch(x)[: stop - start].cpu().numpy()
        return out

    def _threads(self, device, n_samples, adaptive=True):
        """The ``n_threads`` policy for one call on ``n_samples`` (``fit``: times ``epochs``); see
        :mod:`skgrad._threads`."""
        n_threads = self.n_threads if device.type == "cpu" else None
        return ThreadPolicy(n_threads, -(-n_samples // int(self.batch_size)), adaptive=adaptive)

    def _batches(self, X, scale, desc, threads):
        """``(start, stop, tensor)`` per chunk of ``batch_size`` samples of a validated ``X``.

        The last chunk is padded with copies of its last sample to ``batch_size``:
        every sample goes through kernels of one shape (the first ``stop - start``
        rows of the tensor are the chunk).
        """
        flat = self._flat(self.sample_shape_)
        bs = int(self.batch_size)
        for start, stop in self._chunks(X.shape[0], desc=desc):
            threads.step()
            chunk = X[start:stop]
            if stop - start < bs:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], bs - (stop - start), axis=0)])
            yield start, stop, to_tensor(chunk, scale, self.device_, flat=flat)

    def per_sample_losses(self, X, *, above_floor=False):
        """Each sample's losses under the trained module: the reconstruction error and KL term.

        The module runs in eval mode (a VAE decodes its latent mean), as for
        ``transform``; the losses are those the features are gradients of.

        Parameters
        ----------
        X : array-like
            Samples as in ``transform``.
        above_floor : bool, default=False
            Subtract each loss's floor: a binary cross-entropy less the targets'
            own entropy (:func:`skgrad.losses.excess_loss`), the part a model
            can reduce.  For photographs the entropy dominates the raw loss.

        Returns
        -------
        ndarray of shape (n_samples, n_losses)
            float64; column ``j`` is the loss named ``losses_[j]`` (summed over
            the sample), one column per entry of ``losses_``.

        Examples
        --------
        >>> import numpy as np
        >>> from skgrad import GradientFeatureTransformer
        >>> X = np.random.RandomState(0).randint(0, 256, size=(8, 28, 28, 3), dtype=np.uint8)
        >>> gft = GradientFeatureTransformer(epochs=0, random_state=0, device="cpu").fit(X)
        >>> gft.losses_, gft.per_sample_losses(X[:3]).shape
        (('bce', 'kld'), (3, 2))
        """
        check_is_fitted(self, "module_")
        X, _, scale = self._validate_X(X, reset=False)
        out = np.empty((X.shape[0], len(self.losses_)), dtype=np.float64)
        with torch.no_grad(), self._threads(self.device_, X.shape[0]) as threads:
            for start, stop, x in self._batches(X, scale, "losses", threads):
                o = self.module_(x)
                loss = excess_loss if above_floor else per_sample_loss
                values = [loss(l, o, x)[: stop - start] for l in self.losses_]
                out[start:stop] = torch.stack(values, dim=1).double().cpu().numpy()
        return out

    def _chunks(self, n, desc):
        bs = int(self.batch_size)
        starts = range(0, n, bs)
        bar = _progress(starts, enabled=bool(self.verbose) and n > bs, desc=desc, unit="batch")
        for start in bar:
            yield start, min(start + bs, n)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, e.g. ``"bce:up.6.weight[17]"``.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "module_")
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
