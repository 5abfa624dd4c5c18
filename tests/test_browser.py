"""Real JupyterLab, real Chromium: run the quickstart and label with the mouse and the keys.

Starts JupyterLab on 127.0.0.1 over a copy of the notebooks, opens the
quickstart in Debian's chromium through Playwright, runs it, labels clips with
a click and with hotkeys, undoes one, drags an event region, then checks the
rows in the database. Fails on any failed network request, any request that
leaves the machine, and any console error; saves a screenshot.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

import pytest

from alwidget.store import Store
from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--autoplay-policy=no-user-gesture-required"]
TOKEN = "alwidget-browser-test"


def keep_screenshot(path) -> None:
    """Copy a screenshot a test made to ``$ALWIDGET_SCREENSHOTS`` when it is set (the README's
    images: ``ALWIDGET_SCREENSHOTS=docs/images ./dev.sh test tests/test_browser_labeler.py
    tests/test_browser_maps.py``)."""
    folder = os.environ.get("ALWIDGET_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copy(path, os.path.join(folder, os.path.basename(path)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of notebooks/ with the demo data in tmp_path."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium not installed (./dev.sh test installs it when run as root)")
    pytest.importorskip("playwright")
    root = tmp_path / "lab"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port = free_port()
    # its own workspaces and settings: a workspace another test left in the user's folder
    # must not make this lab restore a notebook it does not serve (404s in the console)
    env = dict(os.environ, ALWIDGET_DEMO_DIR=str(tmp_path / "demo"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"))
    env.pop("ALWIDGET_SIMULATED_ANNOTATOR", None)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyter.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: see {tmp_path / 'jupyter.log'}")
        yield url, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def watch(page, problems: list[str]) -> None:
    """Note failed requests, requests leaving the machine, console errors and page errors."""
    def on_request(req):
        host = urlparse(req.url).hostname
        if req.url.startswith(("http", "ws")) and host not in ("127.0.0.1", "localhost"):
            problems.append(f"request leaving the machine: {req.url}")

    page.on("request", on_request)
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))


def run_notebook(page, url: str, path: str) -> None:
    """Open the notebook at ``path`` (below the lab's root; may start with a workspace,
    ``workspaces/<name>/tree/``, else ``tree/``) and run all its cells."""
    page.goto(f"{url}/lab/{path}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    try:  # JupyterLab sometimes asks which kernel to start: the notebook's own
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=5_000)
    except Exception:  # no dialog: the kernel started by itself
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def labels_shown(page) -> int:
    text = page.locator(".alw-status").inner_text()
    return int(text.split(" labels")[0])


def wait_labels(page, n: int) -> None:
    page.wait_for_function(
        "n => { const s = document.querySelector('.alw-status');"
        " return s && parseInt(s.textContent) === n; }", arg=n, timeout=30_000)


def test_label_in_jupyterlab_with_mouse_and_keys(lab):
    from playwright.sync_api import sync_playwright

    url, tmp = lab
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch(page, problems)

        try:
            _drive(page, url, tmp)
        except Exception:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            print(f"failure screenshot: {tmp / 'failure.png'}; server log: {tmp / 'jupyter.log'}")
            raise
        browser.close()

    assert not problems, "\n".join(problems)
    store = Store(tmp / "demo" / "alwidget.db")
    labels = store.current_labels()
    assert len(labels) == 6
    kinds = [d.kind for d in store.active_events()]
    assert kinds == ["label"] * 6  # Ctrl+S stored no skip
    assert store.db["label_events"].count == 8  # 7 labels + 1 undo, none deleted
    double = int((tmp / "double.txt").read_text())
    assert [d.clip_id for d in store.active_events()].count(double) == 1  # one label, on it
    picked = store.active_events()[-1]
    assert picked.reason == "chosen by the expert" and picked.label == "target"
    assert picked.clip_id == int(open(tmp / "picked.txt").read())
    (chunk,) = store.chunks()
    assert chunk["tag"] == "target" and 0 <= chunk["onset_s"] < chunk["offset_s"]
    print(f"screenshot: {tmp / 'labeling.png'}")


def _drive(page, url, tmp):
    """Open the quickstart, run it, and label: mouse, keys, undo, region."""
    run_notebook(page, url, "tree/notebooks/01_quickstart.ipynb")
    n_cells = page.locator(".jp-Notebook .jp-Cell").count()
    n_markdown = page.locator(".jp-Notebook .jp-MarkdownCell").count()
    page.wait_for_selector(".alw-root .alw-class", state="attached", timeout=180_000)
    root = page.locator(".alw-root")
    root.scroll_into_view_if_needed()
    wait_labels(page, 1)  # the known example of the target

    # a label with the mouse
    root.locator(".alw-class", has_text="background").click()
    wait_labels(page, 2)
    # labels with the keys (the widget has focus after the click)
    root.click(position={"x": 5, "y": 5})
    page.keyboard.press("1")
    wait_labels(page, 3)
    # a double press, a held key's repeat and Ctrl+S, all before the kernel can answer: one
    # label, on the clip that was shown; the second press is refused, the others ignored
    shown = root.locator(".alw-clip").get_attribute("data-clip-id")
    page.evaluate(DOUBLE_PRESS_JS)
    wait_labels(page, 4)
    # (refused by the kernel, or by the page when it showed the next clip from its own copy)
    page.wait_for_function(
        "() => document.querySelector('.alw-error').textContent.includes('no longer shown')"
        " || document.querySelector('.alw-root').dataset.refused === '1'",
        timeout=30_000)
    (tmp / "double.txt").write_text(shown)
    page.keyboard.press("2")
    wait_labels(page, 5)
    # undo the last one
    page.keyboard.press("z")
    wait_labels(page, 4)
    # play/pause with Space
    page.keyboard.press(" ")
    page.wait_for_function(
        "() => document.querySelector('.alw-play').textContent.includes('Pause')",
        timeout=10_000)
    page.keyboard.press(" ")
    # drag an onset/offset region on the spectrogram, then label the clip as target
    box = root.locator("canvas.alw-spec").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.42, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.58, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.alw-region').textContent.startsWith('event')",
        timeout=10_000)
    page.keyboard.press("2")
    wait_labels(page, 5)
    page.screenshot(path=str(tmp / "labeling.png"), full_page=True)

    # keys never reached JupyterLab: no cell added, removed or turned into markdown
    assert page.locator(".jp-Notebook .jp-Cell").count() == n_cells
    assert page.locator(".jp-Notebook .jp-MarkdownCell").count() == n_markdown
    assert root.locator(".alw-error").inner_text() == ""
    _click_the_map(page, root, tmp)


DOUBLE_PRESS_JS = """() => { const r = document.querySelector('.alw-root');
  const key = (k, o = {}) => r.dispatchEvent(
    new KeyboardEvent('keydown', {key: k, bubbles: true, cancelable: true, ...o}));
  key('1'); key('1'); key('1', {repeat: true}); key('s', {ctrlKey: true}); }"""
POINT_JS = """() => { const gd = [...document.querySelectorAll('.js-plotly-plot')].pop();
  const fl = gd._fullLayout, r = gd.getBoundingClientRect(), color = gd._fullData[0].marker.color;
  const t = gd._fullData[0], px = Array.from(t.x, (x, i) => [fl.xaxis.l2p(x), fl.yaxis.l2p(t.y[i])]);
  for (let i = 0; i < px.length; i++) {  // an unlabeled point with no other point within 6 px
    if (Number(color[i]) !== 0) continue;
    if (px.every((q, j) => j === i || Math.hypot(q[0] - px[i][0], q[1] - px[i][1]) > 6))
      return {x: r.left + fl._size.l + px[i][0], y: r.top + fl._size.t + px[i][1]};
  }
  return null; }"""
COLOR_JS = """id => { const gd = [...document.querySelectorAll('.js-plotly-plot')].pop();
  const t = gd._fullData[0], ids = Array.from(t.customdata), i = ids.indexOf(id);
  return i < 0 ? null : Number(t.marker.color[i]); }"""

OVERLAY_RGB_JS = """id => { const gd = document.querySelector('.alw-map .js-plotly-plot');
  const o = document.querySelector('.alw-map .alwm-overlay'), t = gd._fullData[0], fl = gd._fullLayout;
  const i = Array.from(t.customdata).indexOf(id), dpr = o.width / fl.width;
  const x = fl.xaxis._offset + fl.xaxis.l2p(t.x[i]), y = fl.yaxis._offset + fl.yaxis.l2p(t.y[i]);
  const px = o.getContext('2d').getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
  return px[3] ? [px[0], px[1], px[2]] : null; }"""


def _click_the_map(page, root, tmp):
    """Click a point of the t-SNE map: the labeler plays that clip; label it; the colours change."""
    page.wait_for_function(  # PCA first, then t-SNE from the background thread
        "() => [...document.querySelectorAll('.widget-html-content')]"
        ".some(e => e.textContent.startsWith('t-SNE of'))", timeout=180_000)
    plot = page.locator(".js-plotly-plot").last
    plot.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    before_clip = root.locator(".alw-clip").get_attribute("data-clip-id")
    pt = page.evaluate(POINT_JS)
    assert pt is not None, "no isolated unlabeled point on the map"
    page.mouse.move(pt["x"], pt["y"])
    page.mouse.click(pt["x"], pt["y"])
    page.wait_for_function(
        "() => document.querySelector('.alw-reason').textContent.includes('chosen by the expert')",
        timeout=30_000)
    picked = int(root.locator(".alw-clip").get_attribute("data-clip-id"))
    assert str(picked) != before_clip
    page.wait_for_function(  # it plays at once
        "() => document.querySelector('.alw-play').textContent.includes('Pause')", timeout=10_000)
    assert page.evaluate(COLOR_JS, picked) == 0  # unlabeled
    root.click(position={"x": 5, "y": 5})
    page.keyboard.press("2")
    wait_labels(page, 6)
    # drawn over the map at once in the colour of labeled clips; the scatter once the expert pauses
    near = "Math.max(...c.map((v, k) => Math.abs(v - [31, 119, 180][k]))) < 4"  # labeled's
    page.wait_for_function(f"() => {{ const c = ({OVERLAY_RGB_JS})({picked}); return c && {near}; }}",
                           timeout=10_000)
    page.wait_for_function(f"() => ({COLOR_JS})({picked}) === 2", timeout=30_000)  # after 8 s
    (tmp / "picked.txt").write_text(str(picked))
    plot.screenshot(path=str(tmp / "map.png"))
