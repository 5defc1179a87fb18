"""What makes an autoencoder variational: :class:`VariationalMixin` and its shared text.

:class:`VariationalMixin` turns a :class:`~skae.BaseAutoEncoder` subclass into a
variational autoencoder (:mod:`skae._variational`): a Gaussian encoder, the negative
ELBO as the training loss (``skae._net.VariationalLossMixin``), the decoder's variance
estimated on the training data, :meth:`~VariationalMixin.score_samples` (an
importance-weighted bound on ``log p(x)``), :meth:`~VariationalMixin.sample` and a
``score`` that is the mean log-likelihood. :func:`variational_doc` writes the
parameters, notes and references the variational classes share.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn import get_config
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, StrOptions
from ._docstrings import fill_doc
from .nn import GaussianEncoder, VariationalAutoEncoderModule, get_activation
from .nn._variational import LIKELIHOODS, VARIANCES, NegativeELBO

# The K standard-normal draws of score_samples come from this seed, the same for every
# sample and every call: scores are then a deterministic function of each sample.
IMPORTANCE_SEED = 0
# Decoder activations per output value, to size the importance-sample chunks of
# score_samples from sklearn's working_memory (the default ConvDecoder's widest layer
# holds 8 values per pixel).
DECODER_EXPANSION = 16

VARIATIONAL_PARAMETERS = """\
likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        The decoder's distribution ``p(x|z)``. ``"gaussian"``: real values, of mean
        ``output_activation(decoder(z))`` and an estimated variance (``variance``).
        ``"bernoulli"``: values in [0, 1] (binary data, or grey levels read as
        probabilities), of mean ``sigmoid(decoder(z))`` (``output_activation`` must be
        ``"auto"`` or ``"sigmoid"``); ``fit`` and ``score_samples`` raise a ValueError
        for values outside [0, 1] (after ``input_scale``).
    variance : {"per_feature", "global"}, default="per_feature"
        The Gaussian decoder's variance: one per value of a sample (per pixel and
        channel, per column) or one shared by all values. It is estimated, not set: the
        variance that maximises the ELBO for a given decoder is the mean squared error
        of its reconstructions (the "optimal sigma" of Rybkin et al., 2021), so
        training uses a running average of each batch's squared errors and ``fit``
        ends by setting it to its exact value on the training data (codes drawn from
        the posterior). It never falls below ``1e-6`` in the network's units (a
        standard deviation of ``1e-3``; standardise data whose noise is smaller). An
        estimated variance is what makes ``score_samples`` a log-likelihood and weighs
        the two terms of the ELBO against each other; a fixed one would make the
        reconstruction term a squared error times an arbitrary constant. The variance
        in use is ``net_.module_.log_variance`` (its log). Ignored by
        ``likelihood="bernoulli"``.
    beta : float >= 0, default=1.0
        Weight of the KL term: training minimises ``-E_q[log p(x|z)] + beta *
        KL(q(z|x) || p(z))``. 1 is the ELBO; ``beta > 1`` (beta-VAE) trades
        reconstruction for fewer, more independent code dimensions, ``beta < 1`` the
        reverse. ``score_samples`` estimates ``log p(x)`` whatever ``beta`` was.
    n_importance_samples : int >= 1, default=32
        Codes drawn per sample by :meth:`score_samples` (the importance-weighted bound
        of Burda et al.): the bound tightens as it grows and scoring costs about one
        decoder pass per draw. 1 gives the ELBO. In ``benchmarks/bench_vae.py`` (trained
        on the 60,000 Fashion-MNIST images) the convolutional VAE's bound on 1,000 test
        images was 812.1, 828.0, 831.3 and 833.9 nats per image with 1, 8, 32 and 128
        draws, and scoring took about 4 times as long with 128 draws as with 32 (fewer
        draws speed up anomaly scoring on a CPU; on a GPU it hardly matters)."""

VARIATIONAL_NOTES = """\
The training loss (``loss_curve_``, ``history_``'s ``train_loss`` and ``valid_loss``)
    is the negative ELBO in nats per sample, of the data in the network's units (after
    ``input_scale``); ``history_`` also records its two parts per epoch, ``nll``
    (``-E_q[log p(x|z)]``) and ``kl`` (nats of information the codes carry). The loss
    of continuous data can be negative; early stopping and the plateau rule compare
    relative changes of its absolute value.

    Units of :meth:`score_samples`: nats per sample, for the data as given. Data
    transformed by an invertible map ``y = f(x)`` have ``log p(y) = log p(x) -
    log |det J_f(x)|``: scaling every value by ``a`` changes the log-likelihood of a
    sample of ``D`` values by ``-D log|a|``. The Gaussian likelihood includes the
    Jacobian of ``input_scale`` (``-D log input_scale_``); a ``StandardScaler`` earlier
    in a ``Pipeline`` is the caller's to account for. The Bernoulli likelihood is a
    probability of the values in [0, 1], for which no Jacobian applies. Compare
    likelihoods only of data in the same units.

    Posterior collapse: code dimensions that the decoder ignores have a posterior equal
    to the prior for every sample. The active dimensions are those whose posterior
    mean varies over the data, ``np.var(vae.transform(X), axis=0) > 0.01`` (Burda et
    al.); ``history_[:, "kl"]`` near 0 means that none is active."""

VARIATIONAL_REFERENCES = """\
.. [1] D. P. Kingma and M. Welling, "Auto-encoding variational Bayes", ICLR 2014.
    .. [2] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance weighted
       autoencoders", ICLR 2016.
    .. [3] I. Higgins et al., "beta-VAE: Learning basic visual concepts with a
       constrained variational framework", ICLR 2017.
    .. [4] O. Rybkin, K. Daniilidis and S. Levine, "Simple and effective VAE training
       with calibrated decoders", ICML 2021."""


def _without_entry(doc, name):
    """``doc`` without the numpydoc entry ``name : ...`` (its line and its description)."""
    lines = doc.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"    {name} : "))
    end = start + 1
    while end < len(lines) and (lines[end].startswith("     ") or not lines[end].strip()):
        end += 1
    return "\n".join(lines[:start] + lines[end:])


def variational_doc(cls):
    """Class decorator: the shared text of :func:`~skae._docstrings.fill_doc`, the
    variational parameters, notes and references, and no ``loss`` parameter."""
    if not cls.__doc__:
        return cls
    cls.__doc__ = (
        cls.__doc__.replace("{variational_parameters}", VARIATIONAL_PARAMETERS)
        .replace("{variational_notes}", VARIATIONAL_NOTES)
        .replace("{variational_references}", VARIATIONAL_REFERENCES)
    )
    cls = fill_doc(cls)
    cls.__doc__ = _without_entry(cls.__doc__, "loss")
    return cls


# The parameters a variational autoencoder adds to its parent's.
VARIATIONAL_CONSTRAINTS = {
    "likelihood": [StrOptions(set(LIKELIHOODS))],
    "variance": [StrOptions(set(VARIANCES))],
    "beta": [Interval(Real, 0, None, closed="left")],
    "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
}


class VariationalMixin:
    """What a variational autoencoder adds to a :class:`~skae.BaseAutoEncoder`."""

    _VARIATIONAL = True
    _LOSS_PARTS = ("nll", "kl")

    # -- how the base trains it ---------------------------------------------------
    def _reconstruction_loss(self):
        return "bce" if self.likelihood == "bernoulli" else "mse"

    def _encoder_width(self):
        return 2 * self.latent_dim

    def _criterion(self):
        return NegativeELBO(self.beta)

    def _unit_interval_terms(self):
        # The base checks the range of "bce", the Bernoulli's reconstruction loss.
        return "likelihood='bernoulli' models values", "likelihood='gaussian'"

    def _check_training_data(self, X):
        if self.likelihood == "bernoulli" and self.output_activation not in ("auto", "sigmoid"):
            raise ValueError(
                "likelihood='bernoulli' has the mean sigmoid(decoder(z)); "
                f"output_activation={self.output_activation!r} cannot apply. Use "
                "output_activation='auto', or likelihood='gaussian'."
            )
        super()._check_training_data(X)

    def _fit_network(self, X, target=None, *, wrap_encoder=None):
        if wrap_encoder is not None:
            raise ValueError(
                f"{type(self).__name__}'s encoder outputs a distribution and cannot be "
                "wrapped (e.g. by AutoEncoderCodec's quantiser); use ConvAutoEncoder or "
                "DenseAutoEncoder."
            )
        super()._fit_network(X, target)
        if self.likelihood == "gaussian":
            self._set_variance(X, X if target is None else target)
        return self

    def _set_variance(self, X, target, chunk=4096):
        """The Gaussian's variance that maximises the ELBO of the trained network on the
        training data: each value's mean squared error at codes drawn from q(z|x)."""
        scale = self.input_scale_
        generator = torch.Generator().manual_seed(IMPORTANCE_SEED)

        def squared_errors(module, x, t):
            mean, log_var = module.encoder.distribution(x)
            eps = torch.randn(mean.shape, generator=generator).to(mean.device)
            return (t / scale - module.location(mean + torch.exp(0.5 * log_var) * eps)) ** 2

        total = 0.0
        for start in range(0, len(X), chunk):
            part = self._map_batches(squared_errors, X[start : start + chunk],
                                     target[start : start + chunk], scale_input=True)
            total = total + part.sum(0, dtype=np.float64)
        module = self.net_.module_
        getattr(module, "module", module).set_variance(torch.from_numpy(total / len(X)))

    def _build_module(self, encoder, decoder, projection, network_shape):
        return VariationalAutoEncoderModule(
            GaussianEncoder(encoder, self.latent_dim),
            decoder,
            tuple(network_shape),
            likelihood=self.likelihood,
            variance=self.variance,
            output_activation=get_activation(self.output_activation_),
            projection=projection,
        )

    # -- likelihoods and samples --------------------------------------------------
    def score_samples(self, X):
        """Log-likelihood of each sample: an importance-weighted bound on ``log p(x)``.

        ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`` with ``z_k`` drawn from the
        posterior, ``K = n_importance_samples`` (Burda et al., 2016): a lower bound on
        ``log p(x)`` in expectation, tighter as ``K`` grows; ``K = 1`` is the ELBO. The
        ``K`` standard-normal draws are the same for every sample and every call (a
        fixed seed), so the score is a deterministic function of each sample and
        differences between samples carry less Monte Carlo noise. Computed in chunks
        of draws sized from scikit-learn's ``working_memory``.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``, or Dataset
            Samples to score.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,), float64
            In nats per sample, for the data as given (see the class Notes for the
            units); higher is more likely.
        """
        check_is_fitted(self, "net_")
        X = self._check_input(X, reset=False)
        k = self.n_importance_samples
        eps = np.random.RandomState(IMPORTANCE_SEED).standard_normal((k, self.latent_dim))
        eps = torch.from_numpy(eps.astype(np.float32))
        n_values = math.prod(X.shape[1:])
        rows = get_config()["working_memory"] * 2**20 // (8 * n_values * DECODER_EXPANSION)
        bernoulli = self.likelihood == "bernoulli"

        def log_p(module, x):
            if bernoulli and bool((x < 0).any() | (x > 1).any()):
                raise ValueError(
                    "likelihood='bernoulli' gives probabilities of values in [0, 1] (after "
                    "input_scale); X holds values outside [0, 1]."
                )
            chunk = max(1, rows // len(x))
            draws = eps.to(x.device).split(chunk)
            log_w = torch.cat([module.log_weights(x, e) for e in draws])
            return torch.logsumexp(log_w, 0) - math.log(k)

        scores = self._map_batches(log_p, X, dtype=np.float64, scale_input=True)
        if not bernoulli:
            scores -= n_values * math.log(self.input_scale_)
        return scores

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` (:meth:`score_samples`), in nats per sample.

        Higher is better, so ``GridSearchCV(vae, {"latent_dim": [...]})`` compares
        held-out likelihoods without a scorer, as for
        :class:`~sklearn.mixture.GaussianMixture`.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``, or Dataset
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1, *, noise=False, random_state=None):
        """Draw new data: codes from the prior ``N(0, I)`` through the decoder.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        noise : bool, default=False
            False returns the mean of ``p(x|z)`` for each code (what images of samples
            show); True draws from ``p(x|z)`` itself: the mean plus the learned Gaussian
            noise, or 0/1 values from the Bernoulli (times ``input_scale_``).
        random_state : int, RandomState instance or None, default=None
            Seeds the codes (and the noise); an int gives the same samples every call.

        Returns
        -------
        X_new : ndarray of the sample shape seen at ``fit``, float64
            In the units of the training data.
        """
        check_is_fitted(self, "net_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
        rng = check_random_state(random_state)
        codes = rng.standard_normal((int(n_samples), self.latent_dim))
        mean = self._map_batches(lambda m, z: m.decode(z), codes, dtype=np.float64)
        if noise and self.likelihood == "bernoulli":
            mean = (rng.random_sample(mean.shape) < mean).astype(np.float64)
        elif noise:
            log_var = self.net_.module_.log_variance.detach().cpu().double().numpy()
            mean = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
        return self._to_sample_shape(mean * self.input_scale_)
