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
(c) GradCon-style training (Kwon et al., ECCV 2020), written here: a convolutional
    autoencoder (``skgrad.models.ConvAutoencoder``, channels 32-64-64-16, a 64-value
    bottleneck, 4 decoder layers) trained on the first 80% of the clean crops with the
    mean squared error minus ``0.03`` times the mean over the decoder weights of the
    cosine between the batch's gradient and the running mean of the past training
    gradients (Adam, learning rate 1e-3, batches of 64, 30 epochs).  Scored per crop:

    ``GradCon score``: minus the crop's MSE plus ``0.12`` times its mean cosine
    (the authors' evaluation weight); ``Mahalanobis on (log MSE, cosine)``: those
    two numbers, Mahalanobis to the held-out 20% of clean crops.
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
        score = bench.mahalanobis_score(f(held_out))
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

    score = bench.mahalanobis_score(patch_features(train[int(0.8 * n):])[0])

    def patch_scores(X):
        F, shape = patch_features(X)
        return score(F).reshape(shape)

    return {"(b) sparse patch AE, 8x8 patches, mean": bench.evaluate(
                lambda X: patch_scores(X).mean(1), test, seed),
            "(b) sparse patch AE, 8x8 patches, worst": bench.evaluate(
                lambda X: patch_scores(X).min(1), test, seed)}


def gradcon_rows(bench, train, test, seed, epochs, train_weight=0.03, score_weight=0.12):
    """Lever (c): GradCon-style training with the gradient constraint, and its score."""
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad, vmap

    from skgrad.models import ConvAutoencoder

    torch.manual_seed(seed)
    n = len(train)

    def tensor(X):
        return torch.as_tensor(X, dtype=torch.float32).permute(0, 3, 1, 2) / 255

    fit = tensor(train[: int(0.8 * n)])
    model = ConvAutoencoder(3, tuple(fit.shape[2:]), channels=(32, 64, 64, 16))
    names = [f"decoder.{i}.weight" for i, m in enumerate(model.decoder) if isinstance(m, torch.nn.ConvTranspose2d)]
    params = dict(model.named_parameters())
    decoder = [params[k] for k in names]
    mean_grad = [torch.zeros_like(w) for w in decoder]
    steps = 0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(30 if epochs is None else epochs):
        for idx in torch.randperm(len(fit), generator=order).split(64):
            x = fit[idx]
            loss = mse = F.mse_loss(model(x), x)
            if steps:  # no past gradients at the first step
                g = torch.autograd.grad(mse, decoder, create_graph=True)
                cos = sum(F.cosine_similarity(a.flatten(), b.flatten(), dim=0) for a, b in zip(g, mean_grad))
                loss = mse - train_weight * cos / len(decoder)
            optimizer.zero_grad()
            loss.backward()
            with torch.no_grad():  # the running mean of the decoder weights' training gradients
                for m, w in zip(mean_grad, decoder):
                    m.mul_(steps / (steps + 1)).add_(w.grad / (steps + 1))
            steps += 1
            optimizer.step()
    model.eval()
    fixed = {k: v.detach() for k, v in params.items()}

    def sample_mse(dec, x):
        x = x[None]
        return F.mse_loss(functional_call(model, {**fixed, **dec}, (x,)), x)

    per_sample = vmap(grad(sample_mse), in_dims=(None, 0))

    @_memo
    def mse_and_cosine(X):
        out = []
        for x in tensor(X).split(256):
            g = per_sample({k: fixed[k] for k in names}, x)
            cos = sum(F.cosine_similarity(g[k].flatten(1), m.flatten()[None], dim=1)
                      for k, m in zip(names, mean_grad)) / len(names)
            with torch.no_grad():
                mse = ((model(x) - x) ** 2).flatten(1).mean(1)
            out.append(torch.stack([mse, cos], 1).detach().double().numpy())
        return np.concatenate(out)

    held_out = mse_and_cosine(train[int(0.8 * n):])
    feats = lambda r: np.c_[np.log(r[:, 0] + 1e-12), r[:, 1]]  # noqa: E731
    score = bench.mahalanobis_score(feats(held_out))
    return {"(c) GradCon-trained CAE, GradCon score": bench.evaluate(
                lambda X: -mse_and_cosine(X)[:, 0] + score_weight * mse_and_cosine(X)[:, 1], test, seed),
            "(c) GradCon-trained CAE, Mahalanobis": bench.evaluate(
                lambda X: score(feats(mse_and_cosine(X))), test, seed)}


LEVERS = ("a", "b", "c")


def run_levers(bench, seed, n_train, n_test, epochs, quick=False, levers=LEVERS):
    """The rows of ``levers`` for one seed: {row name: {family+level: AUROC}}, with the hand baseline."""
    train, test = bench.protocol(seed, n_train, n_test)
    n = len(train)
    rows = {"hand baseline": bench.evaluate(
        lambda X, s=bench.mahalanobis_score(bench.hand(train[int(0.8 * n):])): s(bench.hand(X)), test, seed)}
    if "a" in levers:
        rows.update(normalisation_rows(bench, train, test, seed, epochs))
    if "b" in levers:
        rows.update(vae_patch_rows(bench, train, test, seed, epochs))
        rows.update(sparse_patch_rows(bench, train, test, seed, *((2000, 20) if quick else (20000, 200))))
    if "c" in levers:
        rows.update(gradcon_rows(bench, train, test, seed, epochs))
    return rows
