"""Training: early stopping, the restored best weights, warm start, interruption, inliers only."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad.datasets import load_digits_images


@pytest.fixture(scope="module")
def digits():
    """Real handwritten digits (scikit-learn's), 16x16 greyscale uint8."""
    return load_digits_images(size=16).images[:240, :, :, None]


def _est(cls=GradientFeatureTransformer, **kw):
    # n_threads=1: the tests compare fits bit for bit, and training's float sums depend on the
    # thread count, which "auto" chooses from the machine's load and the fit's size (a 2-epoch
    # fit runs on 1 thread, a 5-epoch one on 2 when a core is idle)
    params = dict(module="cae", module_kwargs={"channels": (4, 8)}, batch_size=32, random_state=0, device="cpu",
                  n_threads=1)
    params.update(kw)
    return cls(**params)


def _weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_plateau_stops_training_before_epochs(digits):
    """With learning_rate=0 the loss never improves: the first epoch is the best, and
    training ends n_iter_no_change epochs later."""
    est = _est(learning_rate=0.0, epochs=50, n_iter_no_change=4).fit(digits)
    assert est.n_epochs_ == 5 < est.epochs
    assert len(est.history_) == len(est.validation_history_) == 5
    assert est.best_epoch_ == 1
    assert len(set(est.validation_history_)) == 1  # nothing changed the weights


def test_restored_weights_are_the_best_epochs(digits):
    """Oracle: the same fit stopped after best_epoch_ epochs holds the same weights, and
    best_epoch_ is where the validation loss was lowest."""
    est = _est(epochs=60, n_iter_no_change=3, tol=0.0, learning_rate=0.03).fit(digits)
    k = est.best_epoch_
    assert k < est.n_epochs_, "the run must stop after a worse epoch for this test to mean anything"
    assert k == int(np.argmin(est.validation_history_)) + 1
    short = clone(est).set_params(epochs=k).fit(digits)
    assert short.n_epochs_ == k and short.best_epoch_ == k
    np.testing.assert_array_equal(short.validation_history_, est.validation_history_[:k])
    assert _same_weights(_weights(short), _weights(est))
    # the last epoch's weights were worse (so restoring is not a no-op)...
    assert est.validation_history_[-1] > est.validation_history_[k - 1]
    # ...and are those the fit would hold without restoring: running on past the best
    # epoch with endless patience restores the same best epoch
    longer = clone(est).set_params(epochs=est.n_epochs_, n_iter_no_change=10**6).fit(digits)
    assert longer.best_epoch_ == k and _same_weights(_weights(longer), _weights(est))


def test_without_early_stopping_all_samples_train_and_the_last_epoch_is_kept(digits):
    est = _est(early_stopping=False, epochs=3).fit(digits)
    assert est.validation_history_ is None
    assert est.n_epochs_ == 3 and est.best_epoch_ == 3 and len(est.history_) == 3


def test_convergence_warning_only_when_epochs_run_out_while_improving(digits):
    with pytest.warns(ConvergenceWarning, match="still falling"):
        _est(epochs=2).fit(digits)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _est(learning_rate=0.0, epochs=20, n_iter_no_change=2).fit(digits)  # stopped early: no warning
        _est(epochs=0).fit(digits)  # no training asked for: no warning


def test_zero_epochs(digits):
    est = _est(epochs=0).fit(digits)
    assert est.history_ == [] and est.validation_history_ is None
    assert est.n_epochs_ == 0 and est.best_epoch_ is None


def test_same_seed_bitwise_reproducible_with_early_stopping(digits):
    a = _est(epochs=8).fit(digits)
    b = _est(epochs=8).fit(digits)
    assert a.validation_history_ == b.validation_history_ and a.best_epoch_ == b.best_epoch_
    np.testing.assert_array_equal(a.transform(digits[:10]), b.transform(digits[:10]))


def test_warm_start_continues_and_counts_epochs(digits):
    est = _est(epochs=3, warm_start=True, early_stopping=False)
    est.fit(digits)
    first = list(est.history_)
    est.set_params(epochs=2, early_stopping=True).fit(digits)
    assert est.n_epochs_ == 5 and est.history_[:3] == first and len(est.history_) == 5
    # the epochs without a validation split are NaN in validation_history_
    assert np.isnan(est.validation_history_[:3]).all() and np.isfinite(est.validation_history_[3:]).all()
    assert est.best_epoch_ in (4, 5)
    # the second fit started from the trained module: its first epoch beats a fresh model's first
    assert est.history_[3] < first[0]


def test_early_stopping_needs_a_training_sample():
    with pytest.raises(ValueError, match="early_stopping"):
        _est(epochs=2).fit(np.zeros((1, 16, 16, 1), np.uint8))
    # two samples: one validates, one trains
    _est(epochs=1).fit(np.zeros((2, 16, 16, 1), np.uint8))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(validation_fraction=0.0), "validation_fraction"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(n_iter_no_change=0), "n_iter_no_change"),
        (dict(tol=-1.0), "tol"),
        (dict(tol=float("nan")), "tol"),
        (dict(early_stopping="yes"), "early_stopping"),
    ],
)
def test_bad_training_parameters(digits, params, match):
    with pytest.raises(ValueError, match=match):
        _est(**params).fit(digits[:10])


def test_progress_bar_shows_the_validation_loss(digits, capsys):
    _est(epochs=2, verbose=True).fit(digits)
    err = capsys.readouterr().err
    assert "val=" in err and "best=" in err


# ------------------------------------------------------------------ inlier_label
@pytest.mark.parametrize("cls", [GradientFeatureTransformer, ActivationFeatureTransformer])
def test_inlier_label_trains_on_inliers_only(digits, cls):
    """A pipeline fitted on labelled data gives the features of a transformer fitted on
    the inliers alone, with the same seed."""
    X = digits[:120]
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    X = X.copy()
    X[60:] = 255 - X[60:]  # the outliers: inverted digits
    pipe = make_pipeline(_est(cls, epochs=3, inlier_label=0), StandardScaler(), LogisticRegression(max_iter=2000))
    pipe.fit(X, y)
    alone = _est(cls, epochs=3).fit(X[:60])
    np.testing.assert_array_equal(pipe[0].transform(X), alone.transform(X))
    # without inlier_label, y is ignored and every sample trains the autoencoder
    everything = _est(cls, epochs=3).fit(X, y)
    assert not np.array_equal(everything.transform(X), alone.transform(X))


def test_inlier_label_errors(digits):
    est = _est(epochs=1, inlier_label="clean")
    with pytest.raises(ValueError, match="no sample has y == inlier_label='clean'.*'noisy'"):
        est.fit(digits[:4], ["noisy"] * 4)
    with pytest.raises(ValueError, match="4 samples but y has 3"):
        est.fit(digits[:4], ["clean"] * 3)
    # y=None: every sample trains
    est.fit(digits[:10])


def test_divergence_raises_unless_earlier_weights_were_kept(digits):
    """NaN weights never make a fitted estimator: without a kept epoch fit raises (and the
    estimator stays unfitted); with early stopping the best finite epoch is restored."""
    est = _est(epochs=5, learning_rate=1e30, early_stopping=False)
    with pytest.raises(ValueError, match="diverged at epoch 1.*lower learning_rate"):
        est.fit(digits)
    assert not hasattr(est, "module_")
    # the largest float: the same message (it was torch's "all elements of input should be
    # between 0 and 1" RuntimeError while the loss was torch's binary_cross_entropy)
    est = _est(epochs=5, learning_rate=1e308)
    with pytest.raises(ValueError, match=r"diverged at epoch 1.*lower learning_rate \(now 1e\+308\)"):
        est.fit(digits)
    assert not hasattr(est, "module_")

    from skgrad import _training

    calls = []

    def diverge_later(module, data, losses, batch_size, floor=None):  # a validation loss that explodes at epoch 3
        calls.append(1)
        return float("nan") if len(calls) >= 3 else mean_loss(module, data, losses, batch_size, floor)

    mean_loss = _training.mean_loss
    est = _est(epochs=5)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_training, "mean_loss", diverge_later)
        with pytest.warns(RuntimeWarning, match="diverged at epoch 3; the weights of epoch 2"):
            est.fit(digits)
    assert est.best_epoch_ == 2 and est.n_epochs_ == 3
    short = _est(epochs=2).fit(digits)  # the same run stopped after epoch 2
    assert _same_weights(_weights(short), _weights(est))
    assert np.isfinite(est.transform(digits[:4])).all()


def test_losses_are_recorded_above_their_floor(digits):
    """history_ and validation_history_ are the BCE less the targets' entropy (numpy oracle),
    plus KL: what training can still reduce; the floor changes no gradient."""
    from skgrad.losses import bce, bce_floor, excess_loss

    x = torch.rand(4, 3, 5, 5, dtype=torch.float64)
    x[0] = 0.0  # binary pixels: entropy 0
    xn = x.numpy()
    entropy = -(xn * np.log(np.clip(xn, 1e-300, None)) + (1 - xn) * np.log(np.clip(1 - xn, 1e-300, None)))
    np.testing.assert_allclose(bce_floor(x).numpy(), entropy.reshape(4, -1).sum(1), rtol=1e-12)
    assert bce_floor(x)[0] == 0.0
    r = torch.rand(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    g1 = torch.autograd.grad(bce(r, x).sum(), r)[0]
    g2 = torch.autograd.grad(excess_loss("bce", r, x).sum(), r)[0]
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    assert (excess_loss("bce", r, x) >= -1e-9).all()  # no reconstruction beats the floor

    est = _est(epochs=3, early_stopping=True).fit(digits)
    raw = est.per_sample_losses(digits)
    above = est.per_sample_losses(digits, above_floor=True)
    xs = torch.from_numpy(digits).permute(0, 3, 1, 2).float() / 255
    np.testing.assert_allclose(raw[:, 0] - above[:, 0], bce_floor(xs).double().numpy(), rtol=1e-5)
    assert len(est.losses_) == 1 and est.validation_history_[-1] < raw[:, 0].mean()


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dtype, weight_decay", [(torch.float32, 0.0), (torch.float64, 1e-3)])
def test_adam_is_torchs_adam_to_the_last_bit(fused, dtype, weight_decay):
    """Training's Adam calls torch's functional update on its own state (the class
    imports torch._dynamo, 1.2 s of every training process): its weights must be
    those of torch.optim.Adam, for the fused kernel (the default on CPU and CUDA) and
    torch's default one, also for a parameter that gets no gradient at some steps."""
    from skgrad._training import _Adam
    from skgrad.losses import per_sample_loss
    from skgrad.models import VAE

    def train(ours):
        torch.manual_seed(0)
        model = VAE(3, (16, 16)).to(dtype)
        params = list(model.parameters())
        if ours:
            optimizer = _Adam(params, 3e-3, weight_decay)
            optimizer.fused = fused
        else:
            optimizer = torch.optim.Adam(params, lr=3e-3, weight_decay=weight_decay, fused=fused or None)
        batches = torch.Generator().manual_seed(1)
        for step in range(12):
            x = torch.rand(8, 3, 16, 16, generator=batches, dtype=dtype)
            out = model(x)
            losses = ("bce", "kld") if step % 3 else ("kld",)   # no gradient for the decoder at some steps
            loss = sum(per_sample_loss(name, out, x) for name in losses).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return [p.detach().clone() for p in params]

    ours, torchs = train(True), train(False)
    assert all(torch.equal(a, b) for a, b in zip(ours, torchs))
    torch.manual_seed(0)
    initial = list(VAE(3, (16, 16)).to(dtype).parameters())
    assert all(not torch.equal(a, b) for a, b in zip(ours, initial))   # every parameter trained


def test_training_does_not_import_torch_dynamo():
    """A fit never imports torch._dynamo (1.2 s of CPU; torch.optim.Adam would)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\nfrom skgrad import GradientFeatureTransformer\n"
            "X = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)\n"
            "GradientFeatureTransformer(epochs=2, early_stopping=False, random_state=0, n_threads=1).fit(X).transform(X)\n"
            "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["[]"], proc.stdout
