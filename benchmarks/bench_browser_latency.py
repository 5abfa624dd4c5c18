"""The expert's wait as felt in the browser: from the key press to the next clip shown.

Real JupyterLab, real Chromium (Debian's, through Playwright, headless), a 100,000-clip pool:
the demo corpus at 1,000 files of 100 s (``alwidget.demo.make_demo``, 16 kHz), ingested as
one-second clips with ``logmel`` features (built once, cached in ``--work``, outside the
repository). A notebook opens a session as the quickstart does (least confidence, fold 5 as
validation, one known target) and shows the labeler alone (``LabelingWidget``) or the
labeler with the map (``LabelingApp``, PCA map). Then 100 labels are given by key (1 or 2,
from the demo's ground truth), after ``--listen`` seconds of listening to each clip.

Measured in the page (``performance.now()`` clock): from the keydown event
(``event.timeStamp``) to the next clip's spectrogram painted (the first frame after its new
image is drawn on the labeler's canvas: requestAnimationFrame, then a task) and to its audio
ready (the ``canplaythrough`` event of the new WAV bytes); "next clip ready" is the later of
the two. The page reads these moments from the labeler's own User Timing marks
(``alwidget:painted``, ``alwidget:audio-ready``) when ``labeler.js`` makes them, else from
patched canvas and media prototypes (the report says which). The ``painted`` mark says
whether the clip came from the page's own copy (the kernel sends the next clip of each
likely answer while the expert listens; the page shows it at the key press and the kernel
confirms it).

Measured in the kernel (``time.perf_counter``): ``LabelingWidget.decide`` (the whole
answer in the kernel), ``Session.submit`` (the session: commit + next plan, and, inside it,
the views' updates: ``MapView.recolor``), and the labeler's ``clip_payload`` (audio +
spectrogram; a hit when the planner made it ahead). The session's share is
``Session.submit`` minus the views' updates in it; the widget's share is the rest of the
page's wait (payload, comm, paint, the map).

Run from the project root (the first run builds the data: about 5 minutes, 3.2 GB of audio;
then about 20 minutes for the four runs):

    .venv/bin/python benchmarks/bench_browser_latency.py --out benchmarks/results/browser_latency.md

``--labels 30 --files 20`` (2,000 clips) makes a quick check.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_browser import ARGS, CHROMIUM, TOKEN, free_port, run_notebook, watch  # noqa: E402

WORK = Path(os.environ.get("ALWIDGET_BENCH_DIR", Path.home() / ".cache" / "alwidget-bench"))


def build_data(work: Path, files: int = 1000, file_seconds: int = 100) -> Path:
    """The demo corpus at ``files`` x ``file_seconds`` one-second clips, ingested, with logmel
    features and its PCA map, in ``work/demo`` (made once; ``built.json`` says it is whole)."""
    import alwidget
    from alwidget.demo import NAME_PATTERN, make_demo
    from alwidget.projections import compute_projection

    demo = work / "demo"
    done = demo / "built.json"
    want = {"files": files, "file_seconds": file_seconds, "features": "logmel"}
    if done.exists() and json.loads(done.read_text()) == want:
        return demo
    if demo.exists():
        shutil.rmtree(demo)
    t0 = time.perf_counter()
    make_demo(demo, seed=0, n_nodes=4, files_per_node=files // 4, file_seconds=file_seconds)
    alwidget.ingest(demo / "audio", demo / "alwidget.db", clip_seconds=1.0,
                    name_pattern=NAME_PATTERN)
    store = alwidget.Store(demo / "alwidget.db")
    fs = alwidget.extract_features(store, "logmel")
    compute_projection(store, fs, "pca")
    store.close()
    done.write_text(json.dumps(want))
    print(f"built {files} x {file_seconds} s in {time.perf_counter() - t0:.0f} s", flush=True)
    return demo


# -- the notebook the kernel runs ----------------------------------------------------------
SETUP = '''\
import csv, json, os, time
from pathlib import Path

import alwidget
from alwidget.session import Session
from alwidget.widgets import LabelingApp, LabelingWidget, MapView
from alwidget.widgets import labeler as labeler_module

DATA = Path({data!r})
store = alwidget.Store("alwidget.db")
truth = {{(r["path"], float(r["start_s"])): r for r in csv.DictReader(open(DATA / "labels.csv"))}}
src = store.clip_sources()
row_of = {{int(c): truth[(os.path.relpath(p, DATA.resolve()), s)]
          for c, p, s in zip(src.clip_id, src.path, src.start_s)}}
validation = [c for c, r in row_of.items() if r["fold"] == "5"]
session = Session(store, classes=["background", "target"], strategy="lc",
                  validation=(validation, [row_of[c]["label"] for c in validation]))
example = next(c for c, r in row_of.items() if r["label"] == "target" and r["fold"] != "5")
session.label(example, "target")
'''

INSTRUMENT = '''\
# kernel-side timings of each answer, one JSON line per LabelingWidget.decide
try:
    from alwidget.session.payloads import PAYLOADS
except ImportError:  # an alwidget that makes no payload ahead
    PAYLOADS = None
_now = time.perf_counter
_cur = {}
_log = open("kernel.jsonl", "a")

def _timed(owner, name, key):
    real = getattr(owner, name)
    def timed(*args, **kwargs):
        t = _now()
        try:
            return real(*args, **kwargs)
        finally:
            _cur[key] = _cur.get(key, 0.0) + _now() - t
    setattr(owner, name, timed)

for owner, name, key in [(Session, "submit", "submit"),
                         (labeler_module, "clip_payload", "payload")]:
    _timed(owner, name, key)

# the map's work after an answer (on the loop's next turn): a patch, or a redraw of the scatter
_map_log = open("map.jsonl", "a")

def _map_timed(name):
    real = getattr(MapView, name, None)
    if real is None:  # an alwidget without patches
        return
    def timed(self, *args, **kwargs):
        t = _now()
        try:
            return real(self, *args, **kwargs)
        finally:
            _map_log.write(json.dumps({"what": name, "s": _now() - t}) + "\\n")
            _map_log.flush()
    setattr(MapView, name, timed)

for _name in ("_show_changes", "recolor"):
    _map_timed(_name)
_decide = LabelingWidget.decide

def decide(self, *args, **kwargs):
    _cur.clear()
    hits, sync = PAYLOADS and PAYLOADS.hits, session.n_sync_plans
    _cur["wall_start"] = time.time()  # the page's clock is performance.timeOrigin + now()
    t = _now()
    try:
        return _decide(self, *args, **kwargs)
    finally:
        _cur["decide"] = _now() - t
        _cur["wall_end"] = time.time()
        _cur.update(hit=PAYLOADS and PAYLOADS.hits > hits, sync_plans=session.n_sync_plans - sync,
                    clip=self.status.get("clip_id"), error=self.error)
        _log.write(json.dumps(_cur) + "\\n")
        _log.flush()

LabelingWidget.decide = decide
'''

NOTHING_AHEAD = """\
# compare: the next clips' payloads are not made ahead (made after the answer, as before)
session._planner.prepare = None
"""

SHOW = {
    "labeler": "widget = LabelingWidget(session)\nwidget",
    "app": "app = LabelingApp(session, map_method=\"pca\")\nwidget = app.labeler\napp",
}


def write_notebook(path: Path, data: Path, view: str, ahead: bool = True, extra: str = "") -> None:
    cells = [SETUP.format(data=str(data)), INSTRUMENT + ("" if ahead else NOTHING_AHEAD) + extra,
             SHOW[view]]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                     "metadata": {}, "outputs": [], "source": c} for i, c in enumerate(cells)],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                      "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1))


# -- the page's clock ----------------------------------------------------------------------
PAGE_JS = r"""
(() => {
  const S = window.__alwBench = { pending: null, done: [], hooks: false };
  const now = () => performance.now();
  window.addEventListener("keydown", (ev) => {
    if (ev.repeat || !/^[1-9]$/.test(ev.key)) return;
    const root = ev.target.closest && ev.target.closest(".alw-root");
    if (!root) return;
    S.pending = { key: ev.key, t0: ev.timeStamp, handled: now(), spec: null, audio: null };
  }, true);
  function finish(p) {
    if (p.spec !== null && p.audio !== null && S.pending === p) { S.done.push(p); S.pending = null; }
  }
  function painted() {  // the first frame after the new image was drawn
    const p = S.pending;
    if (!p || p.drawn) return;
    p.drawn = now();
    requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { p.spec = now(); finish(p); };
      ch.port2.postMessage(0);
    });
  }
  function audioReady() {
    const p = S.pending;
    if (p && p.audio === null) { p.audio = now(); finish(p); }
  }
  // tasks of 50 ms or more (the page could not paint meanwhile): plotly's redraws, ...
  S.long = [];
  if (window.PerformanceObserver) new PerformanceObserver((list) => {
    for (const e of list.getEntries()) S.long.push([e.startTime, e.duration]);
  }).observe({ type: "longtask" });
  // the websocket: the answer leaves, the next clip's payload (the largest message) arrives
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const p = S.pending;
    if (p && !p.sent) { p.sent = now(); p.origin = performance.timeOrigin; }
    return send.call(this, data);
  };
  const onmsg = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage");
  Object.defineProperty(WebSocket.prototype, "onmessage", { ...onmsg, set(handler) {
    onmsg.set.call(this, handler && function (ev) {
      const p = S.pending, size = ev.data && (ev.data.byteLength || ev.data.size || ev.data.length);
      if (p && size > (p.size || 20000)) { p.arrived = now(); p.size = size; }
      return handler.call(this, ev);
    });
  } });
  // the labeler's own marks (User Timing), when it makes them: "alwidget:painted" after the
  // frame that shows a new clip, "alwidget:audio-ready" when its audio can play through
  if (window.PerformanceObserver) new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name !== "alwidget:painted" && e.name !== "alwidget:audio-ready") continue;
      S.hooks = true;
      const p = S.pending;
      if (!p || e.startTime < p.handled) continue;
      if (e.name === "alwidget:painted" && p.spec === null) {
        p.spec = e.startTime; p.drawn = p.drawn || e.startTime;
        p.ahead = !!(e.detail && e.detail.ahead); p.clip = e.detail ? e.detail.clip_id : null;
      }
      if (e.name === "alwidget:audio-ready" && p.audio === null) p.audio = e.startTime;
      finish(p);
    }
  }).observe({ type: "mark" });
  // else: the spectrogram image is made with putImageData on a canvas of its own, then drawn
  // on the labeler's canvas; the audio is a blob: URL given to an audio element
  const put = CanvasRenderingContext2D.prototype.putImageData;
  CanvasRenderingContext2D.prototype.putImageData = function (...a) {
    this.canvas.__alwBuilt = now();
    return put.apply(this, a);
  };
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (src, ...a) {
    const out = draw.call(this, src, ...a);
    const p = S.pending;
    if (!S.hooks && p && src && src.__alwBuilt > p.handled && this.canvas.classList.contains("alw-spec"))
      painted();
    return out;
  };
  const desc = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "src");
  Object.defineProperty(HTMLMediaElement.prototype, "src", { ...desc, set(v) {
    desc.set.call(this, v);
    if (!String(v).startsWith("blob:") || !S.pending) return;
    S.pending.src = S.pending.src || now();
    const el = this;
    const on = () => { el.removeEventListener("canplaythrough", on); if (!S.hooks) audioReady(); };
    el.addEventListener("canplaythrough", on);
  } });
})();
"""

CLIP_JS = "() => { const c = document.querySelector('.alw-root .alw-clip'); return c ? c.dataset.clipId : null; }"


@contextlib.contextmanager
def jupyterlab(root: Path, alwidget_dir: Path | None = None):
    """JupyterLab serving ``root`` (as the browser test starts it), its kernels importing
    alwidget from ``alwidget_dir`` when given; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}",
           f"--LabApp.workspaces_dir={root / '.lab-workspaces'}",  # no other notebook's tabs
           f"--LabApp.user_settings_dir={root / '.lab-settings'}",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ)
    env.pop("ALWIDGET_SIMULATED_ANNOTATOR", None)
    if alwidget_dir is not None:
        env["PYTHONPATH"] = str(alwidget_dir)
    with open(root / "jupyter.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"JupyterLab did not start: see {root / 'jupyter.log'}")
                    time.sleep(0.25)  # polling a server that is starting
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def chromium_page(folder: Path, init_js: str, problems: list[str]):
    """A page of Debian's Chromium (as the browser test runs it) with ``init_js`` run before
    each document; problems (requests leaving the machine, console errors) are noted in
    ``problems``; on failure, a screenshot in ``folder``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch(page, problems)
        page.add_init_script(init_js)
        try:
            yield page
        except Exception:
            page.screenshot(path=str(folder / "failure.png"), full_page=True)
            print(f"failed: see {folder / 'failure.png'} and {folder / 'jupyter.log'}")
            raise
        finally:
            browser.close()


def truth_by_clip(demo: Path) -> dict[int, str]:
    from alwidget.store import Store

    truth = {(r["path"], float(r["start_s"])): r["label"]
             for r in csv.DictReader(open(demo / "labels.csv"))}
    store = Store(demo / "alwidget.db")  # (writable: a newer alwidget upgrades it once)
    src = store.clip_sources()
    out = {int(c): truth[(os.path.relpath(p, demo.resolve()), float(s))]
           for c, p, s in zip(src.clip_id, src.path, src.start_s)}
    store.close()
    return out


def run_one(demo: Path, run_dir: Path, view: str, listen: float, labels: int,
            truth: dict[int, str], alwidget_dir: Path | None = None, ahead: bool = True,
            extra: str = "") -> dict:
    """Label ``labels`` clips by key in a fresh JupyterLab; return page and kernel timings."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    shutil.copy(demo / "alwidget.db", run_dir / "alwidget.db")  # a fresh state for each run
    if (demo / "alwidget.db.maps").exists():
        shutil.copytree(demo / "alwidget.db.maps", run_dir / "alwidget.db.maps")
    write_notebook(run_dir / "bench.ipynb", demo, view, ahead, extra)
    problems: list[str] = []
    load_before = os.getloadavg()
    with jupyterlab(run_dir, alwidget_dir) as url, chromium_page(run_dir, PAGE_JS, problems) as page:
        run_notebook(page, url, "tree/bench.ipynb")
        page.wait_for_selector(".alw-root .alw-class", timeout=300_000)
        if view == "app":
            page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        page.wait_for_function(
            "() => /^1 labels/.test(document.querySelector('.alw-status').textContent)",
            timeout=120_000)
        root = page.locator(".alw-root")
        root.scroll_into_view_if_needed()
        root.click(position={"x": 5, "y": 5})  # focus: keys go to the widget
        clip = page.evaluate(CLIP_JS)
        for i in range(labels):
            page.wait_for_timeout(listen * 1000)  # the expert listens
            key = "2" if truth[int(clip)] == "target" else "1"
            page.keyboard.press(key)
            page.wait_for_function("n => window.__alwBench.done.length >= n", arg=i + 1,
                                   timeout=60_000)
            page.wait_for_function(  # the status (the clip's id) follows the payload
                f"c => ({CLIP_JS})() !== c", arg=clip, timeout=60_000)
            clip = page.evaluate(CLIP_JS)
        page.wait_for_function(
            "n => parseInt(document.querySelector('.alw-status').textContent) === n",
            arg=labels + 1, timeout=60_000)
        marks = page.evaluate("() => ({done: window.__alwBench.done, hooks: window.__alwBench.hooks, "
                              "long: window.__alwBench.long})")
        page.screenshot(path=str(run_dir / "page.png"))
    kernel = [json.loads(line) for line in (run_dir / "kernel.jsonl").read_text().splitlines()]
    assert len(kernel) == labels, f"{len(kernel)} kernel records for {labels} labels"
    errors = [k["error"] for k in kernel if k["error"]]
    assert not errors, errors[:3]
    assert not problems, "\n".join(problems)
    for m in marks["done"]:  # long tasks in each wait (ms)
        end = max(m["spec"], m["audio"])
        m["long"] = sum(min(t + d, end) - max(t, m["t0"]) for t, d in marks["long"]
                        if t < end and t + d > m["t0"])
    maps = run_dir / "map.jsonl"
    maps = [json.loads(line) for line in maps.read_text().splitlines()] if maps.exists() else []
    return dict(view=view, listen=listen, marks=marks["done"], hooks=marks["hooks"],
                kernel=kernel, maps=maps, load=(load_before, os.getloadavg()))


def stats(values) -> str:
    v = np.asarray(values, float)
    return f"{np.median(v):.0f} / {np.percentile(v, 95):.0f} / {v.max():.0f}"


def table(runs: list[dict], n_clips: int) -> list[str]:
    names = {"labeler": "labeler", "app": "labeler + map (PCA)"}
    waits, where = [], []
    tags = len({r.get("alwidget") for r in runs}) > 1
    for r in runs:
        m, k = r["marks"], r["kernel"]
        tag = f" ({r.get('alwidget')})" if tags else ""
        view = f"| {names[r['view']]}{tag} | {r['listen']:g} s |"
        spec = [x["spec"] - x["t0"] for x in m]
        audio = [x["audio"] - x["t0"] for x in m]
        ready = np.maximum(spec, audio)
        session = np.array([x["submit"] for x in k]) * 1000
        maps = r.get("maps", [])
        patches = np.array([x["s"] for x in maps if x["what"] == "_show_changes"]) * 1000
        redraws = sum(x["what"] == "recolor" for x in maps)
        map_work = (f"{stats(patches)} ({len(patches)} patches, {redraws} redraws)"
                    if len(patches) else "—")
        payload = np.array([x.get("payload", 0.0) for x in k]) * 1000
        hits = "—" if k[0]["hit"] is None else f"{sum(x['hit'] for x in k)}/{len(k)}"
        # shown from the page's copy, and the clip the kernel then showed (else: replaced)
        replaced = sum(bool(x.get("ahead")) and x.get("clip") not in (None, y["clip"])
                       for x, y in zip(m, k))
        confirmed = sum(bool(x.get("ahead")) for x in m) - replaced
        shown_ahead = (f"{confirmed}/{len(m)}" + (f" ({replaced} replaced)" if replaced else "")
                       if any("ahead" in x for x in m) else "—")
        waits.append(f"{view} {stats(ready)} | {stats(spec)} | {stats(audio)} | {stats(session)} "
                     f"| {map_work if r['view'] == 'app' else '—'} | {stats(payload)} "
                     f"| {stats(ready - session)} | {hits} | {shown_ahead} "
                     f"| {sum(x['sync_plans'] for x in k)} |")

        def med(values):
            v = [x for x in values if x is not None]
            return f"{np.median(v):.0f}" if v else "—"

        def page(name):
            return med([x[name] - x["t0"] if x.get(name) else None for x in m])

        def wall(name):
            return med([1000 * y[name] - x["origin"] - x["t0"] if x.get("origin") else None
                        for x, y in zip(m, k)])

        size = [x["size"] for x in m if x.get("size")]
        where.append(f"{view} {page('sent')} | {wall('wall_start')} | {wall('wall_end')} | "
                     f"{page('arrived')} | {page('drawn')} | {page('spec')} | {page('src')} | "
                     f"{page('audio')} | {med([x.get('long') for x in m])} | "
                     + (f"{np.median(size) / 1000:.0f} kB |" if size else "— |"))
    return [f"From the key press to the next clip ready in the page, {n_clips:,} clips, "
            f"{len(runs[0]['marks'])} labels per row (ms: median / p95 / max).", "",
            "| view | listening | next clip ready | spectrogram painted | audio ready "
            "| session (Session.submit) | map update (kernel) | payload (kernel) "
            "| widget's share | payloads made ahead | shown from the page's copy "
            "| plans made while waiting |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|", *waits, "",
            "Where the time goes: median ms after the keydown (kernel moments by the wall "
            "clock, which the page and the kernel share):", "",
            "| view | listening | answer sent | kernel starts | kernel done | payload arrived "
            "| image drawn | painted | audio given | audio ready | long tasks in the wait "
            "| payload size |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|", *where, "",
            "The widget's share: next clip ready minus the session's time (payload, trait "
            "messages, comm, the browser's work, the map). Shown from the page's copy: the "
            "next clip of the answer was in the page before the key (sent while the expert "
            "listened), so it is painted without waiting for the kernel, which then confirms "
            "it.",
            "Page moments from " + ("the labeler's marks (alwidget:painted, alwidget:audio-ready)"
                                    if all(r["hooks"] for r in runs) else
                                    "patched canvas and media prototypes (labeler.js makes no "
                                    "marks)") + ".",
            "Load average (1 min) before / after each run: "
            + "; ".join(f"{names[r['view']]} {r['listen']:g} s: "
                        f"{r['load'][0][0]:.2f} / {r['load'][1][0]:.2f}" for r in runs) + "."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--file-seconds", type=int, default=100)
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--listen", type=float, nargs="+", default=[2.0, 0.0])
    ap.add_argument("--views", nargs="+", default=["labeler", "app"], choices=list(SHOW))
    ap.add_argument("--alwidget", type=Path, help="a folder holding the alwidget package the "
                    "kernels import (e.g. `git archive COMMIT alwidget | tar -x -C DIR`), to "
                    "compare with another commit")
    ap.add_argument("--nothing-ahead", action="store_true",
                    help="make no payload ahead (the clip's payload is made after the answer)")
    ap.add_argument("--code", default="", help="Python run in the kernel before the view is "
                    "shown (to try a change); its runs are tagged --tag")
    ap.add_argument("--tag", default="", help="a name for the runs (their folder)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--report", type=Path, nargs="+", metavar="RUNS_JSON",
                    help="only write the tables of runs saved before (runs.json files)")
    a = ap.parse_args()
    if a.report:
        runs = [r for path in a.report for r in json.loads(path.read_text())]
        return write_report(runs, a)
    if not os.path.exists(CHROMIUM):
        sys.exit(f"chromium not found at {CHROMIUM}: apt-get install chromium")
    work = a.work / f"browser-{a.files}x{a.file_seconds}"
    demo = build_data(work, a.files, a.file_seconds)
    truth = truth_by_clip(demo)
    runs = []
    for view in a.views:
        for listen in a.listen:
            print(f"{view}, {listen:g} s of listening; load {os.getloadavg()}", flush=True)
            tag = a.tag or ((a.alwidget.name if a.alwidget else "this")
                            + ("-nothing-ahead" if a.nothing_ahead else ""))
            runs.append(run_one(demo, work / "runs" / tag / f"{view}-{listen:g}", view, listen,
                                a.labels, truth, a.alwidget, not a.nothing_ahead,
                                a.code and a.code + "\n"))
            runs[-1].update(n_clips=len(truth), alwidget=tag)
            (work / "runs" / tag / "runs.json").write_text(json.dumps(runs))
            print("\n".join(table(runs[-1:], len(truth))), flush=True)
            (work / "runs" / tag / f"{view}-{listen:g}-{time.strftime('%H%M%S')}.json"
             ).write_text(json.dumps(runs[-1:]))
    write_report(runs, a)


def write_report(runs: list[dict], a) -> None:
    lines = table(runs, runs[0]["n_clips"])
    lines += ["", f"Made with `.venv/bin/python benchmarks/bench_browser_latency.py "
              f"{' '.join(sys.argv[1:])}` ({os.cpu_count()} cores, Chromium headless)."]
    report(lines, a.out)


def report(lines: list[str], out: Path | None) -> None:
    """Print a benchmark's report and write it to ``out`` when given."""
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
