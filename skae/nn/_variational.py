"""The variational autoencoder's torch parts: a Gaussian encoder, the module with its
decoder likelihood, and the negative ELBO that skorch minimises.

Kingma & Welling (2014): the encoder gives a diagonal Gaussian ``q(z|x)``, the prior is
``N(0, I)``, and the decoder gives ``p(x|z)``: a Gaussian with a learned variance (real
values) or a Bernoulli (values in [0, 1]). Training maximises the ELBO,
``E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))``; :meth:`VariationalAutoEncoderModule.log_weights`
gives the importance weights of the IWAE bound (Burda et al., 2016) on ``log p(x)``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# Bounds of the posterior's log-variance: exp(-30 / 2) ~ 3e-7 to exp(20 / 2) ~ 2e4.
POSTERIOR_LOG_VARIANCE = (-30.0, 20.0)
# The decoder's Gaussian variance never falls below 1e-6 (a standard deviation of 1e-3
# in the network's units): without a floor, a feature that is constant in the training
# data would get an ever narrower density, and an unbounded log-likelihood.
MIN_VARIANCE = 1e-6
# Weight of each training batch in the running average of the squared errors.
VARIANCE_MOMENTUM = 0.1
_LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("gaussian", "bernoulli")
VARIANCES = ("per_feature", "global")


def _per_sample(values):
    return values.flatten(1).sum(1)


def log_likelihood(location, log_variance, target):
    """Per-sample ``log p(target | z)`` in nats, summed over the values of a sample.

    Parameters
    ----------
    location : torch.Tensor of shape (n, ...)
        The decoder's Gaussian means, or its Bernoulli logits when ``log_variance`` is
        None.
    log_variance : torch.Tensor broadcastable to ``location``, or None
        The Gaussian's log-variance; None for a Bernoulli likelihood.
    target : torch.Tensor of the shape of ``location``

    Returns
    -------
    log_p : torch.Tensor of shape (n,)
    """
    if log_variance is None:
        return -_per_sample(
            F.binary_cross_entropy_with_logits(location, target, reduction="none")
        )
    squared = (target - location).pow(2) * torch.exp(-log_variance)
    return -0.5 * _per_sample(squared + log_variance + _LOG_2PI)


def gaussian_kl(mean, log_var):
    """Per-sample ``KL(N(mean, exp(log_var)) || N(0, I))`` in nats."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)


class GaussianEncoder(nn.Module):
    """An encoder whose ``2 * latent_dim`` outputs are the mean and the log-variance of a
    diagonal Gaussian posterior ``q(z|x)``; calling it gives the mean.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps inputs to ``2 * latent_dim`` values: the means, then the log-variances.
    latent_dim : int
        Size of the code.
    """

    def __init__(self, encoder, latent_dim):
        super().__init__()
        self.encoder = encoder
        self.latent_dim = int(latent_dim)

    def distribution(self, x):
        """Mean and log-variance of ``q(z|x)``.

        Parameters
        ----------
        x : torch.Tensor of shape (n, ...)
            A batch in the network's layout.

        Returns
        -------
        mean, log_var : torch.Tensor of shape (n, latent_dim)
        """
        out = self.encoder(x)
        mean, log_var = out[:, : self.latent_dim], out[:, self.latent_dim :]
        return mean, log_var.clamp(*POSTERIOR_LOG_VARIANCE)

    def forward(self, x):
        return self.encoder(x)[:, : self.latent_dim]


class VariationalAutoEncoderModule(nn.Module):
    """Gaussian encoder, decoder and decoder likelihood of a variational autoencoder.

    ``module(x)`` is the deterministic reconstruction ``decode(encode(x))`` (the mean of
    ``p(x|z)`` at the posterior mean), as for :class:`AutoEncoderModule`;
    ``module(x, variational=True)`` is the training pass: it draws ``z = mean + std * eps``
    (the reparameterisation trick) and returns ``(location, log_variance, mean,
    log_var)``: the decoder's parameters at ``z`` (Gaussian means or Bernoulli logits),
    the Gaussian's log-variance (None for a Bernoulli) and the posterior's parameters.

    The Gaussian's variance is a buffer, not a trained weight: the value that
    maximises the ELBO for the current decoder is the mean squared error of its
    reconstructions (the "optimal sigma" of Rybkin et al., 2021), so training keeps a
    running average of each batch's squared errors (:meth:`update_variance`) and the
    estimator sets it exactly on the training data once trained (:meth:`set_variance`).
    It never falls below ``MIN_VARIANCE``.

    Parameters
    ----------
    encoder : GaussianEncoder
        Maps inputs to the posterior.
    decoder : torch.nn.Module
        Maps codes to the likelihood's location, before ``output_activation``.
    output_shape : tuple of int
        Shape of one sample in the network's layout.
    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        ``p(x|z)``: a Gaussian of mean ``output_activation(decoder(z))``, or a Bernoulli
        of logits ``decoder(z)`` (its mean is their sigmoid).
    variance : {"per_feature", "global"}, default="per_feature"
        The Gaussian's variance: one per value of a sample (``log_variance`` of shape
        ``(1, *output_shape)``) or one for all.
    output_activation : torch.nn.Module, default=None
        Applied to the Gaussian decoder's output.
    projection : torch.nn.Module, default=None
        Maps the posterior means of augmented views to a contrastive loss's space.
    """

    def __init__(self, encoder, decoder, output_shape, likelihood="gaussian",
                 variance="per_feature", output_activation=None, projection=None):
        super().__init__()
        if likelihood not in LIKELIHOODS or variance not in VARIANCES:
            raise ValueError(f"Unknown likelihood {likelihood!r} or variance {variance!r}.")
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.variance = variance
        self.output_activation = output_activation or nn.Identity()
        self.projection = projection
        if likelihood == "bernoulli":
            self.register_buffer("log_variance", None)
            self.register_buffer("num_batches_tracked", None)
            return
        shape = tuple(output_shape) if variance == "per_feature" else (1,) * len(output_shape)
        self.register_buffer("log_variance", torch.zeros((1, *shape)))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def _squared_errors(self, squared):
        return squared.mean() if self.variance == "global" else squared

    @torch.no_grad()
    def update_variance(self, location, target, momentum=VARIANCE_MOMENTUM):
        """Fold a training batch's mean squared errors into the running variance.

        The first batch sets it; later ones weigh ``momentum``.

        Parameters
        ----------
        location : torch.Tensor of shape (n, ...)
            The Gaussian's means for the batch (at sampled codes).
        target : torch.Tensor of the same shape
            What they should be.
        momentum : float, default=VARIANCE_MOMENTUM
        """
        squared = self._squared_errors((target - location).pow(2).mean(0, keepdim=True))
        weight = torch.where(self.num_batches_tracked == 0, 1.0, momentum)
        variance = (1 - weight) * self.log_variance.exp() + weight * squared
        self.log_variance.copy_(variance.clamp_min(MIN_VARIANCE).log())
        self.num_batches_tracked += 1

    @torch.no_grad()
    def set_variance(self, mean_squared_errors):
        """Set the variance to given mean squared errors (floored at ``MIN_VARIANCE``).

        Parameters
        ----------
        mean_squared_errors : torch.Tensor of shape ``output_shape``
            Per value of a sample, e.g. over the training data.
        """
        squared = self._squared_errors(torch.as_tensor(mean_squared_errors).float())
        squared = squared.to(self.log_variance.device).reshape(-1)
        variance = squared.reshape(self.log_variance.shape)
        self.log_variance.copy_(variance.clamp_min(MIN_VARIANCE).log())

    def encode(self, x):
        """Posterior means of a batch.

        Parameters
        ----------
        x : torch.Tensor of shape (n, ...)

        Returns
        -------
        mean : torch.Tensor of shape (n, latent_dim)
        """
        return self.encoder(x)

    def location(self, z):
        """The likelihood's parameter at codes ``z``: Gaussian means or Bernoulli logits.

        Parameters
        ----------
        z : torch.Tensor of shape (n, latent_dim)

        Returns
        -------
        location : torch.Tensor of shape (n, ...)
        """
        out = self.decoder(z)
        return out if self.likelihood == "bernoulli" else self.output_activation(out)

    def decode(self, z):
        """Mean of ``p(x|z)``.

        Parameters
        ----------
        z : torch.Tensor of shape (n, latent_dim)

        Returns
        -------
        mean : torch.Tensor of shape (n, ...)
        """
        location = self.location(z)
        return torch.sigmoid(location) if self.likelihood == "bernoulli" else location

    def log_weights(self, x, eps):
        """Log importance weights ``log p(x|z_k) + log p(z_k) - log q(z_k|x)``.

        ``z_k = mean + std * eps[k]``: the same standard-normal draws for every sample.

        Parameters
        ----------
        x : torch.Tensor of shape (n, ...)
        eps : torch.Tensor of shape (k, latent_dim)

        Returns
        -------
        log_w : torch.Tensor of shape (k, n), float64
        """
        mean, log_var = self.encoder.distribution(x)
        k, n = len(eps), len(x)
        z = mean + torch.exp(0.5 * log_var) * eps[:, None, :]  # (k, n, latent_dim)
        location = self.location(z.reshape(k * n, -1)).double()
        # Sums of many values in float64: a sample's score then does not depend, at
        # float32 rounding, on the other samples of its batch.
        log_variance = None if self.log_variance is None else self.log_variance.double()
        target = x.double().unsqueeze(0).expand(k, *x.shape).reshape(location.shape)
        log_p_x = log_likelihood(location, log_variance, target).reshape(k, n)
        z, eps, log_var = z.double(), eps.double(), log_var.double()
        log_p_z = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
        log_q_z = -0.5 * (eps.pow(2)[:, None, :] + _LOG_2PI + log_var).sum(-1)
        return log_p_x + log_p_z - log_q_z

    def forward(self, x, views=None, variational=False):
        if not variational:
            if views is not None:
                raise ValueError("forward(x, views) is a training pass: variational=True.")
            return self.decode(self.encode(x))
        n = len(x)
        if views is not None:
            if self.projection is None:
                raise ValueError("forward(x, views) needs a module built with a projection.")
            x = torch.cat([x, views])
        mean, log_var = self.encoder.distribution(x)
        z = mean[:n] + torch.exp(0.5 * log_var[:n]) * torch.randn_like(mean[:n])
        log_variance = None if self.log_variance is None else self.log_variance.clone()
        out = (self.location(z), log_variance, mean[:n], log_var[:n])
        return out if views is None else (out, self.projection(mean[n:]))


class NegativeELBO(nn.Module):
    """skorch criterion of a variational autoencoder: the batch mean of ``nll + beta *
    kl``, in nats per sample (the net reads the two parts with :meth:`terms`).

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the KL term (beta-VAE; 1 is the ELBO).
    """

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = float(beta)

    def terms(self, outputs, target):
        """Per-sample ``-log p(target|z)`` and ``KL(q(z|x) || p(z))``.

        Parameters
        ----------
        outputs : tuple
            ``module(x, variational=True)``: location, log-variance, mean, log_var.
        target : torch.Tensor of shape (n, ...)

        Returns
        -------
        nll, kl : torch.Tensor of shape (n,)
        """
        location, log_variance, mean, log_var = outputs
        return -log_likelihood(location, log_variance, target), gaussian_kl(mean, log_var)

    def forward(self, outputs, target):
        nll, kl = self.terms(outputs, target)
        return (nll + self.beta * kl).mean()
