"""The ``skae`` command line: ``skae demo`` and ``skae explore PATH``.

Both commands are thin layers over the public API; each step is one call a user can make
in Python (the report written by ``explore`` prints the equivalent code):

1. an autoencoder (:class:`skae.ConvAutoEncoder` for images, :class:`skae.DenseAutoEncoder`
   on standardised columns for tables) trained inside :class:`skae.AEAnomalyDetector`,
   which scores every item by its reconstruction error and by how far its code lies from
   the other codes;
2. the autoencoder's codes (``detector.autoencoder_.transform``);
3. UMAP of the codes (:func:`skae.discovery.map_2d` for the 2-D map, a 5-D UMAP for
   clustering) and HDBSCAN clusters, summarised by :func:`skae.discovery.cluster_report`.

``skae demo`` adds the labelled side: a logistic regression on the codes of the control
set, and an :class:`~skae.AEAnomalyDetector` trained on the control set only, whose
scores on the core set are compared with the truth (AUROC). The whole demo, in Python, is
``examples/ice_core/plot_known_unknown.py``.
"""

import argparse
import contextlib
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
N_ANOMALIES_SHOWN = 10
OUTPUT_FILES = ("results.csv", "report.html")  # the only files the CLI ever replaces
MARKER = ".skae-output.json"  # written last; says which files skae wrote, with digests
_SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class InputError(Exception):
    """A problem with the user's input or options: reported without a traceback."""


def printable(text):
    """``text`` with control characters (newlines, terminal escapes, undecodable bytes of
    file names) written as Python escapes, so that it prints on one line as it is."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace")
                   .decode("ascii") for c in str(text))


def spreadsheet_safe(text):
    """OWASP's rule against CSV (formula) injection: a cell that a spreadsheet would read
    as a formula (it starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets
    a leading ``'``."""
    return "'" + text if text.startswith(_SPREADSHEET_TRIGGERS) else text


def _warn(message):
    print(f"skae: warning: {printable(message)}", file=sys.stderr, flush=True)


# =========================================================================== loading
class Dataset:
    """What ``explore`` analyses: the array, one id per item, and how to show it."""

    def __init__(self, X, ids, is_image, description, feature_names=None):
        self.X = X
        # Ids go into results.csv, the report and the terminal: one printable line each,
        # never a spreadsheet formula.
        self.ids = [spreadsheet_safe(printable(i)) for i in ids]
        self.is_image = is_image
        self.description = printable(description)
        self.feature_names = feature_names


def _scale_images(images, all_uint8):
    """uint8 -> /255; anything else -> global min-max to [0, 1] (one scale for all)."""
    images = np.asarray(images, dtype=np.float32)
    if all_uint8:
        return images / 255.0, "8-bit values divided by 255"
    low, high = float(images.min()), float(images.max())
    if low >= 0.0 and high <= 1.0:
        return images, "values already in [0, 1]"
    span = high - low if high > low else 1.0
    return (images - low) / span, f"values min-max scaled from [{low:.4g}, {high:.4g}]"


def _resize(images, size):
    """Resize a stack (n, H, W) or (n, C, H, W) to size=(H, W), with anti-aliasing."""
    from skimage.transform import resize

    lead = images.shape[:-2]
    return resize(images, (*lead, *size), order=1, anti_aliasing=True,
                  preserve_range=True).astype(np.float32)


def _pil_to_array(image):
    """PIL image -> (array, is_colour): gray as (H, W), colour as (3, H, W)."""
    if image.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return np.asarray(image), False
    if image.mode == "LA":
        return np.asarray(image.convert("L")), False
    rgb = np.asarray(image.convert("RGB"))
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., 0], False  # gray stored as RGB
    return np.moveaxis(rgb, -1, 0), True


def load_image_folder(folder, resize=None):
    """All PNG/TIFF/JPEG images under ``folder`` (subfolders too) as one float32 stack.

    Grayscale images give ``(n, H, W)``; if any image is in colour, all are read as RGB,
    ``(n, 3, H, W)``. 8-bit images are divided by 255; 16-bit or float images are
    min-max scaled to [0, 1] over the whole set. Without ``resize`` all images must have
    one size; with ``resize=(H, W)`` each is resized (bilinear, anti-aliased).
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    files = _image_files(folder)
    if not files:
        raise InputError(
            f"No images found in folder '{folder}': looked for "
            f"{', '.join(IMAGE_SUFFIXES)} files, also in subfolders."
        )
    arrays, colour, bad = [], [], []
    for file in files:
        try:
            with warnings.catch_warnings():
                # Images of over Image.MAX_IMAGE_PIXELS pixels (PIL's guard against
                # decompression bombs) are refused, not just warned about.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(file) as image:
                    image.load()
                    array, is_colour = _pil_to_array(image)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            bad.append(f"{file.relative_to(folder)} ({type(exc).__name__}: {exc})")
            continue
        arrays.append(array)
        colour.append(is_colour)
    if bad:
        shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise InputError(
            f"Cannot read {len(bad)} of {len(files)} image file(s) in '{folder}': {shown}. "
            "Fix or remove them and run again."
        )
    any_colour = any(colour)
    if any_colour:  # one layout for all: gray images repeated into 3 channels
        arrays = [a if c else np.repeat(a[None], 3, axis=0) for a, c in zip(arrays, colour)]
    all_uint8 = all(a.dtype == np.uint8 for a in arrays)
    sizes = {}
    for file, array in zip(files, arrays):
        sizes.setdefault(array.shape[-2:], []).append(file)
    if resize is not None:
        arrays = [_resize(a.astype(np.float32)[None], resize)[0] for a in arrays]
    elif len(sizes) > 1:
        parts = [
            f"{len(v)} of {h}x{w} pixels (e.g. {v[0].relative_to(folder)})"
            for (h, w), v in sorted(sizes.items(), key=lambda kv: -len(kv[1]))
        ]
        raise InputError(
            f"The images in '{folder}' have {len(sizes)} different sizes: "
            + "; ".join(parts[:4])
            + ". Give --resize HEIGHT WIDTH to bring them all to one size."
        )
    images, how = _scale_images(np.stack(arrays), all_uint8)
    ids = [str(f.relative_to(folder)) for f in files]
    kind = "RGB" if any_colour else "grayscale"
    shape = "x".join(str(s) for s in images.shape[-2:])
    resized = " (resized)" if resize is not None else ""
    return Dataset(images, ids, True,
                   f"{len(files)} {kind} images of {shape} pixels{resized} from folder "
                   f"'{folder}'; {how}.")


def _image_files(folder):
    """Image files under ``folder``, sorted; hidden ones (a name part starting with ".")
    are left out, and so are symbolic links that lead outside ``folder`` (with a
    warning): the CLI reads nothing but what lies in the folder it was given."""
    root = folder.resolve()
    files, outside = [], []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.suffix.lower() not in IMAGE_SUFFIXES or any(
            part.startswith(".") for part in relative.parts
        ):
            continue
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # a broken link or a loop of links
            continue
        if not target.is_relative_to(root):
            outside.append(f"{relative} -> {target}")
        elif target.is_file():  # not a folder, FIFO or device that only looks like one
            files.append(path)
    if outside:
        shown = "; ".join(sorted(outside)[:3]) + (
            f"; and {len(outside) - 3} more" if len(outside) > 3 else "")
        _warn(f"skipped {len(outside)} symbolic link(s) in '{folder}' that lead outside "
              f"it: {shown}.")
    return sorted(files)


def load_array_file(path, key=None, resize=None):
    """A ``.npy`` or ``.npz`` array: 2-D is a table, 3-D/4-D a stack of images."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputError(
            f"Cannot read '{path}': {exc}. skae reads numeric arrays only (no pickled "
            "objects)."
        ) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"Cannot read '{path}' as a NumPy file: {exc}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key is None:
                preferred = [n for n in ("X", "images", "data") if n in names]
                if len(names) == 1 or preferred:
                    key = names[0] if len(names) == 1 else preferred[0]
                else:
                    raise InputError(
                        f"'{path}' holds several arrays ({', '.join(names)}); choose one "
                        "with --key NAME."
                    )
            if key not in names:
                raise InputError(f"'{path}' has no array '{key}'; it holds {', '.join(names)}.")
            array = loaded[key]
        source = f"array '{key}' of '{path}'"
    else:
        array = loaded
        source = f"'{path}'"
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(
        array
    ):
        raise InputError(f"{source} has dtype {array.dtype}; skae needs real numbers.")
    if array.ndim not in (2, 3, 4):
        raise InputError(
            f"{source} has shape {array.shape}. skae reads (n_items, n_features) tables, "
            "(n, H, W) grayscale images, or (n, C, H, W) / (n, H, W, C) multichannel images."
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise InputError(f"{source} contains {bad} NaN or infinite value(s); remove or "
                         "fill them first.")
    if len(array) < 2:
        raise InputError(f"{source} holds {len(array)} item(s); skae needs at least 2.")
    ids = np.arange(len(array))
    if array.ndim == 2:
        if resize is not None:
            raise InputError(f"--resize applies to images, but {source} is a 2-D table.")
        return Dataset(array.astype(np.float32), ids, False,
                       f"Table of {array.shape[0]} rows x {array.shape[1]} columns from "
                       f"{source}.", [f"x{j}" for j in range(array.shape[1])])
    if array.ndim == 4 and array.shape[-1] in (1, 3, 4) and array.shape[1] not in (1, 3, 4):
        array = np.moveaxis(array, -1, 1)  # channels-last -> channels-first
    images, how = _scale_images(array, array.dtype == np.uint8)
    if resize is not None:
        images = _resize(images, resize)
    shape = "x".join(str(s) for s in images.shape[1:])
    return Dataset(images, ids, True, f"{len(images)} images of shape {shape} from "
                   f"{source}; {how}.")


def load_csv(path, id_column=None):
    """A CSV table of numbers, one row per item (an optional identifier column)."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError,
            OSError) as exc:
        raise InputError(f"Cannot read '{path}' as CSV: {exc}") from None
    if id_column is not None:
        if id_column not in frame.columns:
            raise InputError(f"--id-column '{id_column}' is not a column of '{path}'; its "
                             f"columns are: {', '.join(map(str, frame.columns[:20]))}.")
        ids = frame.pop(id_column).astype(str).tolist()
    else:
        ids = [str(i) for i in range(len(frame))]
    if frame.shape[1] == 0 or len(frame) < 2:
        raise InputError(f"'{path}' needs at least 2 rows and 1 numeric column; it has "
                         f"{len(frame)} row(s) and {frame.shape[1]} column(s).")
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
    if non_numeric:
        first = non_numeric[0]
        example = frame[first][~frame[first].map(_is_number)].iloc[0]
        raise InputError(
            f"'{path}' has non-numeric column(s): {', '.join(map(repr, non_numeric[:10]))} "
            f"(e.g. {example!r} in column {first!r}). skae explore needs numbers only: "
            "remove those columns, or name one identifier column with --id-column NAME."
        )
    values = frame.to_numpy(dtype=np.float64)
    missing = ~np.isfinite(values)
    if missing.any():
        columns = [str(c) for c in frame.columns[missing.any(axis=0)]]
        row = int(np.flatnonzero(missing.any(axis=1))[0])
        raise InputError(
            f"'{path}' has {int(missing.sum())} missing or infinite value(s) (NaN, empty "
            f"cells or inf) in column(s) {', '.join(columns[:10])}; the first in data row "
            f"{row + 1}. Fill or drop them first."
        )
    names = [str(c) for c in frame.columns]
    return Dataset(values.astype(np.float32), ids, False,
                   f"Table of {len(frame)} rows x {len(names)} numeric columns from "
                   f"'{path}'.", names)


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def load_input(path, resize=None, key=None, id_column=None):
    """Dispatch on what ``path`` is: folder of images, .npy/.npz, or .csv."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"'{path}' does not exist.")
    if path.is_dir():
        return load_image_folder(path, resize)
    if not path.is_file():  # a FIFO or a device would block or never end
        raise InputError(f"'{path}' is not a regular file or a folder.")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return load_array_file(path, key, resize)
    if suffix in (".csv", ".tsv"):
        if resize is not None:
            raise InputError("--resize applies to images, not to CSV tables.")
        return load_csv(path, id_column)
    raise InputError(
        f"Don't know how to read '{path}': give a folder of images "
        f"({', '.join(IMAGE_SUFFIXES)}), a .npy/.npz array or a .csv/.tsv table."
    )


# =========================================================================== analysis
def conv_channels(image_shape):
    """Downsampling levels for an image size: 1 to 3 levels of (16, 32, 64) channels."""
    side = min(image_shape[-2:])
    levels = int(np.clip(np.floor(np.log2(max(side, 1) / 4)), 1, 3))
    if side < 2:
        raise InputError(f"Images of {image_shape[-2:]} pixels are too small.")
    return (16, 32, 64)[:levels]


def make_autoencoder(data, latent_dim, epochs, device, seed, verbose):
    """The autoencoder ``explore`` trains: convolutional for images, dense for tables."""
    from . import ConvAutoEncoder, DenseAutoEncoder

    common = dict(latent_dim=latent_dim, max_epochs=epochs, device=device, random_state=seed,
                  verbose=verbose)
    if data.is_image:
        return ConvAutoEncoder(channels=conv_channels(data.X.shape[1:]), **common)
    hidden = int(np.clip(2 * data.X.shape[1], 16, 128))
    return DenseAutoEncoder(hidden_layer_sizes=(hidden,), **common)


def default_min_cluster_size(n_items):
    """2.5 % of the items, at least 5: the smallest group reported as a cluster."""
    return max(5, n_items // 40)


def map_and_cluster(codes, method, min_cluster_size, seed):
    """2-D map and HDBSCAN clusters of the codes.

    ``method="umap"``: clusters from HDBSCAN (``min_samples=5``; leaf clusters if the
    default selection puts more than half of the items in one cluster) on a 5-D UMAP of
    the standardised codes (``n_neighbors=30``, ``min_dist=0``: dense clumps), map from
    :func:`skae.discovery.map_2d`. ``"pca"``:
    HDBSCAN directly on the standardised codes, map from PCA; faster, for small data.
    """
    from hdbscan import HDBSCAN
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from .discovery import map_2d

    Z = StandardScaler().fit_transform(np.asarray(codes, dtype=np.float64))
    n = len(Z)
    min_cluster_size = int(min(max(min_cluster_size, 2), max(n // 2, 2)))
    if method == "umap" and n >= 10:
        from umap import UMAP

        n_neighbors = min(30, n - 1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*")
            warnings.filterwarnings("ignore", category=UserWarning, module="umap")
            space = UMAP(n_components=min(5, max(Z.shape[1], 2)), n_neighbors=n_neighbors,
                         min_dist=0.0, random_state=seed).fit_transform(Z)
            xy = map_2d(Z, n_neighbors=n_neighbors, random_state=seed)
    else:
        space = Z
        xy = PCA(n_components=2).fit_transform(Z) if Z.shape[1] >= 2 else np.column_stack(
            [Z[:, 0], np.zeros(n)]
        )
    # HDBSCAN's default ("eom") clusters, unless one of them swallows more than half of
    # the items: that happens when the codes form a few large, loosely joined groups
    # (Fashion-MNIST: all clothes vs all shoes) and hides every new kind inside it. Then
    # the leaf clusters, the finest dense groups of HDBSCAN's tree, are used instead:
    # they may split a kind in two but never lump distinct kinds together.
    for selection in ("eom", "leaf"):
        clusterer = HDBSCAN(min_cluster_size=min_cluster_size,
                            min_samples=min(5, min_cluster_size),
                            cluster_selection_method=selection)
        clusters = clusterer.fit_predict(space).astype(np.int64)
        found = clusters[clusters >= 0]
        if not len(found) or np.bincount(found).max() <= n / 2:
            break
    return np.asarray(xy, dtype=np.float64), clusters, clusterer


class Analysis:
    """Everything ``explore`` computes, kept for the table and the report."""


def analyse(data, *, latent_dim, epochs, device, seed, map_method, min_cluster_size,
            verbose):
    """Fit the detector (and its autoencoder), get codes, scores, map and clusters."""
    from . import AEAnomalyDetector
    from .discovery import cluster_report

    result = Analysis()
    result.autoencoder = make_autoencoder(data, latent_dim, epochs, device, seed, verbose)
    # novelty=False: the items to rank are the training items themselves.
    detector = AEAnomalyDetector(result.autoencoder, novelty=False, random_state=seed)
    started = time.perf_counter()
    detector.fit(data.X)
    _INTERRUPTS.check()  # Ctrl+C between epochs: skorch stopped early and said nothing
    result.fit_seconds = time.perf_counter() - started
    result.detector = detector
    ae = detector.autoencoder_
    X_ae = data.X if detector.scaler_ is None else detector.scaler_.transform(data.X)
    result.X_shown = np.asarray(X_ae, dtype=np.float32)  # what the autoencoder sees
    result.codes = np.asarray(ae.transform(X_ae), dtype=np.float64)
    result.reconstructions = np.asarray(ae.reconstruct(X_ae), dtype=np.float32)
    # Higher = more anomalous: minus the detector's normality score.
    result.scores = -detector.score_samples(data.X)
    result.reconstruction_error = ae.reconstruction_error(X_ae)
    result.xy, result.clusters, result.clusterer = map_and_cluster(
        result.codes, map_method, min_cluster_size, seed
    )
    result.cluster_report = cluster_report(result.clusters, embedding=result.codes,
                                           n_exemplars=8)
    result.min_cluster_size = min_cluster_size
    result.loss_curve = list(ae.loss_curve_)
    return result


def results_table(data, result):
    """One row per item: id, cluster, anomaly score and rank, map x/y, codes."""
    import pandas as pd

    table = pd.DataFrame({
        "id": data.ids,
        "cluster": result.clusters,
        "anomaly_score": result.scores,
        "anomaly_rank": pd.Series(result.scores).rank(ascending=False, method="first")
        .astype(int).to_numpy(),
        "reconstruction_error": result.reconstruction_error,
        "map_x": result.xy[:, 0],
        "map_y": result.xy[:, 1],
    })
    codes = pd.DataFrame(result.codes, columns=[f"code_{j}" for j in
                                                range(result.codes.shape[1])])
    return pd.concat([table, codes], axis=1)


# =========================================================================== report
def build_report(data, result, title, options, extra=None):
    """The HTML report of an analysis (figures embedded as base64 PNG)."""
    from . import __version__
    from ._report import (
        Report,
        html_table,
        plot_anomalies,
        plot_exemplars,
        plot_map,
        plot_reconstructions,
        plot_score_histogram,
        plot_training_curve,
    )

    report = Report(title, f"skae {__version__}")
    cr = result.cluster_report
    report.heading("Summary")
    report.paragraph(data.description)
    ae = result.detector.autoencoder_
    report.paragraph(
        f"Model: {type(ae).__name__}(latent_dim={ae.latent_dim}) trained for "
        f"{len(result.loss_curve)} epochs in {result.fit_seconds:.1f} s "
        f"(final loss {result.loss_curve[-1]:.4g}; stopped: {ae.stop_reason_}); anomaly scores from AEAnomalyDetector "
        f"(method='{result.detector.method}': reconstruction error and distance of the "
        "code to its nearest codes, robustly standardised; higher = more unusual)."
    )
    report.paragraph(
        f"Clusters: {cr.n_clusters} found by HDBSCAN (cluster_selection_method="
        f"'{result.clusterer.cluster_selection_method}') in {cr.n_samples} items; "
        f"{cr.n_noise} items ({cr.noise_fraction:.1%}) belong to no cluster (cluster -1)."
    )
    if extra:
        for kind, content in extra:
            report.raw(content) if kind == "html" else report.paragraph(content)
    rows = [[int(c), int(s), f"{s / cr.n_samples:.1%}",
             f"{np.median(result.scores[result.clusters == c]):.3g}"]
            for c, s in zip(cr.cluster_labels, cr.sizes)]
    if cr.n_noise:
        rows.append([-1, cr.n_noise, f"{cr.noise_fraction:.1%}",
                     f"{np.median(result.scores[result.clusters == -1]):.3g}"])
    report.raw(html_table(["cluster", "items", "share", "median anomaly score"], rows))
    report.raw(html_table(["option", "value"], [[k, v] for k, v in options.items()],
                          text_columns=(0, 1)))

    report.heading("Training curve")
    report.figure(plot_training_curve(result.loss_curve),
                  "Reconstruction loss per epoch. A curve still falling steeply at the end "
                  "means more epochs (--epochs N) would help.")
    report.heading("Reconstructions")
    report.figure(
        plot_reconstructions(result.X_shown, result.reconstructions, data.ids,
                             data.is_image, data.feature_names),
        "The first items and the autoencoder's reconstructions"
        + ("." if data.is_image else " (columns standardised)."),
    )
    report.heading("Map of the codes")
    report.figure(plot_map(result.xy, result.clusters),
                  "Each item is a point placed by UMAP (or PCA) from its code; colours are "
                  "the HDBSCAN clusters, grey items belong to no cluster.")
    report.heading("Typical items of each cluster")
    report.figure(
        plot_exemplars(result.X_shown, data.ids, cr.exemplars, data.is_image,
                       data.feature_names),
        "Per cluster (largest first), the items nearest the cluster's centre in code space."
        if data.is_image else
        "Per cluster (largest first), mean standardised profile of its most typical items.",
    )
    report.heading("Most anomalous items")
    order = np.argsort(-result.scores, kind="stable")[:N_ANOMALIES_SHOWN]
    report.figure(
        plot_anomalies(result.X_shown, result.reconstructions, data.ids, result.scores,
                       order, data.is_image, data.feature_names,
                       errors=_error_maps(result, data, order)),
        "The items with the highest anomaly scores: original, reconstruction and where "
        "the reconstruction fails (squared error per pixel, AEAnomalyDetector.error_map)."
        if data.is_image else
        "The items with the highest anomaly scores, original vs reconstruction.",
    )
    report.raw(html_table(
        ["rank", "id", "anomaly score", "reconstruction error", "cluster"],
        [[r + 1, data.ids[i], f"{result.scores[i]:.4g}",
          f"{result.reconstruction_error[i]:.4g}", int(result.clusters[i])]
         for r, i in enumerate(order)], text_columns=(1,)))
    report.figure(plot_score_histogram(result.scores, order),
                  "Distribution of anomaly scores; red lines mark the items above.")
    report.heading("Do the same in Python")
    report.raw("<pre><code>" + _python_snippet(data, result) + "</code></pre>")
    return report


def _error_maps(result, data, order):
    """Error maps of the items in ``order`` from the detector (None if it cannot)."""
    if not data.is_image or result.detector.sample_shape_ != data.X.shape[1:]:
        return None
    return result.detector.error_map(data.X[order])


def _python_snippet(data, result):
    import html

    ae = result.autoencoder
    params = {k: v for k, v in ae.get_params().items()
              if k in ("latent_dim", "channels", "hidden_layer_sizes", "max_epochs",
                       "batch_size", "random_state")}
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    code = f"""import numpy as np
from skae import AEAnomalyDetector, {type(ae).__name__}
from skae.discovery import cluster_report, map_2d
from umap import UMAP
from hdbscan import HDBSCAN
from sklearn.preprocessing import StandardScaler

X = ...  # {data.description}
detector = AEAnomalyDetector({type(ae).__name__}({args}), novelty=False,
                             random_state={result.detector.random_state!r})
detector.fit(X)
anomaly_score = -detector.score_samples(X)
X_ae = X if detector.scaler_ is None else detector.scaler_.transform(X)
codes = StandardScaler().fit_transform(detector.autoencoder_.transform(X_ae))
clusters = HDBSCAN(min_cluster_size={result.min_cluster_size}, min_samples=5,
                   cluster_selection_method="{result.clusterer.cluster_selection_method}"
                   ).fit_predict(
    UMAP(n_components=5, n_neighbors=30, min_dist=0.0).fit_transform(codes))
xy = map_2d(codes)
print(cluster_report(clusters, embedding=codes))
"""
    return html.escape(code)


# =========================================================================== output folder
# What the CLI may do to a folder (docs/cli.rst says the same to users): it writes
# results.csv, report.html and the marker file into the output folder, and nothing else
# anywhere. A folder that already holds files is written into only with --overwrite and
# only if skae wrote it (its marker lists the files with their SHA-256); then only those
# files are replaced, each atomically, and only if nobody changed them since.
def check_output_folder(path, overwrite, input_path=None):
    """Refuse an output folder the CLI must not write into; before any long computation,
    and again just before writing."""
    path = Path(path)
    target = path.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or cwd.is_relative_to(target):
        raise InputError(f"Output folder '{path}' is {'' if target == cwd else 'above '}"
                         "the current folder; give --output a new folder of its own.")
    if input_path is not None:
        source = Path(input_path).resolve()
        if target == source or source.is_relative_to(target):
            raise InputError(f"Output folder '{path}' contains the input '{input_path}'; "
                             "give --output a folder outside it.")
        if target.is_relative_to(source):
            raise InputError(f"Output folder '{path}' lies inside the input "
                             f"'{input_path}'; give --output a folder outside it.")
    if path.exists() and not path.is_dir():
        raise InputError(f"Output path '{path}' exists and is not a folder.")
    if not path.exists():
        parent = next(p for p in target.parents if p.exists())
        if not parent.is_dir():
            raise InputError(f"Output folder '{path}' would lie under '{parent}', which is "
                             "a file, not a folder.")
        _probe_writable(parent, path)
        return
    if not any(path.iterdir()):
        _probe_writable(path, path)
        return
    if not overwrite:
        raise InputError(
            f"Output folder '{path}' already exists and is not empty. Choose another "
            "--output, or add --overwrite to replace the results of an earlier skae run "
            "there."
        )
    written = _read_marker(path)
    for name in OUTPUT_FILES:
        file = path / name
        if not os.path.lexists(file):
            continue
        if file.is_symlink() or not file.is_file() or _sha256(file) != written.get(name):
            raise InputError(
                f"'{file}' was changed or replaced since skae wrote it; --overwrite "
                "replaces only skae's own, unchanged outputs. Move it away, or choose "
                "another --output."
            )
    _probe_writable(path, path)


def _read_marker(folder):
    """The files (name -> SHA-256) that skae wrote into ``folder``, from its marker."""
    marker = folder / MARKER
    refusal = InputError(
        f"Output folder '{folder}' holds files that skae did not write (it has no valid "
        f"{MARKER} from an earlier skae run); --overwrite replaces only skae's own "
        "outputs. Choose another --output, or empty the folder yourself."
    )
    if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 65536:
        raise refusal
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise refusal from None
    if not isinstance(files, dict):
        raise refusal
    return {k: v for k, v in files.items() if k in OUTPUT_FILES and isinstance(v, str)}


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _probe_writable(folder, output):
    """Create and remove a temporary folder in ``folder``: fails early, before training,
    on a read-only or virtual file system (``/proc``) or without permission."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".skae-probe-", dir=folder))
    except OSError as exc:
        raise InputError(f"Cannot write output folder '{output}': cannot create files in "
                         f"'{folder}' ({exc.strerror or exc}).") from None


def _write_atomically(folder, contents):
    """Write ``{name: bytes}`` into ``folder``: each file first under a temporary name in
    the same folder, then all moved over the old ones with ``os.replace`` (Ctrl+C waits
    for the moves), so every file is either its old or its complete new version."""
    umask = os.umask(0)
    os.umask(umask)
    staged = {}
    try:
        for name, data in contents.items():
            fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".skae-partial",
                                             dir=folder)
            staged[name] = temporary
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o666 & ~umask)  # mkstemp makes it private
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        with _INTERRUPTS.deferred():
            for name in contents:
                os.replace(staged.pop(name), folder / name)
    finally:
        for temporary in staged.values():
            with contextlib.suppress(OSError):
                os.remove(temporary)


def write_outputs(folder, data, result, title, options, overwrite, extra=None,
                  input_path=None, command="explore"):
    """results.csv, report.html and the marker, written into ``folder`` atomically.

    Everything is computed in memory first; the folder (and any missing parents) is
    created only then, and removed again if writing fails.
    """
    from matplotlib import rc_context

    from . import __version__

    table = results_table(data, result).to_csv(index=False).encode("utf-8")
    with rc_context({"text.usetex": False}):  # a user's matplotlibrc may ask for LaTeX
        page = build_report(data, result, title, options, extra).to_html().encode("utf-8")
    contents = {"results.csv": table, "report.html": page}
    marker = {"written_by": f"skae {command}", "version": __version__,
              "files": {name: hashlib.sha256(b).hexdigest() for name, b in contents.items()},
              "note": "skae explore/demo --overwrite replaces only these files, and only "
                      "while their SHA-256 matches."}
    contents[MARKER] = (json.dumps(marker, indent=2) + "\n").encode("utf-8")
    folder = Path(folder)
    _INTERRUPTS.check()
    check_output_folder(folder, overwrite, input_path)  # the folder may have changed
    created = []
    try:
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        _write_atomically(folder, contents)
    except BaseException:
        for made in reversed(created):  # only the folders made here, and only if empty
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    return folder


# =========================================================================== interrupts
class _Interrupts:
    """Ctrl+C while a command runs. skorch's ``fit`` catches KeyboardInterrupt and
    returns as if training had ended, so the SIGINT handler also remembers it: ``check``
    then stops the command before anything is written; ``deferred`` holds Ctrl+C back
    while the finished outputs are moved into place."""

    def __init__(self):
        self.received = False
        self._deferring = False

    def _handle(self, signum, frame):
        self.received = True
        if not self._deferring:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        self.received, self._deferring = False, False
        try:
            previous = signal.getsignal(signal.SIGINT)
            if previous in (signal.SIG_IGN, None):  # ignored (a background job) or not
                previous = None                     # set from Python: leave it so
            else:
                signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: only KeyboardInterrupt is seen
            previous = None
        try:
            yield self
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def check(self):
        if self.received:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.received:
            raise _InterruptedAfterWriting


class _InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl+C came while the finished outputs were being moved into place."""


_INTERRUPTS = _Interrupts()


# =========================================================================== explore
def run_explore(args):
    output = Path(args.output) if args.output else Path.cwd() / (
        Path(args.path).resolve().name.split(".")[0] + "_skae")
    check_output_folder(output, args.overwrite, args.path)  # fail before the long part
    resize = tuple(args.resize) if args.resize else None
    data = load_input(args.path, resize=resize, key=args.key, id_column=args.id_column)
    _say(args, f"skae explore: {data.description}")
    if data.is_image and np.prod(data.X.shape[-2:]) > 256 * 256:
        _say(args, "Tip: images this large train slowly on a CPU; --resize 128 128 (or "
                   "smaller) is often enough to find clusters and anomalies.")
    _say(args, f"Training the autoencoder (epochs: {args.epochs}, latent size "
               f"{args.latent_dim}) ...")
    min_cluster_size = args.min_cluster_size or default_min_cluster_size(len(data.X))
    result = analyse(data, latent_dim=args.latent_dim, epochs=args.epochs,
                     device=args.device, seed=args.seed, map_method=args.map,
                     min_cluster_size=min_cluster_size, verbose=0 if args.quiet else 1)
    _INTERRUPTS.check()
    options = {"path": str(args.path), "latent size": args.latent_dim,
               "epochs": args.epochs, "device": args.device, "seed": args.seed,
               "map": args.map, "resize": resize}
    write_outputs(output, data, result, f"skae explore: {Path(args.path).name}", options,
                  args.overwrite, input_path=args.path)
    cr = result.cluster_report
    print(f"{cr.n_clusters} cluster(s); sizes "
          f"{', '.join(str(int(s)) for s in cr.sizes) or '-'}; "
          f"{cr.n_noise} item(s) in no cluster.")
    top = np.argsort(-result.scores, kind="stable")[:5]
    print("Most anomalous: " + ", ".join(f"{data.ids[i]} ({result.scores[i]:.3g})"
                                          for i in top))
    print(printable(f"Wrote {output / 'results.csv'} and {output / 'report.html'}"))
    return 0


def _say(args, message):
    if not args.quiet:
        print(message, flush=True)


# =========================================================================== demo
FASHION_DEFAULT_UNKNOWN = ("Trouser", "Bag")


def _demo_data(args):
    """Images, labels, class names, control mask, unknown classes, description and the
    measured features (particles only, else None) of the demo."""
    from sklearn.model_selection import train_test_split

    if args.data == "fashion":
        from .datasets import load_fashion_mnist_subset

        bunch = load_fashion_mnist_subset()
        names = list(bunch.target_names)
        unknown = _parse_classes(args.unknown, names, FASHION_DEFAULT_UNKNOWN)
        X, y = bunch.images, bunch.target
        is_unknown = np.isin(y, [names.index(u) for u in unknown])
        known_idx = np.flatnonzero(~is_unknown)
        control_idx, _ = train_test_split(known_idx, train_size=0.5, stratify=y[known_idx],
                                          random_state=args.seed)
        is_control = np.zeros(len(y), dtype=bool)
        is_control[control_idx] = True
        description = (
            f"Fashion-MNIST subset bundled with skae: {len(y)} real 28x28 images of "
            f"{len(names)} classes. Control set (labelled): half of the items of the "
            f"{len(names) - len(unknown)} known classes; core set: the other half plus all "
            f"items of the held-out classes {', '.join(unknown)}."
        )
        return X, y, names, is_control, unknown, description, None
    from .datasets import make_particles
    from .datasets._particles import DEFAULT_CORE_ONLY_KINDS, PARTICLE_KINDS

    names = list(PARTICLE_KINDS)
    unknown = _parse_classes(args.unknown, names, DEFAULT_CORE_ONLY_KINDS)
    control_kinds = [k for k in names if k not in unknown]
    n = args.n_images
    bunch = make_particles(n_control=n // 2, n_core=n - n // 2, control_kinds=control_kinds,
                           core_only_kinds=unknown, random_state=args.seed)
    X = bunch.images
    if args.image_size != X.shape[-1]:
        X = _resize(X, (args.image_size, args.image_size))
    description = (
        f"make_particles(random_state={args.seed}): {len(X)} synthetic ice-core particle "
        f"images (128x128, shown to the autoencoder at {args.image_size}x{args.image_size}). "
        f"Control set (labelled): {int(bunch.is_control.sum())} images of "
        f"{', '.join(control_kinds)}; core set: {int((~bunch.is_control).sum())} images that "
        f"also hold the unknown kinds {', '.join(unknown)}."
    )
    return (X, bunch.target, list(bunch.target_names), bunch.is_control, unknown,
            description, bunch.features)


def _parse_classes(text, names, default):
    if text is None:
        return list(default)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    lookup = {n.lower(): n for n in names}
    bad = [c for c in chosen if c.lower() not in lookup]
    if bad or not chosen:
        raise InputError(f"--unknown must list class names separated by commas, from: "
                         f"{', '.join(names)}; got {text!r}.")
    chosen = [lookup[c.lower()] for c in chosen]
    if len(set(chosen)) >= len(names) - 1:
        raise InputError("--unknown must leave at least two known classes.")
    return chosen


FDR = 0.1  # the demo's false discovery rate for "which core items are other things"


def _flag_at_fdr(normality, detector, X_control, fdr, feature_detector=None,
                 features_control=None):
    """Core items flagged by Benjamini-Hochberg on conformal p-values of ``normality``.

    ``normality`` is the image detector's score, or the mean of the image and feature
    detectors' scores. Its p-values come from the same score of the held-out control
    items, which neither detector trained on: both detectors are seeded alike, so they
    hold out the same items.
    """
    from ._conformal import benjamini_hochberg, conformal_p_values

    calibration = detector.calibration_scores_
    if feature_detector is not None:
        held_out = detector.calibration_indices_
        if not np.array_equal(held_out, feature_detector.calibration_indices_):
            raise RuntimeError("the image and feature detectors held out different items")
        calibration = (detector.score_samples(X_control[held_out])
                       + feature_detector.score_samples(features_control[held_out])) / 2
    return benjamini_hochberg(conformal_p_values(calibration, normality), fdr)


def _share(part, whole):
    return f"{part.sum() / whole.sum():.0%}" if whole.sum() else "n/a"


def run_demo(args):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import AEAnomalyDetector, ConvAutoEncoder
    from .discovery import cluster_accuracy, cluster_report

    if args.output:
        check_output_folder(args.output, args.overwrite)
    started = time.perf_counter()
    X, y, names, is_control, unknown, description, features = _demo_data(args)
    unknown_ids = [names.index(u) for u in unknown]
    is_unknown = np.isin(y, unknown_ids)
    core = ~is_control
    print(f"skae demo ({args.data}): {description}", flush=True)
    print(f"{int(is_control.sum())} control images, {int(core.sum())} core images "
          f"({int((core & is_unknown).sum())} of unknown classes).", flush=True)

    def autoencoder():
        return ConvAutoEncoder(latent_dim=args.latent_dim,
                               channels=conv_channels(X.shape[1:]), max_epochs=args.epochs,
                               device=args.device, random_state=args.seed,
                               verbose=0 if args.quiet else 1)

    # 1. Representation: an autoencoder on every image, labelled or not.
    print(f"\n[1/4] ConvAutoEncoder on all {len(X)} images (epochs: {args.epochs})",
          flush=True)
    ae = autoencoder().fit(X)
    _INTERRUPTS.check()
    codes = ae.transform(X)

    # What the classifier and the clustering see: the codes, and for the particles also
    # their 34 measured features (both standardised, side by side).
    represent = StandardScaler().fit_transform(codes)
    if features is not None:
        represent = np.hstack([represent, StandardScaler().fit_transform(features)])
    seen = "codes" if features is None else "codes + 34 features"

    # 2. Known classes: a classifier on the codes of the labelled control set.
    print(f"[2/4] Classifier on the {seen} of the control set", flush=True)
    known_core = core & ~is_unknown

    def accuracy_of(Z):
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        classifier.fit(Z[is_control], y[is_control])
        return classifier.score(Z[known_core], y[known_core])

    accuracy = accuracy_of(represent)
    accuracy_codes = accuracy if features is None else accuracy_of(codes)

    # 3. Unknown classes: an anomaly detector trained on the control set only.
    print(f"\n[3/4] AEAnomalyDetector trained on the {int(is_control.sum())} control "
          "images", flush=True)
    detector = AEAnomalyDetector(autoencoder(), random_state=args.seed).fit(X[is_control])
    _INTERRUPTS.check()
    normality = detector.score_samples(X[core])
    auroc_images = roc_auc_score(is_unknown[core], -normality)
    auroc_rec = roc_auc_score(is_unknown[core],
                              detector.autoencoder_.reconstruction_error(X[core]))
    if features is not None:
        # A second detector on the measured features (a DenseAutoEncoder on standardised
        # columns). Both scores are robust z-scores (0 = typical control item), so their
        # mean is the combined evidence.
        feature_detector = AEAnomalyDetector(random_state=args.seed)
        feature_detector.fit(features[is_control])
        _INTERRUPTS.check()
        feature_normality = feature_detector.score_samples(features[core])
        auroc_features = roc_auc_score(is_unknown[core], -feature_normality)
        normality = (normality + feature_normality) / 2
    auroc = roc_auc_score(is_unknown[core], -normality)
    flagged = _flag_at_fdr(normality, detector, X[is_control], FDR,
                           None if features is None else feature_detector,
                           None if features is None else features[is_control])

    # 4. Discovery: clusters of the codes.
    print(f"[4/4] UMAP + HDBSCAN on the {seen}", flush=True)
    min_cluster_size = args.min_cluster_size or default_min_cluster_size(len(X))
    xy, clusters, clusterer = map_and_cluster(represent, "umap", min_cluster_size, args.seed)
    report = cluster_report(clusters, embedding=represent, n_exemplars=8)
    _INTERRUPTS.check()
    elapsed = time.perf_counter() - started

    lines = [
        "",
        "Results",
        "-------",
        f"Known classes ({len(names) - len(unknown)}): accuracy on the core set "
        f"{accuracy:.3f} (chance {1 / (len(names) - len(unknown)):.3f}); logistic "
        f"regression on the {args.latent_dim}-D {seen}, trained on "
        f"{int(is_control.sum())} labelled control images"
        + ("." if features is None else f" (codes alone: {accuracy_codes:.3f})."),
        f"Unknown classes ({', '.join(unknown)}): AUROC {auroc:.3f} for flagging them among "
        "the core images (chance 0.5); "
        + (f"AEAnomalyDetector on images, hybrid score (reconstruction error alone: "
           f"{auroc_rec:.3f})." if features is None else
           f"mean of two AEAnomalyDetectors: on images {auroc_images:.3f} (reconstruction "
           f"error alone {auroc_rec:.3f}), on the features {auroc_features:.3f}."),
        f"Flagged at a {FDR:.0%} false discovery rate (Benjamini-Hochberg on conformal "
        f"p-values from {len(detector.calibration_scores_)} held-out control images): "
        f"{int(flagged.sum())} core images, {int((flagged & is_unknown[core]).sum())} of "
        f"them of unknown classes ({_share(flagged & ~is_unknown[core], flagged)} false "
        f"discoveries; {_share(flagged & is_unknown[core], is_unknown[core])} of the "
        "unknown found; nothing is flagged unless at least "
        f"{int(np.ceil(core.sum() / (FDR * (len(detector.calibration_scores_) + 1))))} "
        "core images score below every held-out control image).",
        f"Clusters: {report.n_clusters} found for {len(names)} true kinds; adjusted Rand "
        f"index {adjusted_rand_score(y, clusters):.3f}; cluster accuracy "
        f"{cluster_accuracy(y, clusters):.3f}; {report.n_noise} images "
        f"({report.noise_fraction:.1%}) in no cluster.",
        "",
        f"{'cluster':>7} {'size':>5}  composition (true kinds)",
    ]
    composition = []
    for c, size in zip(report.cluster_labels, report.sizes):
        parts = _composition(y[clusters == c], names, unknown)
        lines.append(f"{int(c):>7} {int(size):>5}  {parts}")
        composition.append([int(c), int(size), parts])
    if report.n_noise:
        parts = _composition(y[clusters == -1], names, unknown)
        lines.append(f"{'none':>7} {report.n_noise:>5}  {parts}")
    lines.append("")
    for u, uid in zip(unknown, unknown_ids):
        members = clusters[y == uid]
        found = members[members >= 0]
        if len(found):
            best = int(np.bincount(found).argmax())
            share = float(np.mean(members == best))
            purity = float(np.mean(y[clusters == best] == uid))
            lines.append(f"Unknown '{u}': {share:.0%} of its images in cluster {best}, "
                         f"which is {purity:.0%} '{u}'.")
        else:
            lines.append(f"Unknown '{u}': in no cluster.")
    lines.append(f"(* = class held out as unknown.) Total time {elapsed:.0f} s.")
    print("\n".join(lines), flush=True)

    if args.output:
        data = Dataset(X, [f"{i}:{names[t]}" for i, t in enumerate(y)], True, description)
        result = Analysis()
        result.detector, result.autoencoder = detector, ae
        result.fit_seconds = elapsed
        result.X_shown = X
        result.codes = codes
        result.reconstructions = ae.reconstruct(X)
        result.scores = -detector.score_samples(X)
        if features is not None:
            result.scores = (result.scores - feature_detector.score_samples(features)) / 2
        result.reconstruction_error = ae.reconstruction_error(X)
        result.xy, result.clusters, result.cluster_report = xy, clusters, report
        result.loss_curve = list(ae.loss_curve_)
        result.min_cluster_size = min_cluster_size
        result.clusterer = clusterer
        from ._report import html_table

        extra = [("text", line) for line in lines[3:7]]
        extra.append(("html", html_table(["cluster", "size", "composition"], composition,
                                         text_columns=(2,))))
        options = {"data": args.data, "unknown": ", ".join(unknown),
                   "latent size": args.latent_dim, "epochs": args.epochs,
                   "seed": args.seed}
        write_outputs(args.output, data, result, f"skae demo: {args.data}", options,
                      args.overwrite, extra, command="demo")
        print(printable(f"Wrote {Path(args.output) / 'results.csv'} and "
                        f"{Path(args.output) / 'report.html'}"))
    return 0


def _composition(labels, names, unknown, top=3):
    counts = np.bincount(labels, minlength=len(names))
    order = np.argsort(-counts, kind="stable")[:top]
    return ", ".join(
        f"{names[k]}{'*' if names[k] in unknown else ''} {counts[k] / len(labels):.0%}"
        for k in order if counts[k]
    )


# =========================================================================== parser
def _epochs(text):
    """``--epochs``: "auto" (the data-dependent budget of ``max_epochs="auto"``) or N."""
    return "auto" if text == "auto" else _positive_int(text)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _device(text):
    from ._runtime import resolve_device

    try:
        resolve_device(text)
    except (ValueError, RuntimeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser():
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="skae",
        formatter_class=formatter,
        description=(
            "Autoencoders for scientists: learn a compact code for each image or table row,\n"
            "group similar items into clusters, and flag the unusual ones. Everything runs\n"
            "offline, on CPU or GPU."
        ),
        epilog=(
            "examples:\n"
            "  skae demo                      # known / unknown / odd on bundled images\n"
            "  skae demo --data particles     # the same on synthetic ice-core particles\n"
            "  skae explore my_images/        # your folder of PNG/TIFF/JPEG images\n"
            "  skae explore measurements.csv  # your table of numbers\n\n"
            "Run 'skae demo --help' or 'skae explore --help' for their options."
        ),
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def common(sub, latent):
        sub.add_argument("--latent-dim", type=_positive_int, default=latent, metavar="N",
                         help=f"size of the code learned for each item (default {latent})")
        sub.add_argument("--epochs", type=_epochs, default="auto", metavar="N",
                         help="passes over the data while training; 'auto' (the default) "
                              "scales them with the number of items and stops when the "
                              "held-out loss stops improving")
        sub.add_argument("--device", type=_device, default="auto",
                         help="'cpu', 'cuda', 'cuda:1', or 'auto' = GPU if there is one "
                              "(default auto)")
        sub.add_argument("--seed", type=int, default=0,
                         help="random seed; the same seed gives the same result on CPU "
                              "(default 0)")
        sub.add_argument("--min-cluster-size", type=_positive_int, default=None, metavar="N",
                         help="smallest group of items that counts as a cluster "
                              "(default: 2.5%% of the items, at least 5)")
        sub.add_argument("--overwrite", action="store_true",
                         help="replace the results of an earlier skae run in the output "
                              "folder: only results.csv and report.html, only if skae "
                              "wrote them and nobody changed them since; other files "
                              "there are kept")
        sub.add_argument("--quiet", action="store_true",
                         help="no progress bars or training log")

    demo = commands.add_parser(
        "demo", formatter_class=formatter,
        help="run the whole workflow on bundled data, no network needed",
        description=(
            "The main workflow, end to end, on data that ships with skae:\n"
            "  1. hold some classes out as 'unknown'; the other ('known') classes are split\n"
            "     into a labelled control set and an unlabelled core set, which also gets\n"
            "     every image of the unknown classes;\n"
            "  2. train a convolutional autoencoder on all images (progress bar shown);\n"
            "  3. classify the known classes from the codes (trained on the control set);\n"
            "  4. flag the unknown classes with an anomaly detector trained on the control\n"
            "     set (AUROC: 1.0 = perfect, 0.5 = chance);\n"
            "  5. cluster the codes (UMAP + HDBSCAN) and compare clusters with true kinds.\n"
            "With --data particles, the 34 features measured on each particle are used\n"
            "next to the codes (steps 3 and 5) and by a second anomaly detector (step 4).\n"
            "Takes about 1-3 minutes on a laptop CPU."
        ),
        epilog=(
            "examples:\n"
            "  skae demo\n"
            "  skae demo --unknown Sandal,Bag --epochs 20\n"
            "  skae demo --data particles --output particles_report\n"
        ),
    )
    demo.add_argument("--data", choices=("fashion", "particles"), default="fashion",
                      help="'fashion': 2,000 real Fashion-MNIST images bundled with skae "
                           "(default); 'particles': synthetic ice-core particle images from "
                           "skae.datasets.make_particles")
    demo.add_argument("--unknown", metavar="NAMES", default=None,
                      help="comma-separated classes to hold out as unknown (default: "
                           "Trouser,Bag for fashion; diatom,spherule for particles)")
    demo.add_argument("--n-images", type=_positive_int, default=1200, metavar="N",
                      help="particles only: number of images to generate (default 1200)")
    demo.add_argument("--image-size", type=_positive_int, default=64, metavar="PIXELS",
                      help="particles only: side the 128x128 images are resized to for the "
                           "autoencoder (default 64)")
    demo.add_argument("--output", metavar="FOLDER", default=None,
                      help="also write results.csv and report.html into this folder")
    common(demo, latent=16)

    explore = commands.add_parser(
        "explore", formatter_class=formatter,
        help="find clusters and anomalies in your own images or table",
        description=(
            "Learn a code for every item of your data, group similar items into clusters\n"
            "and rank the items by how unusual they are.\n\n"
            "PATH is one of:\n"
            "  - a folder of images (.png, .tif, .tiff, .jpg, .jpeg; subfolders included),\n"
            "    grayscale or colour, all of one size (or use --resize);\n"
            "  - a .npy or .npz array: (items, features) is a table, (items, H, W) grayscale\n"
            "    images, (items, C, H, W) or (items, H, W, C) multichannel images;\n"
            "  - a .csv table with a header row, one row per item, numbers only (name an\n"
            "    identifier column with --id-column).\n\n"
            "Writes into the output folder:\n"
            "  results.csv  one row per item: id, cluster (-1 = none), anomaly_score (higher\n"
            "               = more unusual), anomaly_rank, reconstruction_error, map_x,\n"
            "               map_y (2-D map), code_0, code_1, ... (the learned code)\n"
            "  report.html  one self-contained page: training curve, reconstructions, the\n"
            "               map coloured by cluster, typical items of each cluster, the most\n"
            "               anomalous items with maps of where they differ.\n"
            "  .skae-output.json  which files skae wrote, with their SHA-256 (--overwrite\n"
            "               replaces nothing else).\n"
            "skae reads only PATH (symbolic links leading out of a folder are skipped) and\n"
            "writes only these three files. Exit status: 0 done, 2 bad input or output\n"
            "folder, 1 the analysis failed, 130 interrupted (Ctrl+C; nothing written)."
        ),
        epilog=(
            "examples:\n"
            "  skae explore particles/ --resize 64 64 --output particles_skae\n"
            "  skae explore spectra.npy --latent-dim 4 --epochs 50\n"
            "  skae explore features.csv --id-column sample_id --overwrite\n"
        ),
    )
    explore.add_argument("path", metavar="PATH", help="folder of images, .npy/.npz or .csv")
    explore.add_argument("--output", metavar="FOLDER", default=None,
                         help="where to write results.csv and report.html (default: "
                              "<name of PATH>_skae in the current folder); must not exist "
                              "or be empty unless --overwrite, and may not be, contain or "
                              "lie inside PATH, nor be or contain the current folder")
    explore.add_argument("--resize", type=_positive_int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                         default=None,
                         help="resize every image to HEIGHT x WIDTH pixels (needed when "
                              "images differ in size; smaller is faster)")
    explore.add_argument("--key", default=None,
                         help=".npz only: name of the array to read")
    explore.add_argument("--id-column", default=None, metavar="NAME",
                         help="CSV only: column that identifies the rows (not analysed)")
    explore.add_argument("--map", choices=("umap", "pca"), default="umap",
                         help="'umap' (default): clusters from UMAP of the codes; 'pca': "
                              "clusters on the codes directly, PCA map (faster). Clusters "
                              "are HDBSCAN's (its finest dense groups if one cluster would "
                              "hold over half of the items); items between groups are "
                              "cluster -1")
    common(explore, latent=8)
    return parser


def main(argv=None):
    """Run the ``skae`` command line; returns the exit status.

    0: success. 2: bad input, options or output folder, or a file that cannot be read
    or written (one line on stderr, no traceback). 1: the analysis failed (training
    diverged, out of memory). 130: interrupted (Ctrl+C); the output folder is as before.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # bare ``skae``: what it can do, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    handlers = {"demo": run_demo, "explore": run_explore}
    from .exceptions import TrainingDivergedError, TrainingInterruptedWarning

    def fail(message, status):
        print(f"skae {args.command}: {printable(message)}", file=sys.stderr, flush=True)
        return status

    writes = args.command == "explore" or args.output  # demo writes only with --output
    kept = "; the output folder was left as it was." if writes else "."

    try:
        with _INTERRUPTS.installed(), warnings.catch_warnings():
            # Ctrl+C inside fit: skorch returns normally and skae warns; stop instead.
            warnings.filterwarnings("error", category=TrainingInterruptedWarning)
            return handlers[args.command](args)
    except (InputError, OSError) as exc:  # OSError: a file that cannot be read or written
        return fail(f"error: {exc}", 2)
    except (TrainingDivergedError, MemoryError, ValueError) as exc:
        if os.environ.get("SKAE_DEBUG"):
            raise
        return fail(f"error: {type(exc).__name__}: {exc} (set SKAE_DEBUG=1 to see where it "
                    "happened)", 1)
    except _InterruptedAfterWriting:
        return fail("interrupted, after the outputs had been written completely.", 130)
    except KeyboardInterrupt:
        return fail(f"interrupted{kept}", 130)
    except TrainingInterruptedWarning:
        return fail(f"interrupted during training{kept}", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
