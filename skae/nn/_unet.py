"""U-Net: a convolutional encoder-decoder with skip connections, 1-D or 2-D.

For restoration (de-noising, inpainting) rather than representation: each decoder level
sees the encoder's feature map of the same resolution (Ronneberger et al., 2015), so
edges and texture need not pass through the code, and with ``residual=True`` the network
predicts a correction added to its input (residual learning, as DnCNN, Zhang et al.,
2017), which is near zero for most pixels of a noisy photograph.
"""

import math

import torch
from torch import nn

from ._activations import get_activation
from ._conv import CONV, CONV_TRANSPOSE, check_kernel, conv_output_shapes


def _block(conv, c_in, c_out, kernel_size, activation, n_layers):
    """``n_layers`` stride-1 convolutions with activations, ``c_in`` to ``c_out``."""
    layers = []
    for i in range(n_layers):
        layers += [conv(c_in if i == 0 else c_out, c_out, kernel_size, padding=kernel_size // 2)]
        layers += [get_activation(activation)]
    return nn.Sequential(*layers)


class UNetEncoder(nn.Module):
    """Full-resolution block, then one stride-2 level per further entry of ``channels``.

    ``forward`` returns the code: a 1x1 convolution of the deepest feature map to
    ``latent_dim`` channels, flattened to ``(n, latent_dim * prod(deepest shape))``.
    :meth:`features` returns that map unflattened together with the feature map of
    every shallower resolution (the skip connections).

    Parameters
    ----------
    in_channels : int
    spatial_shape : tuple of int
        ``(L,)`` for signals or ``(H, W)`` for images.
    channels : sequence of int
        Channels at each resolution: ``channels[0]`` at full resolution, and each
        further entry adds a stride-2 level (so ``len(channels) - 1`` of them).
    latent_dim : int
        Channels of the spatial code.
    kernel_size : int, default=3
    activation : str or type of torch.nn.Module, default="relu"
    layers_per_level : int, default=2
        Convolutions per resolution.
    mask_channel : bool, default=False
        Read one more input channel, the mask of missing entries (1 = missing), given
        to :meth:`features` / ``forward`` as ``mask``; zeros when it is not given.
    """

    def __init__(self, in_channels, spatial_shape, channels, latent_dim, kernel_size=3,
                 activation="relu", layers_per_level=2, mask_channel=False):
        super().__init__()
        check_kernel(kernel_size)
        conv = CONV[len(spatial_shape)]
        channels = list(channels)
        self.mask_channel = bool(mask_channel)
        self.stem = _block(conv, in_channels + self.mask_channel, channels[0], kernel_size,
                           activation, layers_per_level)
        self.down = nn.ModuleList()
        for c_prev, c in zip(channels[:-1], channels[1:]):
            self.down.append(nn.Sequential(
                conv(c_prev, c, kernel_size, stride=2, padding=kernel_size // 2),
                get_activation(activation),
                _block(conv, c, c, kernel_size, activation, layers_per_level - 1),
            ))
        self.to_code = conv(channels[-1], latent_dim, 1)

    def features(self, x, mask=None):
        """The code map and the skip connections of a batch.

        Parameters
        ----------
        x : torch.Tensor of shape (n, in_channels, L) or (n, in_channels, H, W)
        mask : torch.Tensor of bool, default=None
            With ``mask_channel``: True where an entry of ``x`` is missing, of shape
            ``(n, 1, ...)`` or ``x``'s (a location counts as missing when any
            of its channels is); None means nothing is missing. Ignored otherwise.

        Returns
        -------
        code_map : torch.Tensor of shape (n, latent_dim, ...), at the deepest resolution
        skips : list of torch.Tensor
            The feature map of every resolution above the deepest, full resolution first.
        """
        if self.mask_channel:
            if mask is None:
                mark = x.new_zeros((x.shape[0], 1, *x.shape[2:]))
            else:
                mark = mask.to(torch.bool).any(dim=1, keepdim=True).to(x.dtype)
            x = torch.cat([x, mark], dim=1)
        skips = [self.stem(x)]
        for level in self.down:
            skips.append(level(skips[-1]))
        return self.to_code(skips.pop()), skips

    def forward(self, x, mask=None):
        return torch.flatten(self.features(x, mask)[0], 1)


class UNetDecoder(nn.Module):
    """The expanding path of a U-Net: upsample, concatenate the skip, convolve.

    Parameters
    ----------
    out_channels : int
        Channels of the restored data (the encoder's input channels).
    spatial_shape : tuple of int
        ``(L,)`` or ``(H, W)`` of the restored data; odd sizes come back exactly.
    channels, latent_dim, kernel_size, activation, layers_per_level
        As for the matching :class:`UNetEncoder`.
    """

    def __init__(self, out_channels, spatial_shape, channels, latent_dim, kernel_size=3,
                 activation="relu", layers_per_level=2):
        super().__init__()
        check_kernel(kernel_size)
        conv, conv_t = CONV[len(spatial_shape)], CONV_TRANSPOSE[len(spatial_shape)]
        channels = list(channels)
        shapes = conv_output_shapes(spatial_shape, len(channels) - 1)
        self.from_code = nn.Sequential(conv(latent_dim, channels[-1], 1),
                                       get_activation(activation))
        self.up, self.merge = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(len(channels) - 1)):  # the resolution reached
            target, source = shapes[level], shapes[level + 1]
            c_skip = channels[level]
            self.up.append(nn.Sequential(
                conv_t(channels[level + 1], c_skip, kernel_size, stride=2,
                       padding=kernel_size // 2,
                       output_padding=tuple(t - (2 * s - 1) for t, s in zip(target, source))),
                get_activation(activation),
            ))
            self.merge.append(_block(conv, 2 * c_skip, c_skip, kernel_size, activation,
                                     max(layers_per_level, 1)))
        self.head = conv(channels[0], out_channels, 1)

    def forward(self, code_map, skips):
        h = self.from_code(code_map)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            h = merge(torch.cat([up(h), skip], dim=1))
        return self.head(h)


class UNetModule(nn.Module):
    """Encoder, decoder with skip connections and an output stage, trained end to end.

    ``forward(x, mask=None)`` is ``act(D(E(x), skips))``, or with ``residual=True``
    ``clamp(x + D(E(x), skips))`` to the range of ``output_activation`` (``sigmoid``:
    [0, 1], ``tanh``: [-1, 1], ``identity``: no limit), so that the network learns the
    correction of its input. ``encode(x)`` gives the flattened spatial code; there is no
    ``decode(z)``: the decoder needs the skip connections of the input itself. With an
    encoder built with ``mask_channel=True``, ``mask`` marks the missing entries.

    Parameters
    ----------
    encoder : UNetEncoder
    decoder : UNetDecoder
    output_activation : {"identity", "sigmoid", "tanh"}
    residual : bool

    Examples
    --------
    >>> import torch
    >>> from skae.nn import UNetDecoder, UNetEncoder, UNetModule
    >>> args = (1, (13, 20), (8, 16), 4)  # channels, odd spatial shape, widths, code
    >>> net = UNetModule(UNetEncoder(*args), UNetDecoder(*args), "sigmoid", residual=True)
    >>> x = torch.rand(2, 1, 13, 20)
    >>> net(x).shape, net.encode(x).shape  # the code: 4 channels of 7 x 10
    (torch.Size([2, 1, 13, 20]), torch.Size([2, 280]))
    """

    _RANGES = {"identity": None, "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}

    def __init__(self, encoder, decoder, output_activation="identity", residual=False):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.residual = bool(residual)
        self.output_range = self._RANGES[output_activation]
        self.output_activation = (nn.Identity() if residual
                                  else get_activation(output_activation))
        self.projection = None

    @property
    def takes_mask(self):
        """Whether ``forward`` reads a ``mask`` of missing entries (the encoder's
        ``mask_channel``); skae's training step and ``inpaint`` then pass it."""
        return self.encoder.mask_channel

    def encode(self, x):
        """Flattened spatial codes of a batch.

        Parameters
        ----------
        x : torch.Tensor of shape (n, C, L) or (n, C, H, W)

        Returns
        -------
        codes : torch.Tensor of shape (n, latent_dim * prod(deepest shape))
        """
        return self.encoder(x)

    def decode(self, z):
        """Not available: raises ValueError (the decoder needs the input's skips).

        Parameters
        ----------
        z : torch.Tensor
            Codes.
        """
        raise ValueError(
            "A U-Net cannot decode codes alone: its decoder needs the skip connections "
            "of the input. Use reconstruct(X), or architecture='bottleneck' for a model "
            "whose codes decode (inverse_transform)."
        )

    def forward(self, x, mask=None):
        code_map, skips = self.encoder.features(x, mask)
        out = self.decoder(code_map, skips)
        if not self.residual:
            return self.output_activation(out)
        out = x + out
        return out if self.output_range is None else out.clamp(*self.output_range)


def unet_code_size(spatial_shape, channels, latent_dim):
    """Number of values in the flattened spatial code of a U-Net.

    Parameters
    ----------
    spatial_shape : tuple of int
        ``(L,)`` or ``(H, W)`` of one sample.
    channels : sequence of int
        The U-Net's widths per resolution (``len(channels) - 1`` stride-2 levels).
    latent_dim : int
        Channels of the code.

    Returns
    -------
    size : int

    Examples
    --------
    >>> from skae.nn import unet_code_size
    >>> unet_code_size((28, 28), (16, 32, 64), 8)  # 8 channels of 7 x 7
    392
    """
    return latent_dim * math.prod(conv_output_shapes(spatial_shape, len(channels) - 1)[-1])
