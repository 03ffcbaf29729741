"""Behaviour of GradientFeatureTransformer and ActivationFeatureTransformer."""
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from torch import nn

from numerics import ORACLE_RTOL, RTOL, assert_allclose_blocks
from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad.losses import bce, kld


@pytest.fixture(scope="module")
def digits28():
    """Real handwritten digits, 8x8 -> 28x28 (nearest), three channels, uint8."""
    images = (load_digits().images[:96] * (255 / 16)).round().astype(np.uint8)
    images = images.repeat(4, axis=1).repeat(4, axis=2)[:, 2:30, 2:30]
    return np.repeat(images[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def fitted(digits28):
    return GradientFeatureTransformer(device="cpu", epochs=2, batch_size=32, random_state=0).fit(digits28)


def test_default_is_the_papers_1872_features(fitted, digits28):
    feats = fitted.transform(digits28)
    assert feats.shape == (96, 144 + 1728) and feats.dtype == np.float32
    assert fitted.layers_ == {"bce": ["up.6.weight"], "kld": ["down.6.weight"]}
    names = fitted.get_feature_names_out()
    assert names[17] == "bce:up.6.weight[17]" and names[144] == "kld:down.6.weight[0]"
    assert len(fitted.history_) == 2 and fitted.n_features_in_ == 28 * 28 * 3


def test_features_are_the_gradients_of_each_samples_own_loss(fitted, digits28):
    """Oracle: autograd on the fitted module, one image at a time."""
    module = fitted.module_
    x = torch.from_numpy(digits28[:3]).permute(0, 3, 1, 2).float() / 255
    feats = fitted.transform(digits28[:3])
    for i in range(3):
        recon, mu, logvar = module(x[i : i + 1])
        g_up = torch.autograd.grad(bce(recon, x[i : i + 1]).sum(), module.up[6].weight)[0]
        g_down = torch.autograd.grad(kld(mu, logvar).sum(), module.down[6].weight)[0]
        expected = torch.cat([g_up.flatten(), g_down.flatten()]).detach().numpy()
        # per block: the KL block's values are far smaller than the BCE block's
        assert_allclose_blocks(feats[i : i + 1], expected[None], fitted.get_feature_names_out(), rtol=ORACLE_RTOL)


def test_uint8_and_unit_float_and_flat_input_agree(fitted, digits28):
    a = fitted.transform(digits28[:8])
    b = fitted.transform(digits28[:8].astype(np.float64) / 255)
    # the same images within one float32 rounding of the input scaling
    assert_allclose_blocks(a, b, fitted.get_feature_names_out(), rtol=RTOL)
    flat = GradientFeatureTransformer(device="cpu", epochs=1, random_state=0, image_shape=(28, 28, 3)).fit(
        digits28.reshape(len(digits28), -1)
    )
    full = GradientFeatureTransformer(device="cpu", epochs=1, random_state=0).fit(digits28)
    np.testing.assert_array_equal(flat.transform(digits28.reshape(96, -1)), full.transform(digits28))


def test_greyscale_images(digits28):
    grey = digits28[..., 0]
    est = GradientFeatureTransformer(device="cpu", epochs=1, random_state=0).fit(grey)
    assert est.sample_shape_ == (28, 28, 1)
    # one input channel: up.6 is 3x1x4x4, down.6 is 12x9x4x4
    assert est.transform(grey[:2]).shape == (2, 48 + 1728)


def test_same_random_state_same_features_other_state_other_features(fitted, digits28):
    again = clone(fitted).fit(digits28)
    np.testing.assert_array_equal(again.transform(digits28), fitted.transform(digits28))
    other = clone(fitted).set_params(random_state=1).fit(digits28)
    assert not np.allclose(other.transform(digits28), fitted.transform(digits28))


def test_transform_invariant_to_batch_size_and_order(fitted, digits28):
    ref = fitted.transform(digits28)
    for bs in (1, 7, 200):
        est = pickle.loads(pickle.dumps(fitted)).set_params(batch_size=bs)
        assert_allclose_blocks(est.transform(digits28), ref, fitted.get_feature_names_out())
    perm = np.random.RandomState(0).permutation(len(digits28))
    assert_allclose_blocks(fitted.transform(digits28[perm]), ref[perm], fitted.get_feature_names_out())


@pytest.mark.parametrize("reduction", ["norm", "stats"])
def test_reductions_summarise_each_block(fitted, digits28, reduction):
    raw = fitted.transform(digits28[:10]).astype(np.float64)
    est = clone(fitted).set_params(reduction=reduction).fit(digits28)
    got = est.transform(digits28[:10])
    blocks = [raw[:, :144], raw[:, 144:]]
    if reduction == "norm":
        expected = np.stack([np.linalg.norm(b, axis=1) for b in blocks], axis=1)
        assert list(est.get_feature_names_out()) == ["bce:up.6.weight:norm", "kld:down.6.weight:norm"]
    else:
        expected = np.stack(
            [f(b) for b in blocks for f in (lambda b: b.mean(1), lambda b: b.std(1), lambda b: b.min(1),
                                             lambda b: b.max(1), lambda b: np.linalg.norm(b, axis=1))],
            axis=1,
        )
        assert est.get_feature_names_out()[1] == "bce:up.6.weight:std"
    # float32 reductions against float64 ones: measured 4.9e-7 of the block's largest value;
    # each block's statistics are compared at the scale of that block (its norm the largest)
    width = got.shape[1] // 2
    assert_allclose_blocks(got, expected, [slice(0, width), slice(width, 2 * width)], rtol=RTOL)


def test_layers_list_and_dict(digits28):
    est = GradientFeatureTransformer(device="cpu", loss=("bce", "kld"), layers=["fc11.weight"], epochs=1, random_state=0)
    feats = est.fit(digits28).transform(digits28[:3])
    assert feats.shape == (3, 2 * 20 * 108)
    est = GradientFeatureTransformer(device="cpu", loss="mse", layers={"mse": ["up.0.bias", "up.6.bias"]}, epochs=1).fit(digits28)
    assert est.transform(digits28[:2]).shape == (2, 9 + 3)
    with pytest.raises(ValueError, match="does not have"):
        GradientFeatureTransformer(device="cpu", layers=["up.7.weight"], epochs=0).fit(digits28)
    with pytest.raises(ValueError, match="no parameters for loss"):
        GradientFeatureTransformer(device="cpu", layers={"bce": ["up.6.weight"]}, epochs=0).fit(digits28)


def test_activation_default_is_the_latent_mean(digits28):
    est = ActivationFeatureTransformer(device="cpu", epochs=1, random_state=0).fit(digits28)
    feats = est.transform(digits28[:5])
    x = torch.from_numpy(digits28[:5]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        mu, _ = est.module_.encode(x)
    assert_allclose_blocks(feats, mu.numpy(), [slice(0, feats.shape[1])], rtol=RTOL)
    assert est.get_feature_names_out()[0] == "fc11[0]"


def test_activation_layers_and_pooling(digits28):
    est = ActivationFeatureTransformer(device="cpu", module="cae", layers=["encoder"], pooling="avg", epochs=1,
                                       module_kwargs={"channels": (4, 8)}, random_state=0).fit(digits28)
    feats = est.transform(digits28[:4])
    x = torch.from_numpy(digits28[:4]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        expected = est.module_.encoder(x).mean(dim=(2, 3)).numpy()
    assert_allclose_blocks(feats, expected, [slice(0, feats.shape[1])], rtol=RTOL)
    with pytest.raises(ValueError, match="does not have"):
        ActivationFeatureTransformer(device="cpu", layers=["nope"], epochs=0).fit(digits28)


class TinyAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(28 * 28, 16)
        self.dec = nn.Linear(16, 28 * 28)

    def forward(self, x):
        return torch.sigmoid(self.dec(torch.relu(self.enc(x.flatten(1))))).view_as(x)


def test_user_module_is_trained_as_a_copy(digits28):
    user = TinyAE()
    before = {k: v.clone() for k, v in user.state_dict().items()}
    est = GradientFeatureTransformer(device="cpu", module=user, loss="bce", epochs=2, random_state=0).fit(digits28[..., 0])
    for k, v in user.state_dict().items():
        assert torch.equal(v, before[k])
    assert est.module_ is not user
    assert not torch.equal(est.module_.dec.weight, user.dec.weight)
    assert est.layers_ == {"bce": ["dec.weight"]}  # auto: the last weight
    assert est.transform(digits28[:2, ..., 0]).shape == (2, 16 * 28 * 28)


def test_user_module_errors(digits28):
    with pytest.raises(ValueError, match="not variational"):
        GradientFeatureTransformer(device="cpu", module=TinyAE(), loss="kld", epochs=0).fit(digits28[..., 0])

    class Wrong(nn.Module):
        def forward(self, x):
            return x[:, :, :10]

    with pytest.raises(ValueError, match="must return a tensor of its input's shape"):
        GradientFeatureTransformer(device="cpu", module=Wrong(), epochs=0).fit(digits28[..., 0])


def test_pickle_and_joblib_round_trip(fitted, digits28, tmp_path):
    expected = fitted.transform(digits28)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(digits28), expected)
    joblib.dump(fitted, tmp_path / "gft.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "gft.joblib").transform(digits28), expected)
    assert hasattr(fitted, "_engine")  # pickling never strips the live estimator


def test_model_fitted_on_cuda_unpickles_on_the_cpu(fitted, digits28, monkeypatch):
    """A state saying ``device_='cuda:0'`` (as pickled on a GPU machine) loads on a CPU-only one
    (simulated on a machine with CUDA)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = fitted.__getstate__()
    state["device_"] = "cuda:0"
    est = GradientFeatureTransformer.__new__(GradientFeatureTransformer)
    with pytest.warns(UserWarning, match="not available here"):
        est.__setstate__(state)
    assert est.device_ == torch.device("cpu")
    np.testing.assert_array_equal(est.transform(digits28[:4]), fitted.transform(digits28[:4]))


def test_set_output_pandas(fitted, digits28):
    pd = pytest.importorskip("pandas")
    est = pickle.loads(pickle.dumps(fitted)).set_output(transform="pandas")
    df = est.transform(digits28[:3])
    assert isinstance(df, pd.DataFrame) and df.columns[0] == "bce:up.6.weight[0]"


def test_warm_start_continues_training(digits28):
    est = GradientFeatureTransformer(device="cpu", epochs=1, random_state=0, warm_start=True).fit(digits28)
    w1 = est.module_.up[6].weight.detach().clone()
    est.fit(digits28)
    assert len(est.history_) == 2
    assert not torch.equal(w1, est.module_.up[6].weight)
    cold = GradientFeatureTransformer(device="cpu", epochs=1, random_state=0).fit(digits28)
    cold.fit(digits28)
    assert len(cold.history_) == 1


class Interrupting(nn.Module):
    """Raises KeyboardInterrupt on the n-th training forward pass."""

    def __init__(self, after):
        super().__init__()
        self.lin = nn.Linear(28 * 28, 28 * 28)
        self.after = after
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.after:
                raise KeyboardInterrupt
        return torch.sigmoid(self.lin(x.flatten(1))).view_as(x)


def test_interrupted_fit_leaves_estimator_unfitted_or_as_it_was(digits28):
    grey = digits28[..., 0]
    est = GradientFeatureTransformer(device="cpu", module=Interrupting(after=2), loss="bce", epochs=3, batch_size=32)
    with pytest.raises(KeyboardInterrupt):
        est.fit(grey)
    with pytest.raises(NotFittedError):
        est.transform(grey)
    ok = GradientFeatureTransformer(device="cpu", module=Interrupting(after=10**9), loss="bce", epochs=1, warm_start=True).fit(grey)
    before = ok.transform(grey[:4])
    ok.module_.after = ok.module_.calls + 2  # interrupt the next fit midway
    with pytest.raises(KeyboardInterrupt):
        ok.fit(grey)
    assert len(ok.history_) == 1
    np.testing.assert_array_equal(ok.transform(grey[:4]), before)


def test_not_fitted_and_shape_mismatch(fitted, digits28):
    with pytest.raises(NotFittedError):
        GradientFeatureTransformer(device="cpu").transform(digits28)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        fitted.transform(digits28[:, :20, :20])
    with pytest.raises(ValueError, match=r"\(28, 28, 1\)"):
        fitted.transform(digits28[..., 0])


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((2, 28, 28, 3), 1.5), r"must lie in \[0, 1\]"),
        (np.full((2, 28, 28, 3), np.nan), "NaN"),
        (np.zeros((0, 28, 28, 3)), "0 sample"),
        (np.zeros((2, 2, 28, 28, 3)), "5 dimensions"),
        (np.zeros((4, 12)), "image_shape"),
    ],
)
def test_bad_input_messages(X, match):
    with pytest.raises(ValueError, match=match):
        GradientFeatureTransformer(device="cpu", epochs=0).fit(X)


def test_bad_parameters(monkeypatch):
    X = np.zeros((4, 28, 28, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown module preset"):
        GradientFeatureTransformer(device="cpu", module="resnet").fit(X)
    with pytest.raises(ValueError, match="unknown loss"):
        GradientFeatureTransformer(device="cpu", loss="l1", epochs=0).fit(X)
    with pytest.raises(ValueError, match="reduction"):
        GradientFeatureTransformer(device="cpu", reduction="max").fit(X)
    with pytest.raises(TypeError, match="strings"):
        GradientFeatureTransformer(device="cpu").fit(np.array([["a", "b"]]))
    with monkeypatch.context() as m:  # a CPU-only machine (simulated where CUDA exists)
        m.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match="CUDA is not available"):
            GradientFeatureTransformer(device="cuda").fit(X)


def test_verbose_shows_progress(digits28, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GradientFeatureTransformer(device="cpu", epochs=2, verbose=True, random_state=0).fit(digits28)
    err = capsys.readouterr().err
    assert "fit GradientFeatureTransformer" in err and "loss=" in err


def test_memory_guard_fails_early_with_advice(fitted, digits28, monkeypatch):
    import skgrad._validation as base

    # 96 x 1872 float32 = 718 kB of output; pretend only 100 kB are available
    monkeypatch.setattr(base, "available_memory_bytes", lambda: 100_000)
    with pytest.raises(MemoryError, match="reduction='norm'.*transform_to_npy"):
        fitted.transform(digits28)
    monkeypatch.setattr(base, "available_memory_bytes", lambda: 10**9)
    assert fitted.transform(digits28).shape == (96, 1872)


@pytest.mark.parametrize("cls", [GradientFeatureTransformer, ActivationFeatureTransformer])
def test_concurrent_transforms_on_one_estimator_from_threads(cls, digits28):
    """Hooks on a shared module must record only their own thread's forward pass."""
    from concurrent.futures import ThreadPoolExecutor

    est = cls(epochs=1, batch_size=8, random_state=0, device="cpu").fit(digits28)
    parts = [digits28[i::4] for i in range(4)]
    expected = [est.transform(p) for p in parts]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(est.transform, parts))
            for g, e in zip(got, expected):
                assert_allclose_blocks(g, e, est.get_feature_names_out())


def test_one_sample_without_batch_axis_gets_a_hint(fitted, digits28):
    with pytest.raises(ValueError, match=r"ONE sample of shape \(28, 28, 3\): pass X\[np.newaxis\]"):
        fitted.transform(digits28[0])
    np.testing.assert_array_equal(fitted.transform(digits28[0][np.newaxis]), fitted.transform(digits28[:1]))


# ---------------------------------------------------------------- from_fitted
def test_from_fitted_reads_the_same_trained_module(fitted, digits28):
    """The public way to share a trained module equals the old 0-epoch refit, bit for bit."""
    aft = ActivationFeatureTransformer.from_fitted(fitted)
    oracle = ActivationFeatureTransformer(module=fitted.module_, epochs=0, device="cpu").fit(digits28[:2])
    np.testing.assert_array_equal(aft.transform(digits28), oracle.transform(digits28))
    # the same weights, in a copy: the two estimators never share a module object
    assert aft.module_ is not fitted.module_
    for (name, a), (_, b) in zip(aft.module_.state_dict().items(), fitted.module_.state_dict().items()):
        assert torch.equal(a, b), name
    # the shared parameters are copied, the class's own keep their defaults; the training record is kept
    assert aft.get_params()["module"] == "vae" and aft.layers == "auto" and aft.layers_ == ["fc11"]
    assert (aft.n_epochs_, aft.history_, aft.losses_) == (fitted.n_epochs_, fitted.history_, fitted.losses_)
    # clone is an unfitted estimator that would train its own module
    with pytest.raises(NotFittedError):
        clone(aft).transform(digits28)
    # and back, reading other layers of the same module: the gradients of one block
    g = GradientFeatureTransformer.from_fitted(aft, layers={"bce": ["up.6.weight"], "kld": ["down.6.weight"]})
    np.testing.assert_array_equal(g.transform(digits28[:16]), fitted.transform(digits28[:16]))
    norms = GradientFeatureTransformer.from_fitted(fitted, reduction="norm")
    np.testing.assert_allclose(
        norms.transform(digits28[:8])[:, 0], np.linalg.norm(fitted.transform(digits28[:8])[:, :144], axis=1),
        rtol=ORACLE_RTOL)


def test_from_fitted_round_trips_through_persistence(fitted, digits28, tmp_path):
    from skgrad.persistence import load, save

    aft = ActivationFeatureTransformer.from_fitted(fitted, batch_size=16)
    loaded = load(save(aft, tmp_path / "aft.skgrad"))
    np.testing.assert_array_equal(loaded.transform(digits28), aft.transform(digits28))


def test_from_fitted_errors(fitted):
    with pytest.raises(NotFittedError):
        ActivationFeatureTransformer.from_fitted(GradientFeatureTransformer())
    with pytest.raises(TypeError, match="takes a fitted GradientFeatureTransformer"):
        ActivationFeatureTransformer.from_fitted(object())
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['reduction'\]"):
        ActivationFeatureTransformer.from_fitted(fitted, reduction="norm")
    with pytest.raises(ValueError, match="pooling"):
        ActivationFeatureTransformer.from_fitted(fitted, pooling="max")
