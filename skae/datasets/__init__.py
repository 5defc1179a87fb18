"""Data sets that work offline: bundled real images, local Fashion-MNIST files and
synthetic ice-core particles."""

from ._fashion_mnist import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)
from ._particles import (
    PARTICLE_FEATURE_NAMES,
    PARTICLE_KINDS,
    make_particles,
    particle_features,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "load_fashion_mnist",
    "load_fashion_mnist_subset",
    "make_particles",
    "particle_features",
    "PARTICLE_FEATURE_NAMES",
    "PARTICLE_KINDS",
]
