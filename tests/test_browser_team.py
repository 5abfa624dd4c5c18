"""Real JupyterLab, real Chromium: two labelers of one group, each in their own notebook (their
own kernel) on one database, label their assigned clips with several events each.

The team and its round are written beforehand in the test process; one JupyterLab server
runs two notebooks, ``TeamLabeler(Team(store), "ann")`` and ``... "bob"``, in two pages. In
each page the labeler draws two events per clip by dragging on the spectrogram, tags them by
typing in the search box (and the D key for a Doubt), and submits (Enter, or the button).
Afterwards the database holds every annotation with its events, and the proposals the
group's agreement. Fails on any failed network request, any request that leaves the machine
and any console error; saves a screenshot of each page.
"""

from __future__ import annotations

import json

import pytest

from alwidget.store import Store
from alwidget.team import Team
from alwidget.team.synthetic import synthetic_archive
import test_browser
from test_browser import ARGS, CHROMIUM, run_notebook, watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

lab = test_browser.lab  # JupyterLab on 127.0.0.1 over a folder of tmp_path (its fixture)

LABELERS = ("ann", "bob")
#: What each labeler marks on the two clips of the round: two events a clip, drawn over
#: these shares of the canvas's width (the clip spans about 0.22-0.84 of it). Both hear an
#: engine and wind on the first clip (it becomes a medoid labeled Engine, the longer one);
#: on the second they disagree and ann is in doubt (it stays proposed).
PLAN = {
    "ann": [[("Engine", 0.25, 0.55), ("Wind", 0.6, 0.8)],
            [("Speech", 0.25, 0.5), ("Doubt", 0.55, 0.8)]],
    "bob": [[("Engine", 0.3, 0.6), ("Wind", 0.65, 0.8)],
            [("Hammer", 0.25, 0.5), ("Silence", 0.55, 0.8)]],
}


def write_notebook(path, db, labeler: str) -> None:
    source = ("from alwidget.store import Store\n"
              "from alwidget.team import Team\n"
              "from alwidget.widgets import TeamLabeler\n\n"
              f"TeamLabeler(Team(Store({str(db)!r})), {labeler!r})")
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "labeler",
                   "metadata": {}, "outputs": [], "source": source}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))


def test_two_labelers_in_two_kernels_label_with_several_events(lab):
    from playwright.sync_api import sync_playwright

    url, tmp = lab
    db = tmp / "team.db"
    store = Store(db)
    synthetic_archive(store, n_nodes=1, days=1, files_per_day=2, dim=8,
                      audio_dir=tmp / "audio")
    team = Team.create(store, groups={"A": list(LABELERS)}, batch_size=2, max_set=20)
    round_id = team.plan_round()
    clips = [c for _, c in team.queue("ann")]
    assert len(clips) == 2 and clips == [c for _, c in team.queue("bob")]
    store.close()
    for who in LABELERS:
        write_notebook(tmp / "lab" / f"{who}.ipynb", db, who)

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = {who: browser.new_page(viewport={"width": 1300, "height": 1100})
                 for who in LABELERS}
        try:
            for who, page in pages.items():
                watch(page, problems)
                open_and_run(page, url, who)
            for k, clip in enumerate(clips):  # the two kernels take turns, clip by clip
                for who, page in pages.items():
                    label_clip(page, clip, PLAN[who][k], by_key=(who == "ann"),
                               shot=tmp / f"events-{who}-{k + 1}.png")
            for who, page in pages.items():
                root = page.locator(".alwt-root")
                page.wait_for_function(
                    "() => document.querySelector('.alwt-round').textContent"
                    ".includes('queue is empty')", timeout=30_000)
                counts = root.locator(".alwt-counts").inner_text()
                assert counts.startswith("2 / 40 today · 0 left"), counts
                assert root.locator(".alwt-error").inner_text() == ""
                page.screenshot(path=str(tmp / f"team-{who}.png"), full_page=True)
        except Exception:
            for who, page in pages.items():
                page.screenshot(path=str(tmp / f"failure-{who}.png"), full_page=True)
            print(f"failure screenshots in {tmp}; server log: {tmp / 'jupyter.log'}")
            raise
        browser.close()

    assert not problems, "\n".join(problems)
    store = Store(db, read_only=True)
    annotations = store.clip_annotations(clips)
    for k, clip in enumerate(clips):
        assert sorted(annotations[clip]) == sorted(LABELERS)
        for who in LABELERS:
            events = annotations[clip][who]
            assert [tag for tag, _, _ in events] == [tag for tag, _, _ in PLAN[who][k]]
            assert all(0 <= a < b <= 1.0 and b - a > 0.1 for _, a, b in events), events
            assert events[0][2] <= events[1][1] + 0.05  # drawn one after the other
    proposals = {p.clip_id: p for p in store.round_proposals(round_id)}
    agreed, doubted = proposals[clips[0]], proposals[clips[1]]
    assert (agreed.status, agreed.label, agreed.n_labelers, agreed.agreement) == (
        "medoid", "Engine", 2, 1.0)
    assert (doubted.status, doubted.label, doubted.n_labelers, doubted.agreement) == (
        "proposed", None, 2, 0.5)
    assert store.doubt_clips("ann") == [clips[1]] and store.doubt_clips("bob") == []
    store.close()
    print(f"screenshots: {tmp / 'team-ann.png'}, {tmp / 'team-bob.png'}")


def open_and_run(page, url: str, who: str) -> None:
    """Open the labeler's notebook in a workspace of its own, run it, wait for the widget."""
    run_notebook(page, url, f"workspaces/{who}/tree/{who}.ipynb")
    page.wait_for_function(
        "() => { const c = document.querySelector('.alwt-root .alwt-clip');"
        " return c && c.dataset.clipId; }", timeout=120_000)
    counts = page.locator(".alwt-counts").inner_text()
    assert counts.startswith("0 / 40 today · 2 left"), counts


def label_clip(page, clip: int, events, *, by_key: bool, shot) -> None:
    """Draw ``events`` on the clip shown (which must be ``clip``), tag them, take a
    screenshot of the widget (to ``shot``), submit."""
    from playwright.sync_api import expect

    root = page.locator(".alwt-root")
    root.scroll_into_view_if_needed()
    assert root.locator(".alwt-clip").get_attribute("data-clip-id") == str(clip)
    box = root.locator("canvas.alwt-spec").bounding_box()
    y = box["y"] + box["height"] / 2
    for i, (tag, a, b) in enumerate(events):
        page.mouse.move(box["x"] + box["width"] * a, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * (a + b) / 2, y, steps=4)
        page.mouse.move(box["x"] + box["width"] * b, y, steps=4)
        page.mouse.up()
        expect(root.locator(".alwt-event")).to_have_count(i + 1)
        if tag == "Doubt":
            page.keyboard.press("d")  # the new event is selected: D tags it Doubt
        else:
            # a new event takes the last tag chosen; without one, the search box takes the
            # focus by itself; else T gives it the focus
            in_box = page.evaluate("() => document.activeElement.classList.contains('alwt-search')")
            assert in_box == (root.locator(".alwt-event").nth(i).get_attribute("data-tag") == "")
            if not in_box:
                page.keyboard.press("t")
            page.keyboard.type(tag[:4])
            if by_key:  # wait for the results, move through them, choose
                expect(root.locator(".alwt-result").first).to_have_text(tag)
                page.keyboard.press("ArrowDown")
                page.keyboard.press("ArrowUp")
            page.keyboard.press("Enter")  # (without waiting: chosen when the results come)
        expect(root.locator(".alwt-event").nth(i)).to_have_attribute("data-tag", tag)
    root.screenshot(path=str(shot))
    if by_key:
        page.keyboard.press("Enter")  # the widget has the focus again after a tag is chosen
    else:
        root.locator(".alwt-submit").click()
    page.wait_for_function(
        "c => document.querySelector('.alwt-clip').dataset.clipId !== c", arg=str(clip),
        timeout=30_000)
    expect(root.locator(".alwt-live")).to_contain_text(f"Saved clip {clip}: 2 events")
