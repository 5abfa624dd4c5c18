"""The node health grid in real JupyterLab and Chromium: every node and day drawn with its
status, the stopped node flagged, a click on a day plays its review clip (sent by the kernel
then). A screenshot goes to the test's temporary folder."""

from __future__ import annotations

import json

import pytest

from test_browser import TOKEN, lab  # noqa: F401 - JupyterLab on 127.0.0.1 (its fixture)
from test_browser_maps import chromium_page, own_lab_settings  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """\
import os
from pathlib import Path
import numpy as np, soundfile as sf
import alwidget
from alwidget.nodes import apply_deployment, node_health
from alwidget.widgets import NodeHealthView

D = Path(os.environ["ALWIDGET_DEMO_DIR"])
(D / "rec").mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
for node in ("n1", "n2", "n3"):
    for day in (1, 2, 3):
        if node == "n3" and day > 1:
            continue  # n3 stops sending after day 1
        for k in range(3):
            level = 1e-5 if (node, day) == ("n2", 2) else 0.1  # n2 is silent on day 2
            sf.write(D / "rec" / f"{node}_2024050{day}_10000{k}.wav",
                     level * rng.standard_normal(8000), 8000, subtype="FLOAT")
(D / "nodes.csv").write_text("name,installed_at\\n" + "".join(
    f"{n},2024-05-01T10:00:00\\n" for n in ("n1", "n2", "n3")))
store = alwidget.Store(D / "health.db")
apply_deployment(store, D / "nodes.csv")
alwidget.ingest(D / "rec", store, clip_seconds=1, name_pattern="{node}_{time:%Y%m%d_%H%M%S}",
                progress=False, verbose=False)
view = NodeHealthView(node_health(store, now="2024-05-03T10:00:03"))  # the archive's end
view"""


def write_notebook(path) -> None:
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c0", "metadata": {},
                   "outputs": [], "source": SETUP}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))


def test_the_health_grid_draws_flags_and_plays_in_jupyterlab(own_lab_settings, lab,  # noqa: F811
                                                             chromium_page):  # noqa: F811
    url, tmp = lab
    write_notebook(tmp / "lab" / "health.ipynb")
    page = chromium_page
    try:
        page.goto(f"{url}/lab/tree/health.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        try:  # JupyterLab may ask which kernel to start
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=5_000)
        except Exception:
            pass
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_selector(".alwn-cell", timeout=120_000)
        cells = page.locator(".alwn-cell")
        assert cells.count() == 9  # 3 nodes x 3 days
        stopped = page.locator(".alwn-stopped")
        assert stopped.count() == 1 and "n3" in stopped.inner_text()
        assert "stopped: last heard 2024-05-01T10:00:03" in stopped.get_attribute("title")
        assert page.locator(".alwn-bad").count() >= 3  # n2's silent day, n3's two days
        silent = page.locator(".alwn-cell[title*='n2 2024-05-02']")
        assert "silent 100.0 %" in silent.get_attribute("title")
        silent.click()
        page.wait_for_function("() => (document.querySelector('.alwn-playing') || {})"
                               ".textContent?.startsWith('n2 2024-05-02: clip')",
                               timeout=30_000)
        src = page.evaluate("() => document.querySelector('.alwn-root audio').src")
        assert src.startswith("blob:")  # the WAV came from the kernel, nothing was fetched
        page.screenshot(path=str(tmp / "node-health.png"))
    finally:
        page.screenshot(path=str(tmp / "last.png"), full_page=True)
        print(f"screenshots: {tmp / 'node-health.png'}; server log: {tmp / 'jupyter.log'}")
    assert not page.problems, "\n".join(page.problems)
