"""Full-reference image quality from a patch autoencoder (UNIQUE and Kwon et al.).

Exact Python ports of the authors' MATLAB metrics -- UNIQUE's activation score and
the ICIP 2019 gradient score -- with the building blocks they share (MATLAB
``imresize``, the Y-G-Cr patch preprocessing, the sparse patch autoencoder).

>>> from skgrad.iqa import SparsePatchAutoencoder, gradient_quality
>>> # model = SparsePatchAutoencoder.from_mat("ImageNet_Weights_YGCr.mat")
>>> # score = gradient_quality(reference=reference_uint8_rgb, distorted=distorted_uint8_rgb, model=model)
"""
from ._imresize import imresize
from ._preprocess import (extract_patches, prepare_patches, rgb2ycbcr, to_ygcr,
                          zca_whiten)
from .autoencoder import SparsePatchAutoencoder
from .quality import (GradientFeatures, activation_features, activation_quality,
                      gradient_features, gradient_quality, pooled_score, quality_scores,
                      unit_weights)

__all__ = [
    "SparsePatchAutoencoder",
    "activation_quality",
    "gradient_quality",
    "quality_scores",
    "activation_features",
    "gradient_features",
    "GradientFeatures",
    "unit_weights",
    "pooled_score",
    "imresize",
    "rgb2ycbcr",
    "to_ygcr",
    "extract_patches",
    "zca_whiten",
    "prepare_patches",
]
from .database import report_scores, score_pairs  # noqa: E402
from .paired import DEFAULT_AUTOENCODER, PairedGradientTransformer  # noqa: E402

__all__ += ["PairedGradientTransformer", "DEFAULT_AUTOENCODER", "score_pairs", "report_scores"]
