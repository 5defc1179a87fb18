"""Data sets that work offline: bundled real images, local Fashion-MNIST files,
synthetic ice-core particles, and the user's own image folders and TIFF stacks."""

from ._fashion_mnist import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)
from ._images import load_images
from ._particles import (
    PARTICLE_FEATURE_NAMES,
    PARTICLE_KINDS,
    make_particles,
    particle_features,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "PARTICLE_FEATURE_NAMES",
    "PARTICLE_KINDS",
    "load_fashion_mnist",
    "load_fashion_mnist_subset",
    "load_images",
    "make_particles",
    "particle_features",
]
