"""What both transformers share: validation, device, seeding, the training loop,
warm start, chunked transform and pickling across devices."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import check_input, resolve_device, to_tensor
from .losses import RECONSTRUCTION_LOSSES, check_loss, per_sample_loss, split_output
from .models import PRESETS, build_preset

__all__ = ["AutoencoderTransformerBase"]


def available_memory_bytes():
    """Memory the system can still give (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_output_memory(n_rows, n_cols, estimator_name, budget=None):
    """Fail early, with advice, when a float32 (n_rows, n_cols) output cannot fit in memory."""
    need = 4 * int(n_rows) * int(n_cols)
    budget = available_memory_bytes() if budget is None else budget
    if budget is not None and need > 0.8 * budget:
        raise MemoryError(
            f"{estimator_name}.transform would return {n_rows} x {n_cols} float32 features "
            f"({need / 2**30:.1f} GiB), more than this machine can hold ({budget / 2**30:.1f} GiB available). "
            "Use reduction='norm' or 'stats', fewer layers, transform fewer samples at a time, or "
            "skgrad.extract.transform_to_npy to write features to disk chunk by chunk."
        )


def _progress(iterable=None, *, enabled, **kwargs):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, leave=False, **kwargs)


class AutoencoderTransformerBase(TransformerMixin, BaseEstimator):
    """Base class: fits an autoencoder, then maps each sample to features.

    Subclasses set ``_estimator_kind`` and implement ``_prepare_transform`` (called
    at the end of ``fit``, returns the number of output features),
    ``_transform_batch`` and ``_feature_names``.
    """

    def __init__(
        self,
        module="vae",
        *,
        loss="auto",
        image_shape=None,
        module_kwargs=None,
        epochs=10,
        batch_size=64,
        learning_rate=1e-3,
        weight_decay=0.0,
        random_state=None,
        device="auto",
        verbose=False,
        warm_start=False,
    ):
        self.module = module
        self.loss = loss
        self.image_shape = image_shape
        self.module_kwargs = module_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ params
    def _check_params(self):
        name = type(self).__name__
        for pname in ("epochs", "batch_size"):
            value = getattr(self, pname)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if pname == "epochs" else 1):
                low = 0 if pname == "epochs" else 1
                raise ValueError(f"{name}: {pname} must be an int >= {low}, got {value!r}")
        for pname in ("learning_rate", "weight_decay"):
            value = getattr(self, pname)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or value < 0:
                raise ValueError(f"{name}: {pname} must be a float >= 0, got {value!r}")
        if isinstance(self.module, str):
            if self.module not in PRESETS:
                raise ValueError(
                    f"{name}: unknown module preset {self.module!r}; choose from {PRESETS} or pass a torch.nn.Module"
                )
        elif isinstance(self.module, type) and issubclass(self.module, torch.nn.Module):
            raise TypeError(
                f"{name}: module={self.module.__name__} is a class; pass an instance, e.g. module={self.module.__name__}()"
            )
        elif not isinstance(self.module, torch.nn.Module):
            raise TypeError(
                f"{name}: module must be one of {PRESETS} or a torch.nn.Module instance, got {type(self.module).__name__}"
            )
        if self.module_kwargs is not None and not isinstance(self.module_kwargs, dict):
            raise TypeError(f"{name}: module_kwargs must be a dict or None, got {type(self.module_kwargs).__name__}")
        if self.module_kwargs and not isinstance(self.module, str):
            raise ValueError(f"{name}: module_kwargs applies to presets only, not to a module instance")

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

    def _flat(self, sample_shape):
        return len(sample_shape) == 1 or self.module == "dense"

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W, C), (n_samples, H, W) or (n_samples, n_features)
            uint8 images (scaled by 1/255) or float images in [0, 1]; 2-D rows with
            ``module="dense"`` or with ``image_shape``.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        warm = self.warm_start and hasattr(self, "module_")
        X, sample_shape, scale = self._validate_X(X, reset=True)
        if warm and sample_shape != self.sample_shape_:
            raise ValueError(
                f"warm_start: X has samples of shape {sample_shape}, but the fitted module takes {self.sample_shape_}"
            )
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        flat = self._flat(sample_shape)
        cuda_devices = [device.index or 0] if device.type == "cuda" else []

        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            if warm:
                module = copy.deepcopy(self.module_)
            elif isinstance(self.module, str):
                module = build_preset(
                    self.module,
                    (int(np.prod(sample_shape)),) if flat else sample_shape,
                    losses=self._loss_hint(),
                    **(self.module_kwargs or {}),
                )
            else:
                module = copy.deepcopy(self.module)
            module = module.to(device)
            variational = self._probe(module, X[:2], scale, device, flat)
            losses = self._resolve_losses(variational)
            history = self._train(module, X, scale, device, flat, losses, variational, rng)

        module.eval()
        for p in module.parameters():
            p.requires_grad_(True)
        # Only now, with training complete, is the estimator changed: an interrupted
        # fit leaves it unfitted (or at its previous fitted state with warm_start).
        state = dict(
            module_=module,
            device_=device,
            losses_=losses,
            variational_=variational,
            sample_shape_=sample_shape,
            image_shape_=sample_shape if len(sample_shape) == 3 else None,
            input_scale_=scale,
            history_=(list(self.history_) if warm else []) + history,
            n_features_in_=int(np.prod(sample_shape)),
        )
        n_out, extra = self._prepare_transform(module, losses, variational, X[:1], scale, device, flat)
        state.update(extra)
        state["n_features_out_"] = n_out
        for k, v in state.items():
            setattr(self, k, v)
        return self

    def _probe(self, module, X, scale, device, flat):
        """One forward pass on a sample or two: checks the module protocol."""
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
        return mu is not None

    def _train(self, module, X, scale, device, flat, losses, variational, rng):
        recon_losses = [l for l in losses if l in RECONSTRUCTION_LOSSES]
        if not recon_losses:
            recon_losses = ["bce" if self.module in ("vae", "cae") else "mse"]
        train_losses = recon_losses + (["kld"] if variational else [])
        n = X.shape[0]
        history = []
        if self.epochs == 0:
            return history
        data = to_tensor(X, scale, device, flat=flat)
        module.train()
        optimizer = torch.optim.Adam(module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        bar = _progress(range(self.epochs), enabled=bool(self.verbose), desc=f"fit {type(self).__name__}", unit="epoch")
        for _ in bar:
            order = torch.from_numpy(rng.permutation(n)).to(device)
            total = torch.zeros((), device=device)
            for start in range(0, n, self.batch_size):
                xb = data[order[start : start + self.batch_size]]
                out = module(xb)
                per_sample = sum(per_sample_loss(l, out, xb) for l in train_losses)
                loss = per_sample.mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += per_sample.detach().sum()
            history.append(float(total) / n)
            if self.verbose:
                bar.set_postfix(loss=f"{history[-1]:.4g}")
        if not np.isfinite(history[-1]):
            warnings.warn(
                f"training diverged (loss {history[-1]}); lower learning_rate", RuntimeWarning, stacklevel=3
            )
        return history

    # --------------------------------------------------------------- transform
    def transform(self, X):
        """Features of each sample, a float32 array of shape ``(n_samples, n_features_out_)``.

        ``X`` is processed in chunks of ``batch_size``; each sample's features
        depend on that sample alone.
        """
        check_is_fitted(self, "module_")
        if type(X).__module__.split(".")[0] == "dask":
            from ._dask import dask_transform  # optional: only when dask is in use

            return dask_transform(self, X)
        X, _, scale = self._validate_X(X, reset=False)
        flat = self._flat(self.sample_shape_)
        check_output_memory(X.shape[0], self.n_features_out_, type(self).__name__)
        out = np.empty((X.shape[0], self.n_features_out_), dtype=np.float32)
        for start, stop in self._chunks(X.shape[0], desc="transform"):
            x = to_tensor(X[start:stop], scale, self.device_, flat=flat)
            out[start:stop] = self._transform_batch(x).cpu().numpy()
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

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never change the live estimator
        if "module_" in state:
            # Always pickled from the CPU so that a CUDA-fitted model loads anywhere.
            module = state["module_"]
            if any(p.device.type != "cpu" for p in module.parameters()):
                module = copy.deepcopy(module).cpu()
            state["module_"] = module
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "module_" in state:
            device = torch.device(state["device_"])
            if device.type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"this model was fitted on {device}, which is not available here; it now runs on the CPU",
                    UserWarning,
                    stacklevel=2,
                )
                device = torch.device("cpu")
            self.device_ = device
            self.module_ = self.module_.to(device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
