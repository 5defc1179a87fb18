"""Checks of the documentation sources, the gallery, and (when built) the rendered HTML.

Nothing here builds the docs. The build is one command (see ``docs/install.rst``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The rendering test opens pages of ``docs/_build/html`` in headless Chromium and is
skipped when Chromium or the built HTML is absent.
"""

import ast
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from _public_api import public_modules

import skae

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
HTML = Path(os.environ.get("SKAE_DOCS_HTML", DOCS / "_build" / "html"))
CHROMIUM = Path(os.environ.get("SKAE_CHROMIUM", "/usr/bin/chromium"))


# ----------------------------------------------------------------------------- API reference
def public_objects():
    """``(qualified name, object)`` for every name in a public module's ``__all__``."""
    out = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):  # __version__
                continue
            out.append((f"{module_name}.{name}", getattr(module, name)))
    return out


def documented_names():
    """Qualified names listed in autosummary tables of the reference sources."""
    documented = set()
    for source in DOCS.glob("*.rst"):
        module = None
        in_autosummary = False
        for line in source.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith((".. currentmodule::", ".. module::")):
                module = stripped.split("::", 1)[1].strip()
                in_autosummary = False
            elif stripped.startswith(".. autosummary::"):
                in_autosummary = True
            elif in_autosummary:
                if not line.startswith(" ") and stripped:
                    in_autosummary = False
                elif stripped and not stripped.startswith(":"):
                    documented.add(stripped if "." in stripped else f"{module}.{stripped}")
    return documented


def resolve(qualified_name):
    module_name, _, attr = qualified_name.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def test_every_public_name_is_in_the_api_reference():
    documented = documented_names()
    documented_ids = {id(resolve(name)) for name in documented}
    missing = [
        name
        for name, obj in public_objects()
        if name not in documented and id(obj) not in documented_ids
    ]
    assert not missing, f"public names missing from docs/api.rst: {missing}"


def test_api_reference_entries_exist_and_are_public():
    public = {name for name, _ in public_objects()}
    public_ids = {id(obj) for _, obj in public_objects()}
    for name in sorted(documented_names()):
        obj = resolve(name)  # raises for a stale entry, which would fail the build
        assert name in public or id(obj) in public_ids, f"{name} is not in any __all__"


def test_api_reference_lists_each_object_once():
    # Two entries for one object give duplicate-description warnings, i.e. errors.
    seen = {}
    for name in documented_names():
        seen.setdefault(id(resolve(name)), []).append(name)
    duplicates = [names for names in seen.values() if len(names) > 1]
    assert not duplicates, f"documented twice: {duplicates}"


# ----------------------------------------------------------------------------- gallery
def example_files():
    return sorted(EXAMPLES.glob("*/plot_*.py"))


def test_gallery_layout():
    assert (EXAMPLES / "README.txt").is_file()
    topics = [p for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert topics
    for topic in topics:
        readme = topic / "README.txt"
        assert readme.is_file(), f"{topic} needs a README.txt (sphinx-gallery fails without)"
        lines = [line for line in readme.read_text().splitlines() if line.strip()]
        titles = [i for i, line in enumerate(lines[1:], 1) if set(line.strip()) <= set("=-~^")]
        assert titles, f"{readme} has no title"


def _example_params():
    return [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in example_files()]


@pytest.mark.parametrize("path", _example_params())
def test_example_has_title_and_ends_with_a_figure(path):
    tree = ast.parse(path.read_text())
    docstring = ast.get_docstring(tree, clean=False)
    assert docstring, "an example starts with a docstring holding its title"
    lines = [line.rstrip() for line in docstring.strip().splitlines()]
    assert len(lines) >= 3 and set(lines[0]) == {"="}, "title block: ===, title, ==="
    assert len(lines[0]) >= len(lines[1]) and lines[2] == lines[0], "title over/underline"
    last = tree.body[-1]
    is_show = (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and ast.unparse(last.value.func) == "plt.show"
    )
    assert is_show, "an example ends with a figure: its last statement is plt.show()"


@pytest.mark.slow
@pytest.mark.parametrize("path", example_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_runs(path, tmp_path):
    """Run an example as a script: the fallback of a docs build without execution.

    Opt-in (``SKAE_RUN_EXAMPLES=1``): the examples take minutes together, and the
    executed docs build runs them anyway.
    """
    if os.environ.get("SKAE_RUN_EXAMPLES") != "1":
        pytest.skip("set SKAE_RUN_EXAMPLES=1 to run the gallery examples as tests")
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=int(os.environ.get("SKAE_EXAMPLE_TIMEOUT", "600")),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"{path.name}: {time.monotonic() - start:.0f} s")


def _doc_sources():
    return [
        s for s in DOCS.glob("**/*.rst")
        if not {"auto_examples", "generated", "_build"} & set(s.relative_to(DOCS).parts)
    ]


def test_gallery_references_point_at_examples():
    # :ref:`sphx_glr_auto_examples_<topic>_<name>.py` and minigallery paths/globs must
    # name existing examples, or the build warns (fails).
    ref = re.compile(r"sphx_glr_auto_examples_([a-z0-9_]+?)_(plot_[a-z0-9_]+)\.py")
    found = 0
    for source in _doc_sources():
        text = source.read_text()
        for topic, name in ref.findall(text):
            found += 1
            assert (EXAMPLES / topic / f"{name}.py").is_file(), f"{source.name}: {topic}/{name}"
        for pattern in re.findall(r"^\s+\.\./examples/(\S+)$", text, flags=re.M):
            found += 1
            assert list(EXAMPLES.glob(pattern)), f"{source.name}: no example {pattern}"
    assert found


def test_user_guide_toctree_matches_pages():
    index = (DOCS / "user_guide" / "index.rst").read_text()
    listed = set(re.findall(r"^   ([a-z_]+)$", index, flags=re.M))
    pages = {p.stem for p in (DOCS / "user_guide").glob("*.rst")} - {"index"}
    assert listed == pages


# ----------------------------------------------------------------------------- rendering
def _pipe_to_fds_3_4(read_end, write_end):
    # In the child, before exec: move the pipe ends out of the way first, so that
    # neither dup2 clobbers the other when one of them already is fd 3 or 4.
    import fcntl

    high_read = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10)
    high_write = fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no extra package)."""

    FLAGS = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--remote-debugging-pipe",
    ]

    def __init__(self, binary):
        self._profile = tempfile.TemporaryDirectory()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser reads commands from fd 3 and writes replies to fd 4.
        self.process = subprocess.Popen(
            [str(binary), *self.FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, to_browser_r, from_browser_w),
            preexec_fn=lambda: _pipe_to_fds_3_4(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call(
            "Target.attachToTarget", targetId=page["targetId"], flatten=True
        )["sessionId"]

    def _read_message(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate", self.session, expression=expression, returnByValue=True,
            awaitPromise=True,
        )
        return result["result"].get("value")

    def open(self, url, timeout=30):
        self.call("Page.navigate", self.session, url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.evaluate("document.readyState + ' ' + location.href")
            if state == f"complete {url}":
                return
            time.sleep(0.1)
        raise TimeoutError(f"{url} did not finish loading in {timeout} s")

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()


# Every <img> on the page, whether it loaded (a broken image has naturalWidth 0), and
# how tall the rendered page is (an unstyled or empty page is short).
IMAGES_JS = """
(async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
      i.addEventListener('load', r); i.addEventListener('error', r); })));
  return {
    title: document.title,
    height: document.documentElement.scrollHeight,
    themed: getComputedStyle(document.body).fontFamily,
    images: imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
                            width: i.naturalWidth, height: i.naturalHeight})),
  };
})()
"""


def _gallery_page():
    pages = sorted((HTML / "auto_examples").glob("*/plot_*.html"))
    executed = [p for p in pages if "sphx-glr-single-img" in p.read_text()]
    return executed[0] if executed else None


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    if not (HTML / "index.html").is_file():
        pytest.skip(f"docs not built ({HTML}); build them first")
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.mark.parametrize(
    "page",
    ["index.html", "user_guide/representation.html", "gallery"],
)
def test_built_pages_render_with_images(browser, page):
    if page == "gallery":
        path = _gallery_page()
        if path is None:
            pytest.skip("the gallery was built without executing the examples")
    else:
        path = HTML / page
    browser.open(path.as_uri())
    info = browser.evaluate(IMAGES_JS)
    assert info["title"], "page has no title"
    assert info["height"] > 600, f"page looks empty: {info['height']} px tall"
    broken = [img["src"] for img in info["images"] if not img["ok"]]
    assert not broken, f"images that did not load: {broken}"
    figures = [
        img for img in info["images"]
        if "_images/sphx_glr" in img["src"] and img["width"] >= 100 and img["height"] >= 100
    ]
    if page == "gallery":
        assert figures, "gallery page shows no figure"
    if page.startswith("user_guide"):
        # The page's "Examples" minigallery: one thumbnail per example.
        thumbnails = [img for img in info["images"] if "sphx_glr" in img["src"]]
        assert len(thumbnails) >= 3, info["images"]
    if page == "index.html" and (HTML / "auto_examples" / "index.html").is_file():
        # The front page's "A look at the gallery" thumbnails.
        assert any("sphx_glr" in img["src"] for img in info["images"]), info["images"]


def test_rendering_check_detects_broken_images(browser, tmp_path):
    # The check above can fail: a page with a missing image is reported as broken.
    (tmp_path / "ok.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    )
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><title>t</title></head><body>'
        '<img src="ok.svg"><img src="missing.png"></body></html>'
    )
    browser.open(page.as_uri())
    info = browser.evaluate(IMAGES_JS)
    status = {Path(img["src"]).name: img["ok"] for img in info["images"]}
    assert status == {"ok.svg": True, "missing.png": False}


# ----------------------------------------------------------------------------- link check
_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_ID = re.compile(r"""\bid\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def broken_internal_links(html_root):
    """``(page, href)`` for every link of the built pages to a page of the build that does
    not exist, or to an anchor (``#id``) that the target page does not define."""
    from html import unescape
    from urllib.parse import unquote, urlsplit

    pages = sorted(Path(html_root).rglob("*.html"))
    ids = {}

    def anchors(path):
        if path not in ids:
            ids[path] = {unescape(m) for m in _ID.findall(path.read_text(errors="replace"))}
        return ids[path]

    broken = []
    for page in pages:
        for href in _HREF.findall(page.read_text(errors="replace")):
            href = unescape(href)
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append((page.relative_to(html_root).as_posix(), href))
            elif parts.fragment and target.suffix == ".html" and (
                unquote(parts.fragment) not in anchors(target)
            ):
                broken.append((page.relative_to(html_root).as_posix(), href))
    return broken


def test_built_docs_have_no_broken_internal_link():
    if not (HTML / "index.html").is_file():
        pytest.skip(f"docs not built ({HTML}); build them first")
    broken = broken_internal_links(HTML)
    assert not broken, f"{len(broken)} broken internal link(s), e.g. {broken[:10]}"


def test_link_check_detects_a_missing_page_and_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="a.html#top">ok</a>')
    (tmp_path / "b.html").write_text(
        '<a href="a.html">ok</a><a href="missing.html">1</a><a href="a.html#nope">2</a>'
        '<a href="https://example.org/x">external</a><a href="#here">3</a>'
    )
    assert broken_internal_links(tmp_path) == [
        ("b.html", "missing.html"), ("b.html", "a.html#nope"), ("b.html", "#here"),
    ]


def test_api_templates_named_in_the_reference_exist():
    # autosummary silently falls back to a bare stub when a :template: is not found in
    # templates_path, which once dropped every member list and mini-gallery.
    named = set()
    for source in DOCS.glob("*.rst"):
        named |= set(re.findall(r":template:\s*(\S+)", source.read_text()))
    assert named, "the API reference names no template"
    missing = sorted(t for t in named if not (DOCS / "_templates" / t).is_file())
    assert not missing, f"templates not in docs/_templates: {missing}"


def test_api_pages_show_the_examples_that_use_them():
    backreferences = DOCS / "gen_modules" / "backreferences"
    if not (HTML / "index.html").is_file() or not backreferences.is_dir():
        pytest.skip(f"docs not built ({HTML}); build them first")
    missing = []
    for name, obj in public_objects():
        examples = backreferences / f"{name}.examples"
        page = HTML / "generated" / f"{name}.html"
        if not isinstance(obj, type) or not page.is_file() or not examples.is_file():
            continue
        if "sphx-glr-thumbcontainer" in examples.read_text() and (
            "sphx-glr-thumbcontainer" not in page.read_text()
        ):
            missing.append(name)
    assert not missing, f"API pages without their 'Gallery examples using' section: {missing}"
