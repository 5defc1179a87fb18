"""The encoder-decoder pair that skorch trains."""

from torch import nn


class AutoEncoderModule(nn.Module):
    """Encoder E, decoder D and an output activation: ``forward(x) = act(D(E(x)))``.

    Parameters
    ----------
    encoder, decoder : torch.nn.Module
        Maps inputs to codes and codes back to inputs' shape.
    output_activation : torch.nn.Module, default=None
        Applied to the decoder's output (e.g. ``nn.Sigmoid()`` for data in [0, 1]).
    """

    def __init__(self, encoder, decoder, output_activation=None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.output_activation = output_activation or nn.Identity()

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

    def forward(self, x):
        return self.decode(self.encode(x))
