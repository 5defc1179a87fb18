"""``skae explore`` and ``skae demo``, run in-process through ``main([...])``."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skae import cli
from skae.cli import _output, main

FAST = ["--epochs", "2", "--latent-dim", "4", "--quiet", "--device", "cpu"]
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


def _shapes(n, size=16, seed=0):
    """Gray images of two kinds (bars, blobs) and one odd large square (last), uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = []
    for i in range(n):
        if i == n - 1:
            image = ((np.abs(yy - size / 2) < 6) & (np.abs(xx - size / 2) < 6)) * 1.0
        elif i % 2:
            image = (np.abs(xx - size / 2 - rng.integers(-2, 3)) < 2) * 0.9
        else:
            image = np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / rng.uniform(6, 12))
        image = np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1)
        images.append((255 * image).astype(np.uint8))
    return np.stack(images)


def _write_pngs(folder, images, mode="L"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        if mode == "RGB":
            image = np.stack([image, image // 2, 255 - image], axis=-1)
        Image.fromarray(image, mode=mode).save(folder / f"img_{i:03d}.png")
    return folder


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _check_outputs(folder, n_items, ids=None, latent_dim=4, metadata=(),
                   parts=("reconstruction", "latent")):
    table = pd.read_csv(folder / "results.csv")
    assert len(table) == n_items
    parts = [f"score_part_{p}" for p in parts]
    expected = ["id", *metadata, "cluster", "anomaly_score", "anomaly_rank", *parts,
                "reconstruction_error", "map_x", "map_y"] + [f"code_{j}" for j in
                                                             range(latent_dim)]
    assert list(table.columns) == expected
    assert np.isfinite(table.drop(columns=["id", *metadata]).to_numpy()).all()
    # anomaly_score (higher = more unusual) is the mean of its parts.
    np.testing.assert_allclose(table[parts].mean(axis=1), table["anomaly_score"],
                               rtol=1e-4, atol=1e-4)
    assert sorted(table["anomaly_rank"]) == list(range(1, n_items + 1))
    if ids is not None:
        assert table["id"].astype(str).tolist() == ids
    page = (folder / "report.html").read_text(encoding="utf-8")
    # The page's own <img> tags, not strings inside its inlined JavaScript.
    markup = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
    sources = re.findall(r'<img src="([^"]+)"', markup)
    assert len(sources) >= 6
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    # Self-contained: nothing is fetched (inlined JavaScript may mention URLs as text).
    assert not re.search(r"""<(script|img|link|iframe)\b[^>]*\b(src|href)=["']?(https?:)?//""",
                         markup)
    assert not re.search(r"<script\b[^>]*\bsrc=", page)  # every script inlined
    return table, page


# ---------------------------------------------------------------------------- explore
def test_explore_png_folder(tmp_path, capsys):
    images = _shapes(30)
    folder = _write_pngs(tmp_path / "pngs", images)
    out = tmp_path / "result"
    code, stdout, err = _run(["explore", folder, "--output", out, "--map", "pca", *FAST],
                             capsys)
    assert code == 0, err
    ids = [f"img_{i:03d}.png" for i in range(30)]
    table, page = _check_outputs(out, 30, ids)
    assert "30 grayscale images of 16x16 pixels" in page
    assert "Wrote" in stdout
    # Nothing but the two outputs and the marker, and no temporary file left behind.
    assert sorted(p.name for p in out.iterdir()) == [cli.MARKER, "report.html",
                                                     "results.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs", "result"]


def test_explore_npy_with_umap_into_existing_folder(tmp_path, capsys):
    images = _shapes(40, seed=1).astype(np.float32) / 255
    path = tmp_path / "stack.npy"
    np.save(path, images)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("not written by skae")
    code, _, err = _run(["explore", path, "--output", out, *FAST], capsys)
    assert code == 2
    assert "already exists and is not empty" in err and "--overwrite" in err
    assert "Traceback" not in err
    # --overwrite replaces only what skae wrote (its marker says what): not this folder.
    code, _, err = _run(["explore", path, "--output", out, "--overwrite", *FAST], capsys)
    assert code == 2 and "did not write" in err
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]  # untouched

    (out / "old.txt").unlink()  # an empty folder is fine without --overwrite
    code, stdout, err = _run(["explore", path, "--output", out, *FAST], capsys)
    assert code == 0, err
    table, _ = _check_outputs(out, 40, [str(i) for i in range(40)])
    # The odd square (last item) is among the most anomalous items.
    assert table["anomaly_rank"].iloc[-1] <= 3


def test_explore_csv_with_id_column(tmp_path, capsys):
    rng = np.random.default_rng(0)
    values = np.vstack([rng.normal(0, 1, (30, 5)), rng.normal(4, 1, (30, 5))])
    values[-1] = [20, -20, 20, -20, 20]
    frame = pd.DataFrame(values, columns=[f"feature {j}" for j in range(5)])
    frame.insert(0, "sample", [f"s{i}" for i in range(60)])
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "csv_out"
    code, _, err = _run(["explore", path, "--id-column", "sample", "--output", out, "--map",
                         "pca", *FAST], capsys)
    assert code == 0, err
    table, page = _check_outputs(out, 60, [f"s{i}" for i in range(60)])
    assert table["anomaly_rank"].iloc[-1] == 1
    assert "60 rows x 5 numeric columns" in page


def test_explore_csv_carries_non_numeric_columns_through(tmp_path, capsys):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    frame.insert(0, "sample", [f"s{i}" for i in range(30)])
    frame.insert(2, "site", ["north", "south", ""] * 10)  # with an empty cell
    frame["cluster"] = ["=1+1"] + ["x"] * 29  # clashes with ours; looks like a formula
    frame["flag"] = [True, False] * 15
    frame["mostly_numbers"] = ["n/a?"] + [str(v) for v in range(29)]
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    code, _, err = _run(["explore", path, "--id-column", "sample", "--output", out,
                         "--map", "pca", *FAST], capsys)
    assert code == 0, err
    assert "warning" in err and "mostly_numbers" in err and "not analysed" in err
    metadata = ["site", "input_cluster", "flag", "mostly_numbers"]
    table, page = _check_outputs(out, 30, [f"s{i}" for i in range(30)], metadata=metadata)
    assert table["site"].fillna("").tolist() == ["north", "south", ""] * 10
    assert table["input_cluster"].tolist() == ["'=1+1"] + ["x"] * 29  # spreadsheet-safe
    assert table["flag"].astype(str).tolist() == ["True", "False"] * 15
    assert table["mostly_numbers"].iloc[0] == "n/a?"
    assert "30 rows x 4 numeric columns" in page
    assert "carried to results.csv unchanged, not used for training" in page
    assert "&#x27;site&#x27;" in page  # named, escaped


def test_explore_colour_images_of_mixed_sizes_need_resize(tmp_path, capsys):
    folder = _write_pngs(tmp_path / "colour", _shapes(12), mode="RGB")
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(folder / "big.png")
    out = tmp_path / "o"
    code, _, err = _run(["explore", folder, "--output", out, *FAST], capsys)
    assert code == 2
    assert "2 different sizes" in err and "--resize" in err and "big.png" in err
    assert not out.exists()
    code, _, err = _run(["explore", folder, "--resize", "16", "16", "--output", out,
                         "--map", "pca", *FAST], capsys)
    assert code == 0, err
    _, page = _check_outputs(out, 13)
    assert "13 RGB images of 16x16 pixels (resized)" in page


# ---------------------------------------------------------------------------- bad input
def _expect_error(argv, capsys, *fragments):
    code, _, err = _run(argv, capsys)
    assert code != 0
    assert err.startswith("skae explore: error:")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_bad_inputs(tmp_path, capsys):
    out = tmp_path / "never"
    (tmp_path / "empty").mkdir()
    _expect_error(["explore", tmp_path / "empty", "--output", out], capsys, "No images found")
    broken = _write_pngs(tmp_path / "broken", _shapes(4))
    (broken / "bad.png").write_bytes(b"this is not a png")
    _expect_error(["explore", broken, "--output", out], capsys, "Cannot read 1 of 5",
                  "bad.png")
    _expect_error(["explore", tmp_path / "missing.npy", "--output", out], capsys,
                  "does not exist")

    text = tmp_path / "text.csv"
    text.write_text("a,b,name\n1,2,x\n3,4,y\n")
    only_text = tmp_path / "only_text.csv"
    only_text.write_text("name,kind\nx,p\ny,q\n")
    _expect_error(["explore", only_text, "--output", out], capsys, "1 numeric column",
                  "0 numeric", "'name'", "'kind'")
    nan = tmp_path / "nan.csv"
    nan.write_text("a,b\n1,2\n3,\n5,6\n")
    _expect_error(["explore", nan, "--output", out], capsys, "missing", "b", "row 2")

    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
    _expect_error(["explore", tmp_path / "nan.npy", "--output", out], capsys, "NaN")
    np.save(tmp_path / "one_d.npy", np.arange(5.0))
    _expect_error(["explore", tmp_path / "one_d.npy", "--output", out], capsys, "shape (5,)")
    np.savez(tmp_path / "two.npz", a=np.zeros((3, 2)), b=np.ones((3, 2)))
    _expect_error(["explore", tmp_path / "two.npz", "--output", out], capsys, "--key")
    (tmp_path / "notes.docx").write_text("?")
    _expect_error(["explore", tmp_path / "notes.docx", "--output", out], capsys,
                  "Don't know how to read")
    (tmp_path / "a_file").write_text("x")
    _expect_error(["explore", text, "--output", tmp_path / "a_file"], capsys,
                  "not a folder")
    assert not out.exists()


def test_failure_leaves_nothing_that_looks_complete(tmp_path, capsys, monkeypatch):
    path = tmp_path / "stack.npy"
    np.save(path, _shapes(10))

    def explode(*args, **kwargs):
        raise MemoryError("simulated failure while writing the report")

    monkeypatch.setattr(_output, "build_report", explode)
    out = tmp_path / "out"
    code, _, err = _run(["explore", path, "--output", out, "--map", "pca", *FAST], capsys)
    assert code == 1 and "simulated failure" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.npy"]


def test_help_is_for_scientists(capsys):
    for argv in (["--help"], ["explore", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for fragment in ("skae explore", "results.csv", "report.html", "--resize", "--latent-dim",
                     "--epochs", "--device", "--seed", "--output", "--overwrite", "AUROC",
                     "examples:", "score_part_latent", "carried to\n    results.csv unchanged"):
        assert fragment in text
    with pytest.raises(SystemExit) as exit_info:
        main(["explore", "x.csv", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "expected a number >= 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------- demo
def test_demo_on_particles(tmp_path, capsys):
    out = tmp_path / "demo"
    code, stdout, err = _run(["demo", "--data", "particles", "--n-images", "96",
                              "--image-size", "32", "--min-cluster-size", "5", "--output",
                              out, *FAST], capsys)
    assert code == 0, err
    for fragment in ("Known classes (4): accuracy", "Unknown classes (diatom, spherule): AUROC",
                     "true kinds", "cluster", "composition"):
        assert fragment in stdout
    accuracy = float(re.search(r"accuracy on the core set ([0-9.]+)", stdout).group(1))
    auroc = float(re.search(r"AUROC ([0-9.]+)", stdout).group(1))
    assert 0 <= accuracy <= 1 and 0 <= auroc <= 1
    _, page = _check_outputs(out, 96, parts=("image_reconstruction", "image_latent",
                                             "features_reconstruction", "features_latent"))
    assert "score part: features latent" in page


def test_demo_rejects_bad_unknown(capsys):
    code, _, err = _run(["demo", "--unknown", "Trouser,Spaceship", *FAST], capsys)
    assert code == 2 and "Spaceship" in err and "Ankle boot" in err


# ---------------------------------------------------------------------------- browser
CHECK_IMAGES = """
<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var ok = images.filter(function (im) { return im.complete && im.naturalWidth > 0; });
  var div = document.createElement("div");
  div.id = "image-check";
  div.textContent = "loaded " + ok.length + " of " + images.length;
  document.body.appendChild(div);
});
</script>
"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path, capsys):
    folder = _write_pngs(tmp_path / "pngs", _shapes(20))
    out = tmp_path / "result"
    assert _run(["explore", folder, "--output", out, "--map", "pca", *FAST], capsys)[0] == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", CHECK_IMAGES + "</body>"), encoding="utf-8")
    # The page's own <img> tags (its inlined JavaScript holds "<img " in strings).
    n_images = len(re.findall(r"<img ", re.sub(r"<script\b.*?</script>", "", page, flags=re.S)))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
         "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    match = re.search(r"loaded (\d+) of (\d+)", result.stdout)
    assert match, result.stderr[-2000:]
    assert int(match.group(2)) == n_images >= 6
    assert int(match.group(1)) == n_images


def test_bare_skae_prints_the_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: skae" in out and "demo" in out and "explore" in out


def test_training_log_without_a_terminal_has_no_progress_frames_or_colours(capsys):
    """Piped output (``| tee log``): one plain line per epoch, no carriage-return
    redraws of a progress bar and no ANSI colour codes."""
    from skae import DenseAutoEncoder

    X = np.random.RandomState(0).rand(64, 6)
    DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=3, batch_size=16,
                     verbose=1, device="cpu", random_state=0).fit(X)
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "train_loss" in log
    assert "\r" not in log and "\x1b[" not in log


def test_piped_output_is_wrapped_and_every_stage_is_timed(tmp_path, capsys, monkeypatch):
    """Without a terminal the text is wrapped to $COLUMNS at word boundaries, and every
    stage says when it starts and how long it took."""
    monkeypatch.setenv("COLUMNS", "61")  # wrap to 60 columns
    folder = _write_pngs(tmp_path / "pngs", _shapes(30))
    fast = [a for a in FAST if a != "--quiet"]
    code, stdout, err = _run(["explore", folder, "--output", tmp_path / "out", "--map",
                              "pca", *fast], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    # A line may pass the width only when it is one word (a long path), never mid-word.
    assert all(len(line) <= 60 or len(line.split()) == 1 for line in lines), stdout
    assert any(len(line) > 45 for line in lines)  # the long sentences were wrapped, not cut
    words = " ".join(stdout.split())
    assert "skae explore: 30 grayscale images of 16x16 pixels" in words
    for stage in ("Reading", "Training ConvAutoEncoder", "Scoring the 30 items",
                  "Mapping and clustering the codes (PCA + HDBSCAN)",
                  "Reconstructing the items", "Writing results.csv and report.html"):
        starts = [i for i, line in enumerate(lines) if line.startswith(stage)]
        assert len(starts) == 1, (stage, stdout)
        rest = lines[starts[0]:]
        assert any(re.fullmatch(r"\s*\.\.\. done in [0-9.]+ s", line) for line in rest)
    done = [line for line in lines if "... done in" in line]
    assert len(done) == 6
    assert "\r" not in stdout and "\x1b[" not in stdout


def test_quiet_prints_only_the_results(tmp_path, capsys):
    folder = _write_pngs(tmp_path / "pngs", _shapes(30))
    code, stdout, err = _run(["explore", folder, "--output", tmp_path / "out", "--map",
                              "pca", *FAST], capsys)
    assert code == 0, err
    assert "done in" not in stdout and "train_loss" not in stdout
    assert "cluster(s); sizes" in stdout and "Wrote" in stdout


@pytest.mark.parametrize("data", ["particles"])  # "fashion" passes too, in 1 min more
def test_demo_python_code_does_what_the_demo_did(data, tmp_path, capsys):
    """The report's "Do the same in Python" block of the demo, run as it is, flags the
    same number of core items and finds the same clusters as the demo."""
    from sklearn.metrics import adjusted_rand_score

    from skae.cli import _demo, build_parser

    argv = ["demo", "--data", data, "--epochs", "2", "--latent-dim", "4", "--quiet",
            "--device", "cpu", "--min-cluster-size", "5", "--output", str(tmp_path / "o")]
    if data == "particles":
        argv += ["--n-images", "96", "--image-size", "32"]
    captured = {}
    original = _demo.demo_python_code

    def keep(*args, **kwargs):
        captured["code"] = original(*args, **kwargs)
        return captured["code"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_demo, "demo_python_code", keep)
        args = build_parser().parse_args(argv)
        assert _demo.run_demo(args) == 0
    stdout = " ".join(capsys.readouterr().out.split())
    flagged = int(re.search(r"false discovery rate .*?: (\d+) core images", stdout).group(1))
    ari = float(re.search(r"adjusted Rand index ([-0-9.]+)", stdout).group(1))
    namespace = {}
    exec(compile(captured["code"], "<demo snippet>", "exec"), namespace)
    assert int(namespace["flagged"].sum()) == flagged
    if data == "particles":
        in_batch = int(re.search(r"With the core set at hand .*?: (\d+) core images",
                                 stdout).group(1))
        assert int(namespace["in_batch"].sum()) == in_batch
    assert round(adjusted_rand_score(namespace["y"], namespace["clusters"]), 3) == ari


def test_explore_python_code_repeats_the_analysis(tmp_path, capsys):
    """The report's "Do the same in Python" block, run as it is on the same folder,
    gives the scores and clusters that results.csv holds."""
    import html

    folder = _write_pngs(tmp_path / "pngs", _shapes(30))
    out = tmp_path / "out"
    code, _, err = _run(["explore", folder, "--output", out, "--map", "pca", *FAST], capsys)
    assert code == 0, err
    page = (out / "report.html").read_text(encoding="utf-8")
    block = page.split("Do the same in Python", 1)[1]
    snippet = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", block, re.S).group(1))
    assert "scaler_" not in snippet and "autoencoder_" not in snippet
    namespace = {}
    exec(compile(snippet, "<explore snippet>", "exec"), namespace)
    capsys.readouterr()
    table = pd.read_csv(out / "results.csv")
    np.testing.assert_allclose(namespace["anomaly_score"], table["anomaly_score"],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(namespace["clusters"], table["cluster"])


def test_explore_with_a_feature_table(tmp_path, capsys):
    """--features: a second detector on a table of the same items; the score is the mean
    of both, its parts those of both, and the report's Python repeats the results."""
    import html

    images = _shapes(30)
    folder = _write_pngs(tmp_path / "pngs", images)
    rng = np.random.default_rng(0)
    measured = pd.DataFrame({
        "name": [f"img_{i:03d}.png" for i in range(30)],  # text: carried over, not used
        "area": images.reshape(30, -1).mean(axis=1) + rng.normal(0, 1, 30),
        "length": rng.normal(10, 1, 30),
    })
    measured.loc[5, "length"] = 40.0  # one item odd in its features only
    table_path = tmp_path / "measured.csv"
    measured.to_csv(table_path, index=False)
    out = tmp_path / "out"
    code, _, err = _run(["explore", folder, "--features", table_path, "--output", out,
                         "--map", "pca", *FAST], capsys)
    assert code == 0, err
    parts = ("image_reconstruction", "image_latent", "features_reconstruction",
             "features_latent")
    table, page = _check_outputs(out, 30, parts=parts)
    # The item odd in its features is the most unusual in the features' parts and ranks
    # high overall (the last image, odd in its pixels, ranks high too).
    feature_parts = table[["score_part_features_reconstruction", "score_part_features_latent"]]
    assert feature_parts.mean(axis=1).idxmax() == 5
    assert table["anomaly_rank"][5] <= 5
    block = page.split("Do the same in Python", 1)[1]
    snippet = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", block, re.S).group(1))
    namespace = {}
    exec(compile(snippet, "<explore snippet>", "exec"), namespace)
    capsys.readouterr()
    np.testing.assert_allclose(namespace["anomaly_score"], table["anomaly_score"],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(namespace["clusters"], table["cluster"])

    measured.iloc[:29].to_csv(table_path, index=False)
    code, _, err = _run(["explore", folder, "--features", table_path, "--output", out,
                         "--overwrite", *FAST], capsys)
    assert code == 2 and "has 29 rows for 30 items" in err
    measured.loc[3, "area"] = np.nan
    measured.to_csv(table_path, index=False)
    code, _, err = _run(["explore", folder, "--features", table_path, "--output", out,
                         "--overwrite", *FAST], capsys)
    assert code == 2 and "missing or infinite" in err
    code, _, err = _run(["explore", folder, "--features", tmp_path / "absent.csv",
                         "--output", out, "--overwrite", *FAST], capsys)
    assert code == 2 and "must be an existing .csv or .tsv file" in err
