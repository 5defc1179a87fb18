"""Per-sample reconstruction losses.

A skae loss maps ``(reconstruction, target)`` tensors of shape ``(n, ...)`` to one value
per sample, shape ``(n,)``. Training minimises their mean; ``reconstruction_error`` and
``score`` report them per sample. Pass a name from :data:`LOSSES` or any callable with
that signature.
"""

import torch
import torch.nn.functional as F
from torch import nn


def mse_loss(reconstruction, target):
    """Mean squared error per sample."""
    return (reconstruction - target).pow(2).flatten(1).mean(1)


def l1_loss(reconstruction, target):
    """Mean absolute error per sample."""
    return (reconstruction - target).abs().flatten(1).mean(1)


def bce_loss(reconstruction, target):
    """Binary cross-entropy per sample; both tensors must lie in [0, 1]."""
    return F.binary_cross_entropy(reconstruction, target, reduction="none").flatten(1).mean(1)


LOSSES = {"mse": mse_loss, "l1": l1_loss, "bce": bce_loss}

# Losses whose targets must lie in [0, 1]; fit checks the data against this.
UNIT_INTERVAL_LOSSES = {"bce"}


def get_loss_function(loss):
    """Return the per-sample loss function for a name or a callable."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(
            f"Unknown loss {loss!r}; choose one of {sorted(LOSSES)} or pass a callable "
            "(reconstruction, target) -> per-sample loss of shape (n,)."
        ) from None


class ReconstructionCriterion(nn.Module):
    """skorch criterion: the batch mean of a per-sample loss."""

    def __init__(self, loss_function):
        super().__init__()
        self.loss_function = loss_function

    def forward(self, reconstruction, target):
        per_sample = self.loss_function(reconstruction, target)
        if per_sample.ndim != 1 or per_sample.shape[0] != reconstruction.shape[0]:
            raise ValueError(
                "A skae loss must return one value per sample (shape (n,)), got shape "
                f"{tuple(per_sample.shape)}."
            )
        return per_sample.mean()


__all__ = [
    "LOSSES",
    "ReconstructionCriterion",
    "bce_loss",
    "get_loss_function",
    "l1_loss",
    "mse_loss",
]
