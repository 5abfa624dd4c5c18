"""The notebooks run from top to bottom, headless."""

import nbformat
import pytest
from nbclient import NotebookClient

from alwidget.store import Store
from conftest import ROOT


def run_notebook(name: str) -> tuple[list, str]:
    """Execute notebooks/NAME in its folder; return its outputs and their text."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return outputs, "\n".join(o.get("text", "") or o.get("data", {}).get("text/markdown", "")
                              for o in outputs)


@pytest.mark.slow
def test_quickstart_runs_headless_with_a_simulated_annotator(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("ALWIDGET_SIMULATED_ANNOTATOR", "40")
    outputs, text = run_notebook("01_quickstart.ipynb")
    assert "200 added (2000 clips" in text
    assert "2000 clips x 296 features" in text
    widgets = [o for o in outputs if o["output_type"] == "execute_result"
               and "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 2  # the labeling app and the search gallery (progress bars are not)
    assert "41 labels" in text  # the known example + 40 simulated answers
    f1 = float(text.split("validation F1 after 41 labels: ")[1].split()[0])
    assert f1 > 0.5  # the model learned the rare target
    store = Store(tmp_path / "demo" / "alwidget.db")
    assert len(store.current_labels()) == 41
    # the results left the project: labels, a model, its evaluation, detections, search
    demo = tmp_path / "demo"
    assert (demo / "export" / "labels.csv").read_text().count("\n") > 41
    assert list((demo / "export" / "raven").glob("*.Table.1.selections.txt"))
    (model_id,) = store.model_cards()
    assert f"saved model {model_id}: validation F1" in text
    assert (demo / "evaluation.html").stat().st_size > 1_000_000
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 4  # the learning curve, then precision-recall, confusion, F1
    assert f"model {model_id}: 2000 clips scored" in text and "positive clips in" in text
    assert list((demo / "detections").glob("*.Table.1.selections.txt"))
    line = next(l for l in text.splitlines() if "of the 10 unlabeled clips nearest the" in l)
    assert int(line.split()[0]) >= 1  # the search finds more of the target (3 % of the pool)


@pytest.mark.slow
def test_compare_strategies_runs_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("ALWIDGET_QUERIES", "7")
    outputs, text = run_notebook("02_compare_strategies.ipynb")
    assert "(2000, 296) target share: 0.03" in text
    for name in ("random", "lc", "lc-tuned", "ssal-0.95", "ac-5"):
        assert f"| {name} |" in text
    assert "model = 'forest'" in text and "model = 'head'" in text  # the learners, by name
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 1


@pytest.mark.slow
def test_cluster_inspection_runs_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_DEMO_DIR", str(tmp_path / "demo"))
    outputs, text = run_notebook("03_cluster_inspection.ipynb")
    assert "2000 clips, " in text
    assert "t-SNE of 2,000 clips: computed in" in text and "UMAP of 2,000 clips: computed in" in text
    assert "snapshots at iterations [1, 20, 100]" in text
    share_a = int(text.split("region A: ")[1].split(" clips, ")[1].split(" %")[0])
    share_b = int(text.split("region B: ")[1].split(" clips, ")[1].split(" %")[0])
    assert share_a > share_b  # the region the model calls target holds more targets
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 3  # ground-truth maps, snapshots, spectrograms of two regions
    assert (tmp_path / "demo" / "predictions_1_20_100.html").stat().st_size > 1_000_000
    # a second run reads the maps back from the database
    _, again = run_notebook("03_cluster_inspection.ipynb")
    assert "t-SNE of 2,000 clips: read from the cache" in again


@pytest.mark.slow
def test_team_rounds_run_headless_with_simulated_labelers(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_TEAM_DIR", str(tmp_path / "team"))
    outputs, text = run_notebook("04_team_rounds.ipynb")
    assert "5040 clips of 504 files from 3 nodes over 14 days" in text
    assert "round 1: mal on 840 clips of the window in 2 disjoint sets" in text
    assert "{'ann': 20, 'bob': 20, 'kim': 20, 'lea': 20, 'max': 20}" in text
    assert "round 2: mal-mf, " in text and "doubt round due: True" in text
    assert "new class 'Crane' under 'Sounds of things', suggested by kim, accepted by lea" in text
    assert "kappa" in text and "Dawid-Skene:" in text
    widgets = [o for o in outputs if o["output_type"] == "execute_result"
               and "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 2  # the team labeler and the team view
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 1  # the round's maps
    store = Store(tmp_path / "team" / "team.db")
    kinds = [r["kind"] for r in store.rounds()]
    assert kinds == ["round", "round", "doubt"]
    statuses = {p.status for r in store.rounds() for p in store.round_proposals(r["id"])}
    assert "medoid" in statuses
    agreed = store.agreed_labels()
    assert len(agreed) >= 60
