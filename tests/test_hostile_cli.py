"""``skae explore`` against hostile folders, files and timing: it never deletes or
overwrites what it did not write, Ctrl+C leaves the previous outputs, and every bad input
is one line on stderr with exit code 2."""

import csv
import os
import shutil
import signal
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skorch
from PIL import Image

from skae import cli
from skae.cli import MARKER, _explore, _output, main

FAST = ["--epochs", "1", "--latent-dim", "2", "--quiet", "--device", "cpu", "--map", "pca"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _write_images(folder, n=10, size=8, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = (rng.random((size, size)) * 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"img_{i:02d}.png")
    return folder


def _snapshot(folder):
    """Every file under ``folder`` (hidden ones too), byte for byte."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, *fragments, status=2):
    assert code == status, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """An input folder and the complete outputs of one earlier ``explore`` of it."""
    root = tmp_path_factory.mktemp("earlier")
    images = _write_images(root / "images")
    assert main(["explore", str(images), "--output", str(root / "out"), *FAST]) == 0
    return root


@pytest.fixture
def workspace(tmp_path, earlier_run):
    """A fresh copy of ``earlier_run``: (input folder, output folder, their snapshot)."""
    shutil.copytree(earlier_run, tmp_path, dirs_exist_ok=True)
    return tmp_path / "images", tmp_path / "out", _snapshot(tmp_path)


# ----------------------------------------------------------------------------- --overwrite
def test_overwrite_refuses_output_equal_to_input(workspace, capsys):
    images, _, before = workspace
    code, _, err = _run(["explore", images, "--output", images, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "contains the input")
    assert _snapshot(images.parent) == before


def test_overwrite_refuses_output_inside_input(workspace, capsys):
    images, _, _ = workspace
    _write_images(images / "sub", n=3, seed=1)  # a subfolder of input images
    before = _snapshot(images.parent)
    for output in (images / "sub", images / "new"):
        code, _, err = _run(["explore", images, "--output", output, "--overwrite", *FAST],
                            capsys)
        _one_line_error(code, err, "lies inside the input")
    assert _snapshot(images.parent) == before
    assert not (images / "new").exists()


def test_overwrite_refuses_output_containing_input(workspace, capsys):
    images, _, before = workspace
    code, _, err = _run(["explore", images, "--output", images.parent, "--overwrite", *FAST],
                        capsys)
    _one_line_error(code, err, "contains the input")
    assert _snapshot(images.parent) == before


def test_overwrite_refuses_output_containing_input_file(tmp_path, capsys):
    path = tmp_path / "stack.npy"
    np.save(path, np.random.default_rng(0).random((10, 8, 8)))
    before = _snapshot(tmp_path)
    code, _, err = _run(["explore", path, "--output", tmp_path, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "contains the input")
    code, _, err = _run(["explore", path, "--output", path, "--overwrite", *FAST], capsys)
    _one_line_error(code, err)
    assert _snapshot(tmp_path) == before


def test_overwrite_refuses_current_folder_holding_the_input(workspace, capsys, monkeypatch):
    images, _, before = workspace
    monkeypatch.chdir(images.parent)
    code, _, err = _run(["explore", "images", "--output", ".", "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "current folder")
    assert _snapshot(images.parent) == before


def test_overwrite_refuses_current_folder_and_its_parents(tmp_path, capsys, monkeypatch):
    images = _write_images(tmp_path / "elsewhere" / "images")
    here = tmp_path / "here"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    for output in (".", ".."):
        code, _, err = _run(["explore", images, "--output", output, "--overwrite", *FAST],
                            capsys)
        _one_line_error(code, err, "current folder")
    assert (here / "notes.txt").read_text() == "mine"


def test_overwrite_refuses_folder_that_skae_did_not_write(tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("my own results")
    (out / "thesis.tex").write_text("three years of work")
    before = _snapshot(out)
    code, _, err = _run(["explore", images, "--output", out, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "did not write", MARKER)
    assert _snapshot(out) == before


def test_overwrite_refuses_output_changed_since_skae_wrote_it(workspace, capsys):
    images, out, _ = workspace
    (out / "results.csv").write_text("edited by hand")
    before = _snapshot(out)
    code, _, err = _run(["explore", images, "--output", out, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "changed or replaced", "results.csv")
    assert _snapshot(out) == before


def test_foreign_file_in_output_folder_survives_overwrite(workspace, capsys):
    images, out, before = workspace
    (out / "notes.txt").write_text("my notes")
    victim = out.parent / "victim.txt"
    victim.write_text("outside")
    # A forged marker may name other files: skae still replaces only its own.
    marker = (out / MARKER).read_text()
    (out / MARKER).write_text(marker.replace('"files": {', '"files": {"notes.txt": "x", '
                                             '"../victim.txt": "y", '))
    code, _, err = _run(["explore", images, "--output", out, "--overwrite", *FAST], capsys)
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "my notes"
    assert victim.read_text() == "outside"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "notes.txt", "report.html", "results.csv"])
    assert _snapshot(images) == {k[len("images/"):]: v for k, v in before.items()
                                 if k.startswith("images/")}


# ----------------------------------------------------------------------------- atomic
def test_failed_write_leaves_no_partial_file(workspace, capsys, monkeypatch):
    images, out, before = workspace
    calls = []

    def full_disk(fd):
        calls.append(fd)
        if len(calls) == 2:  # results.csv staged; report.html half written
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli.os, "fsync", full_disk)
    code, _, err = _run(["explore", images, "--output", out, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "No space left on device")
    assert _snapshot(out.parent) == before  # no temporary file, old outputs intact


# ----------------------------------------------------------------------------- Ctrl+C
def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _ctrl_c(*args, **kwargs):
    signal.raise_signal(signal.SIGINT)  # what the terminal sends
    raise AssertionError("SIGINT did not interrupt")


@pytest.mark.parametrize("stage, target", [
    ("loading", (_explore, "load_input", _interrupt)),
    ("training", (skorch.NeuralNet, "run_single_epoch", _interrupt)),
    ("training (SIGINT)", (skorch.NeuralNet, "run_single_epoch", _ctrl_c)),
    ("scoring", (_explore, "map_and_cluster", _interrupt)),
    ("writing", (_output, "build_report", _ctrl_c)),
])
def test_ctrl_c_exits_130_and_keeps_previous_outputs(workspace, capsys, monkeypatch, stage,
                                                     target):
    images, out, before = workspace
    monkeypatch.setattr(*target)
    code, _, err = _run(["explore", images, "--output", out, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "interrupted", status=130)
    assert _snapshot(out.parent) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_ctrl_c_into_new_folder_leaves_nothing(tmp_path, capsys, monkeypatch):
    images = _write_images(tmp_path / "images")
    monkeypatch.setattr(skorch.NeuralNet, "run_single_epoch", _interrupt)
    code, _, err = _run(["explore", images, "--output", tmp_path / "a" / "b", *FAST], capsys)
    _one_line_error(code, err, "interrupted", status=130)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]


def test_ctrl_c_while_moving_outputs_finishes_the_moves(workspace, capsys, monkeypatch):
    images, out, before = workspace
    replace = os.replace

    def replace_then_ctrl_c(source, target):
        replace(source, target)
        signal.raise_signal(signal.SIGINT)  # deferred until every file is in place

    monkeypatch.setattr(cli.os, "replace", replace_then_ctrl_c)
    code, _, err = _run(["explore", images, "--output", out, "--overwrite", *FAST], capsys)
    monkeypatch.undo()
    _one_line_error(code, err, "interrupted", "written completely", status=130)
    # The new outputs are complete and consistent: the marker's digests match them, so
    # a further --overwrite accepts them as skae's own.
    cli.check_output_folder(out, True, images)
    assert sorted(_snapshot(out)) == sorted(name[len("out/"):] for name in before
                                            if name.startswith("out/"))


# ----------------------------------------------------------------------------- errors
def _png_header_only(path, width, height):
    """A few hundred bytes that claim to be a width x height PNG (a decompression bomb)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20_000, 10_000], ids=["over-2x-limit", "over-limit"])
def test_decompression_bomb_is_refused(tmp_path, capsys, side):
    images = _write_images(tmp_path / "images")
    _png_header_only(images / "bomb.png", side, side)
    code, _, err = _run(["explore", images, "--output", tmp_path / "out", *FAST], capsys)
    _one_line_error(code, err, "bomb.png", "DecompressionBomb")
    assert not (tmp_path / "out").exists()


def test_output_under_a_regular_file(tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    (tmp_path / "a_file").write_text("x")
    code, _, err = _run(["explore", images, "--output", tmp_path / "a_file" / "out", *FAST],
                        capsys)
    _one_line_error(code, err, "a_file", "not a folder")
    assert (tmp_path / "a_file").read_text() == "x"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("output", ["/proc/skae_out", "/proc", "/proc/self"])
def test_output_in_proc(tmp_path, capsys, output):
    images = _write_images(tmp_path / "images")
    code, _, err = _run(["explore", images, "--output", output, "--overwrite", *FAST], capsys)
    _one_line_error(code, err, "/proc")


def test_file_names_with_mathtext(tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    for name in ("$\\bad$.png", "$x^{$.png", "$\\frac{a}$.png"):
        shutil.copy(images / "img_00.png", images / name)
    out = tmp_path / "out"
    code, _, err = _run(["explore", images, "--output", out, *FAST], capsys)
    assert code == 0, err
    ids = pd.read_csv(out / "results.csv")["id"].tolist()
    assert "$\\bad$.png" in ids and "$x^{$.png" in ids


def test_column_names_with_mathtext(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(12, 3)), columns=["$\\bad$", "$x^{$", "ok"])
    frame.insert(0, "name", [f"$\\item{i}$" for i in range(12)])
    frame.to_csv(tmp_path / "table.csv", index=False)
    code, _, err = _run(["explore", tmp_path / "table.csv", "--id-column", "name", "--output",
                         tmp_path / "out", *FAST], capsys)
    assert code == 0, err


def test_hostile_metadata_columns_are_carried_safely(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(12, 2)), columns=["a", "b"])
    frame["<b>$x^{$</b>"] = ["<script>alert(1)</script>", "$\\bad$", "=cmd|' /C calc'!A0",
                            "plain"] * 3
    frame.to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "out"
    code, _, err = _run(["explore", tmp_path / "table.csv", "--output", out, *FAST], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "results.csv")
    column = table["<b>$x^{$</b>"].tolist()
    assert column[:4] == ["<script>alert(1)</script>", "$\\bad$", "'=cmd|' /C calc'!A0",
                          "plain"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<b>$x^{$</b>" not in page and "&lt;b&gt;$x^{$&lt;/b&gt;" in page
    assert "<script>alert" not in page


def test_symlink_leaving_the_input_is_skipped_with_a_warning(tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    secret = _write_images(tmp_path / "secret", n=1, seed=2) / "img_00.png"
    (images / "leak.png").symlink_to(secret)
    (images / "all_secrets").symlink_to(secret.parent, target_is_directory=True)
    (images / "inside.png").symlink_to(images / "img_00.png")  # stays inside: read
    out = tmp_path / "out"
    code, _, err = _run(["explore", images, "--output", out, *FAST], capsys)
    assert code == 0, err
    assert "warning" in err and "leak.png" in err and "outside" in err
    ids = pd.read_csv(out / "results.csv")["id"].tolist()
    assert "leak.png" not in ids and "inside.png" in ids
    assert not any("secret" in i or "all_secrets" in i for i in ids)


def test_formula_ids_are_neutralised(tmp_path, capsys):
    ids = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)", "\tab",
           "\rcr", "<script>alert(1)</script>", "plain"] + [f"s{i}" for i in range(4)]
    rng = np.random.default_rng(0)
    path = tmp_path / "table.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(["sample", "a", "b"])
        for i, values in zip(ids, rng.normal(size=(len(ids), 2))):
            writer.writerow([i, *values])
    out = tmp_path / "out"
    code, stdout, err = _run(["explore", path, "--id-column", "sample", "--output", out,
                              *FAST], capsys)
    assert code == 0, err
    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        written = [row[0] for row in csv.reader(fh)][1:]
    assert not [cell for cell in written if cell.startswith(TRIGGERS)]
    assert written[:4] == ["'" + i for i in ids[:4]]
    assert written[6:] == ids[6:]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "\r" not in stdout


def test_fifo_named_like_an_input_is_refused(tmp_path, capsys):
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs os.mkfifo")
    os.mkfifo(tmp_path / "table.csv")  # reading it would block forever
    code, _, err = _run(["explore", tmp_path / "table.csv", "--output", tmp_path / "out",
                         *FAST], capsys)
    _one_line_error(code, err, "not a regular file")


def test_unreadable_csv(tmp_path, capsys, monkeypatch):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n3,4\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(pd, "read_csv", denied)
    code, _, err = _run(["explore", path, "--output", tmp_path / "out", *FAST], capsys)
    _one_line_error(code, err, "Permission denied")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_unreadable_image_and_folder(tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    (images / "img_03.png").chmod(0)
    code, _, err = _run(["explore", images, "--output", tmp_path / "out", *FAST], capsys)
    _one_line_error(code, err, "img_03.png")
    (images / "img_03.png").chmod(0o644)
    images.chmod(0)
    try:
        code, _, err = _run(["explore", images, "--output", tmp_path / "out", *FAST], capsys)
        _one_line_error(code, err)
    finally:
        images.chmod(0o755)


def test_file_name_with_newline_gives_one_line(tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    (images / "evil\n\x1b[2Jname.png").write_bytes(b"not an image")
    code, _, err = _run(["explore", images, "--output", tmp_path / "out", *FAST], capsys)
    _one_line_error(code, err, "Cannot read 1 of 11", "evil\\n\\x1b[2Jname.png")
