"""The parameter and attribute sections both transformers share, filled into their docstrings."""

_COMMON_PARAMS = """    module : {"vae", "cae", "dense"} or torch.nn.Module, default="vae"
        A preset (see :mod:`skgrad.models`) or a module following the protocol:
        ``forward(x)`` takes float32 ``(N, C, H, W)`` in [0, 1] (``(N, F)`` for 2-D
        input) and returns the reconstruction or ``(reconstruction, mu, logvar)``.
        ``fit`` trains a deep copy; the instance passed here is never changed.
    loss : "auto", str or tuple of str, default="auto"
        Per-sample losses among ``"bce"``, ``"mse"``, ``"kld"``, each summed over
        the sample.  ``"auto"``: ``("bce", "kld")`` for "vae", ``"bce"`` for "cae",
        ``"mse"`` (plus ``"kld"`` for a variational module) otherwise.  The module is
        trained on the reconstruction losses named here (plus the KL term when it is
        variational).
    image_shape : tuple or None, default=None
        ``(H, W)`` or ``(H, W, C)``: read 2-D input ``(n, H*W*C)`` as images.
    module_kwargs : dict or None, default=None
        Keyword arguments of the preset (e.g. ``{"latent_dim": 10}``).
    epochs : int, default=200
        The most passes over the training data one ``fit`` runs; with
        ``early_stopping`` training usually ends well before.
    batch_size : int, default=64
        Mini-batch size for training, and chunk size for ``transform``.
    learning_rate : float, default=3e-3
        Adam's learning rate.  3e-3 trains the paper's VAE to features as good
        as 1e-3 does in about half the epochs (measured on real digits).
    weight_decay : float, default=0.0
        Adam's weight decay.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training samples, stop when
        their loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs, and keep the weights of the epoch with the lowest validation
        loss (as the paper's authors keep their best checkpoint).  With
        False, all samples train and the training loss decides when to stop
        (as in :class:`~sklearn.neural_network.MLPClassifier`).
    validation_fraction : float in (0, 1), default=0.1
        Share of the training samples held out for early stopping (at least
        one sample).
    n_iter_no_change : int, default=10
        Epochs without an improvement by more than ``tol`` before training
        stops.
    tol : float, default=1e-3
        Relative improvement of the monitored loss that counts: an epoch
        improves when its loss is below ``(1 - tol)`` times the best so far.
    inlier_label : object, default=None
        When set and ``fit`` gets ``y``, the autoencoder is trained on the
        samples with ``y == inlier_label`` only; ``transform`` still maps
        every sample.  This makes the transformer the first step of a
        :class:`~sklearn.pipeline.Pipeline` fitted on labelled data (clean
        and outlier images), as in ``cross_val_score`` or ``GridSearchCV``:
        the autoencoder then learns the clean images alone.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the VAE's sampling; the same
        int gives identical features on the CPU.
    device : str, default="auto"
        ``"auto"`` (a CUDA GPU when there is one, else the CPU), ``"cpu"``,
        ``"cuda"`` or ``"cuda:N"``.
    verbose : bool, default=False
        Show tqdm progress bars (with the training loss).
    warm_start : bool, default=False
        Continue training the fitted module on the next ``fit``.
    n_threads : "auto", int or None, default="auto"
        CPU threads torch may use during this estimator's calls; the
        caller's setting is restored when each call returns.  ``"auto"``:
        your own choice when you made one (``OMP_NUM_THREADS`` or
        ``MKL_NUM_THREADS`` in the environment, or ``torch.set_num_threads``
        after importing skgrad), 1 thread for a few batches, else the cores
        that other processes leave idle (read from ``/proc/stat`` on Linux):
        torch's spinning threads lose up to 4x when another process holds a
        core.  ``transform`` follows the load as it runs (its output does not
        depend on the thread count); ``fit`` decides at its start, and its
        weights depend on the count (pass an int to make refits identical on a
        busy machine).  None: leave torch's setting alone.  Ignored on a GPU."""

_COMMON_ATTRS = """    module_ : torch.nn.Module
        The trained module, in eval mode, on ``device_``.
    device_ : torch.device
        Where the module lives and ``transform`` runs.
    history_ : list of float
        Mean per-sample training loss per epoch (all epochs of all ``fit``
        calls with ``warm_start``), above its floor: a binary cross-entropy is
        recorded less the targets' own entropy, which no model can remove
        (:func:`skgrad.losses.excess_loss`); ``tol`` is relative to this.
    validation_history_ : list of float or None
        Mean per-sample loss of the held-out samples per epoch (in eval mode,
        above its floor as ``history_``); None without ``early_stopping``.
    n_epochs_ : int
        Epochs run (in all, with ``warm_start``).
    best_epoch_ : int or None
        The epoch (1-based, counted as ``history_``) whose weights ``module_``
        holds: the lowest validation loss with ``early_stopping``, else the
        last epoch; None when no epoch ran (``epochs=0``).
    losses_ : tuple of str
        The losses in use.
    n_threads_ : int
        The CPU threads ``fit`` trained with (``n_threads``); a refit with
        ``n_threads=n_threads_`` and the same ``random_state`` gives the same
        weights.  None for an estimator loaded from a file written before
        skgrad recorded it.
    n_features_in_ : int
        Values per input sample (``H*W*C`` for images).
    n_features_out_ : int
        Number of output features (columns of ``transform``).
    sample_shape_ : tuple
        ``(H, W, C)`` for images, ``(F,)`` for rows.
    feature_names_in_ : ndarray of str
        Defined when fitted on a DataFrame."""


def _doc(cls):
    """Fill the shared parameter and attribute sections into a class docstring."""
    cls.__doc__ = cls.__doc__.replace("%(params)s", _COMMON_PARAMS).replace("%(attrs)s", _COMMON_ATTRS)
    return cls
