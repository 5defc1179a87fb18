"""The entropy model and coder: per-dimension level histograms and ANS coding of levels.

Integer code levels ``(n, d)`` are coded column by column with an asymmetric numeral
system (ANS) coder from ``constriction``, under one categorical model per code dimension
(:func:`fit_probabilities`, the smoothed level frequencies of the training codes).

The ANS coder starts from the state ``2**32`` (:data:`ANS_INITIAL_WORDS`), not from an
empty state: from an empty state, symbols of cumulative frequency 0 cost nothing, so a body
of zero bytes would be a valid encoding of any number of samples. From ``2**32`` on, every
code value costs at least its information content, and a decoder checks the header's
sample count against the body's length (:func:`check_body_size`) before decoding anything,
and that the decoder ends back at the initial state.
"""

import constriction
import numpy as np

from ._payload import InvalidPayloadError

# Additive smoothing of the code histograms: every level stays codable.
HISTOGRAM_PSEUDOCOUNT = 0.5
# The ANS state the encoder starts from and the decoder must end at: 2**32 (low word
# first). Every symbol then multiplies the state by at least ~1/p (see check_body_size).
ANS_INITIAL_WORDS = np.array([0, 1], dtype=np.uint32)
# check_body_size trusts only this fraction of the information content of the most
# probable levels: constriction quantises probabilities to 24 bits (which can make the
# most probable level a little more probable) and ANS loses a little to rounding.
_RATE_SAFETY = 0.5


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
