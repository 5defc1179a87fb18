"""The codecs' shared bytes API: compress, decompress, reconstruct and bits_per_value.

:class:`BitstreamCodec` is the mixin of every codec that maps data to integer levels and
back (:class:`AutoEncoderCodec`, :class:`PCACodec`): it entropy-codes the levels
(:mod:`skae.compression._entropy`) and wraps them in a payload
(:mod:`skae.compression._payload`).
"""

from sklearn.utils.validation import check_is_fitted

from .._runtime import output_dtype
from ._entropy import entropy_decode, entropy_encode
from ._payload import pack, payload_n_samples, unpack


class BitstreamCodec:
    """compress/decompress for codecs that map data to integer levels and back.

    Subclasses set ``bits``, ``probabilities_``, ``_fingerprint``, ``n_features_in_`` and
    implement ``_validate(X)``, ``_encode_levels(X_valid)`` and ``_decode_levels(levels)``.
    """

    def compress(self, X):
        """Compress ``X`` into one self-describing payload.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``
            Data to compress; not modified.

        Returns
        -------
        payload : bytes
            Header (magic, format version, model fingerprint, bits, ``latent_dim``,
            ``n_samples``, CRC-32) and the ANS-coded codes. ``8 * len(payload)`` is the
            rate in bits; :meth:`bits_per_value` divides it by the number of values.
        """
        check_is_fitted(self, "probabilities_")
        X = self._validate(X)
        levels = self._encode_levels(X)
        return pack(
            entropy_encode(levels, self.probabilities_),
            model_fingerprint=self._fingerprint,
            bits=self.bits,
            latent_dim=self.probabilities_.shape[0],
            n_samples=len(levels),
            dtype=output_dtype(X),
        )

    def decompress(self, payload):
        """Decode a payload made by :meth:`compress` of this fitted codec.

        Parameters
        ----------
        payload : bytes

        Returns
        -------
        X_decoded : ndarray
            In the sample shape seen at ``fit``; float64 if ``compress`` was given
            float64, else float32. Equal, bit for bit, to ``reconstruct(X)``.

        Raises
        ------
        InvalidPayloadError
            If the payload is truncated, corrupted, not a skae payload, made by another
            model, or its header claims more samples than its body can hold (it is a
            ``ValueError``). Nothing else escapes from the entropy coder.
        """
        check_is_fitted(self, "probabilities_")
        body, n_samples, dtype = unpack(
            payload,
            model_fingerprint=self._fingerprint,
            bits=self.bits,
            latent_dim=self.probabilities_.shape[0],
        )
        levels = entropy_decode(body, self.probabilities_, n_samples)
        return self._decode_levels(levels).astype(dtype, copy=False)

    def reconstruct(self, X):
        """Quantise and decode ``X``: what ``decompress(compress(X))`` returns.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``

        Returns
        -------
        X_reconstructed : ndarray
            float64 for float64 input, else float32; in the sample shape seen at ``fit``.
        """
        check_is_fitted(self, "probabilities_")
        X = self._validate(X)
        out = self._decode_levels(self._encode_levels(X))
        return out.astype(output_dtype(X), copy=False)

    def bits_per_value(self, payload):
        """Rate of a payload: ``8 * len(payload)`` over the number of values it holds.

        For images, values are pixels (times channels): this is bits per pixel.

        Parameters
        ----------
        payload : bytes
            Output of :meth:`compress`.

        Returns
        -------
        rate : float
        """
        check_is_fitted(self, "probabilities_")
        n_samples = payload_n_samples(payload)
        return 8 * len(payload) / max(n_samples * self.n_features_in_, 1)
