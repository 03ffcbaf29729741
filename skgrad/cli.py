"""The ``skgrad`` command."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _demo(args):
    import numpy as np
    from scipy import ndimage
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from PIL import Image

    from . import ActivationFeatureTransformer, GradientFeatureTransformer

    t0 = time.perf_counter()
    digits = load_digits()
    imgs = (digits.images * (255 / 16)).astype(np.uint8)
    imgs = np.stack([np.asarray(Image.fromarray(im).resize((28, 28), Image.BICUBIC)) for im in imgs])
    X = np.repeat(imgs[..., None], 3, axis=-1)
    rng = np.random.RandomState(args.random_state)
    order = rng.permutation(len(X))
    n_fit = len(X) // 2
    fit_idx, test_idx = order[:n_fit], order[n_fit:]

    def blur(x, sigma):
        return np.clip(ndimage.gaussian_filter(x.astype(float), (0, sigma, sigma, 0)), 0, 255).astype(np.uint8)

    def noise(x, sd):
        return np.clip(x + rng.normal(0, sd, x.shape), 0, 255).astype(np.uint8)

    clean_fit, clean_test = X[fit_idx], X[test_idx]
    half = len(clean_fit) // 2
    train_X = np.concatenate([clean_fit[half:], blur(clean_fit[half:], 1.0)])
    train_y = np.r_[np.zeros(len(clean_fit) - half), np.ones(len(clean_fit) - half)]
    tests = {"noise": noise(clean_test, 40), "blur (strong)": blur(clean_test, 2.0)}
    epochs = 3 if args.quick else 10
    results = {}
    for name, est in [
        ("gradients", GradientFeatureTransformer(epochs=epochs, random_state=args.random_state, device=args.device)),
        ("activations", ActivationFeatureTransformer(epochs=epochs, random_state=args.random_state, device=args.device)),
    ]:
        est.fit(clean_fit[:half])
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        clf.fit(est.transform(train_X), train_y)
        results[name] = {}
        for tname, outliers in tests.items():
            Xt = np.concatenate([clean_test, outliers])
            yt = np.r_[np.zeros(len(clean_test)), np.ones(len(outliers))]
            results[name][tname] = float(roc_auc_score(yt, clf.predict_proba(est.transform(Xt))[:, 1]))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"ood_auroc": results}, indent=2))
    print(f"OOD detection on scikit-learn digits (AUROC; trained on clean vs blur, {time.perf_counter() - t0:.0f} s)")
    print(f"{'test outliers':<16}" + "".join(f"{k:>13}" for k in results))
    for tname in tests:
        print(f"{tname:<16}" + "".join(f"{results[k][tname]:>13.3f}" for k in results))
    print(f"report: {out.resolve() / 'metrics.json'}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skgrad", description="Autoencoder gradient features.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on built-in real images and write a report")
    demo.add_argument("--output", default="skgrad-report")
    demo.add_argument("--quick", action="store_true")
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    return {"demo": _demo}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
