"""Image folders and microscopy TIFFs as one float32 stack: :func:`load_images`, the
loader behind ``skae explore FOLDER``.

PNG and JPEG files are read with Pillow. TIFF files are read with tifffile (8-bit,
16-bit, float, multi-page), and with Pillow only where tifffile lacks the codec (LZW,
JPEG or fax compression without the ``imagecodecs`` package) or the colour model
(palette, CMYK, YCbCr, CIELab).
"""

import lzma
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import ImageLoadError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
TIFF_SUFFIXES = (".tif", ".tiff")
# What Pillow may open: never a plugin that runs a program (EPS runs Ghostscript).
_PIL_FORMATS = ("PNG", "JPEG")
# TIFF colour models that tifffile returns as stored: MinIsWhite, MinIsBlack, RGB.
_TIFF_PHOTOMETRICS = (0, 1, 2)
# A TIFF of over MAX_IMAGE_PIXELS pixels in all that decodes to over this many bytes per
# byte of file is refused as a decompression bomb (deflate cannot exceed ~1032).
_MAX_RATIO = 1000
_RESIZE_REMEDY = "Pass resize=(height, width) to bring them all to one size."
# What a broken or hostile file can make a decoder raise (besides Pillow's bomb errors).
_READ_ERRORS = (OSError, ValueError, SyntaxError, KeyError, IndexError, TypeError,
                EOFError, RuntimeError, NotImplementedError, struct.error, zlib.error,
                lzma.LZMAError)


def scale_images(images, all_uint8):
    """Scale raw pixel values to [0, 1], one scale for the whole set.

    Parameters
    ----------
    images : array-like of shape (n, ...)
    all_uint8 : bool
        Whether every image was 8-bit: then the values are divided by 255. Otherwise
        they are kept if already in [0, 1], else min-max scaled over the whole set.

    Returns
    -------
    scaled : ndarray of float32
    how : str
        What was done, e.g. ``"8-bit values divided by 255"``.
    value_range : tuple of float
        ``(low, high)``: the raw values that became 0 and 1, i.e.
        ``scaled = (raw - low) / (high - low)``.
    """
    images = np.asarray(images, dtype=np.float32)
    if all_uint8:
        return images / 255.0, "8-bit values divided by 255", (0.0, 255.0)
    low, high = float(images.min()), float(images.max())
    if low >= 0.0 and high <= 1.0:
        return images, "values already in [0, 1]", (0.0, 1.0)
    span = high - low if high > low else 1.0
    return ((images - low) / span, f"values min-max scaled from [{low:.4g}, {high:.4g}]",
            (low, low + span))


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


def load_images(path, *, resize=None):
    """Load a folder of PNG, TIFF and JPEG images, or one multi-page TIFF, as one stack.

    This is what ``skae explore FOLDER`` reads. Every ``.png``, ``.tif``, ``.tiff``,
    ``.jpg`` and ``.jpeg`` file under ``path`` is read, subfolders too, in sorted order.
    Each page of a TIFF is one item: a z-stack or time series of 40 planes gives 40
    images. Nothing in a file can run code, and nothing outside ``path`` is read.

    Parameters
    ----------
    path : str or path-like
        A folder, or a single image file (its pages, for a multi-page TIFF).
    resize : tuple of int, default=None
        ``(height, width)`` to bring every image to (bilinear, anti-aliased). Without it,
        all images must have one size.

    Returns
    -------
    bunch : :class:`~sklearn.utils.Bunch`
        With the fields (named as in skae's other loaders and
        :func:`sklearn.datasets.load_sample_images`):

        images : ndarray of float32, shape (n, H, W) or (n, 3, H, W)
            The images with values in [0, 1]: ``(n, H, W)`` if all are grayscale;
            ``(n, 3, H, W)`` if any is in colour (the gray ones repeated into 3
            channels). If every image is 8-bit, values are divided by 255; otherwise
            (16-bit, 32-bit or float images among them) they are kept if already in
            [0, 1], else min-max scaled over the whole set (one scale for all, so the
            images stay comparable).
        ids : list of str
            One per item: the file's path relative to the folder (``"a/b.png"``), with
            the page number in brackets for the pages of a multi-page TIFF
            (``"stack.tif[0]"``, ``"stack.tif[1]"``, ...). For a single file, its name.
        filenames : list of str
            The absolute path of each item's file.
        page : ndarray of int
            Each item's page within its file (0 for a single-image file; thumbnails
            and other reduced-resolution pages are not counted).
        scaling : str
            How the values were scaled, e.g. ``"8-bit values divided by 255"`` or
            ``"values min-max scaled from [0, 4095]"``.
        value_range : tuple of float
            ``(low, high)``: the stored values that became 0 and 1, so that
            ``images = (stored - low) / (high - low)``.
        DESCR : str
            One sentence on what was read and how it was scaled.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If there are no images, some cannot be read (all of them are named in one
        message), a float image holds NaN or infinite values, or the sizes differ
        without ``resize``.

    See Also
    --------
    load_fashion_mnist_subset : Bundled images, ready to use.

    Notes
    -----
    **Colour.** Gray images with alpha lose the alpha; RGBA images lose the alpha and
    become RGB (the colours as stored, not composited over a background). RGB images
    whose three channels are equal count as grayscale. TIFFs with other samples per pixel
    (e.g. 5-band multispectral pages) are reported as unreadable.

    **TIFF.** Read with tifffile, as stored: a MinIsWhite TIFF is not inverted (as in
    ImageJ). Reduced-resolution pages (thumbnails, pyramid levels) and transparency masks
    are left out. Palette, CMYK, YCbCr and CIELab TIFFs, and LZW, JPEG or fax compressed
    ones when the ``imagecodecs`` package is absent, are read with Pillow instead.

    **Safety.** Hidden files and folders (a name starting with ``"."``) are left out, and
    so are symbolic links that lead outside the folder (with a warning). Pillow opens
    ``.png`` and ``.jpg`` files as PNG or JPEG only (so an EPS file under such a name, which
    would run Ghostscript, is unreadable), and TIFFs as TIFF only. As Pillow
    does, images of over ``PIL.Image.MAX_IMAGE_PIXELS`` pixels are refused as possible
    decompression bombs, and so are TIFFs that would decode to over that many pixels in
    all at over 1000 times their file size.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import tifffile
    >>> from skae.datasets import load_images
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = Path(tmp.name)
    >>> stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5) * 100
    >>> tifffile.imwrite(folder / "stack.tif", stack, photometric="minisblack")
    >>> tifffile.imwrite(folder / "single.tif", stack[0], photometric="minisblack")
    >>> bunch = load_images(folder)
    >>> bunch.images.shape, bunch.images.dtype.name
    ((4, 4, 5), 'float32')
    >>> bunch.ids
    ['single.tif', 'stack.tif[0]', 'stack.tif[1]', 'stack.tif[2]']
    >>> bunch.scaling
    'values min-max scaled from [0, 5900]'
    >>> float(bunch.images.min()), float(bunch.images.max())
    (0.0, 1.0)
    >>> tmp.cleanup()
    """
    from PIL import Image

    path = Path(path)
    resize = _check_resize(resize)
    if path.is_dir():
        root, files = path, _image_files(path)
        if not files:
            raise ImageLoadError(
                f"No images found in folder '{path}': looked for "
                f"{', '.join(IMAGE_SUFFIXES)} files, also in subfolders.", kind="no_images")
    elif not path.exists():
        raise FileNotFoundError(f"'{path}' does not exist.")
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        root, files = path.parent, [path]
    else:
        raise ImageLoadError(f"'{path}' is neither a folder nor an image file "
                             f"({', '.join(IMAGE_SUFFIXES)}).", kind="no_images")
    where = f"in '{path}'"
    arrays, colour, ids, filenames, pages, bad, not_finite = [], [], [], [], [], [], []
    for file in files:
        relative = str(file.relative_to(root))
        try:
            planes = _read_file(file)
            if not planes:
                raise ValueError("it holds no image")
        except (*_READ_ERRORS, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            bad.append(f"{relative} ({type(exc).__name__}: {exc})")
            continue
        count = sum(int(np.count_nonzero(~np.isfinite(a))) for a, _ in planes
                    if a.dtype.kind == "f")
        if count:
            not_finite.append(f"{relative} ({count} value(s))")
        for index, (array, is_colour) in enumerate(planes):
            arrays.append(array)
            colour.append(is_colour)
            ids.append(relative if len(planes) == 1 else f"{relative}[{index}]")
            filenames.append(os.path.abspath(file))
            pages.append(index)
    if bad:
        raise ImageLoadError(
            f"Cannot read {len(bad)} of {len(files)} image file(s) {where}: "
            f"{_first(bad)}.", "Fix or remove them and run again.")
    if not_finite:
        raise ImageLoadError(
            f"{len(not_finite)} image file(s) {where} hold NaN or infinite values: "
            f"{_first(not_finite)}.", "Fill or remove those values first.", "not_finite")
    any_colour = any(colour)
    if any_colour:  # one layout for all: gray images repeated into 3 channels
        arrays = [a if c else np.repeat(a[None], 3, axis=0) for a, c in zip(arrays, colour)]
    all_uint8 = all(a.dtype == np.uint8 for a in arrays)
    sizes = {}
    for item, array in zip(ids, arrays):
        sizes.setdefault(array.shape[-2:], []).append(item)
    if resize is not None:
        arrays = [resize_images(a.astype(np.float32)[None], resize)[0] for a in arrays]
    elif len(sizes) > 1:
        parts = [f"{len(v)} of {h}x{w} pixels (e.g. {v[0]})"
                 for (h, w), v in sorted(sizes.items(), key=lambda kv: -len(kv[1]))]
        raise ImageLoadError(
            f"The images {where} have {len(sizes)} different sizes: "
            + "; ".join(parts[:4]) + ".", _RESIZE_REMEDY, "sizes")
    images, how, value_range = scale_images(np.stack(arrays), all_uint8)
    kind = "RGB" if any_colour else "grayscale"
    shape = "x".join(str(s) for s in images.shape[-2:])
    resized = " (resized)" if resize is not None else ""
    source = f"folder '{path}'" if path.is_dir() else f"file '{path}'"
    if len(ids) != len(files):
        source = f"{len(files)} file(s) in {source}" if path.is_dir() else source
    description = (f"{len(ids)} {kind} images of {shape} pixels{resized} from {source}; "
                   f"{how}.")
    return Bunch(images=images, ids=ids, filenames=filenames, page=np.asarray(pages),
                 scaling=how, value_range=value_range, DESCR=description)


def _first(entries, n=3):
    """The first ``n`` entries joined, and how many more there are."""
    more = f"; and {len(entries) - n} more" if len(entries) > n else ""
    return "; ".join(entries[:n]) + more


def _check_resize(resize):
    if resize is None:
        return None
    try:
        height, width = (int(s) for s in resize)
        valid = height >= 1 and width >= 1 and tuple(resize) == (height, width)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"resize must be (height, width), two positive integers; got "
                         f"{resize!r}.")
    return height, width


def _image_files(folder):
    """Image files under ``folder``, sorted; hidden ones (a name part starting with ".")
    are left out, and so are symbolic links that lead outside ``folder`` (with a
    warning): nothing is read but what lies in the folder given."""
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
        warnings.warn(f"skipped {len(outside)} symbolic link(s) in '{folder}' that lead "
                      f"outside it: {_first(sorted(outside))}.", UserWarning, stacklevel=3)
    return sorted(files)


def _read_file(file):
    """The images of one file, one ``(array, is_colour)`` per page: gray ``(H, W)`` or
    colour ``(3, H, W)``, in the stored dtype."""
    if file.suffix.lower() in TIFF_SUFFIXES:
        planes = _read_tiff(file)
        return planes if planes is not None else _read_pil(file, ("TIFF",), all_pages=True)
    return _read_pil(file, _PIL_FORMATS, all_pages=False)


def _refuse_bombs(plane_pixels, total_pixels, total_bytes, file_size):
    """Pillow's guard against decompression bombs, for every page and the whole file."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit is None:
        return
    if plane_pixels > limit:
        raise Image.DecompressionBombError(
            f"Image size ({plane_pixels} pixels) exceeds limit of {limit} pixels, could be "
            "decompression bomb DOS attack.")
    if total_pixels > limit and total_bytes > _MAX_RATIO * max(file_size, 1):
        raise Image.DecompressionBombError(
            f"{total_pixels} pixels in all ({total_bytes} bytes) from a file of "
            f"{file_size} bytes, could be decompression bomb DOS attack.")


def _read_tiff(file):
    """A TIFF's pages with tifffile, or None where Pillow must read it."""
    import tifffile

    with tifffile.TiffFile(file) as tif:
        # Reduced-resolution pages (1) and transparency masks (4) are no images of their
        # own. Pages only: series could gather pages from other files (OME, MMStack).
        pages = [p for p in tif.pages if not p.subfiletype & 5]
        if any(p.photometric not in _TIFF_PHOTOMETRICS
               or p.compression not in tifffile.TIFF.DECOMPRESSORS for p in pages):
            return None
        total_pixels = total_bytes = 0
        for page in pages:
            total_pixels += page.size
            total_bytes += page.nbytes
            _refuse_bombs(page.imagewidth * page.imagelength, total_pixels, total_bytes,
                          tif.filehandle.size)
        return [plane for page in pages for plane in _tiff_planes(page)]


def _tiff_planes(page):
    """One TIFF page as ``(array, is_colour)`` planes (more than one for a volume)."""
    array, axes = page.asarray(), page.axes
    if array.dtype.kind not in "biuf":
        raise ValueError(f"pixels of dtype {array.dtype}; skae reads real numbers")
    if "S" in axes:
        array = np.moveaxis(array, axes.index("S"), -1)
    else:
        array = array[..., None]
    samples = array.shape[-1]
    array = array.reshape(-1, *array.shape[-3:])  # (planes, H, W, samples)
    if page.photometric == 2 and samples in (3, 4):  # RGB, RGBA (alpha dropped)
        return [_gray_or_colour(np.moveaxis(p[..., :3], -1, 0)) for p in array]
    if page.photometric != 2 and samples in (1, 2):  # gray, gray + alpha (dropped)
        return [(p[..., 0], False) for p in array]
    raise ValueError(f"{samples} samples per pixel; skae reads gray, gray with alpha, "
                     "RGB and RGBA images")


def _gray_or_colour(rgb):
    """``(3, H, W)`` -> ``(array, is_colour)``: gray stored as RGB gives ``(H, W)``."""
    if np.array_equal(rgb[0], rgb[1]) and np.array_equal(rgb[1], rgb[2]):
        return rgb[0], False
    return rgb, True


def _read_pil(file, formats, all_pages):
    """A file's pages with Pillow (the first only unless ``all_pages``)."""
    from PIL import Image

    planes, total_pixels, file_size = [], 0, file.stat().st_size
    with warnings.catch_warnings():
        # Images of over Image.MAX_IMAGE_PIXELS pixels (PIL's guard against
        # decompression bombs) are refused, not just warned about.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(file, formats=formats) as image:
            for index in range(getattr(image, "n_frames", 1) if all_pages else 1):
                image.seek(index)
                pixels = image.size[0] * image.size[1]
                total_pixels += pixels
                _refuse_bombs(pixels, total_pixels, 4 * total_pixels, file_size)
                image.load()
                planes.append(_pil_to_array(image))
    return planes


def _pil_to_array(image):
    """PIL image -> (array, is_colour): gray as (H, W), colour as (3, H, W)."""
    if image.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return np.asarray(image), False
    if image.mode == "LA":
        return np.asarray(image.convert("L")), False
    return _gray_or_colour(np.moveaxis(np.asarray(image.convert("RGB")), -1, 0))
