"""The node health view: the grid shows every node and day with its status, flags a node
that stopped, and a click plays that day's review clip (read then, through the payload code
of the other widgets)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from alwidget.ingestion import ingest
from alwidget.nodes import apply_deployment, node_health
from alwidget.store import Store
from alwidget.widgets.node_health import NodeHealthView


@pytest.fixture
def report(tmp_path):
    (tmp_path / "d.csv").write_text("name,installed_at\nn1,2024-05-01T10:00:00\n"
                                    "n2,2024-05-01T10:00:00\n")
    store = Store(tmp_path / "p.db")
    apply_deployment(store, tmp_path / "d.csv")
    rng = np.random.default_rng(0)
    for name, level in [("n1_20240501_100000", 0.1), ("n1_20240502_100000", 0.1),
                        ("n2_20240501_100000", 0.0)]:
        y = level * rng.standard_normal(16000)
        (tmp_path / "rec").mkdir(exist_ok=True)
        sf.write(tmp_path / "rec" / f"{name}.wav", y, 8000, subtype="PCM_16")
    ingest(tmp_path / "rec", store, clip_seconds=1, name_pattern="{node}_{time:%Y%m%d_%H%M%S}",
           progress=False, verbose=False)
    return node_health(store, now="2024-05-02T10:00:02")


def test_the_grid_shows_every_node_and_day_and_flags_a_stopped_node(report):
    view = NodeHealthView(report)
    assert view.days == ["2024-05-01", "2024-05-02"]
    assert [n["name"] for n in view.nodes] == ["n1", "n2"]
    assert view.nodes[1]["stopped"].startswith("stopped: last heard 2024-05-01T10:00:02")
    assert view.nodes[0]["stopped"] == ""
    status = {(c["n"], c["d"]): c["status"] for c in view.cells}
    assert status[(1, 0)] == "bad"  # silent all day (and most of it missing)
    assert status[(1, 1)] == "bad" and not next(c for c in view.cells
                                                 if (c["n"], c["d"]) == (1, 1))["playable"]
    silent = next(c for c in view.cells if (c["n"], c["d"]) == (1, 0))
    assert "silent 100.0 %" in silent["text"] and silent["mark"] == "S"
    assert next(c for c in view.cells if (c["n"], c["d"]) == (1, 1))["mark"] == "M"
    assert "1 nodes" not in view.title and "2 nodes x 2 days" in view.title
    view.close()


def test_a_click_plays_the_review_clip_and_a_bad_request_says_why(report):
    view = NodeHealthView(report)
    view._handle({"type": "play", "node": "n1", "day": "2024-05-02"})
    assert view.error == "" and view.play_request == 1
    y, sr = sf.read(io.BytesIO(view.audio))
    assert sr == 8000 and len(y) == 8000  # the review clip: 1 s
    assert view.playing.startswith("n1 2024-05-02: clip")
    view._handle({"type": "play", "node": "n2", "day": "2024-05-02"})
    assert "sent nothing" in view.error and view.play_request == 1
    view._handle({"type": "play", "node": "n9", "day": "2024-05-02"})
    assert "no cell for node 'n9'" in view.error
    with pytest.raises(TypeError, match="HealthReport"):
        NodeHealthView({"n1": 1})
    view.close()


def test_a_dead_microphone_reads_as_silent_not_missing(tmp_path):
    (tmp_path / "d.csv").write_text("name,installed_at\nn1,2024-05-01T10:00:00\n")
    store = Store(tmp_path / "p.db")
    apply_deployment(store, tmp_path / "d.csv")
    (tmp_path / "rec").mkdir()
    for k in range(6):  # six byte-identical files: all zeros, one every 10 s
        sf.write(tmp_path / "rec" / f"n1_20240501_1000{k}0.wav", np.zeros(80000), 8000,
                 subtype="PCM_16")
    summary = ingest(tmp_path / "rec", store, clip_seconds=1,
                     name_pattern="{node}_{time:%Y%m%d_%H%M%S}", progress=False, verbose=False)
    assert (summary.added, summary.duplicates) == (6, [])
    # a real copy (same node and time) is still a copy
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "n1_20240501_100000.wav").write_bytes(
        (tmp_path / "rec" / "n1_20240501_100000.wav").read_bytes())
    again = ingest(tmp_path / "copy", store, name_pattern="{node}_{time:%Y%m%d_%H%M%S}",
                   progress=False, verbose=False)
    assert (again.added, len(again.duplicates)) == (0, 1)
    cell = node_health(store, now="2024-05-01T10:01:00").cell("n1", "2024-05-01")
    assert cell.missing == 0 and cell.silent == 1.0 and cell.status == "bad"


def test_node_health_checks_its_times_and_flags_nodes_that_all_stopped(report, tmp_path):
    store = Store(tmp_path / "p.db")
    with pytest.raises(ValueError, match="start='yesterday' is not an ISO 8601"):
        node_health(store, start="yesterday")
    with pytest.raises(ValueError, match="end='soon' is not an ISO 8601"):
        node_health(store, end="soon")
    with pytest.raises(ValueError, match="must come after start"):
        node_health(store, start="2024-05-02", end="2024-05-01")
    # every node stopped in 2024: by default the report is made for now (UTC)
    assert set(node_health(store, start="2024-05-01", end="2024-05-03").stopped) == {"n1", "n2"}
