"""PNG export of plotly figures through a local Chromium (no network, no kaleido download)."""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["find_chromium", "write_png"]

_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome binary (``$ALWIDGET_CHROMIUM`` first), or None."""
    for name in (os.environ.get("ALWIDGET_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome", "chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


def write_png(fig, path, *, scale: float = 2.0) -> Path:
    """Render ``fig`` to a PNG file with Playwright driving a local Chromium.

    Raises a RuntimeError that says what to install when either is missing.
    """
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        raise RuntimeError(
            "PNG export needs a Chromium and Playwright (apt-get install chromium; "
            "pip install playwright), or set ALWIDGET_CHROMIUM; export to .html instead")
    path = Path(path)
    width = int(fig.layout.width or 900)
    height = int(fig.layout.height or 500)

    def render() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            html = Path(tmp) / "figure.html"
            fig.write_html(html, include_plotlyjs=True, full_html=True,
                           config={"staticPlot": True})
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=_ARGS)
                try:
                    page = browser.new_page(viewport={"width": width, "height": height},
                                            device_scale_factor=scale)
                    page.goto(html.as_uri())
                    page.wait_for_selector(".main-svg", timeout=30_000)
                    page.wait_for_timeout(300)  # WebGL traces draw after the SVG layer
                    page.locator(".plotly-graph-div").screenshot(path=str(path))
                finally:
                    browser.close()

    # Playwright's sync API refuses to run inside an asyncio loop (as in a Jupyter kernel):
    # render in a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(render).result()
    return path
