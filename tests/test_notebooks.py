"""The notebooks run from top to bottom, headless."""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT


@pytest.mark.slow
def test_quickstart_runs_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_DEMO_DIR", str(tmp_path / "demo"))
    nb = nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "200 added (2000 clips" in text
    assert "2000 clips x 296 features" in text
    assert "60 of 2000 clips contain the target" in text
    assert (tmp_path / "demo" / "alwidget.db").exists()


@pytest.mark.slow
def test_compare_strategies_runs_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("ALWIDGET_ITERATIONS", "8")
    nb = nbformat.read(ROOT / "notebooks" / "02_compare_strategies.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "(2000, 296) target share: 0.03" in text
    for name in ("random", "lc", "lc-tuned", "ssal-0.95", "ac-5"):
        assert f"| {name} |" in text
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 1
