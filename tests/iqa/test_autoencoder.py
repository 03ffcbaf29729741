"""SparsePatchAutoencoder: loading, gradient, training, sklearn conventions."""
import numpy as np
import pytest
from scipy import io, optimize
from scipy.special import expit
from sklearn.base import clone

from skgrad.iqa import SparsePatchAutoencoder


def _images(seed=0, n=2, shape=(40, 48, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def test_init_stores_params_untouched():
    model = SparsePatchAutoencoder(n_hidden=7, sparsity_weight=2, random_state=3)
    assert model.get_params()["n_hidden"] == 7
    assert model.get_params()["random_state"] == 3
    assert clone(model).get_params() == model.get_params()
    defaults = SparsePatchAutoencoder().get_params()
    assert (defaults["n_hidden"], defaults["sparsity_target"], defaults["sparsity_weight"],
            defaults["weight_decay"], defaults["patch_size"]) == (400, 0.035, 5.0, 3e-3, 8)


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    model = SparsePatchAutoencoder(n_hidden=5, sparsity_target=0.1,
                                   sparsity_weight=3.0, weight_decay=1e-2)
    patches = rng.normal(size=(20, 192))
    theta = rng.normal(scale=0.1, size=2 * 5 * 192 + 5 + 192)
    error = optimize.check_grad(lambda t: model._loss_grad(t, patches)[0],
                                lambda t: model._loss_grad(t, patches)[1], theta,
                                seed=0)
    assert error < 1e-5 * np.linalg.norm(model._loss_grad(theta, patches)[1])


def test_loss_matches_definition():
    rng = np.random.default_rng(1)
    model = SparsePatchAutoencoder(n_hidden=3, sparsity_target=0.2,
                                   sparsity_weight=0.5, weight_decay=0.1)
    model._set_params_vector(rng.normal(size=2 * 3 * 192 + 3 + 192), 192)
    x = rng.normal(size=(6, 192))
    loss = 0.0
    act = []
    for row in x:
        a = expit(model.W1_ @ row + model.b1_)
        act.append(a)
        loss += 0.5 * np.sum((model.W2_ @ a + model.b2_ - row) ** 2) / len(x)
    rho_hat = np.mean(act, axis=0)
    loss += 0.05 * (np.sum(model.W1_ ** 2) + np.sum(model.W2_ ** 2))
    loss += 0.5 * np.sum(0.2 * np.log(0.2 / rho_hat) + 0.8 * np.log(0.8 / (1 - rho_hat)))
    assert model._loss_grad(model._params_vector(), x)[0] == pytest.approx(loss, rel=1e-12)


def test_loss_and_gradient_in_a_reused_workspace_are_the_plain_expressions_bits():
    """``fit`` hands one Workspace to every L-BFGS call, which computes in place in its
    vectors: the loss and gradient must be those of the plain UFLDL expressions, bit for
    bit, whatever an earlier call (of another size) left in the vectors."""
    from skgrad.metrics._ranks import Workspace

    rng = np.random.default_rng(2)
    h, rho, beta, lam = 7, 0.05, 3.0, 1e-3
    model = SparsePatchAutoencoder(n_hidden=h, sparsity_target=rho, sparsity_weight=beta,
                                   weight_decay=lam)
    theta = rng.normal(scale=0.1, size=2 * h * 192 + h + 192)
    x = rng.normal(size=(33, 192))
    workspace = Workspace()
    model._loss_grad(theta, rng.normal(size=(50, 192)), workspace)   # longer: leaves garbage
    loss, grad = model._loss_grad(theta, x, workspace)
    # the plain expressions, fresh arrays
    w1, w2 = theta[:h * 192].reshape(h, 192, order="F"), theta[h * 192:2 * h * 192].reshape(192, h, order="F")
    b1, b2 = theta[2 * h * 192:2 * h * 192 + h], theta[2 * h * 192 + h:]
    act = expit(x @ w1.T + b1)
    residual = act @ w2.T + b2 - x
    rho_hat = act.mean(axis=0)
    expected_loss = (0.5 * np.sum(residual ** 2) / len(x) + 0.5 * lam * (np.sum(w1 ** 2) + np.sum(w2 ** 2))
                     + beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))
    delta3 = residual / len(x)
    delta2 = (delta3 @ w2 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / len(x)) * act * (1 - act)
    expected_grad = np.concatenate([(delta2.T @ x + lam * w1).ravel(order="F"),
                                    (delta3.T @ act + lam * w2).ravel(order="F"),
                                    delta2.sum(axis=0), delta3.sum(axis=0)])
    assert loss == expected_loss
    np.testing.assert_array_equal(grad, expected_grad)


def test_fit_reduces_loss_and_is_reproducible():
    images = _images()
    kwargs = dict(n_hidden=6, n_patches=200, max_iter=15, random_state=0)
    model = SparsePatchAutoencoder(**kwargs).fit(images)
    again = SparsePatchAutoencoder(**kwargs).fit(images)
    np.testing.assert_array_equal(model.W1_, again.W1_)
    assert model.W1_.shape == (6, 192) and model.b1_.shape == (6,)
    assert model.W2_.shape == (192, 6) and model.b2_.shape == (192,)
    rng = np.random.RandomState(0)
    patches = model._training_patches(images, rng)
    untrained = SparsePatchAutoencoder(**{**kwargs, "max_iter": 1}).fit(images)
    assert model.loss_ < untrained.loss_
    assert 0 < model.n_iter_ <= 15
    assert patches.shape == (200, 192)


def test_fit_validates_inputs():
    with pytest.raises(ValueError, match="empty"):
        SparsePatchAutoencoder().fit([])
    with pytest.raises(TypeError, match="uint8"):
        SparsePatchAutoencoder(n_patches=10, max_iter=1).fit([np.zeros((32, 32, 3))])
    with pytest.raises(ValueError, match="sequence"):
        SparsePatchAutoencoder().fit(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        SparsePatchAutoencoder(n_patches=10).fit([np.zeros((12, 40, 3), np.uint8)])
    with pytest.raises(ValueError, match="n_hidden"):
        SparsePatchAutoencoder(n_hidden=0).fit(_images(n=1))


def test_from_mat_unpacks_column_major(tmp_path):
    h, v = 3, 192
    w1 = np.arange(h * v, dtype=float).reshape(h, v)
    w2 = -np.arange(v * h, dtype=float).reshape(v, h)
    b1, b2 = np.array([1.0, 2.0, 3.0]), np.linspace(0, 1, v)
    theta = np.concatenate([w1.ravel(order="F"), w2.ravel(order="F"), b1, b2])
    path = tmp_path / "w.mat"
    io.savemat(path, {"optTheta": theta[:, None], "W": w1, "b": b1[:, None]})
    model = SparsePatchAutoencoder.from_mat(path)
    np.testing.assert_array_equal(model.W1_, w1)
    np.testing.assert_array_equal(model.W2_, w2)
    np.testing.assert_array_equal(model.b1_, b1)
    np.testing.assert_array_equal(model.b2_, b2)
    assert model.n_hidden == 3 and model.n_features_in_ == 192
    np.testing.assert_array_equal(model._params_vector(), theta)


def test_from_mat_errors(tmp_path):
    missing = tmp_path / "nope.mat"
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        SparsePatchAutoencoder.from_mat(missing)
    no_theta = tmp_path / "no_theta.mat"
    io.savemat(no_theta, {"W": np.zeros((4, 192))})
    with pytest.raises(ValueError, match=r"no field 'optTheta'.*\['W'\].*154192"):
        SparsePatchAutoencoder.from_mat(no_theta)
    bad_size = tmp_path / "bad_size.mat"
    io.savemat(bad_size, {"optTheta": np.zeros((1000, 1))})
    with pytest.raises(ValueError, match="1000 values"):
        SparsePatchAutoencoder.from_mat(bad_size)
    mismatch = tmp_path / "mismatch.mat"
    io.savemat(mismatch, {"optTheta": np.zeros((2 * 2 * 192 + 2 + 192, 1)),
                          "W": np.ones((2, 192))})
    with pytest.raises(ValueError, match="'W'"):
        SparsePatchAutoencoder.from_mat(mismatch)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="garbage.mat.*not a readable MATLAB .mat file"):
        SparsePatchAutoencoder.from_mat(garbage)


def test_authors_weights_load(shared_dir):
    model = SparsePatchAutoencoder.from_mat(
        shared_dir / "data" / "unique" / "ImageNet_Weights_YGCr.mat")
    raw = io.loadmat(shared_dir / "data" / "unique" / "ImageNet_Weights_YGCr.mat")
    assert model.n_hidden == 400
    np.testing.assert_array_equal(model.W1_, raw["W"])
    np.testing.assert_array_equal(model.b1_, raw["b"].ravel())
    assert model.W2_.shape == (192, 400) and model.b2_.shape == (192,)


def test_unfitted_model_raises():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        SparsePatchAutoencoder().encode(np.zeros((2, 192)))


def test_decoder_gradient_matches_loop():
    rng = np.random.default_rng(2)
    model = SparsePatchAutoencoder(n_hidden=4)
    model._set_params_vector(rng.normal(size=2 * 4 * 192 + 4 + 192), 192)
    x = rng.normal(size=(5, 192))
    expected = np.zeros((192, 4))
    for row in x:
        a = expit(model.W1_ @ row + model.b1_)
        expected += np.outer(model.W2_ @ a + model.b2_ - row, a) / len(x)
    np.testing.assert_allclose(model.decoder_gradient(x), expected, rtol=1e-12)
    # it is the data-term gradient of the training loss w.r.t. W2
    plain = SparsePatchAutoencoder(n_hidden=4, weight_decay=0.0, sparsity_weight=0.0)
    grad = plain._loss_grad(model._params_vector(), x)[1]
    np.testing.assert_allclose(grad[4 * 192:2 * 4 * 192].reshape(192, 4, order="F"),
                               expected, rtol=1e-12)
