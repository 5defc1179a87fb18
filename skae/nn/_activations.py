"""Activation lookup by name, so activations can be sklearn hyperparameters."""

import inspect

from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def get_activation(activation):
    """Return a new activation module.

    Parameters
    ----------
    activation : str or type of torch.nn.Module
        A name from ``ACTIVATIONS`` or a module class called without arguments.

    Returns
    -------
    module : torch.nn.Module
    """
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation]()
        except KeyError:
            raise ValueError(
                f"Unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)} "
                "or pass a torch.nn.Module class."
            ) from None
    if inspect.isclass(activation) and issubclass(activation, nn.Module):
        return activation()
    raise TypeError(
        f"activation must be a string or a torch.nn.Module class, got {activation!r}."
    )
