"""Real JupyterLab, real Chromium: the labeler's keys, focus, feedback, listening tools and
accessibility, as a user meets them in a notebook.

A small project (48 kHz recordings, so the spectrogram reaches 16 kHz) is written in the test
process; a notebook with markdown cells around ``LabelingWidget(session)`` runs in JupyterLab.
Checks that keys act only while the labeler has focus (shown by a ring and a hint) and that
no key pressed in it changes a notebook cell; that each decision is confirmed in an aria-live
line with the clip's number, with the progress bar and counts; the listening controls
(speed, pitch, loop, gain through Web Audio, clip only), the time zoom and frequency range,
the key legend, keyboard region marking, the canvas's text alternative, the controls' labels,
the performance marks, and readable colours in JupyterLab's dark theme. Fails on any failed
request, any request leaving the machine and any console error; saves screenshots (light and
dark) in the test's temporary folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from alwidget.store import NewAudio, Store
import test_browser
from test_browser import ARGS, CHROMIUM, keep_screenshot, run_notebook, watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

lab = test_browser.lab  # JupyterLab on 127.0.0.1 over a folder of tmp_path (its fixture)

RATE = 48000  # above 32 kHz: the display's audio is at 32 kHz, its spectrogram up to 16 kHz
LOGMEL = {"version": 1, "stats": ["mean"], "sample_rate": 16000, "n_mels": 64, "n_fft": 512,
          "hop_length": 256, "fmin": 50.0, "fmax": 8000.0}

#: Records the Web Audio gain nodes the page makes (the labeler's gain above 1).
GAINS_JS = """(() => { window.__gains = [];
  const make = AudioContext.prototype.createGain;
  AudioContext.prototype.createGain = function () { const g = make.call(this);
    window.__gains.push(g); return g; }; })();"""
#: Every cell's kind and text: what a key reaching the notebook would change.
CELLS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c =>
  [c.classList.contains('jp-MarkdownCell') ? 'markdown' : c.classList.contains('jp-CodeCell') ? 'code' : 'raw',
   (c.querySelector('.jp-MarkdownOutput') || c.querySelector('.jp-InputArea-editor') || c).innerText.trim()])"""
AUDIO = "document.querySelector('.alw-root audio')"


def write_project(folder, n_files=4) -> str:
    """Recordings of 5 s at 48 kHz (a 12 kHz tone: above what logmel hears), clips of 1 s
    with 1 s of context on each side, and a feature set that says it is a logmel; returns
    the database's path."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    store = Store(folder / "p.db")
    t = np.arange(RATE * 5) / RATE
    for i in range(n_files):
        path = folder / f"rec{i}.wav"
        sf.write(path, 0.2 * np.sin(2 * np.pi * 12000 * t) + rng.normal(size=len(t)) * 0.02, RATE)
        store.add_audio(NewAudio(str(folder), path.name, RATE, 16, len(t), 1, "WAV", "PCM_16",
                                 f"h{i}", 0), [(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)])
    ids = store.clip_ids()
    fs = store.feature_set("logmel", LOGMEL, 4)
    store.put_features(fs, ids, rng.normal(size=(len(ids), 4)).astype(np.float32))
    store.close()
    return str(folder / "p.db")


def write_notebook(path, db) -> None:
    def cell(kind, source):
        c = {"cell_type": kind, "id": f"c{abs(hash(source)) % 10**8}", "metadata": {}, "source": source}
        return c | ({"execution_count": None, "outputs": []} if kind == "code" else {})

    path.write_text(json.dumps({
        "cells": [cell("markdown", "A note above the labeler"),
                  cell("code", "from alwidget.session import Session\n"
                               "from alwidget.store import Store\n"
                               "from alwidget.widgets import LabelingWidget\n\n"
                               f"LabelingWidget(Session(Store({db!r}), classes=['background', "
                               "'target']), target_labels=20)"),
                  cell("markdown", "A note below the labeler")],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def page(lab):
    """The notebook run in Chromium, its labeler shown; yields (page, tmp, problems)."""
    from playwright.sync_api import sync_playwright

    url, tmp = lab
    write_notebook(tmp / "lab" / "labeler.ipynb", write_project(tmp / "project"))
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1300, "height": 1100})
        pg.add_init_script(GAINS_JS)
        watch(pg, problems)
        run_notebook(pg, url, "tree/labeler.ipynb")
        pg.wait_for_function("() => { const r = document.querySelector('.alw-root');"
                             " return r && r.dataset.clipId; }", timeout=120_000)
        pg.locator(".alw-root").scroll_into_view_if_needed()
        try:
            yield pg, tmp, problems
        finally:  # the page as the test left it (a failure's last state), and the server's log
            pg.screenshot(path=str(tmp / "last.png"), full_page=True)
            print(f"last screenshot: {tmp / 'last.png'}; server log: {tmp / 'jupyter.log'}")
            browser.close()
    assert not problems, "\n".join(problems)


def slide(locator, value: str) -> None:
    """Move a range input to ``value`` as a user's drag does (input, then change events)."""
    locator.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true}));"
                     " e.dispatchEvent(new Event('change', {bubbles: true})); }", value)


def said(page, text: str) -> None:
    """Wait until the labeler's aria-live line says ``text``."""
    page.wait_for_function("t => document.querySelector('.alw-live').textContent.includes(t)",
                           arg=text, timeout=60_000)


def clip_shown(page) -> str:
    return page.locator(".alw-root").get_attribute("data-clip-id")


def test_keys_act_only_with_focus_never_reach_the_notebook_and_are_confirmed(page):
    from playwright.sync_api import expect

    page, tmp, _ = page
    root = page.locator(".alw-root")
    cells = page.evaluate(CELLS_JS)
    assert [kind for kind, _ in cells] == ["markdown", "code", "markdown"]
    live = root.locator(".alw-live")
    assert live.get_attribute("role") == "status" and live.get_attribute("aria-live") == "polite"
    assert root.locator(".alw-error").get_attribute("role") == "alert"

    # without focus: a hint says where the keys go, and the labeler's keys do nothing in it
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    expect(root.locator(".alw-keys-off")).to_be_visible()
    expect(root.locator(".alw-keys-on")).to_be_hidden()
    assert page.evaluate("() => getComputedStyle(document.querySelector('.alw-root')).outlineStyle") == "none"
    page.keyboard.press("1")
    page.keyboard.press("d")

    # focused (a click on the hint): a ring and "keys on", and nothing moves (a click's
    # mouseup must land on the button its mousedown focused the labeler from)
    where = root.locator(".alw-class").first.bounding_box()
    root.locator(".alw-keys-off").click()
    assert root.locator(".alw-class").first.bounding_box() == where
    expect(root.locator(".alw-keys-on")).to_be_visible()
    expect(root.locator(".alw-keys-off")).to_be_hidden()
    ring = page.evaluate("() => { const s = getComputedStyle(document.querySelector('.alw-root'));"
                         " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    assert ring[0] == "solid" and ring[1] >= 2, ring

    first = clip_shown(page)
    page.keyboard.press("s")
    said(page, f"Skipped clip {first}")  # (the keys pressed without focus sent nothing before it)
    expect(root.locator(".alw-counts")).to_have_text("1 skipped · 0 in Doubt · 0 queued")
    assert root.locator(".alw-progress-text").inner_text() == "0 / 20 labels"

    second = clip_shown(page)
    assert second != first
    page.keyboard.press("1")
    said(page, f"Labeled clip {second} as background")
    expect(root.locator(".alw-progress-text")).to_have_text("1 / 20 labels")
    assert root.locator(".alw-track").get_attribute("aria-valuenow") == "1"
    assert root.locator(".alw-track").get_attribute("aria-valuemax") == "20"

    third = clip_shown(page)
    # (one class so far: no model is fitted in this test)
    root.locator(".alw-class", has_text="background").click()  # the mouse: the keys stay here
    said(page, f"Labeled clip {third} as background")
    page.keyboard.press("z")
    said(page, f"Undid: labeled clip {third} as background")
    assert clip_shown(page) == third
    page.keyboard.press("d")
    said(page, f"Put clip {third} in Doubt")
    expect(root.locator(".alw-counts")).to_have_text("1 skipped · 1 in Doubt · 0 queued")
    page.keyboard.press("z")
    said(page, f"Undid: put clip {third} in Doubt")
    expect(root.locator(".alw-counts")).to_have_text("1 skipped · 0 in Doubt · 0 queued")
    page.keyboard.press("Enter")  # one class labeled: no model, nothing to accept
    expect(root.locator(".alw-error")).to_contain_text("no prediction to accept yet")

    # keys JupyterLab binds in command mode, pressed in the labeler: no cell changes
    # (decision keys were pressed above; these are the labeler's others and keys it ignores)
    for key in ["m", "y", "r", "a", "b", "x", "c", "v", "Enter", "Shift+Enter", "ArrowUp",
                "ArrowDown", "Escape", "3", "9", "0", "Delete", "Shift+M", "Shift+L", "k", "j"]:
        page.keyboard.press(key)
    fourth = clip_shown(page)
    page.keyboard.press("s")
    said(page, f"Skipped clip {fourth}")
    assert page.evaluate(CELLS_JS) == cells
    assert root.evaluate("r => r.contains(document.activeElement)")

    # the play button's pause sign is drawn (it showed as an empty box in the default fonts)
    page.keyboard.press(" ")
    expect(root.locator(".alw-play")).to_contain_text("Pause")
    icon = root.locator(".alw-play svg.alw-icon-pause").bounding_box()
    assert icon and icon["width"] >= 8 and icon["height"] >= 8
    page.keyboard.press(" ")
    expect(root.locator(".alw-play svg.alw-icon-play")).to_have_count(1)
    root.screenshot(path=str(tmp / "labeler-light.png"))
    keep_screenshot(tmp / "labeler-light.png")
    page.screenshot(path=str(tmp / "page-light.png"), full_page=True)

    store = Store(tmp / "project" / "p.db", read_only=True)
    kinds = [(d.kind, d.label) for d in store.active_events()]
    assert kinds == [("skip", None), ("label", "background"), ("skip", None)], kinds


def test_listening_tools_legend_region_by_keys_and_accessibility(page):
    from playwright.sync_api import expect

    page, tmp, _ = page
    root = page.locator(".alw-root")
    root.locator(".alw-keys-off").click()
    page.wait_for_function(f"() => {AUDIO}.readyState >= 1")

    # what is shown is said, up to 16 kHz for these 48 kHz files, and what the model hears
    assert root.locator(".alw-shown").inner_text() == (
        "Shown: log-mel 50 Hz–16 kHz · model: logmel 50 Hz–8 kHz · colours")
    note = root.locator(".alw-note").text_content()
    assert "Shown: log-mel spectrogram, 128 bands, 50 Hz–16 kHz, audio at 32 kHz" in note, note
    assert "logmel features: a 64-band log-mel spectrogram, 50 Hz–8 kHz, at 16 kHz" in note, note
    label = root.locator("canvas.alw-spec").get_attribute("aria-label")
    assert label.startswith(f"Spectrogram of clip {root.get_attribute('data-clip-id')}: rec")
    assert "50 Hz to 16 kHz" in label

    # every control has a label
    unnamed = root.evaluate("""r => [...r.querySelectorAll('select, input')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.className)""")
    assert unnamed == []

    # speed, pitch, loop, gain
    root.locator("select.alw-rate").select_option("0.5")
    page.wait_for_function(f"() => {AUDIO}.playbackRate === 0.5")
    root.click(position={"x": 5, "y": 5})
    page.keyboard.press(".")
    page.wait_for_function(f"() => {AUDIO}.playbackRate === 0.75")
    said(page, "Speed 0.75×, pitch kept")
    assert page.evaluate(f"() => {AUDIO}.preservesPitch") is True
    page.keyboard.press("p")
    page.wait_for_function(f"() => {AUDIO}.preservesPitch === false")
    slide(root.locator("input.alw-gain"), "0.5")
    page.wait_for_function(f"() => {AUDIO}.volume === 0.5 && window.__gains.length === 0")
    slide(root.locator("input.alw-gain"), "2")
    page.wait_for_function(f"() => window.__gains.length === 1 && window.__gains[0].gain.value === 2"
                           f" && {AUDIO}.volume === 1")
    expect(root.locator(".alw-gain-text")).to_have_text("×2.00")

    # the clip only: Space plays from the clip's start and stops at its end
    root.click(position={"x": 5, "y": 5})
    page.keyboard.press("c")
    said(page, "Space plays the clip only")
    page.keyboard.press(" ")
    page.wait_for_function(f"() => !{AUDIO}.paused && {AUDIO}.currentTime >= 1.0")
    page.wait_for_function(f"() => {AUDIO}.paused && Math.abs({AUDIO}.currentTime - 2.0) < 0.05",
                           timeout=15_000)
    page.keyboard.press("l")
    page.wait_for_function(f"() => {AUDIO}.loop === true")
    page.keyboard.press("l")
    page.keyboard.press("c")
    said(page, "Space plays the clip with its context")

    # the key legend on demand
    legend = root.locator(".alw-legend")
    expect(legend).to_be_hidden()
    page.keyboard.press("?")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("event start / end at the playhead")
    page.keyboard.press("Escape")
    expect(legend).to_be_hidden()

    # time zoom and frequency range
    canvas = root.locator("canvas.alw-spec")
    assert "shown from -1.00 to 2.00 s of the clip" in canvas.get_attribute("aria-label")
    page.keyboard.press("+")
    said(page, "Zoom:")
    assert "shown from -1.00 to 2.00 s" not in canvas.get_attribute("aria-label")
    page.keyboard.press("0")
    said(page, "Zoom: the whole window")
    root.locator("input.alw-fmax").fill("4000")
    root.locator("input.alw-fmax").press("Enter")
    page.wait_for_function("() => document.querySelector('canvas.alw-spec')"
                           ".getAttribute('aria-label').includes('50 Hz to 4 kHz')")
    root.locator(".alw-band").click()
    page.wait_for_function("() => document.querySelector('canvas.alw-spec')"
                           ".getAttribute('aria-label').includes('50 Hz to 8 kHz')")
    root.locator(".alw-all-freq").click()
    page.wait_for_function("() => document.querySelector('canvas.alw-spec')"
                           ".getAttribute('aria-label').includes('50 Hz to 16 kHz')")

    # an event by keys: [ and ] at the playhead (moved with the arrows), then a label
    page.evaluate(f"() => {{ {AUDIO}.currentTime = 0; }}")  # the window's start: 1 s before the clip
    for _ in range(12):
        page.keyboard.press("ArrowRight")  # 1.2 s into the window: 0.2 s into the clip
    page.keyboard.press("[")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("]")
    expect(root.locator(".alw-region")).to_have_text("event 0.20–0.70 s (Esc clears)")
    said(page, "Event marked: 0.20–0.70 s")
    assert "event 0.20–0.70 s" in canvas.get_attribute("aria-label")
    shown = root.get_attribute("data-clip-id")
    page.keyboard.press("2")
    said(page, f"Labeled clip {shown} as target with an event 0.20–0.70 s")

    # the benchmark's marks: key, the next clip painted (its id on the root), its audio ready
    page.wait_for_function("id => performance.getEntriesByName('alwidget:painted')"
                           ".some(m => m.detail.clip_id === Number(id))",
                           arg=root.get_attribute("data-clip-id"))
    page.wait_for_function("() => performance.getEntriesByName('alwidget:audio-ready').length >= 2")
    keys = page.evaluate("() => performance.getEntriesByName('alwidget:key').map(m => m.detail)")
    assert keys[-1] == {"key": "2", "clip_id": int(shown)}

    # JupyterLab's dark theme: the labeler's text stays readable
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    page.wait_for_function(CONTRAST_JS, timeout=10_000)
    root.click(position={"x": 5, "y": 5})
    root.screenshot(path=str(tmp / "labeler-dark.png"))
    keep_screenshot(tmp / "labeler-dark.png")
    page.screenshot(path=str(tmp / "page-dark.png"), full_page=True)
    store = Store(tmp / "project" / "p.db", read_only=True)
    (chunk,) = store.chunks()
    # (times in the file: the clips start on whole seconds)
    assert chunk["tag"] == "target" and (chunk["onset_s"] % 1, chunk["offset_s"] % 1) == \
        pytest.approx((0.2, 0.7), abs=0.011)


#: Dispatch keys (and playhead moves, numbers) to the labeler in one JavaScript task.
KEYS_JS = """(ks) => { const r = document.querySelector('.alw-root'); const a = %s;
  for (const k of ks) { if (typeof k === 'number') { a.currentTime = k; continue; }
    r.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true, cancelable: true})); } }""" % AUDIO
AHEAD_JS = "() => Number(document.querySelector('.alw-root').dataset.ahead) >= 3"


def test_the_next_clip_is_shown_from_what_the_kernel_sent_while_the_expert_listened(page):
    page, tmp, _ = page
    root = page.locator(".alw-root")
    root.locator(".alw-keys-off").click()
    painted = "() => performance.getEntriesByName('alwidget:painted').map(m => m.detail)"
    ready = "() => performance.getEntriesByName('alwidget:audio-ready').map(m => m.detail)"
    done = []
    for key, said_as, label in [("1", "Labeled clip {} as background", "background"),
                                ("s", "Skipped clip {}", None),
                                ("2", "Labeled clip {} as target", "target")]:
        # the next clip of each answer (both classes and skip) arrives while the expert listens
        page.wait_for_function(AHEAD_JS, timeout=60_000)
        shown = clip_shown(page)
        n = len(page.evaluate(painted))
        page.keyboard.press(key)
        page.wait_for_function(f"n => ({painted})().length > n", arg=n)
        mark = page.evaluate(painted)[-1]
        assert mark["ahead"] is True and mark["clip_id"] != int(shown), mark
        said(page, said_as.format(shown))  # the kernel stored it, and agrees:
        assert root.locator(".alw-clip").get_attribute("data-clip-id") == str(mark["clip_id"])
        assert root.locator(".alw-error").inner_text() == ""
        page.wait_for_function(f"c => ({ready})().some(m => m.clip_id === c)", arg=mark["clip_id"])
        done.append((int(shown), label))

    # a double press (two keys in one task): the clip shown ahead takes no decision before the
    # kernel stored the first, so the second labels nothing
    page.wait_for_function(AHEAD_JS, timeout=60_000)
    shown = clip_shown(page)
    page.evaluate(KEYS_JS, ["1", "1"])
    assert root.get_attribute("data-refused") == "1"  # ("Storing the last answer: press again")
    said(page, f"Labeled clip {shown} as background")
    done.append((int(shown), "background"))

    # an event marked and labeled in one task: stored with its label, and not shown on the
    # next clip (settings reach the kernel as messages, never echoed back)
    page.wait_for_function(AHEAD_JS, timeout=60_000)
    shown = clip_shown(page)
    page.evaluate(KEYS_JS, [1.2, "[", 1.3, "]", "1"])
    said(page, f"Labeled clip {shown} as background with an event 0.20–0.30 s")
    done.append((int(shown), "background"))
    page.wait_for_function("() => !document.querySelector('.alw-root').classList.contains('alw-busy')")
    assert not root.locator(".alw-region").inner_text().startswith("event")
    store = Store(tmp / "project" / "p.db", read_only=True)
    decided = [(d.clip_id, d.label) for d in store.active_events()]
    assert decided == done, decided
    assert [c["tag"] for c in store.chunks()] == ["background"]


#: True when the labeler's texts contrast at least 4.5:1 with its background (WCAG AA).
CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const root = document.querySelector('.alw-root');
  const bg = rgb(getComputedStyle(root).backgroundColor);
  if (lum(bg) > 0.2) return false;  // the dark theme's background
  return ['.alw-status', '.alw-live', '.alw-reason', '.alw-class', '.alw-progress-text'].every((sel) => {
    const c = rgb(getComputedStyle(root.querySelector(sel)).color);
    const fg = c.length > 3 ? c.slice(0, 3).map((v, i) => v * c[3] + bg[i] * (1 - c[3])) : c;
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05) >= 4.5; }); }"""
