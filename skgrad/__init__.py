"""skgrad: autoencoder weight gradients as scikit-learn features.

Kwon et al., "Distorted Representation Space Characterization Through
Backpropagated Gradients" (ICIP 2019), behind the scikit-learn transformer API.

The estimators are imported on first use (``from skgrad import
GradientFeatureTransformer`` imports torch then), so that ``import skgrad`` and
the ``skgrad`` command's ``--help`` stay light.
"""
import importlib

__version__ = "0.1.0"

__all__ = ["GradientFeatureTransformer", "ActivationFeatureTransformer", "GradientOutlierDetector"]

_WHERE = {
    "GradientFeatureTransformer": ".transformers",
    "ActivationFeatureTransformer": ".transformers",
    "GradientOutlierDetector": ".outlier",
}


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
