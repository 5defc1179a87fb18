"""Private machinery of the codecs: the quantiser module, the entropy model, the bitstream.

A payload is a small self-describing header followed by the latent codes entropy-coded
with an asymmetric numeral system (ANS) coder from ``constriction`` under a per-dimension
categorical model fitted on training codes::

    offset  size  field
    0       4     magic b"SKAE"
    4       1     format version (2)
    5       1     dtype of the reconstruction (0: float32, 1: float64)
    6       8     fingerprint of the fitted model (BLAKE2b-64 of weights and tables)
    14      1     bits per code value
    15      var   latent_dim (unsigned LEB128)
    .       var   n_samples (unsigned LEB128)
    .       4     CRC-32 of every other byte of the payload (header and body)
    .       ...   body: ANS words, uint32 little-endian

The ANS coder starts from the state ``2**32`` (:data:`ANS_INITIAL_WORDS`), not from an
empty state: from an empty state, symbols of cumulative frequency 0 cost nothing, so a body
of zero bytes would be a valid encoding of any number of samples. From ``2**32`` on, every
code value costs at least its information content, and a decoder checks the header's
sample count against the body's length (:func:`check_body_size`) before decoding anything,
and that the decoder ends back at the initial state.

The model itself (network weights, probability tables) is not in the payload: the
fingerprint ties a payload to the model that can decode it.
"""

import hashlib
import struct
import zlib

import constriction
import numpy as np
import torch
from torch import nn

MAGIC = b"SKAE"
FORMAT_VERSION = 2
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# magic + version + dtype + fingerprint + bits + 1-byte latent_dim + 1-byte n + crc.
MIN_PAYLOAD_SIZE = 4 + 1 + 1 + 8 + 1 + 1 + 1 + 4
# Additive smoothing of the code histograms: every level stays codable.
HISTOGRAM_PSEUDOCOUNT = 0.5
# The ANS state the encoder starts from and the decoder must end at: 2**32 (low word
# first). Every symbol then multiplies the state by at least ~1/p (see check_body_size).
ANS_INITIAL_WORDS = np.array([0, 1], dtype=np.uint32)
# check_body_size trusts only this fraction of the information content of the most
# probable levels: constriction quantises probabilities to 24 bits (which can make the
# most probable level a little more probable) and ANS loses a little to rounding.
_RATE_SAFETY = 0.5


class InvalidPayloadError(ValueError):
    """A payload is truncated, corrupted, not a skae payload, or made by another model."""


# ---------------------------------------------------------------------------- quantiser
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
        """Unrounded levels in ``[0, 2**bits - 1]``."""
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
        """
        codes = torch.as_tensor(codes, dtype=torch.float64)
        mean = codes.mean(0)
        var = codes.var(0, unbiased=False) if len(codes) > 1 else torch.ones_like(mean)
        self.normalise.running_mean.copy_(mean.float())
        self.normalise.running_var.copy_(var.float())

    def quantise(self, x):
        """Integer levels (as floats) of a batch: what the bitstream carries."""
        return torch.round(self.levels(x))

    @staticmethod
    def rate_bits(levels):
        """Estimated bits per sample of a batch of noisy levels.

        Each dimension's levels are modelled by the discretised logistic density with
        the batch's mean and standard deviation; its code length falls as the codes
        concentrate on fewer levels, which is what the histogram coder then exploits.
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


# ---------------------------------------------------------------------------- entropy model
def fit_probabilities(levels, n_levels):
    """Per-dimension level frequencies of integer codes, smoothed: (latent_dim, n_levels)."""
    levels = np.asarray(levels, dtype=np.int64)
    counts = np.stack(
        [np.bincount(column, minlength=n_levels) for column in levels.T]
    ).astype(np.float64)
    counts += HISTOGRAM_PSEUDOCOUNT
    return (counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)


def _models(probabilities):
    return [
        constriction.stream.model.Categorical(row.astype(np.float64), perfect=False)
        for row in probabilities
    ]


def _coder_call(what, function, *args):
    """Call into constriction; any failure there, a Rust panic included, is a bad payload.

    constriction raises ``pyo3_runtime.PanicException`` (a ``BaseException``) on some
    inputs, e.g. a sample count too large to allocate; only ``KeyboardInterrupt`` and
    ``SystemExit`` are let through.
    """
    try:
        return function(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic is not an Exception
        raise InvalidPayloadError(
            f"Payload body cannot be decoded ({what}): {type(exc).__name__}: {exc}"
        ) from exc


def min_bits_per_sample(probabilities):
    """Fewest bits any sample can take under per-dimension tables ``(d, L)``.

    A sample whose every value is its dimension's most probable level costs
    ``sum_j -log2(max_l p[j, l])`` bits; the result is discounted by ``_RATE_SAFETY``.
    constriction's categorical model gives every level at least ``2**-24``, so the most
    probable of ``L`` levels has at most ``1 - (L - 1) * 2**-24`` even when a table says 1.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_levels = probabilities.shape[1]
    p_max = np.minimum(probabilities.max(axis=1, initial=0.0), 1 - (n_levels - 1) * 2.0**-24)
    return _RATE_SAFETY * float(-np.log2(np.clip(p_max, 1e-300, 1.0)).sum())


def check_body_size(body, probabilities, n_samples):
    """Refuse a header that claims more samples than ``body`` can hold.

    Coded from the state ``2**32``, a payload of ``n_samples`` needs at least
    ``n_samples * min_bits_per_sample`` bits on top of the initial state's 32; a forged
    header with a huge sample count and a short body fails here, before anything is
    decoded or allocated.
    """
    latent_dim = probabilities.shape[0]
    if n_samples == 0 or latent_dim == 0:
        if body:
            raise InvalidPayloadError("Payload of zero values has a non-empty body.")
        if n_samples and latent_dim == 0:
            raise InvalidPayloadError("Payload claims samples but the model has no codes.")
        return
    if len(body) % 4:
        raise InvalidPayloadError("Payload body is not a whole number of 32-bit words.")
    if len(body) < ANS_INITIAL_WORDS.nbytes:
        raise InvalidPayloadError(
            f"Payload body of {len(body)} bytes cannot hold {n_samples} samples: a body "
            f"holds at least the coder's initial state ({ANS_INITIAL_WORDS.nbytes} bytes)."
        )
    payload_bits = 8 * len(body) - 32
    needed_bits = n_samples * min_bits_per_sample(probabilities)
    if needed_bits > payload_bits + 64:
        raise InvalidPayloadError(
            f"Payload header claims {n_samples} samples, but its body of {len(body)} bytes "
            f"holds at most {int((payload_bits + 64) / min_bits_per_sample(probabilities))} "
            "under this model: the header is forged or corrupted."
        )


def entropy_encode(levels, probabilities):
    """ANS-code integer levels ``(n, d)`` under per-dimension tables ``(d, L)``: bytes.

    Column ``j`` is coded with the categorical model of row ``j``; ANS is a stack, so the
    columns are pushed last-first and come back first-first. The coder starts from
    :data:`ANS_INITIAL_WORDS` (see the module documentation).
    """
    levels = np.asarray(levels, dtype=np.int32)
    if levels.size == 0:
        return b""
    coder = constriction.stream.stack.AnsCoder(ANS_INITIAL_WORDS.copy())
    for column, model in reversed(list(zip(levels.T, _models(probabilities)))):
        coder.encode_reverse(np.ascontiguousarray(column), model)
    return coder.get_compressed().astype("<u4").tobytes()


def entropy_decode(body, probabilities, n_samples):
    """Inverse of :func:`entropy_encode`: integer levels of shape ``(n_samples, d)``.

    Raises
    ------
    InvalidPayloadError
        If ``n_samples`` is more than ``body`` can hold (:func:`check_body_size`), the
        body cannot be decoded, or decoding does not end at the initial state. Nothing
        else escapes from the entropy coder.
    """
    check_body_size(body, probabilities, n_samples)
    latent_dim = probabilities.shape[0]
    if n_samples == 0 or latent_dim == 0:
        return np.zeros((n_samples, latent_dim), dtype=np.int64)
    words = np.frombuffer(body, dtype="<u4").astype(np.uint32)
    coder = _coder_call("reading the body", constriction.stream.stack.AnsCoder, words)
    columns = [
        _coder_call("decoding", coder.decode, model, n_samples)
        for model in _coder_call("building the entropy model", _models, probabilities)
    ]
    rest = _coder_call("reading what is left", coder.get_compressed)
    if not np.array_equal(rest, ANS_INITIAL_WORDS):
        raise InvalidPayloadError(
            "Payload body does not decode to exactly the samples its header claims "
            "(data left over or missing)."
        )
    return np.stack(columns, axis=1).astype(np.int64)


# ---------------------------------------------------------------------------- bitstream
def fingerprint(*parts):
    """8-byte BLAKE2b digest of arrays, tensors, bytes and numbers, in order."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, torch.Tensor):
            part = part.detach().cpu().numpy()
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            part = np.ascontiguousarray(part).tobytes()
        elif not isinstance(part, bytes):
            part = repr(part).encode()
        digest.update(part)
    return digest.digest()


def _leb128(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_leb128(data, offset):
    value, shift = 0, 0
    while offset < len(data) and shift < 63:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
    raise InvalidPayloadError("Payload header is truncated or malformed.")


def pack(body, *, model_fingerprint, bits, latent_dim, n_samples, dtype):
    """Header + body as one payload."""
    head = (
        MAGIC
        + struct.pack("<BB", FORMAT_VERSION, _DTYPES.index(np.dtype(dtype)))
        + model_fingerprint
        + struct.pack("<B", bits)
        + _leb128(latent_dim)
        + _leb128(n_samples)
    )
    crc = zlib.crc32(body, zlib.crc32(head))
    return head + struct.pack("<I", crc) + body


def unpack(payload, *, model_fingerprint, bits, latent_dim):
    """Check a payload against the model; return ``(body, n_samples, dtype)``."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"payload must be bytes (the output of compress), got {type(payload).__name__}."
        )
    data = bytes(payload)
    if data[: len(MAGIC)] != MAGIC[: len(data)] or not data:
        raise InvalidPayloadError(
            "Not a skae payload: it does not start with the magic bytes b'SKAE'."
        )
    if len(data) < MIN_PAYLOAD_SIZE:
        raise InvalidPayloadError(
            f"Payload is truncated: {len(data)} bytes, shorter than any valid header "
            f"({MIN_PAYLOAD_SIZE} bytes)."
        )
    version, dtype_code = data[4], data[5]
    if version != FORMAT_VERSION:
        raise InvalidPayloadError(
            f"Payload has format version {version}; this skae reads version "
            f"{FORMAT_VERSION}."
        )
    their_fingerprint, their_bits = data[6:14], data[14]
    their_latent_dim, offset = _read_leb128(data, 15)
    n_samples, offset = _read_leb128(data, offset)
    if offset + 4 > len(data):
        raise InvalidPayloadError("Payload is truncated inside its header.")
    (crc,) = struct.unpack("<I", data[offset : offset + 4])
    body = data[offset + 4 :]
    if zlib.crc32(body, zlib.crc32(data[:offset])) != crc:
        raise InvalidPayloadError(
            "Payload checksum mismatch: the payload is truncated or corrupted."
        )
    if their_fingerprint != model_fingerprint:
        raise InvalidPayloadError(
            f"Payload was made by another model (fingerprint {their_fingerprint.hex()}, "
            f"latent_dim={their_latent_dim}, bits={their_bits}); this model's fingerprint "
            f"is {model_fingerprint.hex()} (latent_dim={latent_dim}, bits={bits}). "
            "Decompress it with the codec that compressed it."
        )
    if (their_latent_dim, their_bits) != (latent_dim, bits):
        raise InvalidPayloadError(
            f"Payload header says latent_dim={their_latent_dim}, bits={their_bits}, but its "
            f"fingerprint is that of this model (latent_dim={latent_dim}, bits={bits}): "
            "the header is forged or corrupted."
        )
    if dtype_code >= len(_DTYPES):
        raise InvalidPayloadError(f"Payload names an unknown dtype code {dtype_code}.")
    return body, n_samples, _DTYPES[dtype_code]


def payload_n_samples(payload):
    """Number of samples a (well-formed) payload holds, read from its header."""
    data = bytes(payload)
    if len(data) < MIN_PAYLOAD_SIZE or data[:4] != MAGIC:
        raise InvalidPayloadError("Not a skae payload, or truncated.")
    _, offset = _read_leb128(data, 15)
    return _read_leb128(data, offset)[0]


# ---------------------------------------------------------------------------- uniform quantiser
class RangeQuantiser:
    """``2**bits`` uniform levels per dimension over the training range (for PCA codes).

    Parameters
    ----------
    bits : int
    """

    def __init__(self, bits):
        self.bits = int(bits)

    def fit(self, codes):
        self.low_ = codes.min(axis=0)
        span = codes.max(axis=0) - self.low_
        self.step_ = np.where(span > 0, span, 1.0) / (2**self.bits - 1)
        return self

    def quantise(self, codes):
        levels = np.rint((codes - self.low_) / self.step_)
        return np.clip(levels, 0, 2**self.bits - 1).astype(np.int64)

    def dequantise(self, levels):
        return self.low_ + levels * self.step_
