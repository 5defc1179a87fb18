"""The codec's quantiser: an encoder whose codes are bounded, noised in training, rounded.

:class:`QuantisedEncoder` wraps any encoder of :mod:`skae.nn` so that its codes become
``2**bits`` integer levels (the codes :class:`skae.compression.AutoEncoderCodec` writes),
with uniform noise as the differentiable proxy of rounding during training and an optional
rate term added to the gradient (``_RateGradient``).
"""

import numpy as np
import torch
from torch import nn


class _RateGradient(torch.autograd.Function):
    """Identity on ``codes`` whose backward also adds ``weight * d(rate)/d(theta)``.

    Lets a rate term shape training without touching the reconstruction loss that skorch
    computes and reports: the gradient is that of ``loss + weight * rate``.
    """

    @staticmethod
    def forward(ctx, codes, rate, weight):
        ctx.weight = weight
        return codes.view_as(codes)

    @staticmethod
    def backward(ctx, grad_codes):
        return grad_codes, grad_codes.new_tensor(ctx.weight), None


class QuantisedEncoder(nn.Module):
    """Encoder whose codes are bounded, scaled to ``2**bits`` levels and quantised.

    ``levels(x) = (2**bits - 1) * sigmoid(gain * normalise(encoder(x)) + shift)``, where
    ``normalise`` standardises each code dimension with batch statistics in training and
    their running averages at inference (batch normalisation without affine part), and
    ``gain`` and ``shift`` are learned per dimension. Normalising keeps the codes spread
    over the levels whatever the encoder's output scale; without it a freshly
    initialised encoder's codes vary far less than the quantisation noise and training
    stalls. In training mode the forward pass
    adds uniform noise in ``[-0.5, 0.5)`` (a differentiable proxy of rounding, Ballé et
    al. 2017) and, when ``rate_weight > 0``, adds the gradient of an estimate of the code
    length (:meth:`rate_bits`). In eval mode the levels
    are rounded. Either way the output is ``levels / (2**bits - 1)``, in [0, 1].

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps inputs to ``latent_dim`` real values.
    latent_dim : int
    bits : int
        Bits per code value before entropy coding.
    rate_weight : float, default=0.0
        Weight of the rate (bits per input value) against the mean reconstruction loss.
    n_values : int, default=1
        Values per input sample: the rate penalty is in bits per value.
    """

    def __init__(self, encoder, latent_dim, bits, rate_weight=0.0, n_values=1):
        super().__init__()
        self.encoder = encoder
        self.bits = int(bits)
        self.max_level = float(2**self.bits - 1)
        self.rate_weight = float(rate_weight)
        self.n_values = int(n_values)
        self.normalise = nn.BatchNorm1d(latent_dim, affine=False)
        self.shift = nn.Parameter(torch.zeros(latent_dim))
        self.log_gain = nn.Parameter(torch.full((latent_dim,), float(np.log(2.0))))

    def levels(self, x):
        """Unrounded levels in ``[0, 2**bits - 1]``.

        Parameters
        ----------
        x : torch.Tensor
            A batch of encoder inputs.

        Returns
        -------
        levels : torch.Tensor of shape (n, latent_dim)
        """
        z = self.encoder(x)
        if self.training and len(z) == 1:  # batch statistics need two samples
            z = nn.functional.batch_norm(
                z, self.normalise.running_mean, self.normalise.running_var, training=False
            )
        else:
            z = self.normalise(z)
        return self.max_level * torch.sigmoid(z * self.log_gain.exp() + self.shift)

    @torch.no_grad()
    def calibrate(self, codes):
        """Set the normalisation to the mean and variance of the encoder's ``codes``.

        Run after training on the training codes: inference then normalises with
        statistics of the final encoder rather than running averages that lag behind it.

        Parameters
        ----------
        codes : array-like of shape (n_samples, latent_dim)
            Outputs of the wrapped ``encoder`` (before normalisation) on the training data.
        """
        codes = torch.as_tensor(codes, dtype=torch.float64)
        mean = codes.mean(0)
        var = codes.var(0, unbiased=False) if len(codes) > 1 else torch.ones_like(mean)
        self.normalise.running_mean.copy_(mean.float())
        self.normalise.running_var.copy_(var.float())

    def quantise(self, x):
        """Integer levels (as floats) of a batch: what the bitstream carries.

        Parameters
        ----------
        x : torch.Tensor
            A batch of encoder inputs.

        Returns
        -------
        levels : torch.Tensor of shape (n, latent_dim)
            Rounded levels in ``[0, 2**bits - 1]``.
        """
        return torch.round(self.levels(x))

    @staticmethod
    def rate_bits(levels):
        """Estimated bits per sample of a batch of noisy levels.

        Each dimension's levels are modelled by the discretised logistic density with
        the batch's mean and standard deviation; its code length falls as the codes
        concentrate on fewer levels, which is what the histogram coder then exploits.

        Parameters
        ----------
        levels : torch.Tensor of shape (n, latent_dim)
            Noisy levels of a batch (two samples or more).

        Returns
        -------
        bits : torch.Tensor of shape (n,)
        """
        loc = levels.mean(0)
        scale = (levels.std(0) * (3**0.5 / torch.pi)).clamp_min(0.05)
        upper = torch.sigmoid((levels + 0.5 - loc) / scale)
        lower = torch.sigmoid((levels - 0.5 - loc) / scale)
        return -torch.log2((upper - lower).clamp_min(1e-9)).sum(1)

    def forward(self, x):
        if not self.training:
            return self.quantise(x) / self.max_level
        levels = self.levels(x)
        levels = levels + torch.rand_like(levels) - 0.5
        if self.rate_weight > 0 and len(levels) > 1:
            rate = self.rate_bits(levels).mean() / self.n_values
            levels = _RateGradient.apply(levels, rate, self.rate_weight)
        return levels / self.max_level
