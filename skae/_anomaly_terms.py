"""The terms of :class:`~skae.AEAnomalyDetector`'s score: the (smoothed) reconstruction
error, the code distance (to the nearest training codes, or to the nearest known class
when fitted with labels) and a variational autoencoder's log-likelihood, each on the log
scale and robustly standardised on the training data."""

import numpy as np
from scipy.ndimage import gaussian_filter

from ._class_distance import nearest_class_distance

# Rows per chunk when computing smoothed errors: bounds the float64 copies in memory.
_CHUNK = 4096


class ScoreTermsMixin:
    """How a fitted detector computes its score terms and combines them."""

    def _smooths(self):
        return self.error_smoothing > 0 and len(self.sample_shape_) >= 2

    def _squared_residuals(self, X_ae):
        """Per-value squared (smoothed) residuals of network input ``X_ae``, float64."""
        recon = np.asarray(self.autoencoder_.reconstruct(X_ae), dtype=np.float64)
        residual = np.asarray(X_ae, dtype=np.float64) - recon
        if self._smooths():
            sigma = (0,) * (residual.ndim - 2) + (self.error_smoothing,) * 2
            residual = gaussian_filter(residual, sigma=sigma)
        return residual**2

    def _reconstruction_errors(self, X_ae):
        if "reconstruction" not in self.term_names_:
            return None
        if not self._smooths():
            return np.asarray(
                self.autoencoder_.reconstruction_error(X_ae), dtype=np.float64
            )
        errors = [
            self._squared_residuals(X_ae[start : start + _CHUNK])
            .reshape(len(X_ae[start : start + _CHUNK]), -1)
            .mean(axis=1)
            for start in range(0, len(X_ae), _CHUNK)
        ]
        return np.concatenate(errors)

    def _log_terms(self, X_ae, errors=None, codes=None, leave_one_out=False):
        """Log of each score term, shape (n_samples, n_terms), float64.

        ``errors`` and ``codes`` are computed from ``X_ae`` unless given.
        """
        columns = []
        for name in self.term_names_:
            if name == "likelihood":  # a log already: minus the log-likelihood
                columns.append(-np.asarray(self.autoencoder_.score_samples(X_ae), float))
                continue
            if name == "reconstruction":
                value = self._reconstruction_errors(X_ae) if errors is None else errors
            else:
                if codes is None:
                    codes = np.asarray(self.autoencoder_.transform(X_ae), dtype=np.float64)
                if self.neighbors_ is None:
                    value = nearest_class_distance(codes, self.class_code_means_,
                                                   self.code_precision_)
                    columns.append(np.log(np.maximum(value, np.finfo(np.float64).tiny)))
                    continue
                k = self.neighbors_.n_neighbors
                distances, _ = self.neighbors_.kneighbors(
                    codes, n_neighbors=k + 1 if leave_one_out else k
                )
                # Leave-one-out: the nearest training code of a training code is itself.
                value = distances[:, 1:].mean(axis=1) if leave_one_out else distances.mean(1)
            columns.append(np.log(np.maximum(value, np.finfo(np.float64).tiny)))
        return np.column_stack(columns)

    def _combine(self, terms):
        return -self._standardised(terms).mean(axis=1)

    def _standardised(self, terms):
        return (terms - self.term_center_) / self.term_scale_
