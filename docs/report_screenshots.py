"""Make the screenshots of ``docs/report.rst`` from a real report.

    python docs/report_screenshots.py [FOLDER]

Runs ``skae demo --data particles --output FOLDER`` unless ``FOLDER/report.html``
exists already (default folder: ``report_demo`` in the current folder), opens the report
in headless Chromium with the network cut off, hovers the most anomalous item of the
interactive map, and writes ``summary.png``, ``map.png``, ``anomalies.png`` and
``nearest.png`` into ``docs/_static/report/``. It drives Chromium with the DevTools
client of the docs tests (``tests/test_docs.py``), so it runs from a source checkout.
"""

import base64
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "_static" / "report"
WIDTH = 1150  # wide enough for the map's plot and legend side by side
MAP_CROP = 940  # where the legend ends
NARROW = 820  # the other parts, reflowed to read at the docs' column width

# The top and bottom (page coordinates) of the part of the page from the heading whose
# text starts with the first string to the one that starts with the second (or to the
# end of the page), at most ``limit`` pixels tall.
RANGE_JS = """
(() => {
  const heads = [...document.querySelectorAll('h1, h2')];
  const find = text => heads.find(h => h.textContent.trim().startsWith(text));
  const start = find(%r), stop = %r ? find(%r) : null;
  const top = start.getBoundingClientRect().top + scrollY - 8;
  const end = stop ? stop.getBoundingClientRect().top + scrollY - 8
                   : document.documentElement.scrollHeight;
  return {top: top, height: Math.min(end - top, %d)};
})()
"""


# The box of the interactive map (search box to plot), in page coordinates.
MAP_BOX_JS = """
(() => {
  const heading = [...document.querySelectorAll('h2')].find(
      h => h.textContent.trim().startsWith('Map of the codes'));
  const top = heading.nextElementSibling.getBoundingClientRect().bottom + scrollY + 4;
  const bottom = Math.min(heading.nextElementSibling.nextElementSibling
      .getBoundingClientRect().bottom, innerHeight) + scrollY + 8;
  return {top: top, height: bottom - top};
})()
"""


# The item number of the most anomalous item of the interactive map.
BEST_ITEM_JS = """
(() => {
  const d = Bokeh.documents[0].get_model_by_name('skae-items').data;
  const s = d.score_text.map(parseFloat);
  let best = 0;
  for (let i = 0; i < s.length; i++) if (s[i] > s[best]) best = i;
  return d.item[best];
})()
"""


def _sections():
    """(file name, first heading, next heading or "", most pixels)."""
    return [
        # The map first: a capture beyond the viewport re-lays the page out, after
        # which bokeh no longer answers the synthetic hover.
        ("map.png", "Map of the codes", "", 820),
        ("summary.png", "skae demo", "Training curve", 1500),
        ("anomalies.png", "Most anomalous items", "Nearest normal items", 1300),
        ("nearest.png", "Nearest normal items", "Do the same in Python", 1100),
    ]


def _capture(browser, top, height, beyond=True, width=WIDTH):
    shot = browser.call("Page.captureScreenshot", browser.session, format="png",
                        captureBeyondViewport=beyond,
                        clip={"x": 0, "y": top, "width": width, "height": height,
                              "scale": 1})
    return base64.b64decode(shot["data"])


def main(folder):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_report_map import RecordingChromium, _hover, _open  # noqa: E402

    from test_docs import CHROMIUM  # noqa: E402

    folder = Path(folder)
    report = folder / "report.html"
    if not report.exists():
        subprocess.run([sys.executable, "-m", "skae", "demo", "--data", "particles",
                        "--output", str(folder), "--quiet"], check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    browser = RecordingChromium(CHROMIUM)
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", browser.session)
        browser.call("Network.emulateNetworkConditions", browser.session, offline=True,
                     latency=0, downloadThroughput=-1, uploadThroughput=-1)
        browser.call("Emulation.setDeviceMetricsOverride", browser.session, width=WIDTH,
                     height=1000, deviceScaleFactor=1, mobile=False)  # the map fits
        _open(browser, report)
        for name, first, stop, limit in _sections():
            browser.evaluate("window.scrollTo(0, 0)")
            box = browser.evaluate(RANGE_JS % (first, stop, stop, limit))
            beyond = True
            if name == "map.png":  # hover the most anomalous item; keep its tooltip
                item = browser.evaluate(BEST_ITEM_JS)
                if not _hover(browser, item):
                    raise RuntimeError("hovering the map showed no tooltip")
                # _hover scrolled the map into view: take the map itself, from below
                # the instructions (which the docs page says in its own words)
                box = browser.evaluate(MAP_BOX_JS)
                beyond = False  # a larger capture would re-layout and hide the tooltip
            width = MAP_CROP if name == "map.png" else NARROW
            if name == "summary.png":  # the first after the map: reflow the page
                browser.call("Emulation.setDeviceMetricsOverride", browser.session,
                             width=NARROW, height=1000, deviceScaleFactor=1, mobile=False)
                time.sleep(0.5)
                box = browser.evaluate(RANGE_JS % (first, stop, stop, limit))
            shot = _capture(browser, box["top"], box["height"], beyond, width)
            (OUT / name).write_bytes(shot)
            print(f"wrote {OUT / name} ({box['height']:.0f} px tall)")
    finally:
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "report_demo")
