"""Rate–distortion measurement: skae codecs next to JPEG, JPEG 2000 and PCA baselines.

Every rate is ``8 * bytes / values`` of real encoder output: whole payloads for the
skae and PCA codecs, whole files (headers included) for Pillow's JPEG and JPEG 2000,
either one file per image or one file for the whole set tiled as a mosaic.
"""

import io
import math
import time

import numpy as np

from ._pca_codec import PCACodec

JPEG_QUALITIES = (1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 75, 90)
JPEG2000_BPP = (0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
PCA_COMPONENTS = (4, 8, 12, 16, 24, 32, 48, 64)
PCA_BITS = (2, 3, 4, 5, 6)
_COLUMNS = (
    "codec", "family", "mode", "setting", "n_bytes", "bpp", "psnr", "ssim", "mse", "seconds"
)


def psnr(X, X_decoded, data_range=1.0):
    """Peak signal-to-noise ratio (dB) of the mean squared error over all values."""
    mse = float(np.mean((np.asarray(X, np.float64) - np.asarray(X_decoded, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def mean_ssim(images, decoded, data_range=1.0):
    """Mean structural similarity of grayscale images ``(n, H, W)``; NaN otherwise."""
    from skimage.metrics import structural_similarity

    images, decoded = np.asarray(images), np.asarray(decoded)
    if images.ndim != 3 or min(images.shape[1:]) < 7:
        return math.nan
    return float(
        np.mean(
            [
                structural_similarity(
                    a.astype(np.float64), b.astype(np.float64), data_range=data_range
                )
                for a, b in zip(images, decoded)
            ]
        )
    )


# ---------------------------------------------------------------------------- Pillow codecs
def _to_uint8(images, data_range):
    return np.rint(np.clip(images / data_range, 0, 1) * 255).astype(np.uint8)


def _pillow_roundtrip(image_u8, fmt, setting):
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(image_u8, mode="L")
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=int(setting), optimize=True)
    else:  # setting is a target rate in bits per pixel; ratio = 8 / bpp for 8-bit data
        image.save(
            buffer,
            "JPEG2000",
            quality_mode="rates",
            quality_layers=[8.0 / setting],
            irreversible=True,
            no_jp2=True,
        )
    data = buffer.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    return len(data), decoded


def _mosaic(images):
    n, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = np.zeros((rows * h, cols * w), dtype=images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = image
    return canvas


def _unmosaic(canvas, n, h, w):
    cols = canvas.shape[1] // w
    return np.stack(
        [canvas[(i // cols) * h : (i // cols + 1) * h, (i % cols) * w : (i % cols + 1) * w]
         for i in range(n)]
    )


def _pillow_points(images, fmt, settings, modes, data_range):
    """Yield (mode, setting, n_bytes, decoded images in data units)."""
    images_u8 = _to_uint8(images, data_range)
    n, h, w = images.shape
    for setting in settings:
        if "per-image" in modes:
            start = time.perf_counter()
            total, decoded = 0, []
            for image in images_u8:
                size, out = _pillow_roundtrip(image, fmt, setting)
                total += size
                decoded.append(out)
            yield "per-image", setting, total, np.stack(decoded), time.perf_counter() - start
        if "mosaic" in modes:
            start = time.perf_counter()
            size, canvas = _pillow_roundtrip(_mosaic(images_u8), fmt, setting)
            out = _unmosaic(canvas, n, h, w)
            yield "mosaic", setting, size, out, time.perf_counter() - start


# ---------------------------------------------------------------------------- the sweep
def _pareto(rows):
    """Mark points that no other point of the same family and mode beats on both axes."""
    for row in rows:
        row["pareto"] = not any(
            other is not row
            and other["family"] == row["family"]
            and other["mode"] == row["mode"]
            and other["bpp"] <= row["bpp"]
            and other["psnr"] >= row["psnr"]
            and (other["bpp"] < row["bpp"] or other["psnr"] > row["psnr"])
            for other in rows
        )
    return rows


def rate_distortion_curve(
    X,
    codecs=None,
    *,
    X_fit=None,
    baselines=("jpeg", "jpeg2000", "pca"),
    jpeg_qualities=JPEG_QUALITIES,
    jpeg2000_bpp=JPEG2000_BPP,
    pca_components=PCA_COMPONENTS,
    pca_bits=PCA_BITS,
    modes=("per-image", "mosaic"),
    data_range=1.0,
):
    """Measure distortion against the real rate of codecs and baselines on ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Test data: grayscale images ``(n, H, W)`` or rows ``(n, n_features)``, with
        values in ``[0, data_range]`` for the image baselines.
    codecs : dict of str to codec, or list of codecs, default=None
        skae codecs (e.g. :class:`AutoEncoderCodec` at several ``bits``). Unfitted ones
        are cloned and fitted on ``X_fit``. A list is named by ``bits``.
    X_fit : array-like, default=None
        Training data of unfitted codecs and of the PCA baseline.
    baselines : iterable of {"jpeg", "jpeg2000", "pca"}, default=all three
        JPEG and JPEG 2000 (Pillow, grayscale images only) code each image as its own
        file (``mode="per-image"``) and/or the whole set tiled as one image
        (``mode="mosaic"``), so container headers do not decide the contest. ``"pca"``
        sweeps :class:`PCACodec` over ``pca_components`` x ``pca_bits`` (needs
        ``X_fit``).
    jpeg_qualities : sequence of int
        Pillow JPEG ``quality`` settings.
    jpeg2000_bpp : sequence of float
        Target rates of JPEG 2000 (``quality_layers`` compression ratio ``8 / bpp``); the
        reported rate is that of the file actually written.
    pca_components, pca_bits : sequence of int
        Grid of the PCA baseline.
    modes : iterable of {"per-image", "mosaic"}, default=both
        How JPEG / JPEG 2000 code the set.
    data_range : float, default=1.0
        Peak value for PSNR and SSIM.

    Returns
    -------
    curve : pandas.DataFrame
        One row per point: ``codec`` (the name given in ``codecs``, or the baseline),
        ``family`` (``"skae"`` for every skae codec, so that they form one curve, else
        the baseline), ``mode`` (``"set"`` for one payload of all of
        ``X``, ``"per-image"`` or ``"mosaic"``), ``setting``, ``n_bytes``, ``bpp`` (bits
        per value of the payload: bits per pixel for grayscale images), ``psnr`` (dB, of
        the MSE over all values), ``ssim`` (mean over images; NaN for non-images),
        ``mse``, ``seconds`` (encode + decode) and ``pareto`` (no point of the same
        family and mode has both a lower rate and a higher PSNR).

    Examples
    --------
    >>> from skae.compression import rate_distortion_curve
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> X, _ = load_fashion_mnist_subset(return_X_y=True)
    >>> curve = rate_distortion_curve(X[1500:], X_fit=X[:1500], pca_components=(8,),
    ...                               pca_bits=(4,), jpeg_qualities=(10,),
    ...                               jpeg2000_bpp=(0.5,))
    >>> sorted(set(curve["codec"]))
    ['jpeg', 'jpeg2000', 'pca']
    """
    import pandas as pd
    from sklearn.base import clone

    X = np.asarray(X)
    baselines = set(baselines)
    unknown = baselines - {"jpeg", "jpeg2000", "pca"}
    if unknown:
        raise ValueError(f"Unknown baselines {sorted(unknown)}; use jpeg, jpeg2000, pca.")
    unknown = set(modes) - {"per-image", "mosaic"}
    if unknown:
        raise ValueError(f"Unknown modes {sorted(unknown)}; use per-image, mosaic.")
    if isinstance(codecs, dict):
        named = list(codecs.items())
    else:
        named = [(f"skae bits={c.bits}", c) for c in (codecs or [])]
    n_values = X[0].size
    rows = []

    def add(codec, mode, setting, n_bytes, decoded, seconds, family=None):
        rows.append(
            dict(
                codec=codec,
                family=family or codec,
                mode=mode,
                setting=setting,
                n_bytes=int(n_bytes),
                bpp=8 * n_bytes / (len(X) * n_values),
                psnr=psnr(X, decoded, data_range),
                ssim=mean_ssim(X, decoded, data_range),
                mse=float(np.mean((X.astype(np.float64) - decoded) ** 2)),
                seconds=seconds,
            )
        )

    def run_codec(name, codec, setting, family):
        if not hasattr(codec, "probabilities_"):
            if X_fit is None:
                raise ValueError(f"Codec {name!r} is not fitted and X_fit is None.")
            codec = clone(codec).fit(X_fit)
        start = time.perf_counter()
        payload = codec.compress(X)
        decoded = codec.decompress(payload)
        add(name, "set", setting, len(payload), decoded, time.perf_counter() - start,
            family)

    for name, codec in named:
        run_codec(name, codec, f"bits={codec.bits}", "skae")
    if "pca" in baselines:
        if X_fit is None:
            raise ValueError("The PCA baseline needs training data: pass X_fit.")
        for k in pca_components:
            for bits in pca_bits:
                run_codec("pca", PCACodec(k, bits=bits), f"k={k} bits={bits}", "pca")
    is_gray_image = X.ndim == 3
    for fmt, settings, label in (
        ("JPEG", jpeg_qualities, "jpeg"),
        ("JPEG2000", jpeg2000_bpp, "jpeg2000"),
    ):
        if label not in baselines or not is_gray_image:
            continue
        for mode, setting, n_bytes, decoded_u8, seconds in _pillow_points(
            X, fmt, settings, set(modes), data_range
        ):
            decoded = decoded_u8.astype(np.float64) / 255 * data_range
            key = f"q={setting}" if fmt == "JPEG" else f"target={setting}bpp"
            add(label, mode, key, n_bytes, decoded, seconds)
    return pd.DataFrame(_pareto(rows), columns=[*_COLUMNS, "pareto"])
