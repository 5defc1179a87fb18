"""The encoder-decoder pair that skorch trains."""

import torch
from torch import nn


class AutoEncoderModule(nn.Module):
    """Encoder E, decoder D and an output activation: ``forward(x) = act(D(E(x)))``.

    Parameters
    ----------
    encoder, decoder : torch.nn.Module
        Maps inputs to codes and codes back to inputs' shape.
    output_activation : torch.nn.Module, default=None
        Applied to the decoder's output (e.g. ``nn.Sigmoid()`` for data in [0, 1]).
    projection : torch.nn.Module, default=None
        Maps codes to the space of a contrastive loss (a :class:`ProjectionHead`); used
        only by ``forward(x, views=...)`` during training.
    """

    def __init__(self, encoder, decoder, output_activation=None, projection=None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.output_activation = output_activation or nn.Identity()
        self.projection = projection

    def encode(self, x):
        """Codes of a batch: ``E(x)``.

        Parameters
        ----------
        x : torch.Tensor of shape (n, ...)
            A batch in the network's layout.

        Returns
        -------
        codes : torch.Tensor of shape (n, latent_dim)
        """
        return self.encoder(x)

    def decode(self, z):
        """Reconstruction from codes: ``act(D(z))``.

        Parameters
        ----------
        z : torch.Tensor of shape (n, latent_dim)
            Codes.

        Returns
        -------
        reconstruction : torch.Tensor of shape (n, ...)
        """
        return self.output_activation(self.decoder(z))

    def forward(self, x, views=None):
        """``act(D(E(x)))``; with ``views``, also the projected codes of the views.

        ``views`` (a batch of augmented samples, same layout as ``x``) goes through the
        encoder together with ``x`` in one pass, which also keeps the whole training step
        inside one ``forward`` (as DistributedDataParallel needs).
        """
        if views is None:
            return self.decode(self.encode(x))
        if self.projection is None:
            raise ValueError("forward(x, views) needs a module built with a projection.")
        codes = self.encode(torch.cat([x, views]))
        return self.decode(codes[: len(x)]), self.projection(codes[len(x):])


class ProjectionHead(nn.Sequential):
    """Codes to the space where a contrastive loss compares them: Linear-ReLU-Linear.

    As in SimCLR (Chen et al., 2020), the loss acts on this projection and the codes
    before it are what is kept: they retain more than the loss needs.

    Parameters
    ----------
    latent_dim : int
    hidden_dim : int, default=256
    out_dim : int, default=64
    """

    def __init__(self, latent_dim, hidden_dim=256, out_dim=64):
        super().__init__(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim)
        )
