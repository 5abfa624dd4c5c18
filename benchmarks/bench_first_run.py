"""A new user's first minute: ``./dev.sh lab``, open the quickstart, Run All, label.

What a new user does, timed in real Chromium (Debian's, headless, through Playwright):
``./dev.sh lab`` starts JupyterLab (its set-up — install check, demo audio, the forest's
compiled kernels — happens before JupyterLab starts and is not timed); the page opens
``notebooks/01_quickstart.ipynb``, waits for its kernel, and clicks Run > Run All Cells.
Timed in the page (``performance.now()``) from that click to:

* each cell's end (its prompt gets its number);
* the first clip's spectrogram painted in the labeler and its audio ready (the labeler's
  User Timing marks ``alwidget:painted``, after the frame that shows a clip, and
  ``alwidget:audio-ready``, at ``canplaythrough``);
* the labeler answering: at once after the first clip is shown, the widget is clicked and
  ``1`` pressed; "usable" is when the next clip is painted.

Each run starts from the demo audio alone (``data/demo`` without ``alwidget.db``: ingest,
features, session, maps all run), in a copy of the repository's ``dev.sh``, ``pyproject.toml``
and ``notebooks/`` under ``--work`` that uses this checkout's ``.venv``, so the repository's
own notebook and data are left alone. The page also checks JupyterLab's news prompt ("Would
you like to get notified about official Jupyter news?") never shows and no request leaves
the machine.

Run from the project root (about 1 minute per run):

    .venv/bin/python benchmarks/bench_first_run.py --out benchmarks/results/first_run.md
"""

from __future__ import annotations

import argparse
import hashlib
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
from bench_browser_latency import chromium_page, report  # noqa: E402
from test_browser import CHROMIUM, free_port  # noqa: E402

WORK = Path(os.environ.get("ALWIDGET_BENCH_DIR", Path.home() / ".cache" / "alwidget-bench"))
TOKEN = "alwidget-first-run"
# what ./dev.sh lab installs (the make_venv line of cmd_lab, the first in dev.sh)
EXTRAS = next(line.split()[1] for line in (ROOT / "dev.sh").read_text().splitlines()
              if line.strip().startswith("make_venv "))
NEWS = "Would you like to get notified"

PAGE_JS = r"""
(() => {
  const S = window.__alwFirst = { runAll: null, cells: {}, painted: null, audio: null,
                                  answered: null, keydown: null };
  const now = () => performance.now();
  for (const type of ["pointerup", "mouseup", "click"]) {  // Lumino menus act on pointerup
    document.addEventListener(type, (ev) => {
      const item = ev.target.closest && ev.target.closest(".lm-Menu-item");
      if (item && /Run All Cells/.test(item.textContent) && S.runAll === null) S.runAll = ev.timeStamp;
    }, true);
  }
  window.addEventListener("keydown", (ev) => {
    if (ev.key === "1" && S.painted !== null && S.keydown === null) S.keydown = ev.timeStamp;
  }, true);
  // each cell's end: its prompt turns from [*] into [n]
  new MutationObserver(() => {
    if (S.runAll === null) return;
    document.querySelectorAll(".jp-Notebook .jp-CodeCell").forEach((cell, i) => {
      const p = cell.querySelector(".jp-InputPrompt");
      if (p && /\[\d+\]/.test(p.textContent) && S.cells[i] === undefined) S.cells[i] = now();
    });
  }).observe(document, { subtree: true, childList: true, characterData: true });
  // the labeler's marks: a new clip painted (after its frame), its audio ready
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name === "alwidget:painted") {
        if (S.painted === null) S.painted = e.startTime;
        else if (S.keydown !== null && S.answered === null && e.startTime > S.keydown) S.answered = e.startTime;
      }
      if (e.name === "alwidget:audio-ready" && S.audio === null) S.audio = e.startTime;
    }
  }).observe({ type: "mark" });
})();
"""


def make_copy(work: Path) -> Path:
    """A copy of what ``./dev.sh lab`` serves, using this checkout's virtual environment
    (which must be installed: the copy's ``dev.sh`` then finds it up to date and installs
    nothing; its ``alwidget`` is a link to this checkout's, should it ever install)."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    if not (ROOT / ".venv" / f".alwidget-{digest}-{EXTRAS}").exists():
        sys.exit("the virtual environment is not installed for this pyproject.toml: run "
                 "./dev.sh test (or ./dev.sh lab) in the checkout first")
    repo = work / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    for name in ("dev.sh", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    if not (repo / "alwidget").is_symlink():
        (repo / "alwidget").symlink_to(ROOT / "alwidget")
    if (repo / "notebooks").exists():
        shutil.rmtree(repo / "notebooks")
    shutil.copytree(ROOT / "notebooks", repo / "notebooks")
    venv = repo / ".venv"
    if not venv.is_symlink():
        venv.symlink_to(ROOT / ".venv")
    demo = repo / "data" / "demo"
    for path in [demo / "alwidget.db", demo / "alwidget.db-wal", demo / "alwidget.db-shm"]:
        path.unlink(missing_ok=True)
    for path in demo.glob("alwidget.db.*"):  # the maps' model files
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return repo


def run_once(work: Path) -> dict:
    repo = make_copy(work)
    port = free_port()
    env = dict(os.environ, PORT=str(port), ALWIDGET_TOKEN=TOKEN)
    for key in ("ALWIDGET_DEMO_DIR", "ALWIDGET_SIMULATED_ANNOTATOR"):
        env.pop(key, None)
    url = f"http://127.0.0.1:{port}"
    load = os.getloadavg()[0]
    log = open(work / "jupyter.log", "w")
    t_start = time.monotonic()
    proc = subprocess.Popen(["./dev.sh", "lab"], cwd=repo, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    problems: list[str] = []
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t_start > 600:
                    raise RuntimeError(f"./dev.sh lab did not start JupyterLab: see {work / 'jupyter.log'}")
                time.sleep(0.25)  # polling a server that is starting
        dev_sh = time.monotonic() - t_start
        api = []
        with chromium_page(work, PAGE_JS, problems) as page:
            page.on("request", lambda r: ("/lab/api/news" in r.url or "/lab/api/update" in r.url)
                    and api.append(r.url))
            out = _drive(page, url)
    finally:
        proc.terminate()  # dev.sh exec's JupyterLab: this is its process
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    out.update(dev_sh=dev_sh, load=load, problems=problems, news_api=api)
    return out


def _drive(page, url: str) -> dict:
    page.goto(f"{url}/lab/tree/notebooks/01_quickstart.ipynb?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    try:  # JupyterLab sometimes asks which kernel to start: the notebook's own
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=5_000)
    except Exception:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function("() => window.__alwFirst.painted !== null", timeout=300_000)
    root = page.locator(".alw-root")
    root.click(position={"x": 5, "y": 5})  # what the user does: click the widget, answer
    page.keyboard.press("1")
    page.wait_for_function("() => window.__alwFirst.answered !== null", timeout=300_000)
    page.wait_for_function("() => window.__alwFirst.audio !== null", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=600_000)
    news = page.get_by_text(NEWS).count()
    marks = page.evaluate("() => window.__alwFirst")
    nb = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    cells = [next((line.strip() for line in c["source"] if line.strip()
                   and not line.startswith(("import ", "from ", "#"))), "")[:50]
             for c in nb["cells"] if c["cell_type"] == "code"]
    errors = [e.text_content()[-300:] for e in page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all()]
    t0 = marks["runAll"]
    rel = lambda v: None if v is None else (v - t0) / 1000  # noqa: E731
    return dict(painted=rel(marks["painted"]), audio=rel(marks["audio"]),
                keydown=rel(marks["keydown"]), answered=rel(marks["answered"]),
                cells=[(cells[int(i)] if int(i) < len(cells) else f"cell {i}", rel(t))
                       for i, t in sorted(marks["cells"].items(), key=lambda kv: kv[1])],
                news_prompt=news, stderr_outputs=errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=WORK / "first-run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"chromium not found at {CHROMIUM}: apt-get install chromium")
    a.work.mkdir(parents=True, exist_ok=True)
    runs = []
    for i in range(a.runs):
        r = run_once(a.work)
        runs.append(r)
        print(f"run {i + 1}: load {r['load']:.2f}; first clip painted {r['painted']:.1f} s, "
              f"answered {r['answered']:.1f} s after Run All; cells: "
              + ", ".join(f"{name!r} {t:.1f} s" for name, t in r["cells"]), flush=True)
    med = lambda k: np.median([r[k] for r in runs])  # noqa: E731
    lines = [f"A new user's first run (quickstart, 2,000 demo clips, from the demo audio "
             f"alone; {len(runs)} runs, {os.cpu_count()} cores, Chromium headless): seconds "
             "after Run All Cells (median of the runs; each run's in brackets).", "",
             "| moment | s |", "|---|---|"]

    def row(name, key):
        lines.append(f"| {name} | {med(key):.1f} ({', '.join(f'{r[key]:.1f}' for r in runs)}) |")

    row("first clip painted", "painted")
    row("its audio ready", "audio")
    row("key 1 pressed (at once)", "keydown")
    row("next clip painted: usable", "answered")
    lines += ["", "Cells (median s after Run All at which each ended):", "",
              "| cell | ended at s |", "|---|---|"]
    names = [name for name, _ in runs[0]["cells"]]
    for j, name in enumerate(names):
        ends = [r["cells"][j][1] for r in runs if j < len(r["cells"])]
        lines.append(f"| `{name}` | {np.median(ends):.1f} |")
    lines += ["", f"`./dev.sh lab` until JupyterLab answered: {med('dev_sh'):.1f} s "
              "(install check, forest kernels from their cache; demo audio made on the first run "
              "only). Load average (1 min) at each start: "
              + ", ".join(f"{r['load']:.2f}" for r in runs) + ".",
              f"JupyterLab's news prompt shown: {sum(r['news_prompt'] for r in runs)} times; "
              f"requests to /lab/api/news or /lab/api/update: "
              f"{sum(len(r['news_api']) for r in runs)}; requests leaving the machine, failed "
              f"requests and console errors: {sum(len(r['problems']) for r in runs)}.",
              "", f"Made with `.venv/bin/python benchmarks/bench_first_run.py "
              f"{' '.join(sys.argv[1:])}`."]
    errors = sorted({e for r in runs for e in r["stderr_outputs"]})
    if errors:
        lines += ["", "Errors shown in the notebook (the end of each):", "",
                  *[f"    {line}" for e in errors for line in e.strip().splitlines()[-3:]]]
    problems = [p for r in runs for p in r["problems"]]
    if problems:
        lines += ["", "Problems:", *[f"- {p}" for p in problems[:20]]]
    report(lines, a.out)


if __name__ == "__main__":
    main()
