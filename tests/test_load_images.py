"""``skae.datasets.load_images``: image folders and scientific TIFFs (16-bit, float,
multi-page), and the CLI reading them through it."""

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from skae.cli import main
from skae.cli._loaders import InputError, load_input
from skae.datasets import _images, load_images

FAST = ["--epochs", "2", "--latent-dim", "4", "--quiet", "--device", "cpu"]


def _gray(shape=(8, 10), seed=0, dtype=np.uint8, high=255):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.random(shape) * high).astype(dtype)
    return rng.integers(0, high + 1, shape).astype(dtype)


def _tiff(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("photometric", "minisblack")
    tifffile.imwrite(path, array, **kwargs)
    return path


def _pages(path, stack):
    """One page per plane, whatever the shape (``imwrite`` takes a trailing 1 for a
    samples axis)."""
    with tifffile.TiffWriter(path) as tif:
        for plane in stack:
            tif.write(plane, photometric="minisblack", contiguous=False)
    return path


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _snapshot(folder):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


# ----------------------------------------------------------------------------- the Bunch
def test_bunch_fields_for_8bit_pngs(tmp_path):
    arrays = [_gray(seed=i) for i in range(3)]
    for i, array in enumerate(arrays):
        _png(tmp_path / "sub" / f"img_{i}.png", array)
    bunch = load_images(tmp_path)
    assert set(bunch) == {"images", "ids", "filenames", "page", "scaling", "value_range",
                           "DESCR"}
    assert bunch.images.dtype == np.float32 and bunch.images.shape == (3, 8, 10)
    np.testing.assert_allclose(bunch.images, np.stack(arrays) / 255, rtol=1e-6)
    assert bunch.ids == [os.path.join("sub", f"img_{i}.png") for i in range(3)]
    assert bunch.filenames == [str((tmp_path / i).resolve()) for i in bunch.ids]
    assert all(os.path.isabs(f) for f in bunch.filenames)
    assert bunch.page.tolist() == [0, 0, 0]
    assert bunch.scaling == "8-bit values divided by 255"
    assert bunch.value_range == (0.0, 255.0)
    assert bunch.DESCR == (f"3 grayscale images of 8x10 pixels from folder "
                                  f"'{tmp_path}'; 8-bit values divided by 255.")


def test_uint16_tiffs_are_min_max_scaled_over_the_whole_set(tmp_path):
    low = _gray(seed=1, dtype=np.uint16, high=1000)
    high = _gray(seed=2, dtype=np.uint16, high=4000) + 100
    _tiff(tmp_path / "a.tif", low)
    _tiff(tmp_path / "b.tiff", high)
    bunch = load_images(tmp_path)
    lo, hi = float(min(low.min(), high.min())), float(max(low.max(), high.max()))
    assert bunch.value_range == (lo, hi)
    np.testing.assert_allclose(bunch.images, (np.stack([low, high]) - lo) / (hi - lo),
                               atol=1e-6)
    assert bunch.images.min() == 0 and bunch.images.max() == 1
    assert bunch.scaling == f"values min-max scaled from [{lo:.4g}, {hi:.4g}]"
    assert bunch.ids == ["a.tif", "b.tiff"]


def test_float32_tiffs_in_unit_range_are_kept_others_min_max_scaled(tmp_path):
    inside = _gray(seed=3, dtype=np.float32, high=1.0)
    _tiff(tmp_path / "in" / "a.tif", inside)
    bunch = load_images(tmp_path / "in")
    np.testing.assert_array_equal(bunch.images[0], inside)
    assert bunch.scaling == "values already in [0, 1]" and bunch.value_range == (0, 1)

    _tiff(tmp_path / "out" / "a.tif", inside * 50 - 20)
    bunch = load_images(tmp_path / "out")
    assert bunch.images.min() == 0 and bunch.images.max() == pytest.approx(1)
    assert bunch.scaling.startswith("values min-max scaled from [-")


@settings(max_examples=15, deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.uint16, np.float32]),
       n_pages=st.integers(1, 4), height=st.integers(1, 9), width=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_any_dtype_and_shape_round_trips(dtype, n_pages, height, width, seed):
    high = {np.uint8: 255, np.uint16: 65535, np.float32: 1000.0}[dtype]
    raw = _gray((n_pages, height, width), seed, dtype, high)
    with tempfile.TemporaryDirectory() as folder:
        _pages(Path(folder) / "stack.tif", raw)
        bunch = load_images(folder)
    assert bunch.images.dtype == np.float32
    assert bunch.images.shape == (n_pages, height, width)
    assert 0 <= bunch.images.min() and bunch.images.max() <= 1
    low, high = bunch.value_range
    np.testing.assert_allclose(bunch.images, (raw.astype(np.float64) - low) / (high - low),
                               atol=1e-5)
    assert (dtype == np.uint8) == (bunch.scaling == "8-bit values divided by 255")
    expected = ["stack.tif"] if n_pages == 1 else [f"stack.tif[{i}]" for i in range(n_pages)]
    assert bunch.ids == expected
    assert bunch.page.tolist() == list(range(n_pages))


# ----------------------------------------------------------------------------- pages
def test_multi_page_tiff_gives_one_item_per_page(tmp_path):
    stack = _gray((5, 6, 7), dtype=np.uint16, high=60000)
    _tiff(tmp_path / "z" / "stack.tif", stack)
    _tiff(tmp_path / "one.tif", stack[0])
    bunch = load_images(tmp_path)
    assert bunch.ids == ["one.tif"] + [os.path.join("z", f"stack.tif[{i}]") for i in range(5)]
    assert bunch.page.tolist() == [0, 0, 1, 2, 3, 4]
    assert bunch.filenames[1:] == [str(tmp_path / "z" / "stack.tif")] * 5
    low, high = bunch.value_range
    np.testing.assert_allclose(bunch.images[1:] * (high - low) + low, stack, atol=0.01)
    assert "6 grayscale images of 6x7 pixels from 2 file(s) in folder" in bunch.DESCR


def test_a_single_tiff_file_is_read_page_by_page(tmp_path):
    stack = _gray((3, 4, 4), dtype=np.uint16, high=900)
    path = _tiff(tmp_path / "stack.tif", stack)
    bunch = load_images(path)
    assert bunch.ids == ["stack.tif[0]", "stack.tif[1]", "stack.tif[2]"]
    assert bunch.DESCR.startswith(f"3 grayscale images of 4x4 pixels from file "
                                          f"'{path}'")
    assert load_input(path).ids == bunch.ids


def test_reduced_resolution_pages_are_left_out(tmp_path):
    with tifffile.TiffWriter(tmp_path / "pyramid.tif") as tif:
        tif.write(_gray((16, 16)), photometric="minisblack")
        tif.write(_gray((8, 8)), photometric="minisblack", subfiletype=1)  # a thumbnail
        tif.write(_gray((16, 16), seed=1), photometric="minisblack")
    assert load_images(tmp_path).ids == ["pyramid.tif[0]", "pyramid.tif[1]"]


# ----------------------------------------------------------------------------- sizes, colour
def test_mixed_sizes_need_resize(tmp_path):
    for i in range(3):
        _tiff(tmp_path / f"small_{i}.tif", _gray((8, 8), i, np.uint16, 999))
    _tiff(tmp_path / "big.tif", _gray((12, 20), dtype=np.uint16, high=999))
    with pytest.raises(ValueError, match="2 different sizes") as info:
        load_images(tmp_path)
    message = str(info.value)
    assert "3 of 8x8 pixels" in message and "big.tif" in message and "resize=" in message
    assert info.value.kind == "sizes"
    with pytest.raises(InputError, match="--resize HEIGHT WIDTH") as info:
        load_input(tmp_path)
    assert "resize=(" not in str(info.value)

    resize = [10, 6]
    bunch = load_images(tmp_path, resize=resize)
    assert resize == [10, 6]  # not modified
    assert bunch.images.shape == (4, 10, 6)
    assert "(resized)" in bunch.DESCR
    assert 0 <= bunch.images.min() and bunch.images.max() <= 1


@pytest.mark.parametrize("resize", [(0, 4), (4,), "ab", (2.5, 3), 7])
def test_bad_resize(tmp_path, resize):
    _png(tmp_path / "a.png", _gray())
    with pytest.raises(ValueError, match="resize must be"):
        load_images(tmp_path, resize=resize)


def test_rgb_and_gray_mixed_give_3_channels(tmp_path):
    gray = _gray((6, 6))
    rgb = np.stack([gray, gray // 2, 255 - gray], axis=-1)
    _png(tmp_path / "a_gray.png", gray)
    _png(tmp_path / "b_rgb.png", rgb)
    _tiff(tmp_path / "c_rgb.tif", rgb, photometric="rgb")
    _tiff(tmp_path / "d_planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb",
          planarconfig="separate")
    _tiff(tmp_path / "e_rgba.tif", np.concatenate([rgb, gray[..., None]], -1),
          photometric="rgb")
    _tiff(tmp_path / "f_gray_as_rgb.tif", np.stack([gray] * 3, -1), photometric="rgb")
    bunch = load_images(tmp_path)
    assert bunch.images.shape == (6, 3, 6, 6)
    expected = np.moveaxis(rgb, -1, 0) / 255
    for i in (1, 2, 3, 4):  # RGBA: the alpha is dropped
        np.testing.assert_allclose(bunch.images[i], expected, rtol=1e-6)
    for i in (0, 5):  # gray repeated into the 3 channels
        np.testing.assert_allclose(bunch.images[i], np.stack([gray / 255] * 3), rtol=1e-6)
    assert bunch.DESCR.startswith("6 RGB images")


def test_gray_stored_as_rgb_and_gray_alpha_stay_gray(tmp_path):
    gray = _gray((5, 5))
    _tiff(tmp_path / "a.tif", np.stack([gray] * 3, -1), photometric="rgb")
    _tiff(tmp_path / "b.tif", np.stack([gray, 255 - gray], -1), extrasamples=["unassalpha"])
    bunch = load_images(tmp_path)
    assert bunch.images.shape == (2, 5, 5)
    np.testing.assert_allclose(bunch.images, np.stack([gray, gray]) / 255, rtol=1e-6)


def test_tiffs_are_read_as_stored(tmp_path):
    mask = _gray((6, 6), dtype=np.uint8, high=3)
    _tiff(tmp_path / "mask.tif", mask, photometric="miniswhite")  # not inverted
    _tiff(tmp_path / "other.tif", mask[::-1], photometric="minisblack")
    np.testing.assert_allclose(load_images(tmp_path).images[0], mask / 255, rtol=1e-6)


def test_pillow_reads_what_tifffile_cannot(tmp_path):
    gray = _gray((8, 8))
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    frames[0].save(tmp_path / "lzw.tif", compression="tiff_lzw", save_all=True,
                   append_images=frames[1:])  # LZW: Pillow unless imagecodecs is there
    Image.fromarray(gray).convert("P").save(tmp_path / "palette.tif")  # tifffile: indices
    bunch = load_images(tmp_path)
    assert bunch.ids == ["lzw.tif[0]", "lzw.tif[1]", "palette.tif"]
    np.testing.assert_allclose(bunch.images[:2], np.stack([gray, 255 - gray]) / 255,
                               rtol=1e-6)


# ----------------------------------------------------------------------------- safety
def test_hidden_files_and_outside_symlinks_are_skipped(tmp_path):
    folder = tmp_path / "images"
    for i in range(3):
        _tiff(folder / f"img_{i}.tif", _gray(seed=i, dtype=np.uint16, high=999))
    _tiff(folder / ".hidden.tif", _gray(dtype=np.uint16, high=5))
    _tiff(folder / ".cache" / "img.tif", _gray(dtype=np.uint16, high=5))
    secret = _tiff(tmp_path / "secret" / "s.tif", _gray(dtype=np.uint16, high=5))
    (folder / "leak.tif").symlink_to(secret)
    (folder / "all").symlink_to(secret.parent, target_is_directory=True)
    (folder / "inside.tif").symlink_to(folder / "img_0.tif")
    with pytest.warns(UserWarning, match="1 symbolic link") as record:
        bunch = load_images(folder)
    assert "leak.tif" in str(record[0].message) and "outside" in str(record[0].message)
    assert bunch.ids == ["img_0.tif", "img_1.tif", "img_2.tif", "inside.tif"]  # not all/
    assert bunch.filenames[-1] == str(folder / "inside.tif")


def test_cli_prints_the_skipped_links_as_its_warning(tmp_path, capsys):
    folder = tmp_path / "images"
    for i in range(2):
        _png(folder / f"img_{i}.png", _gray(seed=i))
    (folder / "leak.png").symlink_to(_png(tmp_path / "s.png", _gray()))
    assert load_input(folder).ids == ["img_0.png", "img_1.png"]
    err = capsys.readouterr().err
    assert err.startswith("skae: warning: skipped 1 symbolic link") and "leak.png" in err


def test_unreadable_files_are_named_together(tmp_path):
    for i in range(2):
        _tiff(tmp_path / f"img_{i}.tif", _gray(seed=i))
    (tmp_path / "bad.tif").write_bytes(b"not a tiff at all")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but broken")
    _tiff(tmp_path / "bands.tif", _gray((4, 4, 5)), photometric="minisblack",
          planarconfig="contig")
    with pytest.raises(ValueError, match=r"Cannot read \d of \d image file") as info:
        load_images(tmp_path)
    message = str(info.value)
    assert "bad.tif" in message and "bad.png" in message and "img_0" not in message
    assert info.value.kind == "unreadable"
    with pytest.raises(InputError, match="bad.tif"):
        load_input(tmp_path)


def test_several_samples_per_pixel_are_refused(tmp_path):
    with tifffile.TiffWriter(tmp_path / "bands.tif") as tif:
        tif.write(_gray((4, 4, 5)), photometric="rgb", planarconfig="contig",
                  extrasamples=["unspecified"] * 2)
    _png(tmp_path / "ok.png", _gray((4, 4)))
    with pytest.raises(ValueError, match="bands.tif .*5 samples per pixel"):
        load_images(tmp_path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_or_inf_in_a_float_tiff(tmp_path, bad_value):
    image = _gray(dtype=np.float32, high=1.0)
    _tiff(tmp_path / "good.tif", image)
    image[2, 3] = image[0, 0] = bad_value
    _tiff(tmp_path / "broken.tif", image)
    with pytest.raises(ValueError, match=r"broken.tif \(2 value") as info:
        load_images(tmp_path)
    assert "NaN or infinite" in str(info.value) and "good.tif" not in str(info.value)
    assert info.value.kind == "not_finite"


def test_decompression_bombs_are_refused(tmp_path, monkeypatch):
    _tiff(tmp_path / "big.tif", _gray((20, 20)))
    _png(tmp_path / "big.png", _gray((20, 20)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match="Cannot read 2 of 2") as info:
        load_images(tmp_path)
    assert str(info.value).count("DecompressionBomb") == 2


def test_a_small_file_that_decodes_to_much_is_refused(tmp_path, monkeypatch):
    _tiff(tmp_path / "zeros.tif", np.zeros((40, 16, 16), np.uint16), compression="zlib")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16 * 16 * 4)
    assert len(load_images(tmp_path).ids) == 40  # 40 pages of a small file: well packed
    monkeypatch.setattr(_images, "_MAX_RATIO", 2)
    with pytest.raises(ValueError, match="zeros.tif .*decompression bomb"):
        load_images(tmp_path)


def test_no_pillow_plugin_that_runs_a_program(tmp_path):
    # An EPS file would make Pillow call Ghostscript; named .png, it is not an image.
    (tmp_path / "trap.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")
    with pytest.raises(ValueError, match="trap.png .*UnidentifiedImageError"):
        load_images(tmp_path)


def test_nothing_given_is_modified(tmp_path):
    _tiff(tmp_path / "stack.tif", _gray((3, 8, 8), dtype=np.uint16, high=999))
    _png(tmp_path / "a" / "b.png", _gray((5, 5)))
    before = _snapshot(tmp_path)
    resize = (8, 8)
    load_images(str(tmp_path), resize=resize)
    assert resize == (8, 8) and _snapshot(tmp_path) == before


def test_paths_that_are_no_image_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="No images found"):
        load_images(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="neither a folder nor an image file"):
        load_images(tmp_path / "notes.txt")


# ----------------------------------------------------------------------------- the CLI
def _stack16(n=12, size=12, seed=0):
    """uint16 microscopy-like frames: blobs of varying brightness on a dark background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    blobs = [np.exp(-((yy - rng.uniform(3, 9)) ** 2 + (xx - rng.uniform(3, 9)) ** 2) / 6)
             for _ in range(n)]
    return np.stack([(400 + 3000 * b * rng.uniform(0.5, 1)).astype(np.uint16)
                     for b in blobs])


def test_load_input_on_16bit_tiffs(tmp_path):
    frames = _stack16(4)
    for i, frame in enumerate(frames):
        _tiff(tmp_path / f"f_{i}.tif", frame)
    data = load_input(tmp_path)
    assert data.is_image and data.X.shape == (4, 12, 12) and data.X.dtype == np.float32
    assert data.ids == [f"f_{i}.tif" for i in range(4)]
    assert "values min-max scaled from" in data.description
    assert data.X.min() == 0 and data.X.max() == 1


def test_cli_needs_two_images(tmp_path):
    path = _tiff(tmp_path / "one.tif", _gray(dtype=np.uint16, high=9))
    with pytest.raises(InputError, match="holds 1 image"):
        load_input(path)


def test_explore_a_folder_of_16bit_tiffs(tmp_path, capsys):
    folder = tmp_path / "tiffs"
    _tiff(folder / "stack.tif", _stack16(10))
    for i, frame in enumerate(_stack16(2, seed=1)):
        _tiff(folder / f"single_{i}.tif", frame)
    out = tmp_path / "out"
    code = main(["explore", str(folder), "--output", str(out), "--map", "pca", *FAST])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "results.csv")
    assert sorted(table["id"]) == sorted(["single_0.tif", "single_1.tif"]
                                         + [f"stack.tif[{i}]" for i in range(10)])
    assert "12 grayscale images of 12x12 pixels from 3 file(s)" in (
        out / "report.html").read_text(encoding="utf-8")
