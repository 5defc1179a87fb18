"""The interactive map of the report: a bokeh scatter plot of the 2-D map of the codes.

Hovering a point shows its item (a thumbnail for images, the most unusual values for
tables), id, cluster, anomaly score and score parts; a search box and clicks select
points. Bokeh's JavaScript is inlined, so the HTML fragment works offline.
"""

import base64
import io

import numpy as np

from ._palette import NOISE, cluster_colours

# Thumbnails are at most THUMBNAIL_SIDES[0] pixels, made smaller (down to the last side)
# or fewer so that together they take at most THUMBNAIL_BUDGET characters of the page.
THUMBNAIL_SIDES = (64, 48, 32)
THUMBNAIL_BUDGET = 8_000_000
TOOLTIP_WIDTH = 96  # CSS pixels a thumbnail is drawn at in the tooltip
N_FEATURES_SHOWN = 3
# A transparent 1 x 1 PNG for the items without a thumbnail (a broken image otherwise).
BLANK_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlE"
             "QVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
N_SELECTED_SHOWN = 8

_SEARCH_JS = """
const query = input.value_input.trim().toLowerCase();
const ids = source.data.id;
let hits = [];
if (query) {
  for (let i = 0; i < ids.length; i++) {
    if (String(ids[i]).toLowerCase().includes(query)) hits.push(i);
  }
  const exact = hits.filter(i => String(ids[i]).toLowerCase() === query);
  if (exact.length) hits = exact;  // "img_1.png" finds that item, not img_10.png too
}
source.selected.indices = hits;
status.text = !query ? "" : hits.length ? hits.length + " item(s) found, circled in black"
  : "No id contains \\u201c" + escape(query) + "\\u201d.";
"""

_SELECTED_JS = """
const d = source.data;
const chosen = [...source.selected.indices].sort(  // the most anomalous first
  (a, b) => parseFloat(d.score_text[b]) - parseFloat(d.score_text[a]));
if (!chosen.length) { info.text = ""; return; }
const rows = chosen.slice(0, shown).map(i =>
  '<div style="display:inline-block;vertical-align:top;margin:0 1em 0.5em 0">'
  + (d.thumb ? '<img src="' + d.thumb[i] + '" alt="" style="width:' + width
     + 'px;image-rendering:pixelated;display:block">' : '')
  + '<b>' + escape(d.id[i]) + '</b><br>' + escape(d.cluster_label[i])
  + '<br>anomaly score ' + escape(d.score_text[i])
  + (d.parts_text[i] ? '<br>' + escape(d.parts_text[i]) : '')
  + (d.features ? '<br>' + escape(d.features[i]) : '') + '</div>').join('');
const more = chosen.length > shown ? ' (the ' + shown + ' most anomalous shown)' : '';
info.text = '<p>' + chosen.length + ' item(s) selected' + more + ':</p>' + rows;
"""

_ESCAPE_JS = """
function escape(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
"""


def thumbnail_uri(image, max_side=THUMBNAIL_SIDES[0]):
    """A small PNG of one image as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (C, H, W)
        Values in [0, 1] (clipped); three channels are drawn in colour, any other
        number of channels as their mean.
    max_side : int, default=64
        Longest side of the thumbnail in pixels; smaller images are not enlarged.

    Returns
    -------
    uri : str
    """
    from PIL import Image

    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = np.moveaxis(image, 0, -1) if image.shape[0] == 3 else image.mean(axis=0)
    pixels = np.round(np.clip(np.nan_to_num(image), 0, 1) * 255).astype(np.uint8)
    thumbnail = Image.fromarray(pixels)
    height, width = pixels.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        thumbnail = thumbnail.resize((max(1, round(width * scale)),
                                      max(1, round(height * scale))), Image.Resampling.BOX)
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail_uris(images, scores, budget=THUMBNAIL_BUDGET, seed=0):
    """Thumbnails of the items for the map's tooltips, sized to keep the page small.

    Thumbnails are at most 64 pixels on their longest side; if they would take more than
    ``budget`` characters together (estimated from 50 of them), 48, then 32 pixels. If
    32-pixel thumbnails are still too many, only as many items as fit get one: the most
    anomalous tenth of those, and a random sample of the others.

    Parameters
    ----------
    images : ndarray of shape (n_items, H, W) or (n_items, C, H, W)
    scores : ndarray of shape (n_items,)
        Anomaly scores (higher = more unusual).
    budget : int, default=8_000_000
        Characters (of base64) all thumbnails may take.
    seed : int, default=0
        Seed of the samples.

    Returns
    -------
    uris : list of str or None
        One ``data:`` URI per item, None for the items left out.
    """
    n = len(images)
    rng = np.random.default_rng(seed)
    probe = rng.choice(n, min(n, 50), replace=False)
    for side in THUMBNAIL_SIDES:
        cost = np.mean([len(thumbnail_uri(images[i], side)) for i in probe]) if n else 0
        if n * cost <= budget:
            break
    chosen = np.arange(n)
    n_kept = n if n * cost <= budget else int(budget // cost)
    if n_kept < n:
        ranked = np.argsort(-np.asarray(scores), kind="stable")
        top = ranked[:n_kept // 10]
        rest = rng.choice(ranked[len(top):], n_kept - len(top), replace=False)
        chosen = np.concatenate([top, rest])
    uris = [None] * n
    for i in chosen:
        uris[i] = thumbnail_uri(images[i], side)
    return uris


def feature_summaries(values, standardised, feature_names=None, n=N_FEATURES_SHOWN):
    """For each row of a table, its ``n`` most unusual features and their values.

    Parameters
    ----------
    values : ndarray of shape (n_items, n_features)
        The values shown (e.g. the table as it was read).
    standardised : ndarray of shape (n_items, n_features)
        The values that rank the features: each column is standardised again here, and
        the features furthest from their column's mean come first.
    feature_names : sequence of str, default=None
        Column names; ``feature 0``, ... if None.
    n : int, default=3

    Returns
    -------
    summaries : list of str
        E.g. ``"area = 412 (+3.1 sd), ..."``.
    """
    values = np.asarray(values, dtype=np.float64)
    z = np.asarray(standardised, dtype=np.float64)
    spread = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    names = (list(feature_names) if feature_names is not None
             else [f"feature {j}" for j in range(values.shape[1])])
    order = np.argsort(-np.abs(z), axis=1, kind="stable")[:, :n]
    return [", ".join(f"{names[j]} = {values[i, j]:.4g} ({z[i, j]:+.1f} sd)" for j in row)
            for i, row in enumerate(order)]


def _tooltip(has_thumbnails, has_features):
    # Bokeh fills in the @columns HTML-escaped.
    image = (f'<img src="@thumb" alt="" style="width:{TOOLTIP_WIDTH}px;'
             'image-rendering:pixelated;display:block;margin-bottom:4px">'
             if has_thumbnails else "")
    features = '<div style="max-width:28em">@features</div>' if has_features else ""
    return (f'<div class="skae-tooltip" style="font-size:12px">{image}'
            '<div><b>@id</b></div><div>@cluster_label</div>'
            '<div>anomaly score @score_text</div><div>@parts_text</div>'
            f"{features}</div>")


def interactive_map(xy, clusters, ids, scores, *, thumbnails=None, features=None,
                    score_parts=None, score_part_names=(), highlighted=None):
    """The interactive map as an HTML fragment: bokeh's inlined JavaScript and the plot.

    Points are coloured like :func:`skae.plotting._report_figures.plot_code_map` (the
    same :func:`~skae.plotting._palette.cluster_colours`). Items in no cluster are drawn
    first, underneath, and more unusual items over less unusual ones; where points
    overlap, the tooltip shows the one on top.

    Parameters
    ----------
    xy : ndarray of shape (n_items, 2)
        Map coordinates.
    clusters : ndarray of shape (n_items,)
        Cluster of each item, ``-1`` for none.
    ids : sequence of str
        One id per item: shown on hover, matched by the search box.
    scores : ndarray of shape (n_items,)
        Anomaly score of each item (higher = more unusual).
    thumbnails : sequence of str or None, default=None
        One image URI per item (e.g. from :func:`thumbnail_uris`), shown on hover; None
        for an item without one.
    features : sequence of str, default=None
        One line of text per item (e.g. from :func:`feature_summaries`), shown on hover.
    score_parts : ndarray of shape (n_items, n_parts), default=None
        The parts of each score, shown on hover with ``score_part_names``.
    score_part_names : sequence of str, default=()
        A short name of each part, e.g. ``("rec", "lat")``.
    highlighted : array-like of int, default=None
        Items circled in red (e.g. the most anomalous ones).

    Returns
    -------
    fragment : str
        ``<script>`` elements and the ``<div>`` of the plot; put it once in a page.
    """
    from bokeh.embed import components
    from bokeh.layouts import column, row
    from bokeh.models import (
        ColumnDataSource,
        CustomJS,
        Div,
        HoverTool,
        Legend,
        LegendItem,
        Scatter,
        TapTool,
        TextInput,
    )
    from bokeh.plotting import figure
    from bokeh.resources import Resources

    xy = np.asarray(xy, dtype=np.float64)
    clusters = np.asarray(clusters)
    scores = np.asarray(scores, dtype=np.float64)
    # Drawing order: noise first, under the clusters, and the more unusual items later,
    # on top; the tooltip shows the top one of the points under the pointer.
    order = np.lexsort((scores, clusters != NOISE))
    colours = cluster_colours(clusters)
    parts_text = ([""] * len(order) if score_parts is None else
                  [", ".join(f"{name} {score_parts[i, j]:.2f}" for j, name in
                             enumerate(score_part_names)) for i in order])
    data = {
        "x": xy[order, 0], "y": xy[order, 1], "item": order,
        "id": [str(ids[i]) for i in order],
        "cluster_label": ["in no cluster" if clusters[i] == NOISE
                          else f"cluster {clusters[i]}" for i in order],
        "colour": [colours[c] for c in clusters[order]],
        "size": np.where(clusters[order] == NOISE, 5, 7),
        "score_text": [f"{scores[i]:.3g}" for i in order],
        "parts_text": parts_text,
    }
    if thumbnails is not None:
        data["thumb"] = [thumbnails[i] or BLANK_PNG for i in order]
        data["parts_text"] = [
            text if thumbnails[i] else f"{text} (no thumbnail kept for this item)".strip()
            for text, i in zip(parts_text, order)]
    if features is not None:
        data["features"] = [features[i] for i in order]
    source = ColumnDataSource(data, name="skae-items")

    plot = figure(width=900, height=620, tools="pan,wheel_zoom,box_zoom,reset",
                  active_scroll="wheel_zoom", name="skae-map", toolbar_location="above")
    points = plot.scatter("x", "y", source=source, size="size", fill_color="colour",
                          line_color="colour", alpha=0.8, nonselection_alpha=0.15)
    # Selected (clicked or found) points: larger, circled in black, drawn on top.
    points.selection_glyph = Scatter(size=13, fill_color="colour", line_color="black",
                                     line_width=2.5)
    items = []
    for c in sorted(colours):
        at = np.flatnonzero(clusters[order] == c)
        if len(at):
            label = ("unclustered" if c == NOISE else f"cluster {c}") + f" ({len(at)})"
            items.append(LegendItem(label=label, renderers=[points], index=int(at[0])))
    if highlighted is not None and len(highlighted):
        highlighted = np.asarray(highlighted, dtype=int)
        ring = plot.scatter(xy[highlighted, 0], xy[highlighted, 1], size=13,
                            fill_color=None, line_color="#d62728", line_width=1.5)
        items.append(LegendItem(label=f"{len(highlighted)} most anomalous",
                                renderers=[ring]))
    plot.add_layout(Legend(items=items, ncols=1 if len(items) <= 24 else 2,
                           label_text_font_size="8pt"), "right")
    plot.add_tools(
        HoverTool(renderers=[points], limit=1, sort_by=[("$index", "descending")],
                  point_policy="snap_to_data",
                  tooltips=_tooltip(thumbnails is not None, features is not None)),
        TapTool(renderers=[points]))
    plot.toolbar.logo = None
    for axis in (plot.xaxis, plot.yaxis):
        axis.visible = False
    plot.grid.visible = False

    info = Div(text="", width=900, name="skae-selected")
    status = Div(text="", width=480, name="skae-search-status")
    search = TextInput(placeholder="type an id (or part of one) to find it", width=380,
                       name="skae-search")
    search.js_on_change("value_input", CustomJS(
        args={"input": search, "source": source, "status": status},
        code=_ESCAPE_JS + _SEARCH_JS))
    source.selected.js_on_change("indices", CustomJS(
        args={"source": source, "info": info, "shown": N_SELECTED_SHOWN,
              "width": TOOLTIP_WIDTH},
        code=_ESCAPE_JS + _SELECTED_JS))
    layout = column(row(search, status), plot, info)
    script, div = components(layout)
    resources = Resources(mode="inline", components=["bokeh", "bokeh-widgets"])
    return resources.render_js() + script + div
