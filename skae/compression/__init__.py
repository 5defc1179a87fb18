"""Lossy compression with autoencoders: real bitstreams and rate–distortion curves.

:class:`AutoEncoderCodec` trains a skae autoencoder aware of quantisation, then turns data
into bytes (:meth:`~AutoEncoderCodec.compress`) and back
(:meth:`~AutoEncoderCodec.decompress`). :func:`rate_distortion_curve` measures PSNR and
SSIM against the bits per value of the actual payloads, next to JPEG, JPEG 2000 and PCA
baselines; :func:`plot_rate_distortion` draws the result.
"""

from ..plotting import plot_rate_distortion
from ._autoencoder_codec import AutoEncoderCodec
from ._payload import InvalidPayloadError
from ._pca_codec import PCACodec
from ._rate_distortion import rate_distortion_curve

__all__ = [
    "AutoEncoderCodec",
    "InvalidPayloadError",
    "PCACodec",
    "plot_rate_distortion",
    "rate_distortion_curve",
]
