"""Strided convolutional encoder and transposed-convolution decoder, 1-D or 2-D.

Each level halves every spatial axis (rounding up), so any input size works; the decoder
undoes the exact sizes with ``output_padding``, so odd sizes come back unchanged.
"""

import math

from torch import nn

from ._activations import get_activation

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}


def conv_output_shapes(spatial_shape, n_levels):
    """Spatial shape after each stride-2 level, input first: ``[s0, ceil(s0/2), ...]``.

    Parameters
    ----------
    spatial_shape : tuple of int
        ``(L,)`` or ``(H, W)``.
    n_levels : int
        Number of stride-2 levels.

    Returns
    -------
    shapes : list of tuple of int
        ``n_levels + 1`` shapes.
    """
    shapes = [tuple(spatial_shape)]
    for _ in range(n_levels):
        shapes.append(tuple(math.ceil(s / 2) for s in shapes[-1]))
    return shapes


def check_kernel(kernel_size):
    """Refuse an even kernel size (``padding = kernel_size // 2`` keeps sizes only for odd)."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}.")


class ConvEncoder(nn.Module):
    """Stride-2 convolutions, one per entry of ``channels``, then a linear map to the code.

    Parameters
    ----------
    in_channels : int
    spatial_shape : tuple of int
        ``(L,)`` for signals or ``(H, W)`` for images.
    channels : sequence of int
        Output channels of each level.
    latent_dim : int
    kernel_size : int, default=3
        Odd kernel size.
    activation : str or type of torch.nn.Module, default="relu"
    layers_per_level : int, default=1
        Convolutions per level: the stride-2 one, then ``layers_per_level - 1`` stride-1
        convolutions at the same resolution.
    """

    def __init__(
        self,
        in_channels,
        spatial_shape,
        channels,
        latent_dim,
        kernel_size=3,
        activation="relu",
        layers_per_level=1,
    ):
        super().__init__()
        check_kernel(kernel_size)
        conv = CONV[len(spatial_shape)]
        layers, c_prev = [], in_channels
        for c in channels:
            layers += [conv(c_prev, c, kernel_size, stride=2, padding=kernel_size // 2)]
            layers += [get_activation(activation)]
            for _ in range(layers_per_level - 1):
                layers += [conv(c, c, kernel_size, padding=kernel_size // 2)]
                layers += [get_activation(activation)]
            c_prev = c
        self.features = nn.Sequential(*layers)
        last = conv_output_shapes(spatial_shape, len(channels))[-1]
        self.flatten = nn.Flatten()
        self.project = nn.Linear(c_prev * math.prod(last), latent_dim)

    def forward(self, x):
        return self.project(self.flatten(self.features(x)))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: linear map, then stride-2 transposed convolutions.

    Returns exactly the input size of the matching encoder, odd sizes included.

    Parameters
    ----------
    in_channels : int
        Channels of the reconstructed data (the encoder's input channels).
    spatial_shape : tuple of int
        ``(L,)`` or ``(H, W)`` of the reconstructed data.
    channels : sequence of int
        The encoder's channels per level; used here in reverse order.
    latent_dim : int
    kernel_size : int, default=3
    activation : str or type of torch.nn.Module, default="relu"
    layers_per_level : int, default=1
    """

    def __init__(
        self,
        in_channels,
        spatial_shape,
        channels,
        latent_dim,
        kernel_size=3,
        activation="relu",
        layers_per_level=1,
    ):
        super().__init__()
        check_kernel(kernel_size)
        conv = CONV[len(spatial_shape)]
        conv_t = CONV_TRANSPOSE[len(spatial_shape)]
        shapes = conv_output_shapes(spatial_shape, len(channels))
        channels = list(channels)
        self.expand = nn.Sequential(
            nn.Linear(latent_dim, channels[-1] * math.prod(shapes[-1])),
            get_activation(activation),
        )
        self.unflatten = nn.Unflatten(1, (channels[-1], *shapes[-1]))
        layers = []
        outs = [in_channels, *channels[:-1]]
        for level in reversed(range(len(channels))):
            for _ in range(layers_per_level - 1):
                c = channels[level]
                layers += [conv(c, c, kernel_size, padding=kernel_size // 2)]
                layers += [get_activation(activation)]
            target, source = shapes[level], shapes[level + 1]
            output_padding = tuple(t - (2 * s - 1) for t, s in zip(target, source))
            layers.append(
                conv_t(
                    channels[level],
                    outs[level],
                    kernel_size,
                    stride=2,
                    padding=kernel_size // 2,
                    output_padding=output_padding,
                )
            )
            if level > 0:
                layers.append(get_activation(activation))
        self.features = nn.Sequential(*layers)

    def forward(self, z):
        return self.features(self.unflatten(self.expand(z)))
