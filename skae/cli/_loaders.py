"""Reading the input of ``skae explore``: image folders, NumPy arrays and CSV tables.

Also what the CLI prints of the user's text (``printable``, ``spreadsheet_safe``) and
:class:`InputError`, the error about the user's input or options that the CLI reports in
one line, without a traceback.
"""

import sys
import warnings
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
_SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class InputError(Exception):
    """A problem with the user's input or options: reported without a traceback."""


def printable(text):
    """``text`` with control characters (newlines, terminal escapes, undecodable bytes of
    file names) written as Python escapes, so that it prints on one line as it is.

    Parameters
    ----------
    text : object
        Converted with ``str`` first.

    Returns
    -------
    line : str
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace")
                   .decode("ascii") for c in str(text))


def spreadsheet_safe(text):
    """OWASP's rule against CSV (formula) injection: a cell that a spreadsheet would read
    as a formula (it starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets
    a leading ``'``.

    Parameters
    ----------
    text : str

    Returns
    -------
    cell : str
    """
    return "'" + text if text.startswith(_SPREADSHEET_TRIGGERS) else text


def warn(message):
    """Print ``skae: warning: message`` on stderr, on one line.

    Parameters
    ----------
    message : str
    """
    print(f"skae: warning: {printable(message)}", file=sys.stderr, flush=True)


class LoadedData:
    """What ``explore`` analyses: the array, one id per item, and how to show it.

    Parameters
    ----------
    X : ndarray of shape (n_items, ...)
        Images ``(n, H, W)`` or ``(n, C, H, W)`` with values in [0, 1], or a table
        ``(n, n_features)``.
    ids : sequence
        One id per item; stored printable and spreadsheet-safe.
    is_image : bool
        Whether ``X`` holds images.
    description : str
        One sentence on what was read and how it was scaled; stored printable.
    feature_names : list of str, default=None
        Column names of a table.
    metadata : dict of str -> list of str, default=None
        Columns of the input that are carried to results.csv as they are, not analysed
        (a CSV's non-numeric columns); cells stored printable and spreadsheet-safe.
    """

    def __init__(self, X, ids, is_image, description, feature_names=None, metadata=None):
        self.X = X
        # Ids go into results.csv, the report and the terminal: one printable line each,
        # never a spreadsheet formula.
        self.ids = [spreadsheet_safe(printable(i)) for i in ids]
        self.is_image = is_image
        self.description = printable(description)
        self.feature_names = feature_names
        self.metadata = {
            printable(name): [spreadsheet_safe(printable(v)) for v in values]
            for name, values in (metadata or {}).items()
        }
        for name, values in self.metadata.items():
            if len(values) != len(self.ids):
                raise ValueError(f"metadata column {name!r} has {len(values)} values for "
                                 f"{len(self.ids)} items.")


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


def resize_images(images, size):
    """Resize a stack ``(n, H, W)`` or ``(n, C, H, W)`` to ``size``, with anti-aliasing.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, C, H, W)
    size : tuple of int
        ``(height, width)`` after resizing.

    Returns
    -------
    resized : ndarray of float32
    """
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

    Parameters
    ----------
    folder : str or Path
    resize : tuple of int, default=None
        ``(height, width)`` to bring every image to.

    Returns
    -------
    data : LoadedData
        Ids are the file paths relative to ``folder``.

    Raises
    ------
    InputError
        If there are no images, some cannot be read, or their sizes differ (without
        ``resize``).
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
        arrays = [resize_images(a.astype(np.float32)[None], resize)[0] for a in arrays]
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
    return LoadedData(images, ids, True,
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
        warn(f"skipped {len(outside)} symbolic link(s) in '{folder}' that lead outside "
              f"it: {shown}.")
    return sorted(files)


def load_array_file(path, key=None, resize=None):
    """A ``.npy`` or ``.npz`` array: 2-D is a table, 3-D/4-D a stack of images.

    Parameters
    ----------
    path : str or Path
    key : str, default=None
        The array of a ``.npz`` file; by default its only array, or the one named
        ``X``, ``images`` or ``data``.
    resize : tuple of int, default=None
        ``(height, width)`` to bring every image to.

    Returns
    -------
    data : LoadedData
        Ids are the row numbers.
    """
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
        return LoadedData(array.astype(np.float32), ids, False,
                       f"Table of {array.shape[0]} rows x {array.shape[1]} columns from "
                       f"{source}.", [f"x{j}" for j in range(array.shape[1])])
    if array.ndim == 4 and array.shape[-1] in (1, 3, 4) and array.shape[1] not in (1, 3, 4):
        array = np.moveaxis(array, -1, 1)  # channels-last -> channels-first
    images, how = _scale_images(array, array.dtype == np.uint8)
    if resize is not None:
        images = resize_images(images, resize)
    shape = "x".join(str(s) for s in images.shape[1:])
    return LoadedData(images, ids, True, f"{len(images)} images of shape {shape} from "
                   f"{source}; {how}.")


def load_csv(path, id_column=None):
    """A CSV (or, for ``.tsv``, tab-separated) table, one row per item.

    The numeric columns are analysed. Every other column (text, dates, true/false) is
    metadata: carried to results.csv as it is, not used for training.

    Parameters
    ----------
    path : str or Path
    id_column : str, default=None
        A column that identifies the rows; it gives the ids and is not analysed.

    Returns
    -------
    data : LoadedData

    Raises
    ------
    InputError
        If the file cannot be read, has under 2 rows or no numeric column, or a numeric
        column misses values.
    """
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
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
    numeric = frame.drop(columns=non_numeric)
    if numeric.shape[1] == 0 or len(frame) < 2:
        raise InputError(
            f"'{path}' needs at least 2 rows and 1 numeric column; it has {len(frame)} "
            f"row(s) and {numeric.shape[1]} numeric column(s)"
            + (f" (and {len(non_numeric)} non-numeric: "
               f"{', '.join(map(repr, non_numeric[:10]))})." if non_numeric else ".")
        )
    for column in non_numeric:
        if pd.api.types.is_bool_dtype(frame[column]):
            continue  # true/false: a label, not a mistyped number
        cells = frame[column].dropna()
        numbers = cells.map(_is_number).astype(bool)
        if len(cells) and 0.5 <= numbers.mean() < 1:
            warn(f"column {column!r} of '{path}' is mostly numbers but has text (e.g. "
                 f"{cells[~numbers].iloc[0]!r}); it is carried to results.csv, not "
                 "analysed. Fix the text to analyse it.")
    values = numeric.to_numpy(dtype=np.float64)
    missing = ~np.isfinite(values)
    if missing.any():
        columns = [str(c) for c in numeric.columns[missing.any(axis=0)]]
        row = int(np.flatnonzero(missing.any(axis=1))[0])
        raise InputError(
            f"'{path}' has {int(missing.sum())} missing or infinite value(s) (NaN, empty "
            f"cells or inf) in column(s) {', '.join(columns[:10])}; the first in data row "
            f"{row + 1}. Fill or drop them first."
        )
    names = [str(c) for c in numeric.columns]
    metadata = {str(c): frame[c].map(lambda v: "" if pd.isna(v) else str(v)).tolist()
                for c in non_numeric}
    carried = "" if not non_numeric else (
        f" {len(non_numeric)} non-numeric column(s) carried to results.csv unchanged, not "
        f"used for training: {', '.join(map(repr, metadata))}.")
    return LoadedData(values.astype(np.float32), ids, False,
                      f"Table of {len(frame)} rows x {len(names)} numeric columns from "
                      f"'{path}'.{carried}", names, metadata)


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def load_input(path, resize=None, key=None, id_column=None):
    """Read ``path`` by what it is: a folder of images, a .npy/.npz array or a .csv/.tsv.

    Parameters
    ----------
    path : str or Path
    resize : tuple of int, default=None
        Images only: ``(height, width)`` to bring every image to.
    key : str, default=None
        ``.npz`` only: the array to read.
    id_column : str, default=None
        CSV only: the column that identifies the rows.

    Returns
    -------
    data : LoadedData

    Raises
    ------
    InputError
        If ``path`` is missing, unreadable or holds what skae cannot analyse.
    """
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
