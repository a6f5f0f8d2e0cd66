"""translate: image-to-image translation and GAN toolkit for PyTorch.

Importing this package is cheap (no torch): the CLI and plugin listing stay instant.
"""

__version__ = "0.1.0"
