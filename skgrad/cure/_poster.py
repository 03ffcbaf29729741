"""The poster's published OOD table (Kwon et al., ICIP 2019), and the feature sets it compares.

Accuracy (%) per test challenge type, averaged over levels 1-5, of the
classifier trained on challenge-free vs Gaussian blur level 1 images of
CURE-TSR (the ICIP 2019 poster, olivesgatech/distorted-representation-
characteriziation).  Only the accuracy was published.
"""

__all__ = ["FEATURE_SETS", "FEATURE_LABELS", "POSTER_TYPES", "POSTER_ACCURACY"]

#: Feature set -> its label in the poster.
FEATURE_LABELS = {
    "activations": "activations (latent z)",
    "grad_reconstruction": "grad. of reconstruction loss (decoder)",
    "grad_kl": "grad. of KL term (encoder)",
    "grad_both": "both gradients (proposed)",
}
#: The feature sets the protocol compares, in the order of the report.
FEATURE_SETS = tuple(FEATURE_LABELS)

#: The poster's columns: CURE-TSR challenge codes, in the poster's order.
POSTER_TYPES = (1, 3, 8, 2, 5, 9)

#: Published accuracy (%), feature set -> challenge code -> value.
POSTER_ACCURACY = {
    "activations": dict(zip(POSTER_TYPES, (56.51, 62.01, 84.72, 93.49, 93.70, 94.10))),
    "grad_reconstruction": dict(zip(POSTER_TYPES, (70.24, 60.64, 68.59, 89.08, 90.83, 92.57))),
    "grad_kl": dict(zip(POSTER_TYPES, (56.18, 63.94, 83.04, 94.51, 94.08, 94.74))),
    "grad_both": dict(zip(POSTER_TYPES, (62.67, 64.76, 87.57, 95.26, 95.71, 95.85))),
}
