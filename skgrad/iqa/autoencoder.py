"""The sparse patch autoencoder of UNIQUE (192 -> sigmoid hidden -> 192 linear).

:class:`SparsePatchAutoencoder` holds the weights the IQA metrics use.  Load the
authors' ImageNet model with :meth:`SparsePatchAutoencoder.from_mat`, or train one
on your own photographs with :meth:`SparsePatchAutoencoder.fit` (UFLDL-style
sparse autoencoder with a linear decoder, L-BFGS-B).
"""
from pathlib import Path
import numbers

import numpy as np
from scipy import io, optimize
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..metrics._ranks import Workspace
from ._imresize import imresize
from ._preprocess import _check_rgb_uint8, _zca_transform, extract_patches, one_blas_thread, to_ygcr

__all__ = ["SparsePatchAutoencoder"]


def halves(n):
    """The two blocks, ``[0, n // 2)`` and ``[n // 2, n)``, in which the products of
    the scores (activations, residual, decoder gradient) are computed: one thread
    may compute both, or two threads one each (:func:`skgrad.iqa._scoring.pair_scores`),
    with the same BLAS calls and so the same bits.  (The rows of a product may
    depend on how its rows are blocked: with OpenBLAS's Haswell kernels, an odd
    number of rows computed in one call or in two gives results that differ in the
    last bit.)"""
    middle = n // 2
    return slice(0, middle), slice(middle, n)


class SparsePatchAutoencoder(BaseEstimator):
    """Sparse autoencoder on whitened 8x8x3 Y-G-Cr patches (UNIQUE's model).

    Encoder ``a = sigmoid(W1 x + b1)`` (``n_hidden`` units), linear decoder
    ``W2 a + b2``.  Training minimises

    ``J = 1/(2N) sum ||W2 a + b2 - x||^2 + weight_decay / 2 (||W1||^2 + ||W2||^2)
    + sparsity_weight * sum_j KL(sparsity_target || mean activation of unit j)``

    with L-BFGS-B and the analytic gradient.  The defaults are those of UNIQUE
    (400 hidden units, target activation 0.035, beta 5, lambda 3e-3).

    Parameters
    ----------
    n_hidden : int, default=400
        Number of hidden (sigmoid) units.
    sparsity_target : float, default=0.035
        Desired mean activation ``rho`` of each hidden unit.
    sparsity_weight : float, default=5.0
        Weight ``beta`` of the KL sparsity penalty.
    weight_decay : float, default=3e-3
        L2 penalty ``lambda`` on ``W1`` and ``W2`` (not on the biases).
    max_iter : int, default=400
        Maximum number of L-BFGS-B iterations.
    n_patches : int, default=100_000
        Number of random training patches drawn (evenly over the images).
    patch_size : int, default=8
        Side of the square patches; inputs have ``3 * patch_size ** 2`` values.
    scale : float in (0, 4], default=0.5
        Resize factor applied to the training images first (as at scoring time).
    epsilon : float, default=0.1
        ZCA whitening regulariser.
    random_state : int, RandomState instance or None, default=None
        Seeds patch sampling and weight initialisation.

    Attributes
    ----------
    W1_ : ndarray of shape (n_hidden, n_features)
        Encoder weights.
    b1_ : ndarray of shape (n_hidden,)
        Encoder bias.
    W2_ : ndarray of shape (n_features, n_hidden)
        Decoder weights.
    b2_ : ndarray of shape (n_features,)
        Decoder bias.
    n_features_in_ : int
        ``3 * patch_size ** 2``.
    loss_ : float
        Final training objective (``nan`` when loaded with :meth:`from_mat`).
    n_iter_ : int
        L-BFGS-B iterations run (0 when loaded with :meth:`from_mat`).

    Notes
    -----
    ``fit`` preprocesses each image as the metrics do (``imresize`` by ``scale``,
    Y-G-Cr, /255), computes the image's ZCA whitening from its grid of
    non-overlapping patches (see :func:`skgrad.iqa.prepare_patches`) and applies
    it to patches drawn at random positions of that image.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import SparsePatchAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    >>> model = SparsePatchAutoencoder(n_hidden=10, n_patches=200, max_iter=5,
    ...                                random_state=0).fit(images)
    >>> model.W1_.shape, model.W2_.shape
    ((10, 192), (192, 10))
    """

    def __init__(self, n_hidden=400, sparsity_target=0.035, sparsity_weight=5.0,
                 weight_decay=3e-3, max_iter=400, n_patches=100_000, patch_size=8,
                 scale=0.5, epsilon=0.1, random_state=None):
        self.n_hidden = n_hidden
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.max_iter = max_iter
        self.n_patches = n_patches
        self.patch_size = patch_size
        self.scale = scale
        self.epsilon = epsilon
        self.random_state = random_state

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_mat(cls, path):
        """Load the authors' weights (``ImageNet_Weights_YGCr.mat``).

        The file must hold ``optTheta``, a column of
        ``2 * n_hidden * 192 + n_hidden + 192`` values packing ``W1`` (n_hidden x
        192), ``W2`` (192 x n_hidden), ``b1`` and ``b2``, each column-major (the
        UFLDL layout).  ``W`` and ``b`` (the encoder alone), when present, must
        agree with ``W1`` and ``b1``.

        Parameters
        ----------
        path : str or path-like
            The ``.mat`` file.

        Returns
        -------
        model : SparsePatchAutoencoder
            A fitted model with default hyper-parameters and ``n_hidden`` taken
            from the file.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If ``optTheta`` is missing or has an impossible size, or ``W``/``b``
            disagree with it.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> from scipy.io import savemat
        >>> from skgrad.iqa import SparsePatchAutoencoder
        >>> theta = np.arange(2 * 4 * 192 + 4 + 192, dtype=float)[:, None]
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.mat")
        >>> savemat(path, {"optTheta": theta})
        >>> model = SparsePatchAutoencoder.from_mat(path)
        >>> model.n_hidden, float(model.W1_[1, 0]), float(model.W1_[0, 1])  # column-major
        (4, 1.0, 4.0)
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such weights file: {str(path)!r}")
        try:
            contents = io.loadmat(path)
        except Exception as exc:  # scipy raises several types on a damaged file
            raise ValueError(f"{str(path)!r} is not a readable MATLAB .mat file: {exc}") from exc
        n_visible = 3 * 8 ** 2
        expected = ("'optTheta', a vector of 2 * n_hidden * 192 + n_hidden + 192 "
                    "values packing W1 (n_hidden x 192), W2 (192 x n_hidden), b1 "
                    "and b2 column-major (e.g. 154192 values for 400 hidden units)")
        if "optTheta" not in contents:
            present = sorted(k for k in contents if not k.startswith("__"))
            raise ValueError(
                f"{str(path)!r} has no field 'optTheta' (fields present: {present}); "
                f"expected {expected}")
        theta = np.asarray(contents["optTheta"], dtype=np.float64).ravel()
        n_hidden, remainder = divmod(theta.size - n_visible, 2 * n_visible + 1)
        if remainder or n_hidden < 1:
            raise ValueError(
                f"'optTheta' in {str(path)!r} has {theta.size} values; expected "
                f"{expected}")
        model = cls(n_hidden=int(n_hidden))
        model._set_params_vector(theta, n_visible)
        for field, fitted in (("W", model.W1_), ("b", model.b1_)):
            if field in contents:
                value = np.asarray(contents[field], dtype=np.float64)
                if value.size != fitted.size or not np.allclose(
                        value.reshape(fitted.shape), fitted, rtol=0, atol=1e-12):
                    raise ValueError(
                        f"field {field!r} in {str(path)!r} does not match the encoder "
                        "packed in 'optTheta'")
        model.loss_ = float("nan")
        model.n_iter_ = 0
        return model

    def _set_params_vector(self, theta, n_visible):
        """Unpack a UFLDL parameter vector into ``W1_, W2_, b1_, b2_``."""
        h, v = self.n_hidden, n_visible
        self.W1_ = theta[:h * v].reshape(h, v, order="F").copy()
        self.W2_ = theta[h * v:2 * h * v].reshape(v, h, order="F").copy()
        self.b1_ = theta[2 * h * v:2 * h * v + h].copy()
        self.b2_ = theta[2 * h * v + h:].copy()
        self.n_features_in_ = v

    def _params_vector(self):
        """Pack ``W1_, W2_, b1_, b2_`` into a UFLDL parameter vector."""
        return np.concatenate([self.W1_.ravel(order="F"), self.W2_.ravel(order="F"),
                               self.b1_, self.b2_])

    # -------------------------------------------------------------- validation
    def _check_params(self):
        """Raise ValueError for a parameter out of its range."""
        for name in ("n_hidden", "max_iter", "n_patches", "patch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        # (low, high, whether low is allowed, whether high is allowed)
        ranges = {"sparsity_target": (0, 1, False, False), "sparsity_weight": (0, np.inf, True, False),
                  "weight_decay": (0, np.inf, True, False), "scale": (0, 4, False, True),
                  "epsilon": (0, np.inf, True, False)}
        for name, (low, high, with_low, with_high) in ranges.items():
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value)
                    or not (low <= value if with_low else low < value)
                    or not (value <= high if with_high else value < high)):
                bounds = f"{'[' if with_low else '('}{low}, {high}{']' if with_high else ')'}"
                raise ValueError(f"{name} must be a number in {bounds}; got {value!r}")

    def _restore(self, state):
        """Make a fitted model from its public fitted attributes (for :func:`skgrad.persistence.load`).

        Checks the weights' shapes against each other and ``patch_size``.  Returns ``self``.
        """
        n_visible = 3 * self.patch_size ** 2
        n_hidden = np.shape(state["W1_"])[0] if np.ndim(state["W1_"]) == 2 else 0
        shapes = {"W1_": (n_hidden, n_visible), "W2_": (n_visible, n_hidden),
                  "b1_": (n_hidden,), "b2_": (n_visible,)}
        for name, shape in shapes.items():
            value = state[name]
            if (not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != shape
                    or n_hidden < 1 or not np.all(np.isfinite(value))):
                raise ValueError(
                    f"{name} must be a finite float array of shape {shape} (patch_size={self.patch_size}), "
                    f"got {getattr(value, 'shape', type(value).__name__)}")
        if state["n_features_in_"] != n_visible:
            raise ValueError(f"n_features_in_ must be 3 * patch_size ** 2 = {n_visible}")
        missing = [k for k in ("loss_", "n_iter_") if k not in state]
        if missing:
            raise ValueError(f"the fitted state misses attribute(s) {missing}")
        for key, value in state.items():
            setattr(self, key, value)
        return self

    # ----------------------------------------------------------------- forward
    def encode(self, patches):
        """Hidden activations ``sigmoid(patches @ W1.T + b1)``.

        Parameters
        ----------
        patches : ndarray of shape (n_patches, n_features)
            Whitened patches, one per row (see :func:`skgrad.iqa.prepare_patches`).

        Returns
        -------
        activations : ndarray of shape (n_patches, n_hidden)

        Examples
        --------
        >>> import numpy as np
        >>> from skgrad.iqa import SparsePatchAutoencoder
        >>> model = SparsePatchAutoencoder(n_hidden=3)
        >>> model._set_params_vector(np.zeros(2 * 3 * 192 + 3 + 192), 192)
        >>> model.encode(np.ones((2, 192)))
        array([[0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5]])
        """
        check_is_fitted(self, ("W1_", "b1_"))
        return self._activations(self._check_patches(patches))

    def _activations(self, patches, out=None):
        """:meth:`encode` of checked float64 patches, written into ``out`` (an
        ``(n_patches, n_hidden)`` array) when given; by :func:`halves` of the rows."""
        if out is None:
            out = np.empty((patches.shape[0], self.W1_.shape[0]))
        for rows in halves(patches.shape[0]):
            self._activation_rows(patches, rows, out)
        return out

    def _activation_rows(self, patches, rows, out):
        """``out[rows]`` = the activations of ``patches[rows]``."""
        z = np.matmul(patches[rows], self.W1_.T, out=out[rows])
        z += self.b1_
        expit(z, out=z)

    def decoder_gradient(self, patches):
        """Gradient of the mean reconstruction error w.r.t. the decoder weights.

        ``G = (W2 a + b2 - x)' a / N`` for the patches ``x`` and their activations
        ``a``: the ``(n_features, n_hidden)`` matrix the gradient metric uses (the
        data term only; no weight decay, no sparsity term).

        Parameters
        ----------
        patches : ndarray of shape (n_patches, n_features)
            Whitened patches, one per row.

        Returns
        -------
        gradient : ndarray of shape (n_features, n_hidden)

        Examples
        --------
        >>> import numpy as np
        >>> from skgrad.iqa import SparsePatchAutoencoder
        >>> model = SparsePatchAutoencoder(n_hidden=2)
        >>> model._set_params_vector(np.zeros(2 * 2 * 192 + 2 + 192), 192)
        >>> model.decoder_gradient(np.ones((4, 192))).shape
        (192, 2)
        """
        check_is_fitted(self, ("W1_", "b1_", "W2_", "b2_"))
        patches = self._check_patches(patches)
        return self._decoder_gradient(patches, self._activations(patches))

    def _decoder_gradient(self, patches, activations):
        """:meth:`decoder_gradient` from the patches' activations (:meth:`encode`),
        for callers that need both: the residual by :func:`halves` of the rows, then
        ``G`` by halves of its rows."""
        residual = np.empty(patches.shape)
        for rows in halves(patches.shape[0]):
            self._residual_rows(patches, activations, rows, residual)
        gradient = np.empty((patches.shape[1], activations.shape[1]))
        for features in halves(patches.shape[1]):
            self._gradient_rows(residual, activations, features, gradient)
        return gradient

    def _residual_rows(self, patches, activations, rows, out):
        """``out[rows]`` = ``W2 a + b2 - x`` of ``patches[rows]`` (one per row)."""
        r = np.matmul(activations[rows], self.W2_.T, out=out[rows])
        r += self.b2_
        r -= patches[rows]

    def _gradient_rows(self, residual, activations, features, out):
        """``out[features]`` = those rows of ``G = residual' a / N``."""
        g = np.matmul(residual[:, features].T, activations, out=out[features])
        g /= residual.shape[0]

    def _check_patches(self, patches):
        patches = np.asarray(patches, dtype=np.float64)
        n_features = self.W1_.shape[1]
        if patches.ndim != 2 or patches.shape[1] != n_features:
            raise ValueError(
                f"patches must have shape (n_patches, {n_features}); got "
                f"{patches.shape}")
        return patches

    # ---------------------------------------------------------------- training
    def _loss_grad(self, theta, patches, workspace=None):
        """Sparse autoencoder objective and its gradient (UFLDL layout).

        The ``(n_patches, n_hidden)`` and ``(n_patches, n_visible)`` arrays are
        computed in place, in the vectors of ``workspace`` when one is given:
        L-BFGS calls this a hundred times with the same shapes, and the fresh
        temporaries of the plain expressions took about a quarter of a call (100
        hidden units, 5,000 patches).  The operations are those of the plain
        expressions, in their order: the same bits.
        """
        if workspace is None:
            workspace = Workspace()
        n, v = patches.shape
        h = self.n_hidden
        w1 = theta[:h * v].reshape(h, v, order="F")
        w2 = theta[h * v:2 * h * v].reshape(v, h, order="F")
        b1 = theta[2 * h * v:2 * h * v + h]
        b2 = theta[2 * h * v + h:]
        rho = self.sparsity_target
        beta = self.sparsity_weight
        lam = self.weight_decay

        act = np.matmul(patches, w1.T, out=workspace.get("act", (n, h), np.float64))  # sigmoid(W1 x + b1)
        act += b1
        expit(act, out=act)
        residual = np.matmul(act, w2.T, out=workspace.get("residual", (n, v), np.float64))  # W2 a + b2 - x
        residual += b2
        residual -= patches
        rho_hat = act.mean(axis=0)
        loss = (0.5 * np.sum(np.square(residual, out=workspace.get("squares", (n, v), np.float64))) / n
                + 0.5 * lam * (np.sum(w1 ** 2) + np.sum(w2 ** 2))
                + beta * np.sum(rho * np.log(rho / rho_hat)
                                + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))

        delta3 = np.divide(residual, n, out=residual)
        grad_w2 = delta3.T @ act + lam * w2
        grad_b2 = delta3.sum(axis=0)
        sparsity = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / n
        delta2 = np.matmul(delta3, w2, out=workspace.get("delta2", (n, h), np.float64))  # (delta3 W2 + s) a (1 - a)
        delta2 += sparsity
        delta2 *= act
        delta2 *= np.subtract(1, act, out=act)                          # a is not needed any more
        grad_w1 = delta2.T @ patches + lam * w1
        grad_b1 = delta2.sum(axis=0)
        grad = np.concatenate([grad_w1.ravel(order="F"), grad_w2.ravel(order="F"),
                               grad_b1, grad_b2])
        return loss, grad

    def _training_patches(self, images, rng):
        """Random whitened patches, the same number from each image."""
        p = self.patch_size
        per_image = -(-int(self.n_patches) // len(images))
        batches = []
        for k, image in enumerate(images):
            image = _check_rgb_uint8(image, name=f"images[{k}]")
            resized = imresize(image, self.scale) if self.scale != 1 else image
            if min(resized.shape[:2]) < p:
                raise ValueError(
                    f"images[{k}] of shape {image.shape} is too small: after resizing "
                    f"by {self.scale} it must hold one {p}x{p} patch")
            ygcr = to_ygcr(resized) / 255.0
            mean, zca = _zca_transform(extract_patches(ygcr, p), self.epsilon)
            rows = rng.randint(0, ygcr.shape[0] - p + 1, size=per_image)
            cols = rng.randint(0, ygcr.shape[1] - p + 1, size=per_image)
            offsets = np.arange(p)
            block = ygcr[rows[:, None, None] + offsets[None, :, None],
                         cols[:, None, None] + offsets[None, None, :]]  # (n, p, p, 3)
            flat = block.transpose(0, 3, 2, 1).reshape(per_image, -1)  # column-major
            batches.append((flat - mean) @ zca)
        return np.concatenate(batches)[:int(self.n_patches)]

    def fit(self, images, y=None):
        """Train on photographs.

        Parameters
        ----------
        images : sequence of ndarray of shape (H, W, 3), dtype uint8
            Undistorted RGB photographs (sizes may differ).
        y : None
            Ignored.

        Returns
        -------
        self : SparsePatchAutoencoder

        Examples
        --------
        >>> import numpy as np
        >>> from skgrad.iqa import SparsePatchAutoencoder
        >>> img = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> SparsePatchAutoencoder(n_hidden=4, n_patches=50, max_iter=3,
        ...                        random_state=0).fit([img]).n_iter_ <= 3
        True
        """
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise ValueError(
                "images must be a sequence of (H, W, 3) uint8 images or an array of "
                f"shape (n_images, H, W, 3); got one array of shape {images.shape}")
        if len(images) == 0:
            raise ValueError("images is empty; fit needs at least one image")
        self._check_params()
        rng = check_random_state(self.random_state)
        # one BLAS thread (see one_blas_thread): the products of L-BFGS's objective are
        # small, and on a busy machine a spinning second thread made them 10x slower
        with one_blas_thread():
            patches = self._training_patches(list(images), rng)
            n_visible = patches.shape[1]
            h = self.n_hidden
            bound = np.sqrt(6.0 / (h + n_visible + 1))
            theta0 = np.concatenate([
                rng.uniform(-bound, bound, 2 * h * n_visible), np.zeros(h + n_visible)])
            result = optimize.minimize(
                self._loss_grad, theta0, args=(patches, Workspace()), jac=True, method="L-BFGS-B",
                options={"maxiter": int(self.max_iter)})
        self._set_params_vector(result.x, n_visible)
        self.loss_ = float(result.fun)
        self.n_iter_ = int(result.nit)
        return self
