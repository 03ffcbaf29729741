"""skgrad: autoencoder weight gradients as scikit-learn features.

Kwon et al., "Distorted Representation Space Characterization Through
Backpropagated Gradients" (ICIP 2019), behind the scikit-learn transformer API.
"""

from .outlier import GradientOutlierDetector
from .transformers import ActivationFeatureTransformer, GradientFeatureTransformer

__version__ = "0.1.0"

__all__ = ["GradientFeatureTransformer", "ActivationFeatureTransformer", "GradientOutlierDetector"]
