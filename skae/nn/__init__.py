"""Pure PyTorch building blocks of skae's autoencoders (no sklearn, no skorch)."""

from ._activations import get_activation
from ._autoencoder import AutoEncoderModule, ProjectionHead
from ._classifier_head import EncoderHeadModule
from ._conv import ConvDecoder, ConvEncoder, conv_output_shapes
from ._dense import DenseDecoder, DenseEncoder
from ._quantiser import QuantisedEncoder
from ._unet import UNetDecoder, UNetEncoder, UNetModule, unet_code_size
from ._variational import GaussianEncoder, VariationalAutoEncoderModule

__all__ = [
    "AutoEncoderModule",
    "ConvDecoder",
    "ConvEncoder",
    "DenseDecoder",
    "DenseEncoder",
    "EncoderHeadModule",
    "GaussianEncoder",
    "ProjectionHead",
    "QuantisedEncoder",
    "UNetDecoder",
    "UNetEncoder",
    "UNetModule",
    "VariationalAutoEncoderModule",
    "conv_output_shapes",
    "get_activation",
    "unet_code_size",
]
