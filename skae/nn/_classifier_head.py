"""The few-label classifier's network: an encoder, a fixed standardisation of its codes
and a classification head."""

import torch
from torch import nn

from ._activations import get_activation


class Standardize(nn.Module):
    """Fixed affine map ``(z - mean) / scale``: codes on a common scale for the head."""

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, z):
        return (z - self.mean) / self.scale


class EncoderHeadModule(nn.Module):
    """An encoder, a fixed standardisation of its codes and a classification head.

    ``forward`` returns logits of shape (n, n_classes).

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps inputs to codes of size ``latent_dim``.
    code_mean, code_scale : array-like of shape (latent_dim,)
        Mean and scale of the codes of the training data.
    n_classes : int
    hidden_layer_sizes : sequence of int, default=()
        Widths of the head's hidden layers; empty gives a linear head.
    activation : str or type of torch.nn.Module, default="relu"
    dropout : float, default=0.0
        Dropout rate applied to the (standardised) codes and hidden layers.
    input_scale : float, default=1.0
        What inputs are divided by before the encoder (the autoencoder's
        ``input_scale_``, e.g. 255 for uint8 images).
    """

    def __init__(
        self, encoder, code_mean, code_scale, n_classes, hidden_layer_sizes=(),
        activation="relu", dropout=0.0, input_scale=1.0,
    ):
        super().__init__()
        self.input_scale = float(input_scale)
        self.encoder = encoder
        self.standardize = Standardize(code_mean, code_scale)
        layers, n_in = [], len(code_mean)
        for width in hidden_layer_sizes:
            layers += [nn.Dropout(dropout), nn.Linear(n_in, width), get_activation(activation)]
            n_in = width
        layers += [nn.Dropout(dropout), nn.Linear(n_in, n_classes)]
        self.head = nn.Sequential(*layers)

    def forward(self, x):
        if self.input_scale != 1.0:
            x = x / self.input_scale
        return self.head(self.standardize(self.encoder(x)))
