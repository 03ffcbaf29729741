"""skgrad: autoencoder weight gradients as scikit-learn features."""

__version__ = "0.1.0"
