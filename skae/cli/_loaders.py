"""Reading the input of ``skae explore``: image folders, NumPy arrays and CSV tables.

Also what the CLI prints of the user's text (``printable``, ``spreadsheet_safe``) and
:class:`InputError`, the error about the user's input or options that the CLI reports in
one line, without a traceback.
"""

import sys
import warnings
from pathlib import Path

import numpy as np

from ..datasets import load_images
from ..datasets._images import (
    IMAGE_SUFFIXES,
    ImageLoadError,
    resize_images,
    scale_images,
)

_RESIZE_OPTION = "Give --resize HEIGHT WIDTH to bring them all to one size."
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


def load_image_folder(folder, resize=None):
    """The images of ``folder`` (or of one multi-page TIFF file) as ``explore`` reads them.

    :func:`skae.datasets.load_images` reads them; its errors become :class:`InputError`
    (with the CLI's ``--resize`` option as the cure for mixed sizes) and its warnings
    (skipped symbolic links) are printed as ``skae: warning:`` lines.

    Parameters
    ----------
    folder : str or Path
    resize : tuple of int, default=None
        ``(height, width)`` to bring every image to.

    Returns
    -------
    data : LoadedData
        Ids are the file paths relative to ``folder`` (``name[page]`` for the pages of a
        multi-page TIFF).

    Raises
    ------
    InputError
        If there are under 2 images, some cannot be read, or their sizes differ
        (without ``resize``).
    """
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            images = load_images(folder, resize=resize)
    except ImageLoadError as exc:
        remedy = _RESIZE_OPTION if exc.kind == "sizes" else exc.remedy
        raise InputError(f"{exc.problem} {remedy}".strip()) from None
    finally:  # outside catch_warnings: what is not printed here is warned as usual
        for caught_warning in caught:
            if issubclass(caught_warning.category, UserWarning):
                warn(str(caught_warning.message))
            else:
                warnings.warn_explicit(caught_warning.message, caught_warning.category,
                                       caught_warning.filename, caught_warning.lineno)
    if len(images.ids) < 2:
        raise InputError(f"'{folder}' holds {len(images.ids)} image(s); skae needs at "
                         "least 2.")
    return LoadedData(images.images, images.ids, True, images.DESCR)


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
    images, how, _ = scale_images(array, array.dtype == np.uint8)
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
    """Read ``path`` by what it is: a folder of images, an image file (the pages of a
    multi-page TIFF), a .npy/.npz array or a .csv/.tsv.

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
    if suffix in IMAGE_SUFFIXES:  # one image file: a multi-page TIFF, one item a page
        return load_image_folder(path, resize)
    if suffix in (".npy", ".npz"):
        return load_array_file(path, key, resize)
    if suffix in (".csv", ".tsv"):
        if resize is not None:
            raise InputError("--resize applies to images, not to CSV tables.")
        return load_csv(path, id_column)
    raise InputError(
        f"Don't know how to read '{path}': give a folder of images "
        f"({', '.join(IMAGE_SUFFIXES)}), a multi-page TIFF, a .npy/.npz array or a "
        ".csv/.tsv table."
    )
