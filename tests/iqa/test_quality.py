"""Quality scores: input checks, feature oracles, pooling against scipy."""
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from skgrad.iqa import (SparsePatchAutoencoder, activation_features,
                        activation_quality, gradient_features, gradient_quality,
                        pooled_score, prepare_patches, unit_weights)


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    m = SparsePatchAutoencoder(n_hidden=12)
    m._set_params_vector(rng.normal(scale=0.3, size=2 * 12 * 192 + 12 + 192), 192)
    return m


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:64, :80]
    base = 120 + 60 * np.sin(yy / 5.0)[..., None] * np.cos(xx / 7.0)[..., None]
    reference = np.clip(base + rng.normal(0, 10, (64, 80, 3)), 0, 255).astype(np.uint8)
    distorted = np.clip(reference + rng.normal(0, 25, reference.shape), 0, 255)
    return reference, distorted.astype(np.uint8)


@pytest.mark.parametrize("func", [activation_quality, gradient_quality])
def test_input_validation(func, model, pair):
    reference, distorted = pair
    with pytest.raises(TypeError, match=r"uint8 RGB image.*\(H, W, 3\).*float64"):
        func(reference=reference.astype(float), distorted=distorted, model=model)
    with pytest.raises(ValueError, match=r"distorted must be.*\(H, W, 3\).*\(64, 80\)"):
        func(reference=reference, distorted=distorted[..., 0], model=model)
    with pytest.raises(ValueError, match=r"\(64, 80, 3\).*\(64, 72, 3\)"):
        func(reference=reference, distorted=distorted[:, :72], model=model)
    with pytest.raises(ValueError, match="too small"):
        func(reference=reference[:12], distorted=distorted[:12], model=model)


def test_unfitted_model_is_rejected(pair):
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        gradient_quality(reference=pair[0], distorted=pair[1], model=SparsePatchAutoencoder())


def test_activation_features_oracle(model, pair):
    reference, distorted = pair
    f_ref, f_dist = activation_features(reference=reference, distorted=distorted, model=model)
    for image, feats in ((reference, f_ref), (distorted, f_dist)):
        patches = prepare_patches(image)
        # MATLAB: sigmoid(W * patches + b) is n_hidden x N, flattened column-major
        expected = expit(model.W1_ @ patches.T + model.b1_[:, None]).ravel(order="F")
        np.testing.assert_allclose(feats, expected, rtol=1e-12)


def _complex_features(patches, gradient, weights):
    """Straight transcription with complex numbers (numpy's complex log)."""
    y = gradient.T @ patches.T                                   # n_hidden x N
    logit = np.log((y / (1 - y)).astype(complex))
    return np.concatenate([(np.abs(logit) * weights[:, None]).ravel(order="F"),
                           (np.angle(logit) * weights[:, None]).ravel(order="F")])


def test_gradient_features_oracle(model, pair):
    reference, distorted = pair
    feats = gradient_features(reference=reference, distorted=distorted, model=model)
    ref_patches, dist_patches = prepare_patches(reference), prepare_patches(distorted)
    activations = expit(ref_patches @ model.W1_.T + model.b1_)
    gradient = np.zeros((192, 12))
    for x, a in zip(ref_patches, activations):
        gradient += np.outer(model.W2_ @ a + model.b2_ - x, a)
    gradient /= len(ref_patches)
    np.testing.assert_allclose(feats.gradient, gradient, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(feats.unit_weights, unit_weights(gradient))
    for patches, vector in ((ref_patches, feats.reference),
                            (dist_patches, feats.distorted)):
        expected = _complex_features(patches, gradient, feats.unit_weights)
        np.testing.assert_allclose(vector, expected, rtol=1e-12)
    # the data exercise both branches of the complex logarithm
    y = ref_patches @ gradient
    assert (y < 0).any() and ((y > 0) & (y < 0.5)).any()


def test_scores_equal_pooled_features(model, pair):
    reference, distorted = pair
    f_ref, f_dist = activation_features(reference=reference, distorted=distorted, model=model)
    a = f_ref.copy(); a[a < 0.025] = 0
    b = f_dist.copy(); b[b < 0.025] = 0
    expected = abs(stats.spearmanr(a, b).statistic) ** 10
    assert activation_quality(reference=reference, distorted=distorted, model=model) == pytest.approx(expected,
                                                                            rel=1e-12)
    feats = gradient_features(reference=reference, distorted=distorted, model=model)
    a, b = feats.reference.copy(), feats.distorted.copy()
    a[a < 0.025] = 0
    b[b < 0.025] = 0
    expected = abs(stats.spearmanr(a, b).statistic) ** 10
    assert gradient_quality(reference=reference, distorted=distorted, model=model) == pytest.approx(expected,
                                                                          rel=1e-12)
    assert 0 < expected < 1


def test_scores_are_the_pooled_feature_functions_to_the_last_bit(model, pair):
    """The scores rank the reference's and the distorted image's features in two
    threads, in reused memory; pooling the public feature vectors gives the same
    numbers exactly (the same float64 arithmetic)."""
    reference, distorted = pair
    feats = gradient_features(reference=reference, distorted=distorted, model=model)
    assert gradient_quality(reference=reference, distorted=distorted, model=model) == pooled_score(
        feats.reference, feats.distorted)
    assert activation_quality(reference=reference, distorted=distorted, model=model) == pooled_score(
        *activation_features(reference=reference, distorted=distorted, model=model))


def test_stronger_distortion_scores_lower(model, pair):
    reference, _ = pair
    rng = np.random.default_rng(7)
    scores = []
    for sigma in (2, 10, 40):
        noisy = np.clip(reference + rng.normal(0, sigma, reference.shape), 0, 255)
        scores.append(gradient_quality(reference=reference, distorted=noisy.astype(np.uint8), model=model))
    assert scores[0] > scores[1] > scores[2]


def test_pooled_score_thresholds_and_power():
    ref = np.array([0.01, 0.02, 0.5, 0.3, 0.9])
    dist = np.array([0.02, 0.01, 0.4, 0.35, 0.8])
    # below 0.025 both are 0: a tie, identical ranking -> 1
    assert pooled_score(ref, dist) == pytest.approx(1.0)
    rho = stats.spearmanr([0, 0, 0.5, 0.3, 0.9], [0, 0, 0.3, 0.35, 0.8]).statistic
    dist2 = np.array([0.02, 0.01, 0.3, 0.35, 0.8])
    assert pooled_score(ref, dist2) == pytest.approx(abs(rho) ** 10)
    assert pooled_score(ref, dist2, exponent=1) == pytest.approx(abs(rho))
    with pytest.raises(ValueError, match="same length"):
        pooled_score(ref, dist[:3])


def test_pair_functions_take_the_images_by_keyword_only(model, pair):
    """A positional call is a TypeError that says why (the scores are not symmetric)."""
    from skgrad.iqa import quality_scores

    reference, distorted = pair
    for func in (activation_quality, gradient_quality, activation_features, gradient_features,
                 quality_scores):
        with pytest.raises(TypeError, match=rf"{func.__name__}\(\) takes its arguments by keyword.*not symmetric"):
            func(reference, distorted, model)
        with pytest.raises(TypeError, match="takes its arguments by keyword"):
            func(reference, distorted=distorted, model=model)
        with pytest.raises(TypeError, match="model"):
            func(reference=reference, distorted=distorted)


def test_quality_scores_equal_the_two_functions(model, pair):
    from skgrad.iqa import quality_scores

    reference, distorted = pair
    scores = quality_scores(reference=reference, distorted=distorted, model=model)
    assert scores == {
        "unique": activation_quality(reference=reference, distorted=distorted, model=model),
        "gradient": gradient_quality(reference=reference, distorted=distorted, model=model)}
    # the score is asymmetric: swapping the images gives another number
    swapped = gradient_quality(reference=distorted, distorted=reference, model=model)
    assert swapped != scores["gradient"]


def _within(seconds, func):
    """``func()``'s result or exception, failing the test if it has not returned
    after ``seconds`` (a thread left waiting for the other would hang the call)."""
    import threading

    outcome = {}

    def run():
        try:
            outcome["value"] = func()
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call did not return within {seconds} s"
    return outcome


@pytest.mark.parametrize("step", ["_patches", "_gradient_rows"])
@pytest.mark.parametrize("side", ["caller", "worker"])
def test_gradient_quality_raises_the_error_of_either_thread_and_never_hangs(model, pair, monkeypatch, step, side):
    """gradient_quality computes G in two threads (each one half of the products):
    an error on either side, before or while G is computed, reaches the caller
    instead of leaving the other thread waiting, and the next call scores as before."""
    import threading

    from skgrad.iqa import _scoring

    reference, distorted = pair
    expected = gradient_quality(reference=reference, distorted=distorted, model=model)
    owner = _scoring if step == "_patches" else type(model)
    real = getattr(owner, step)

    def failing(*args, **kwargs):
        in_worker = threading.current_thread().name.startswith("skgrad-iqa")
        if in_worker == (side == "worker"):
            raise RuntimeError(f"{step} failed in the {side}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, step, failing)
    outcome = _within(60, lambda: gradient_quality(reference=reference, distorted=distorted, model=model))
    assert isinstance(outcome.get("error"), RuntimeError), outcome
    assert str(outcome["error"]) == f"{step} failed in the {side}"
    monkeypatch.setattr(owner, step, real)
    assert gradient_quality(reference=reference, distorted=distorted, model=model) == expected


ODD_KERNELS = """
import numpy as np
from skgrad.iqa import SparsePatchAutoencoder, gradient_features, gradient_quality, pooled_score, prepare_patches
from skgrad.iqa._scoring import _SharedProducts, _executor
from skgrad.metrics._ranks import Workspace
rng = np.random.default_rng(0)
model = SparsePatchAutoencoder(n_hidden=40)
model._set_params_vector(rng.normal(scale=0.3, size=2 * 40 * 192 + 40 + 192), 192)
reference = rng.integers(0, 256, (2 * 8 * 9, 2 * 8 * 7, 3), dtype=np.uint8)  # 9 x 7 = 63 patches: odd
distorted = np.clip(reference + rng.normal(0, 20, reference.shape), 0, 255).astype(np.uint8)
patches = prepare_patches(reference)
shared = _SharedProducts()                        # the two threads of gradient_quality
helper = _executor().submit(shared.part, shared.WORKER, model)
activations, gradient = shared.compute(patches, model, Workspace())
helper.result()
one_thread = model._activations(patches)
features = gradient_features(reference=reference, distorted=distorted, model=model)
print(np.array_equal(activations, one_thread), np.array_equal(gradient, model._decoder_gradient(patches, one_thread)),
      np.array_equal(gradient, features.gradient),
      gradient_quality(reference=reference, distorted=distorted, model=model)
      == pooled_score(features.reference, features.distorted))
"""


def _cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return next((set(line.split(":", 1)[1].split()) for line in fh if line.startswith("flags")), set())
    except OSError:
        return set()


@pytest.mark.parametrize("kernel", ["Haswell", "Prescott"])
def test_two_thread_gradient_is_the_one_thread_gradient_on_other_blas_kernels(kernel):
    """The two threads of gradient_quality each compute one half of the reference's
    products (activations, residual, G), the one-thread paths (gradient_features,
    score_pairs) the same halves one after the other: the same bits, also with
    OpenBLAS kernels whose results for an odd number of rows depend on how the rows
    are split (its Haswell and Prescott kernels; OPENBLAS_CORETYPE selects them.  The
    development machine's own SkylakeX kernels give the same bits either way, so
    they could not catch a difference).  The scores alone would not show one: a
    last-bit difference rarely changes a rank."""
    import os
    import subprocess
    import sys

    if kernel == "Haswell" and not {"avx2", "fma"} <= _cpu_flags():
        pytest.skip("OpenBLAS's Haswell kernels need AVX2 and FMA, which this CPU lacks (or /proc/cpuinfo is absent)")
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel)
    proc = subprocess.run([sys.executable, "-c", ODD_KERNELS], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True"] * 4, proc.stdout
