"""Levers of issue "Natural images", measured one-class on ``bench_natural``'s photo protocol.

``python benchmarks/bench_natural.py --levers`` runs :func:`run_levers` per seed: the
same crops, distortions, levels and seeds as the other rows of that script, every
row a one-class score (higher = more normal) fitted on clean crops only, each
AUROC from ``bench_natural.evaluate``.  The rows:

``hand baseline``
    as in ``bench_natural`` (three numbers per crop, Mahalanobis).
(a) per-sample normalisation, one ``GradientFeatureTransformer`` (the paper's VAE,
    the detector's default layers) fitted on the first 80% of the clean crops;
    Mahalanobis distance (standardised, Ledoit-Wolf) to the other 20%, of:

    ``norms``: the log L2 norm of each gradient block (6 blocks), as they are,
    divided by the sample's own loss of that block (``/ loss``: the reconstruction
    error for the reconstruction blocks, the KL term for the KL block), or divided
    by the L2 norm of the input crop (``/ input norm``, pixels in [0, 1]);
    ``vector``: the raw reconstruction gradient of the last decoder weight
    (144 values), as it is, divided by the loss, or by the input norm.
(b) patches, scored one by one and pooled per crop by the mean of the patch scores
    or by the lowest (the most abnormal patch):

    ``VAE detector, 16x16 patches``: ``GradientOutlierDetector()`` (defaults) fitted
    on 16x16 patches (stride 8, 9 per crop) of the clean crops, as many patches as
    crops, drawn at random;
    ``sparse patch AE, 8x8 patches``: ``skgrad.iqa.SparsePatchAutoencoder`` (the IQA
    side's model, ``scale=1``) fitted on the clean crops; each crop's 16 whitened
    8x8 patches (``prepare_patches``, per-crop ZCA, as the IQA metrics do) give per
    patch the log norm of the decoder-weight gradient (``r a'`` for the residual
    ``r`` and hidden activations ``a``, norm ``|r| |a|``) and the log residual norm;
    Mahalanobis to the patches of the held-out 20% of clean crops.
"""
from __future__ import annotations

import hashlib

import numpy as np

PATCH, STRIDE = 16, 8


def _memo(fn):
    """``fn(X)`` computed once per distinct array (``evaluate`` rebuilds each distorted set per row)."""
    cache = {}

    def wrapped(X):
        key = hashlib.sha1(np.ascontiguousarray(X).tobytes()).hexdigest() + str(X.shape)
        if key not in cache:
            cache[key] = fn(X)
        return cache[key]
    return wrapped


def patches(X, size=PATCH, stride=STRIDE):
    """Overlapping ``size`` x ``size`` patches of each image: shape (n, k, size, size, C)."""
    n, h, w = X.shape[:3]
    out = [X[:, r:r + size, c:c + size] for r in range(0, h - size + 1, stride)
           for c in range(0, w - size + 1, stride)]
    return np.stack(out, 1)


def _mahalanobis(bench, F_clean):
    return bench.mahalanobis_score(F_clean)


def normalisation_rows(bench, train, test, seed, epochs):
    """Lever (a): per-sample normalisation of the gradient, six one-class rows."""
    from skgrad import GradientFeatureTransformer
    from skgrad.outlier import DEFAULT_LAYERS

    n = len(train)
    kw = {} if epochs is None else {"epochs": epochs}
    t = GradientFeatureTransformer(layers={k: list(v) for k, v in DEFAULT_LAYERS.items()},
                                   random_state=seed, n_threads=1, **kw).fit(train[: int(0.8 * n)])
    names = np.asarray(t.get_feature_names_out()).astype(str)
    prefixes = np.array([s.rsplit("[", 1)[0] for s in names])
    blocks = list(dict.fromkeys(prefixes))
    loss_col = {b: t.losses_.index(b.split(":")[0]) for b in blocks}
    last = "bce:" + DEFAULT_LAYERS["bce"][-1]

    @_memo
    def raw(X):
        G, L = t.transform(X), t.per_sample_losses(X)
        energy = np.linalg.norm(X.reshape(len(X), -1).astype(np.float64) / 255, axis=1)
        norms = np.stack([np.linalg.norm(G[:, prefixes == b], axis=1) for b in blocks], 1)
        loss = np.stack([L[:, loss_col[b]] for b in blocks], 1)
        return {"norms": norms, "loss": loss, "energy": energy, "vector": G[:, prefixes == last],
                "vector loss": L[:, loss_col[last]]}

    eps = 1e-12
    features = {
        "(a) norms, as they are": lambda r: np.log(r["norms"] + eps),
        "(a) norms / loss": lambda r: np.log(r["norms"] + eps) - np.log(r["loss"] + eps),
        "(a) norms / input norm": lambda r: np.log(r["norms"] + eps) - np.log(r["energy"] + eps)[:, None],
        "(a) vector, as it is": lambda r: r["vector"],
        "(a) vector / loss": lambda r: r["vector"] / (r["vector loss"][:, None] + eps),
        "(a) vector / input norm": lambda r: r["vector"] / (r["energy"][:, None] + eps),
    }
    held_out = raw(train[int(0.8 * n):])
    rows = {}
    for name, f in features.items():
        score = _mahalanobis(bench, f(held_out))
        rows[name] = bench.evaluate(lambda X, f=f, score=score: score(f(raw(X))), test, seed)
    return rows


def vae_patch_rows(bench, train, test, seed, epochs):
    """Lever (b), the VAE detector with its defaults on 16x16 patches, pooled per crop."""
    from skgrad import GradientFeatureTransformer
    from skgrad.outlier import DEFAULT_LAYERS, GradientOutlierDetector

    rng = np.random.RandomState(seed)
    P = patches(train)
    pick = rng.randint(0, P.shape[1], len(train))  # one random patch per crop
    kw = {} if epochs is None else {"epochs": epochs}
    det = GradientOutlierDetector(
        GradientFeatureTransformer(layers={k: list(v) for k, v in DEFAULT_LAYERS.items()}, n_threads=1, **kw),
        random_state=seed).fit(P[np.arange(len(train)), pick])

    @_memo
    def patch_scores(X):
        Q = patches(X)
        return det.score_samples(Q.reshape((-1,) + Q.shape[2:])).reshape(Q.shape[:2])

    return {"(b) VAE detector, 16x16 patches, mean": bench.evaluate(
                lambda X: patch_scores(X).mean(1), test, seed),
            "(b) VAE detector, 16x16 patches, worst": bench.evaluate(
                lambda X: patch_scores(X).min(1), test, seed)}


def sparse_patch_rows(bench, train, test, seed, n_patches, max_iter):
    """Lever (b) with the IQA side's whitened sparse patch autoencoder as the feature source."""
    from skgrad.iqa import SparsePatchAutoencoder, prepare_patches

    n = len(train)
    ae = SparsePatchAutoencoder(n_patches=n_patches, max_iter=max_iter, scale=1,
                                random_state=seed).fit(list(train[: int(0.8 * n)]))

    @_memo
    def patch_features(X):
        P = np.stack([prepare_patches(x, scale=1) for x in X])  # (n, 16, 192)
        flat = P.reshape(-1, P.shape[-1])
        a = ae.encode(flat)
        r = np.linalg.norm(a @ ae.W2_.T + ae.b2_ - flat, axis=1)
        grad = r * np.linalg.norm(a, axis=1)  # |r a'|, the decoder gradient of one patch
        return np.log(np.stack([grad, r], 1) + 1e-12), P.shape[:2]

    # the closed form against the estimator's own decoder_gradient, on one patch
    one = prepare_patches(test[0], scale=1)[:1]
    g_ref = np.linalg.norm(ae.decoder_gradient(one))
    g_ours = np.exp(patch_features(test[:1])[0][0, 0])
    assert np.isclose(g_ref, g_ours, rtol=1e-6), (g_ref, g_ours)

    score = _mahalanobis(bench, patch_features(train[int(0.8 * n):])[0])

    def patch_scores(X):
        F, shape = patch_features(X)
        return score(F).reshape(shape)

    return {"(b) sparse patch AE, 8x8 patches, mean": bench.evaluate(
                lambda X: patch_scores(X).mean(1), test, seed),
            "(b) sparse patch AE, 8x8 patches, worst": bench.evaluate(
                lambda X: patch_scores(X).min(1), test, seed)}


def run_levers(bench, seed, n_train, n_test, epochs, quick=False):
    """Every lever row for one seed: {row name: {family+level: AUROC}}, with the hand baseline."""
    train, test = bench.protocol(seed, n_train, n_test)
    n = len(train)
    rows = {"hand baseline": bench.evaluate(
        lambda X, s=bench.mahalanobis_score(bench.hand(train[int(0.8 * n):])): s(bench.hand(X)), test, seed)}
    rows.update(normalisation_rows(bench, train, test, seed, epochs))
    rows.update(vae_patch_rows(bench, train, test, seed, epochs))
    rows.update(sparse_patch_rows(bench, train, test, seed, *((2000, 20) if quick else (20000, 200))))
    return rows
