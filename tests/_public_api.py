"""Helpers the tests share: the public modules of skae."""

import pkgutil

import skae


def public_modules():
    """``skae`` and its public submodules (no ``_private`` part in the dotted name)."""
    names = ["skae"]
    for info in pkgutil.walk_packages(skae.__path__, "skae."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names
