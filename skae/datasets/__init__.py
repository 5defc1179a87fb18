"""Data sets that work offline: bundled real images and local Fashion-MNIST files."""

from ._fashion_mnist import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "load_fashion_mnist",
    "load_fashion_mnist_subset",
]
