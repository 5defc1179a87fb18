"""Why the detector finds a sample unusual: its reconstruction, its error map and the
parts of its score.

:class:`ScoreExplanationsMixin` is part of :class:`~skae.AEAnomalyDetector`.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class ScoreExplanationsMixin:
    """``encode``, ``reconstruct``, ``error_map`` and ``score_parts`` of a fitted detector."""

    def encode(self, X):
        """The codes of ``X``: the fitted autoencoder's ``transform``, after the scaling.

        The detector standardises the features of tables before its autoencoder sees them
        (``scaler_``); ``encode`` applies the same scaling, so its codes are those the
        code-distance term of the score is computed from. Use them to map or cluster
        the samples the detector ranks.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``

        Returns
        -------
        codes : ndarray of shape (n_samples, latent_dim), float32

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AEAnomalyDetector, DenseAutoEncoder
        >>> X = np.random.default_rng(0).normal(size=(60, 6)).astype("float32")
        >>> ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2,
        ...                       random_state=0)
        >>> AEAnomalyDetector(ae, novelty=False, random_state=0).fit(X).encode(X).shape
        (60, 2)
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return np.asarray(self.autoencoder_.transform(self._to_autoencoder_input(X)),
                          dtype=np.float32)

    def score_parts(self, X):
        """The parts of the score: how unusual each sample is in each term of ``method``.

        Column ``j`` is the log of term ``term_names_[j]`` (reconstruction error, code
        distance), robustly standardised on the training data: 0 is a typical training
        sample, 1 is one interquartile range more unusual. ``score_samples(X)`` is minus
        the mean of the columns, so the parts say why a sample ranks high.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``

        Returns
        -------
        parts : ndarray of shape (n_samples, n_terms), float64
            Higher is more unusual.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._standardised(self._log_terms(self._to_autoencoder_input(X)))

    def reconstruct(self, X):
        """The autoencoder's reconstruction of ``X``, in the units and shape of ``X``.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``

        Returns
        -------
        X_reconstructed : ndarray of the shape of ``X``, float64
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        recon = self.autoencoder_.reconstruct(self._to_autoencoder_input(X))
        recon = np.asarray(recon, dtype=np.float64).reshape(len(X), -1)
        if self.scaler_ is not None:
            recon = self.scaler_.inverse_transform(recon)
        return recon.reshape(len(X), *self.sample_shape_)

    def error_map(self, X):
        """Per-value squared reconstruction error: which pixels or columns are abnormal.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``

        Returns
        -------
        errors : ndarray of the shape of ``X``, float64
            ``(x - reconstruction) ** 2`` for every pixel or feature, with the residual
            smoothed first for images (see ``error_smoothing``); its mean over a sample
            is the reconstruction error that the score uses (for the mean squared error
            loss). When features are standardised (``scaler_`` is not None) both are in
            standardised units, so errors of different columns are comparable.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        errors = self._squared_residuals(self._to_autoencoder_input(X))
        return errors.reshape(len(X), *self.sample_shape_)
