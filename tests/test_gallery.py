"""The search gallery's Python side: tiles of the nearest clips, labels through the session."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from alwidget.search import search_by_example
from alwidget.session import Session
from alwidget.store import NewAudio, Store
from alwidget.widgets.gallery import STRATEGY, SearchGallery, search_index
from alwidget.widgets.live import live_view
from alwidget.widgets.mapview import MapView
from conftest import listening

CLASSES = ["background", "target"]


def project(tmp_path, n_files=8, per_file=4):
    """Real audio (so tiles have spectrograms) with clustered toy features."""
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "p.db")
    for i in range(n_files):
        path = tmp_path / f"f{i}.wav"
        sf.write(path, rng.normal(size=16000 * per_file) * 0.1, 16000)
        store.add_audio(NewAudio(str(tmp_path), path.name, 16000, 16, 16000 * per_file, 1, "WAV",
                                 "PCM_16", f"h{i}", 0), [(float(k), 1.0) for k in range(per_file)])
    ids = store.clip_ids()
    X = rng.normal(size=(len(ids), 6)) + 5 * (np.arange(len(ids)) % 4 == 0)[:, None]
    store.put_features(store.feature_set("toy", {}, 6), ids, X.astype(np.float32))
    return store


def gallery(tmp_path, query=None, **kw):
    store = project(tmp_path)
    session = Session(store, classes=CLASSES, precompute=False)
    query = int(store.clip_ids()[0]) if query is None else query
    return store, session, SearchGallery(session, query, background=False, **kw)


def test_tiles_are_the_nearest_clips_with_spectrograms(tmp_path):
    store, session, g = gallery(tmp_path, k=6)
    first = int(store.clip_ids()[0])
    want = search_by_example(store, first, k=6)
    assert [t["clip_id"] for t in g.tiles] == want.clip_ids.tolist()
    assert first not in [t["clip_id"] for t in g.tiles]  # the example itself is not shown
    assert [t["rank"] for t in g.tiles] == list(range(1, 7))
    assert all(t["label"] == "" and t["status"] in ("unlabeled", "proposed") for t in g.tiles)
    total = sum(t["spec_rows"] * t["spec_cols"] for t in g.tiles)
    assert total == len(g.specs) > 0 and g.tiles[0]["spec_rows"] == 64
    assert g.title.startswith(f"6 clips nearest to clip {first} (cosine, toy features)")
    assert g.error == "" and not g.busy and g.classes == CLASSES
    g.more()
    assert len(g.tiles) == 12 and [t["clip_id"] for t in g.tiles[:6]] == want.clip_ids.tolist()


def test_a_tile_labeled_in_the_gallery_is_committed_and_shows_its_label(tmp_path):
    store, session, g = gallery(tmp_path, k=4)
    c = g.tiles[1]["clip_id"]
    g._on_message(g, {"type": "label", "clip_ids": [c], "label": "target"}, [])
    assert g.error == ""
    (event,) = store.active_events()
    assert event.clip_id == c and event.label == "target"
    assert dict(zip(store.current_labels().clip_id.tolist(),
                    store.current_labels().label.tolist())) == {c: "target"}
    assert g.tiles[1]["label"] == "target" and g.tiles[1]["status"] == "labeled"
    assert session.n_labels == 1
    # a group: one decision, undone whole
    group = [g.tiles[0]["clip_id"], g.tiles[2]["clip_id"]]
    g._on_message(g, {"type": "label", "clip_ids": group, "label": "background"}, [])
    events = store.active_events()
    assert sorted(e.clip_id for e in events[1:]) == sorted(group)
    assert len({e.group_id for e in events[1:]}) == 1 and events[1].group_id is not None
    assert [t["label"] for t in g.tiles[:3]] == ["background", "target", "background"]
    g._on_message(g, {"type": "undo"}, [])
    assert [e.clip_id for e in store.active_events()] == [c]
    assert [t["label"] for t in g.tiles[:3]] == ["", "target", ""]


def test_label_events_name_the_gallery_strategy_and_reason(tmp_path):
    store, session, g = gallery(tmp_path, k=4)
    first = int(store.clip_ids()[0])
    g.label(g.tiles[2]["clip_id"], "target")
    (event,) = store.active_events()
    assert event.clip_id == g.tiles[2]["clip_id"] and event.strategy == STRATEGY
    assert event.reason.startswith(f"search by example: #3 nearest to clip {first} (cosine ")
    g.label_many([g.tiles[0]["clip_id"], g.tiles[1]["clip_id"]], "background")
    assert {(e.strategy, e.reason) for e in store.active_events()[1:]} == {
        (STRATEGY, f"search by example: labeled as a group from the clips nearest to clip {first}")}


def test_labels_made_elsewhere_show_on_the_tiles(tmp_path):
    store, session, g = gallery(tmp_path, k=4)
    c = g.tiles[3]["clip_id"]
    session.label(c, "target")  # e.g. from the labeler or the map
    assert g.tiles[3]["label"] == "target"


def test_errors_show_in_the_gallery_and_store_nothing(tmp_path, capsys):
    store, session, g = gallery(tmp_path, k=3)
    shown = {t["clip_id"] for t in g.tiles}
    other = next(int(c) for c in store.clip_ids() if int(c) not in shown)
    g._on_message(g, {"type": "label", "clip_ids": [other], "label": "target"}, [])
    assert g.error.startswith(f"ValueError: clips [{other}] are not in this gallery")
    g._on_message(g, {"type": "label", "clip_ids": [g.tiles[0]["clip_id"]], "label": "cat"}, [])
    assert "label='cat' is not one of" in g.error
    assert store.active_events() == [] and "Traceback" in capsys.readouterr().err
    g._on_message(g, {"type": "play", "clip_id": g.tiles[0]["clip_id"]}, [])
    assert g.error == "" and g.audio[:4] == b"RIFF" and g.play_request == 1
    assert g.audio_clip == g.tiles[0]["clip_id"] and g.audio_offset_s == min(0.25, g.tiles[0]["start_s"])
    with pytest.raises(ValueError, match="k=0 must be an integer >= 1"):
        SearchGallery(session, 1, k=0)
    bad = SearchGallery(session, 10**9, background=False)
    assert bad.tiles == [] and "clips [1000000000] are unknown" in bad.error


def test_a_file_that_cannot_be_read_is_said_on_its_tile(tmp_path):
    store, session, g = gallery(tmp_path, k=4)
    (tmp_path / "f1.wav").unlink()
    g.search(k=32)
    missing = [t for t in g.tiles if t["path"].endswith("f1.wav")]
    assert missing and all(t["note"].startswith("cannot read the audio") for t in missing)
    assert all(t["spec_rows"] == 0 for t in missing) and g.error == ""
    with pytest.raises(ValueError, match="cannot be read"):
        g.play(missing[0]["clip_id"])


def test_closing_unsubscribes_and_a_new_gallery_replaces_the_old(tmp_path):
    store, session, g = gallery(tmp_path, k=3)
    assert listening(session, SearchGallery) == [g] and live_view(session, "gallery") is g
    second = SearchGallery(session, int(store.clip_ids()[1]), k=3, background=False)
    assert g._closed and listening(session, SearchGallery) == [second]
    tiles = list(second.tiles)
    second.close()
    assert listening(session, SearchGallery) == [] and live_view(session, "gallery") is None
    session.label(tiles[0]["clip_id"], "target")
    assert second.tiles == tiles  # a closed gallery no longer follows the session
    with pytest.raises(RuntimeError, match="closed"):
        second.search()


def test_a_background_search_hands_its_tiles_over_and_one_index_per_session(tmp_path):
    store = project(tmp_path)
    session = Session(store, classes=CLASSES, precompute=False)
    g = SearchGallery(session, [int(c) for c in store.clip_ids()[:2]], k=5)
    for t in list(threading.enumerate()):
        if t.name == "alwidget-search":
            t.join(10)
    assert len(g.tiles) == 5 and g.title.startswith("5 clips nearest to 2 clips (mean)")
    assert search_index(session) is search_index(session)


def test_the_map_searches_from_its_selection(tmp_path):
    store = project(tmp_path)
    session = Session(store, classes=CLASSES, precompute=False)
    m = MapView(session, method="pca", background=False)
    with pytest.raises(ValueError, match="the selection is empty"):
        m.search_selection()
    sel = store.clip_ids()[[0, 4]]
    m.select(sel)
    assert m.search_button in m.selection_box.children[0].children
    g = m.search_selection(k=4, background=False, combine="nearest")
    want = search_by_example(store, sel, k=4, combine="nearest")
    assert [t["clip_id"] for t in g.tiles] == want.clip_ids.tolist()
    assert m.gallery_box.children == (g,)
    m.close()
    assert listening(session, SearchGallery) == []


def test_validation_clips_are_never_shown(tmp_path):
    store = project(tmp_path)
    ids = store.clip_ids()
    first = int(ids[0])
    near = search_by_example(store, first, k=3).clip_ids.tolist()
    session = Session(store, classes=CLASSES, precompute=False,
                      validation=(near[:2], ["target", "background"]))
    g = SearchGallery(session, first, k=5, background=False)
    shown = [t["clip_id"] for t in g.tiles]
    assert len(shown) == 5 and not set(near[:2]) & set(shown) and shown[0] == near[2]
