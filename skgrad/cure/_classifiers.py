"""The classifiers of the CURE-TSR protocol: inliers (label 1) against the training
outliers (label 0), kept at their best validation loss.

* ``"mlp"``: the authors' discriminator, 1872 -> 40 -> 20 -> 1 with ReLU and a
  sigmoid output, trained with Adam (learning rate 1e-3, no weight decay) on the
  raw features in mini-batches of 128, as
  :class:`sklearn.neural_network.MLPClassifier` ``(hidden_layer_sizes=(40, 20))``.
  It runs one epoch per ``partial_fit`` and keeps the epoch with the lowest
  log-loss on the validation sets (the authors keep their best validation-loss
  checkpoint over 200 epochs); it stops after ``n_iter_no_change`` epochs without
  a lower loss.
* ``"logistic"``: ``StandardScaler`` + ``LogisticRegression(class_weight="balanced")``,
  the classifier of skgrad's own OOD route; the validation sets are only scored.

Scores are the probability of being an inlier (a normality score).
"""
import copy

import numpy as np
from sklearn.metrics import log_loss

__all__ = ["CLASSIFIERS", "fit_classifier", "inlier_probability"]

CLASSIFIERS = ("mlp", "logistic")


def inlier_probability(model, X):
    """``P(inlier)`` of each row (the class labelled 1)."""
    proba = model.predict_proba(X)
    return proba[:, list(model.classes_).index(1)]


def _data(X_in, X_out):
    return np.vstack([X_in, X_out]), np.r_[np.ones(len(X_in)), np.zeros(len(X_out))].astype(int)


def fit_classifier(kind, X_in, X_out, X_in_val, X_out_val, *, random_state=0, max_epochs=200, n_iter_no_change=20):
    """Fit a classifier of ``kind`` on inliers vs outliers; return ``(model, info)``.

    ``info`` holds ``val_loss`` (log-loss on the validation sets of the kept
    model), ``val_accuracy`` (at probability 0.5) and, for the MLP,
    ``best_epoch``, ``n_epochs`` and ``val_loss_history``.
    """
    if kind not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {kind!r}")
    X, y = _data(X_in, X_out)
    X_val, y_val = _data(X_in_val, X_out_val)
    info = {}
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))
        model.fit(X, y)
    else:
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=(40, 20), activation="relu", solver="adam", alpha=0.0,
                            batch_size=min(128, len(X)), learning_rate_init=1e-3, shuffle=True,
                            random_state=random_state)
        history, best, model, since = [], np.inf, None, 0
        for epoch in range(1, max_epochs + 1):
            clf.partial_fit(X, y, classes=[0, 1])
            loss = float(log_loss(y_val, inlier_probability(clf, X_val), labels=[0, 1]))
            history.append(loss)
            if loss < best:
                best, model, since = loss, copy.deepcopy(clf), 0
                info["best_epoch"] = epoch
            else:
                since += 1
                if since >= n_iter_no_change:
                    break
        info.update(n_epochs=len(history), val_loss_history=history)
    p = inlier_probability(model, X_val)
    info["val_loss"] = float(log_loss(y_val, p, labels=[0, 1]))
    info["val_accuracy"] = float(np.mean((p >= 0.5) == (y_val == 1)))
    return model, info
