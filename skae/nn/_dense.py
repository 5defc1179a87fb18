"""Fully connected encoder and decoder for flat feature vectors."""

from torch import nn

from ._activations import get_activation


def _mlp(sizes, activation, last_activation):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(get_activation(activation))
    return nn.Sequential(*layers)


class DenseEncoder(nn.Sequential):
    """Fully connected encoder, ``n_features -> hidden_layer_sizes -> latent_dim``.

    Activations sit between the linear layers, not after the last one.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : sequence of int
        Width of each hidden layer; empty gives a single linear map.
    latent_dim : int
    activation : str or type of torch.nn.Module, default="relu"
    """

    def __init__(self, n_features, hidden_layer_sizes, latent_dim, activation="relu"):
        sizes = [n_features, *hidden_layer_sizes, latent_dim]
        super().__init__(*_mlp(sizes, activation, last_activation=False))


class DenseDecoder(nn.Sequential):
    """Fully connected decoder, the mirror of :class:`DenseEncoder`.

    Maps ``latent_dim -> reversed(hidden_layer_sizes) -> n_features``.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : sequence of int
        Widths of the encoder's hidden layers; used here in reverse order.
    latent_dim : int
    activation : str or type of torch.nn.Module, default="relu"
    """

    def __init__(self, n_features, hidden_layer_sizes, latent_dim, activation="relu"):
        sizes = [latent_dim, *reversed(tuple(hidden_layer_sizes)), n_features]
        super().__init__(*_mlp(sizes, activation, last_activation=False))
