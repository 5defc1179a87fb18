"""The payload byte format: header layout, pack / unpack, model fingerprint, errors.

A payload is a small self-describing header followed by the latent codes entropy-coded
with an asymmetric numeral system (ANS) coder from ``constriction`` under a per-dimension
categorical model fitted on training codes (:mod:`skae.compression._entropy`)::

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

The model itself (network weights, probability tables) is not in the payload: the
fingerprint ties a payload to the model that can decode it.
"""

import hashlib
import struct
import zlib

import numpy as np
import torch

MAGIC = b"SKAE"
FORMAT_VERSION = 2
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# magic + version + dtype + fingerprint + bits + 1-byte latent_dim + 1-byte n + crc.
MIN_PAYLOAD_SIZE = 4 + 1 + 1 + 8 + 1 + 1 + 1 + 4


class InvalidPayloadError(ValueError):
    """A payload is truncated, corrupted, not a skae payload, or made by another model."""


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
