"""Hostile inputs: forged and garbled payloads, folders that are not there, too few samples.

Each case of issue 14 is its own test. A forged payload here carries the right model
fingerprint and a valid CRC-32, so it gets past every integrity check of the header and
reaches the sample-count check and the entropy coder.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from skae import DenseAutoEncoder
from skae.compression import _entropy
from skae.compression._entropy import _coder_call
from skae.compression._payload import pack, payload_n_samples
from skae.compression import AutoEncoderCodec, InvalidPayloadError, PCACodec
from skae.discovery import map_2d
from skae.export import export_encoder
from skae.semi_supervised import EncoderClassifier

CPU = dict(device="cpu", random_state=0)
LATENT_DIM, BITS = 6, 3


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(48, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def codec(X):
    autoencoder = DenseAutoEncoder(
        latent_dim=LATENT_DIM, hidden_layer_sizes=(8,), max_epochs=1, **CPU
    )
    return AutoEncoderCodec(autoencoder, bits=BITS).fit(X)


@pytest.fixture(scope="module")
def pca_codec(X):
    return PCACodec(4, bits=BITS).fit(X)


def _forge(codec, body, n_samples, latent_dim=None):
    """A payload with ``codec``'s fingerprint, a valid CRC and whatever header we like."""
    return pack(
        body,
        model_fingerprint=codec._fingerprint,
        bits=codec.bits,
        latent_dim=codec.probabilities_.shape[0] if latent_dim is None else latent_dim,
        n_samples=n_samples,
        dtype=np.float32,
    )


def _header_end(payload):
    """Offset of the CRC: after the two LEB128 fields that start at byte 15."""
    offset = 15
    for _ in range(2):
        while payload[offset] & 0x80:
            offset += 1
        offset += 1
    return offset


def _body(payload):
    return payload[_header_end(payload) + 4 :]


# ------------------------------------------------------------------ payloads
def test_forged_23_byte_payload_with_a_million_samples(codec):
    payload = _forge(codec, b"", 1_000_000)
    assert len(payload) == 23
    with pytest.raises(InvalidPayloadError, match="cannot hold 1000000 samples"):
        codec.decompress(payload)


@pytest.mark.parametrize("n_samples", [2**62, 2**63 - 1])
def test_forged_sample_count_of_2_62(codec, X, n_samples):
    for body in (b"", _body(codec.compress(X[:5])), bytes(4096)):
        with pytest.raises(InvalidPayloadError, match=f"{n_samples} samples"):
            codec.decompress(_forge(codec, body, n_samples))


def test_sample_count_off_by_any_amount_is_refused(codec, X):
    """A real body under a header that claims another sample count never decodes."""
    payload = codec.compress(X[:20])
    body = _body(payload)
    assert_array_equal(codec.decompress(_forge(codec, body, 20)), codec.decompress(payload))
    for n_samples in (0, 1, 19, 21, 40, 10**6):
        with pytest.raises(InvalidPayloadError):
            codec.decompress(_forge(codec, body, n_samples))


def test_forged_latent_dim_is_refused(codec, X):
    body = _body(codec.compress(X[:5]))
    with pytest.raises(InvalidPayloadError, match="latent_dim=7.*forged"):
        codec.decompress(_forge(codec, body, 5, latent_dim=LATENT_DIM + 1))


def test_entropy_coder_panic_becomes_invalid_payload_error(codec, monkeypatch):
    """Past the size check, constriction panics (a BaseException): it is converted."""
    monkeypatch.setattr(_entropy, "check_body_size", lambda *args: None)
    with pytest.raises(InvalidPayloadError, match="cannot be decoded") as excinfo:
        codec.decompress(_forge(codec, _entropy.ANS_INITIAL_WORDS.tobytes(), 2**62))
    assert not isinstance(excinfo.value.__cause__, Exception)  # pyo3's PanicException


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_entropy_coder_lets_interrupts_through(exc_type):
    def interrupted():
        raise exc_type()

    with pytest.raises(exc_type):
        _coder_call("decoding", interrupted)


def _garble(data, payload, target):
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "header", "body"]))
    if kind == "truncate":
        return payload[: data.draw(st.integers(0, len(payload) - 1))]
    if kind == "flip":
        garbled = bytearray(payload)
        for position in data.draw(st.lists(st.integers(0, len(payload) - 1), min_size=1)):
            garbled[position] ^= data.draw(st.integers(1, 255))
        return bytes(garbled)
    if kind == "insert":
        position = data.draw(st.integers(0, len(payload)))
        return payload[:position] + data.draw(st.binary(min_size=1)) + payload[position:]
    # Forged: fingerprint kept, CRC recomputed, so it reaches the entropy coder.
    n_samples, body = payload_n_samples(payload), _body(payload)
    if kind == "header":  # any sample count
        n_samples = data.draw(st.integers(0, 2**63 - 1))
    else:  # a body of arbitrary words
        body = data.draw(st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]))
    return _forge(target, body, n_samples)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("which", ["autoencoder", "pca"])
def test_garbled_payloads_raise_only_invalid_payload_error(which, codec, pca_codec, X, data):
    target = codec if which == "autoencoder" else pca_codec
    payload = target.compress(X[: data.draw(st.integers(1, 12))])
    garbled = _garble(data, payload, target)
    try:
        decoded = target.decompress(garbled)
    except InvalidPayloadError:
        return
    except BaseException as exc:  # what must never escape
        pytest.fail(f"decompress let {type(exc).__name__} escape: {exc!r}")
    # A garbled payload that still decodes is a well-formed one: all that it claims.
    assert len(decoded) == payload_n_samples(garbled)


# ------------------------------------------------------------------ EncoderClassifier
def test_encoder_classifier_with_default_autoencoder_is_reproducible():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    y[::3] = -1
    fits = [
        EncoderClassifier(max_epochs=2, dropout=0.3, **CPU).fit(X, y) for _ in range(2)
    ]
    assert fits[0].autoencoder_.random_state is not None  # seeded from random_state
    assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


# ------------------------------------------------------------------ export
@pytest.fixture(scope="module")
def autoencoder(X):
    return DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(4,), max_epochs=1, **CPU).fit(X)


@pytest.mark.parametrize("format", ["onnx", "torch.export"])
def test_export_into_a_missing_folder(autoencoder, tmp_path, format):
    folder = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=r"folder .*no.*such.* does not exist"):
        export_encoder(autoencoder, folder / "encoder.onnx", format=format)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_export_onto_a_folder_or_under_a_file(autoencoder, tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        export_encoder(autoencoder, tmp_path, format="torch.export")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        export_encoder(autoencoder, tmp_path / "file" / "encoder.pt2", format="torch.export")
    assert (tmp_path / "file").read_text() == "x"


# ------------------------------------------------------------------ discovery
def test_map_2d_on_three_samples():
    codes = np.random.default_rng(0).normal(size=(3, 5))
    with pytest.raises(ValueError, match="at least 4 samples.*got 3"):
        map_2d(codes, random_state=0)
    # Codes already 2-D need no UMAP: any number of samples.
    assert_array_equal(map_2d(codes[:, :2]), codes[:, :2].astype(np.float32))
