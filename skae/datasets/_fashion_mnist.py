"""Fashion-MNIST: a bundled 2,000-image subset and a loader for the full local files."""

import gzip
import os
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
_ENV_VAR = "SKAE_FASHION_MNIST"
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _as_output(images, target, scale, return_X_y, descr):
    X = images.astype(np.float32) / 255.0 if scale else images
    if return_X_y:
        return X, target
    return Bunch(
        images=X, target=target, target_names=list(FASHION_MNIST_CLASSES), DESCR=descr
    )


def load_fashion_mnist_subset(*, scale=True, return_X_y=False):
    """Load the 2,000 Fashion-MNIST images bundled with skae (200 per class).

    The images are a seeded sample of the Fashion-MNIST test set (MIT licence, see
    ``skae/datasets/data/FASHION_MNIST_LICENSE.txt``). No network access is needed.

    Parameters
    ----------
    scale : bool, default=True
        If True, return float32 pixels in [0, 1]; otherwise the raw uint8 values.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``images`` of shape (2000, 28, 28), ``target`` of shape (2000,) with values 0-9,
        ``target_names`` and ``DESCR``.

    Examples
    --------
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> X, y = load_fashion_mnist_subset(return_X_y=True)
    >>> X.shape, X.dtype.name, int(y.max())
    ((2000, 28, 28), 'float32', 9)
    """
    path = resources.files("skae.datasets").joinpath("data/fashion_mnist_subset.npz")
    with resources.as_file(path) as file, np.load(file) as data:
        images, target = data["images"], data["target"].astype(np.int64)
    descr = "Fashion-MNIST subset bundled with skae: 200 test images per class."
    return _as_output(images, target, scale, return_X_y, descr)


def _find_fashion_mnist_dir(data_home):
    candidates = [data_home, os.environ.get(_ENV_VAR), _DEBIAN_DIR]
    for candidate in candidates:
        if candidate and Path(candidate, _FILES["test"][0] + ".gz").exists():
            return Path(candidate)
        if candidate and Path(candidate, _FILES["test"][0]).exists():
            return Path(candidate)
    raise FileNotFoundError(
        "Fashion-MNIST files not found (looked in "
        + ", ".join(str(c) for c in candidates if c)
        + "). Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
        f"or put the four idx files (optionally .gz) in a folder and pass data_home=... "
        f"or set the {_ENV_VAR} environment variable. skae never downloads data."
    )


def _read_idx(path, offset):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


def _existing(folder, name):
    gz = folder / (name + ".gz")
    return gz if gz.exists() else folder / name


def load_fashion_mnist(subset="train", *, data_home=None, scale=True, return_X_y=False):
    """Load the full Fashion-MNIST training or test set from local files.

    Looks in ``data_home``, then in the folder named by the ``SKAE_FASHION_MNIST``
    environment variable, then in ``/usr/share/datasets/fashion-mnist`` (Debian package
    ``dataset-fashion-mnist``). Never downloads.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        Which split to load (60,000 or 10,000 images).
    data_home : str or path-like, default=None
        Folder holding the idx files, gzipped or not.
    scale : bool, default=True
        If True, return float32 pixels in [0, 1]; otherwise uint8.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``images`` of shape (n, 28, 28) and ``target`` of shape (n,).

    Raises
    ------
    FileNotFoundError
        If the files are in none of the places above; the message says how to get them.
    """
    if subset not in _FILES:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}.")
    folder = _find_fashion_mnist_dir(data_home)
    image_file, label_file = _FILES[subset]
    images = _read_idx(_existing(folder, image_file), 16).reshape(-1, 28, 28)
    target = _read_idx(_existing(folder, label_file), 8).astype(np.int64)
    descr = f"Fashion-MNIST {subset} set from {folder}."
    return _as_output(images, target, scale, return_X_y, descr)
