"""The map in real JupyterLab and Chromium: what only a browser shows.

A small demo project is labeled through ``LabelingApp`` in a notebook of its own; the test then
draws a lasso on the map with the mouse (and moves on over the points, as a hand does: plotly's
own widget lost the selection under those hovers), checks that the kernel lists exactly the
clips the page highlighted, plays one from the list and labels it with a key (the list follows,
the ring on the map follows the labeler), labels the rest with "Label all…" after confirming the
count, hovers a point for its tooltip, checks that the labeler and the map fit a 1400 x 1000
screen and that the snapshots figure is not cut off, and switches JupyterLab to its dark theme
(the map follows). Screenshots (light and dark) go to the test's temporary folder.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import test_browser
from alwidget.store import Store
from test_browser import ARGS, CHROMIUM, keep_screenshot, run_notebook, watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

lab = test_browser.lab  # JupyterLab on 127.0.0.1 over a folder of tmp_path (its fixture)

SETUP = """\
import csv, os
from pathlib import Path
import alwidget
from alwidget.demo import NAME_PATTERN, make_demo
from alwidget.session import Session
from alwidget.widgets import LabelingApp

DATA = Path(os.environ["ALWIDGET_DEMO_DIR"])
make_demo(DATA, seed=0, n_nodes=2, files_per_node=10, progress=False)
alwidget.ingest(DATA / "audio", DATA / "alwidget.db", clip_seconds=1.0,
                name_pattern=NAME_PATTERN, progress=False, verbose=False)
store = alwidget.Store(DATA / "alwidget.db")
alwidget.extract_features(store, "logmel", progress=False)
session = Session(store, classes=["background", "target"], random_state=0)
app = LabelingApp(session, map_method="pca", map_kwargs={"snapshots": (1, 2, 3)})
app"""
LABEL = """\
rows = csv.DictReader(open(DATA / "labels.csv"))
truth = {(r["path"], float(r["start_s"])): r["label"] for r in rows}
src = store.clip_sources()
label_of = {int(c): truth[(os.path.relpath(p, DATA.resolve()), s)]
            for c, p, s in zip(src.clip_id, src.path, src.start_s)}
first = [next(c for c, v in label_of.items() if v == "target")]
first += [c for c, v in label_of.items() if v == "background"][:3]
for c in first:  # iterations 1, 2, 3 of the snapshots
    session.label(c, label_of[c])
print("labeled", len(first))"""
SNAPSHOTS = "app.map.snapshot_figure()"

PLOT = "document.querySelector('.alw-map .js-plotly-plot')"
POINTS_JS = f"""() => {{ const gd = {PLOT}, fl = gd._fullLayout, t = gd._fullData[0];
  const r = gd.getBoundingClientRect();
  return Array.from(t.x, (x, i) => [r.left + fl._size.l + fl.xaxis.l2p(x),
                                   r.top + fl._size.t + fl.yaxis.l2p(t.y[i])]); }}"""
OVERLAY = "document.querySelector('.alw-map .alwm-overlay')"
RING_ON_JS = f"""clip => {{ const gd = {PLOT}, t = gd._fullData[0], o = {OVERLAY};
  const i = Array.from(t.customdata).indexOf(clip), fl = gd._fullLayout;
  if (!o || i < 0 || o.dataset.ring !== String(clip)) return false;
  const [x, y] = o.dataset.ringXy.split(',').map(Number);  // drawn where the point is
  const ctx = o.getContext('2d'), dpr = o.width / fl.width;
  const ink = ctx.getImageData(Math.round((x + 10) * dpr), Math.round(y * dpr), 1, 1).data[3];
  return Math.abs(x - fl.xaxis._offset - fl.xaxis.l2p(t.x[i])) < 0.5
    && Math.abs(y - fl.yaxis._offset - fl.yaxis.l2p(t.y[i])) < 0.5 && ink > 0; }}"""
LISTEN_JS = f"""() => {{ window.__lasso = null;
  {PLOT}.on('plotly_selected', e => {{ if (e) window.__lasso =
    e.points.filter(p => p.curveNumber === 0).map(p => Number(p.customdata))
      .sort((a, b) => a - b); }}); }}"""


@pytest.fixture
def own_lab_settings(tmp_path, monkeypatch):
    """JupyterLab's settings and workspaces in tmp_path (the dark theme switched on here stays
    here), with the news check off (it would ask, and then fetch from the internet)."""
    settings = tmp_path / "lab-settings"
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(settings))
    monkeypatch.setenv("JUPYTERLAB_WORKSPACES_DIR", str(tmp_path / "lab-workspaces"))


def write_notebook(path) -> None:
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                   "outputs": [], "source": src}
                  for i, src in enumerate((SETUP, LABEL, SNAPSHOTS))],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def chromium_page():
    """A 1400 x 1000 Chromium page; its problems (failed or outside requests, console errors)
    are in ``page.problems``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.problems = []
        watch(page, page.problems)
        yield page
        browser.close()


def test_lasso_list_ring_label_all_and_theme_in_jupyterlab(own_lab_settings, lab, chromium_page):
    url, tmp = lab
    write_notebook(tmp / "lab" / "maps.ipynb")
    page = chromium_page
    try:
        selected, labeled = _drive(page, url, tmp)
    finally:  # the last screen, passed or failed; the server's log beside it
        page.screenshot(path=str(tmp / "last.png"), full_page=True)
        print(f"last screen: {tmp / 'last.png'}; server log: {tmp / 'jupyter.log'}")
    assert not page.problems, "\n".join(page.problems)
    store = Store(tmp / "demo" / "alwidget.db", read_only=True)
    labels = dict(zip(store.current_labels().clip_id.tolist(), store.current_labels().label))
    assert labels[labeled] == "target"  # the clip played from the list, labeled by key
    rest = [c for c in selected if c != labeled]
    assert all(labels.get(c) is not None for c in rest)  # "Label all" labeled the selection
    print(f"screenshots: {tmp / 'maps-light.png'}, {tmp / 'maps-dark.png'}")


def _drive(page, url, tmp):
    run_notebook(page, url, "tree/maps.ipynb")
    page.wait_for_function(f"() => {{ const gd = {PLOT}; return gd && gd.data && gd.data.length"
                           f" && {OVERLAY} && {OVERLAY}.dataset.ring; }}", timeout=180_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    root = page.locator(".alw-root")
    app = page.locator(".alw-map").locator("xpath=..")
    app.scroll_into_view_if_needed()
    _check_fit(page, app)

    # the ring marks the clip in the labeler
    shown = int(root.locator(".alw-clip").get_attribute("data-clip-id"))
    page.wait_for_function(RING_ON_JS, arg=shown, timeout=30_000)

    # a lasso around the densest spot, then on over the points as a hand goes on moving
    page.locator(".alw-map .js-plotly-plot").scroll_into_view_if_needed()
    page.evaluate(LISTEN_JS)
    pts = np.array(page.evaluate(POINTS_JS))
    near = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)) < 35
    cx, cy = pts[near.sum(1).argmax()]
    page.mouse.move(cx + 35, cy)
    page.mouse.down()
    for k in range(1, 41):
        a = 2 * math.pi * k / 40
        page.mouse.move(cx + 35 * math.cos(a), cy + 35 * math.sin(a))
    page.mouse.up()
    for x, y in pts[:: max(1, len(pts) // 40)]:  # hovers right after the lasso
        page.mouse.move(float(x), float(y))
    page.wait_for_function("() => window.__lasso !== null", timeout=10_000)
    selected = page.evaluate("() => window.__lasso")
    assert len(selected) >= 3, selected
    head = page.locator(".alw-map .widget-html", has_text="clips selected").first
    head.wait_for(timeout=30_000)
    assert head.inner_text().startswith(f"{len(selected)} clips selected"), head.inner_text()
    listed = [int(t.split()[-1]) for t in
              page.locator(".alw-map button", has_text="▶ clip").all_inner_texts()]
    assert listed == selected[:50]  # the kernel has exactly the clips the page highlighted

    # play a listed clip, label it with a key: the list and the ring follow
    texts = page.locator(".alw-map .widget-hbox", has=page.locator("button", has_text="▶ clip"))
    first = next(c for c, t in zip(listed, texts.all_inner_texts()) if "unlabeled ·" in t)
    page.locator(".alw-map button", has_text=f"▶ clip {first}").first.click()
    page.wait_for_function(
        f"() => document.querySelector('.alw-clip').dataset.clipId === '{first}'", timeout=30_000)
    page.wait_for_function(RING_ON_JS, arg=first, timeout=30_000)
    root.click(position={"x": 5, "y": 5})
    page.keyboard.press("2")
    row = page.locator(".alw-map .widget-hbox",
                       has=page.locator(f"button:text-is('▶ clip {first}')"))
    page.wait_for_function(
        "el => el.textContent.includes('labeled: target')",
        arg=row.element_handle(), timeout=30_000)
    shown = int(root.locator(".alw-clip").get_attribute("data-clip-id"))
    page.wait_for_function(RING_ON_JS, arg=shown, timeout=30_000)  # the session's next clip

    # "Label all…" needs a class and asks with the count before labeling
    page.locator(".alw-map .widget-dropdown", has_text="Label all as").locator("select") \
        .select_option(label="background")
    page.get_by_role("button", name="Label all…").click()
    todo = int(head.inner_text().split(" · ")[1].split(" to label")[0])
    confirm = page.get_by_role("button", name=f"Label {todo} clips")
    confirm.wait_for(timeout=30_000)
    assert f"Label {todo} clips as background?" in page.locator(".alwm-confirm").inner_text()
    confirm.click()
    page.locator(".alw-map", has_text=f"labeled {todo} clips as background").wait_for(
        timeout=30_000)
    assert head.inner_text().endswith(" 0 to label, " f"{len(selected)} decided or held out")
    assert all("unlabeled" not in t for t in texts.all_inner_texts())  # the list follows

    # the tooltip of a point: its file, time in the file, node, status
    page.locator(".alw-map .js-plotly-plot").scroll_into_view_if_needed()
    x, y = np.array(page.evaluate(POINTS_JS))[near.sum(1).argmin()]  # an isolated point
    page.mouse.move(float(x) + 3, float(y) + 3)
    page.mouse.move(float(x), float(y))
    tip = page.locator(".alwm-tip")
    tip.wait_for(state="visible", timeout=10_000)
    text = tip.inner_text()
    assert ".wav" in text and "in the file" in text and "node node0" in text and "clip " in text
    page.screenshot(path=str(tmp / "maps-light.png"))
    keep_screenshot(tmp / "maps-light.png")

    _check_snapshots(page)
    _dark_theme(page, tmp)
    return selected, first


def _check_fit(page, app):
    """The labeler and the map side by side, inside the notebook's visible area."""
    box = app.bounding_box()
    panel = page.locator(".jp-NotebookPanel-notebook").bounding_box()
    assert box["width"] <= panel["width"] + 1, (box, panel)
    labeler, map_ = (page.locator(s).bounding_box() for s in (".alw-root", ".alw-map"))
    assert abs(labeler["y"] - map_["y"]) < 5 and map_["x"] > labeler["x"]  # side by side
    plot = page.evaluate(f"() => [{PLOT}._fullLayout.width, "
                         f"{PLOT}.getBoundingClientRect().width]")
    assert plot[0] <= plot[1] + 2, plot  # the plot is as wide as its box, not cut off
    tall = max(labeler["y"] + labeler["height"], map_["y"] + map_["height"]) - labeler["y"]
    assert tall <= panel["height"], (tall, panel)  # one screen: no scrolling between the two


def _check_snapshots(page):
    """The snapshots figure fits its output, with its colour bar and legend."""
    page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
    out = page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-OutputArea-output")
    out.locator(".main-svg").first.wait_for(timeout=30_000)
    out.scroll_into_view_if_needed()
    area = out.bounding_box()
    fig = out.locator(".main-svg").first.bounding_box()
    assert fig["x"] + fig["width"] <= area["x"] + area["width"] + 1, (fig, area)
    bar = out.locator(".colorbar").first.bounding_box()
    assert bar["x"] + bar["width"] <= fig["x"] + fig["width"] + 1
    assert out.locator(".legend .traces").count() == 2  # labeled clip, unlabeled clip


def _dark_theme(page, tmp):
    """JupyterLab's dark theme: the map takes plotly's dark template on JupyterLab's background."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
    page.wait_for_function(f"() => {PLOT}._fullLayout.font.color === '#f2f5fa'", timeout=30_000)
    page.wait_for_function(f"() => {OVERLAY}.dataset.ringColor === '#ffffff'", timeout=30_000)
    ring = page.evaluate(f"() => {OVERLAY}.dataset.ringColor")
    assert ring == "#ffffff"
    page.locator(".alw-map").evaluate("e => e.parentElement.scrollIntoView()")
    page.screenshot(path=str(tmp / "maps-dark.png"))
    keep_screenshot(tmp / "maps-dark.png")
