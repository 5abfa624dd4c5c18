"""The map view's Python side: float32 recolouring, click to hear and label, selections, snapshots."""

import numpy as np
import pytest
from plotly.callbacks import Points

from alwidget.session import STATUS_NAMES, Session
from alwidget.widgets import LabelingApp, LabelingWidget, MapView
from alwidget.widgets.live import live_view
from test_widgets import listening, project

EVIL_CLASS = "<img src=x onerror=alert(1)>"


def truth_of(session):
    """Every third clip is 'yes' (the toy features are random: the model only needs two classes)."""
    return {int(c): ("yes" if i % 3 == 0 else "no") for i, c in enumerate(session.pool.view().clip_ids)}


def test_map_arrays_are_float32_and_recolour_after_a_label(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    t = m.trace
    assert len(t.x) == 18 and np.asarray(t.x).dtype == np.float32
    colors = np.asarray(t.marker.color)
    assert colors.dtype == np.float32
    proposed = STATUS_NAMES.index("proposed")
    current = s.current.clip_id
    row = int(np.flatnonzero(m.projection.clip_ids == current)[0])
    assert colors[row] == proposed and (colors == proposed).sum() == 1
    s.submit("yes")
    after = np.asarray(m.trace.marker.color)
    assert after[row] == STATUS_NAMES.index("labeled")  # the map heard the session
    assert "1 labels" in m.figure.layout.title.text
    m.color_box.value = "probability"
    assert np.asarray(m.trace.marker.color).dtype == np.float32 and m.trace.marker.cmax == 1.0
    with pytest.raises(ValueError, match="color='hue' must be one of"):
        MapView(s, color="hue", background=False)


def test_clicking_a_point_plays_that_clip_and_labels_it(tmp_path):
    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], random_state=0)
    app = LabelingApp(s, map_method="pca")
    queue_clip = s.current.clip_id
    target = int(next(c for c in app.map.projection.clip_ids if c != queue_clip))
    row = int(np.flatnonzero(app.map.projection.clip_ids == target)[0])
    plays = app.labeler.play_request
    app.map._clicked(app.map.trace, Points(point_inds=[row], xs=[0], ys=[0], trace_name="",
                                           trace_index=0), None)
    assert app.labeler.status["clip_id"] == target and app.labeler.status["chosen"]
    assert app.labeler.play_request == plays + 1  # the browser plays it at once
    app.labeler.decide("label", "yes")
    assert store.current_labels().clip_id.tolist() == [target]
    assert store.active_events()[0].reason == "chosen by the expert"
    assert app.labeler.status["clip_id"] == s.current.clip_id  # back to the session's next clip
    queue_clip = s.current.clip_id
    colors = np.asarray(app.map.trace.marker.color)
    assert colors[row] == STATUS_NAMES.index("labeled")
    # skip on a chosen clip stores nothing and returns to the queue
    app.map.pick(target)
    app.labeler.decide("skip")
    assert len(store.active_events()) == 1 and app.labeler.status["clip_id"] == queue_clip


def test_a_selection_lists_clips_and_can_be_labeled_or_queued(tmp_path):
    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    ids = m.projection.clip_ids
    m._selected_points(m.trace, Points(point_inds=[0, 1, 2], xs=[], ys=[], trace_name="",
                                       trace_index=0), None)
    assert m.selected.tolist() == ids[:3].tolist()
    assert "3 clips selected" in m.selection_box.children[0].children[0].value
    assert len(m.selection_box.children) == 1 + 3
    m._act(m.label_selection, "no")
    assert sorted(store.current_labels().clip_id.tolist()) == sorted(ids[:3].tolist())
    assert "label no" in m.selection_box.children[1].children[1].value
    m.select(ids[5:7])
    m._act(m.queue_selection)
    asked = []
    for _ in range(2):
        s.submit("yes")  # the clip shown before the queue changed, then the queue in order
        asked.append(s.current.clip_id)
    assert asked == [int(ids[5]), int(ids[6])]
    m._act(m.label_selection, "cat")
    assert "label='cat' is not one of" in m.error.value


def test_snapshots_keep_the_predictions_at_chosen_iterations(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False, snapshots=(1, 3))
    truth = truth_of(s)
    while 3 not in m.snapshots and not s.done:
        s.submit(truth[s.current.clip_id])
    assert sorted(m.snapshots) == [1, 3]
    assert m.snapshots[3].n_labels - m.snapshots[1].n_labels == 2
    fig = m.snapshot_figure()
    assert len(fig.data) == 2 and "iteration 3" in fig.layout.annotations[1].text
    out = m.export(tmp_path / "snap.html", snapshots=True)
    assert out.stat().st_size > 1_000_000  # plotly.js embedded: opens offline
    with pytest.raises(ValueError, match="must end in .html or .png"):
        m.export(tmp_path / "snap.svg")


def test_tsne_is_computed_in_the_background_and_replaces_pca(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    import threading

    started = threading.Event()
    release = threading.Event()
    real = s.pool.projection

    def slow_projection(method, **kw):  # hold t-SNE back until PCA has been checked
        if method == "tsne":
            started.set()
            release.wait(30)
        return real(method, **kw)

    s.pool.projection = slow_projection
    m = MapView(s, method="tsne", background=True)
    assert started.wait(30) and m.projection.method == "pca"  # PCA at once, t-SNE running
    release.set()

    for t in threading.enumerate():
        if t.name.startswith("alwidget-map"):
            t.join(60)
    assert m.projection.method == "tsne" and m.info.value.startswith("t-SNE of 18 clips")
    m.method_box.value = "PCA (instant)"
    assert m.projection.method == "pca"


def test_box_selection_and_spectrograms_of_two_regions(tmp_path):
    from alwidget.widgets import spectrogram_grid

    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    xy = m.projection.coords
    left = m.select_box(xy[:, 0].min(), np.median(xy[:, 0]), -np.inf, np.inf)
    assert 0 < len(left) < len(xy) and (xy[np.isin(m.projection.clip_ids, left), 0]
                                        <= np.median(xy[:, 0])).all()
    right = np.setdiff1d(m.projection.clip_ids, left)
    fig = spectrogram_grid(s, {"left": left, "right": right}, per_group=3)
    assert len(fig.data) == 6 and fig.data[0].z.shape[0] == 128
    assert fig.layout.annotations[3].text.startswith("right: clip ")
    with pytest.raises(ValueError, match="empty: \\['B'\\]"):
        spectrogram_grid(s, {"A": left, "B": []})


def test_png_export_through_a_local_chromium(tmp_path):
    from alwidget.widgets.export import find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium installed (./dev.sh test installs it when run as root)")
    pytest.importorskip("playwright")
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    out = m.export(tmp_path / "map.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000


def test_tagger_colouring_needs_tagger_features(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    assert s.pool.tagger_top1() is None
    m = MapView(s, method="pca", background=False)
    assert "tagger" not in m.color_box.options
    with pytest.raises(ValueError, match="no yamnet-tags features"):
        MapView(s, method="pca", color="tagger", background=False)


def test_label_all_leaves_decided_and_validation_clips_alone(tmp_path):
    store = project(tmp_path)
    ids = store.clip_ids()
    s = Session(store, classes=["no", "yes"], random_state=0,
                validation=(ids[-3:], ["no", "no", "yes"]))
    m = MapView(s, method="pca", background=False)
    s.label(int(ids[0]), "yes")
    m.select(np.concatenate([ids[:6], ids[-3:]]))
    assert m.label_selection("no") == 5
    labels = dict(zip(store.current_labels().clip_id.tolist(), store.current_labels().label))
    assert labels[int(ids[0])] == "yes" and len(labels) == 6  # the earlier label kept
    assert "left 4 alone" in m.info.value


def test_a_group_label_that_jumps_past_a_snapshot_still_takes_it(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False, snapshots=(1, 5))
    ids = m.projection.clip_ids
    s.label(int(ids[0]), "yes")
    s.label(int(ids[1]), "no")
    assert sorted(m.snapshots) == [1]
    s.label_many(ids[2:10], "no")  # iteration 1 -> 9 in one step
    assert sorted(m.snapshots) == [1, 5] and m.snapshots[5].iteration == 9


def test_a_failing_view_does_not_fail_the_decision(tmp_path):
    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], random_state=0)

    def broken(session):
        raise RuntimeError("view gone")

    s.observe(broken)
    with pytest.warns(UserWarning, match="view gone"):
        s.submit("yes")
    assert len(store.current_labels()) == 1
    s.unobserve(broken)
    s.submit("no")  # no warning now


def test_many_classes_get_distinct_colours(tmp_path):
    classes = [f"c{i}" for i in range(12)]
    s = Session(project(tmp_path), classes=classes, random_state=0)
    m = MapView(s, method="pca", color="label", background=False)
    scale = [c for _, c in m.trace.marker.colorscale][::2]
    assert len(scale) == 14 and len(set(scale[1:13])) == 12  # unlabeled, 12 classes, Doubt


def test_labeling_while_the_map_is_computed_never_deadlocks(tmp_path):
    """The map thread holds the view's lock and asks the session; the expert's answer holds
    the session and tells the view. Forced to interleave, neither may wait for the other."""
    import threading
    import time

    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], random_state=0)
    in_map, in_submit = threading.Event(), threading.Event()
    real_view, real_add = s.pool.view, store.add_label

    def pool_view():
        if threading.current_thread().name.startswith("alwidget-map"):
            in_map.set()
            in_submit.wait(10)  # the expert's answer now holds the session
        return real_view()

    def add_label(*args, **kwargs):
        in_submit.set()
        time.sleep(0.3)  # the map thread asks the session meanwhile
        return real_add(*args, **kwargs)

    s.pool.view = pool_view
    m = MapView(s, method="tsne", background=True)
    assert in_map.wait(60)
    store.add_label = add_label
    answered = threading.Event()
    threading.Thread(target=lambda: (s.submit("yes"), answered.set()), daemon=True).start()
    assert answered.wait(30), "deadlock: the answer waits for the map, the map for the answer"
    for t in threading.enumerate():
        if t.name.startswith("alwidget-map"):
            t.join(30)
    assert m.projection.method == "tsne" and len(store.current_labels()) == 1


def html_values(widget) -> list:
    """The value of every HTML widget inside ``widget``."""
    import ipywidgets as W

    values, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, W.HTML):
            values.append(w.value)
        stack.extend(getattr(w, "children", ()))
    return values


def test_class_names_and_error_texts_reach_html_only_escaped(tmp_path):
    from alwidget.widgets import spectrogram_grid

    s = Session(project(tmp_path), classes=["no", EVIL_CLASS], random_state=0)
    app = LabelingApp(s, map_method="pca")
    m = app.map
    ids = m.projection.clip_ids
    m.select(ids[:3])
    m.label_all.value = EVIL_CLASS
    m.label_all_button.click()  # "labeled 3 clips as <img ...>"
    s.label(int(ids[3]), "no")  # two classes: a model predicts EVIL_CLASS somewhere
    m.select(ids[:8])
    m._act(m.label_selection, "<script>alert(1)</script>")  # refused, naming the label
    real = s.pool.projection
    s.pool.projection = lambda method, **kw: (_ for _ in ()).throw(
        RuntimeError("<script>alert(2)</script>")) if method == "tsne" else real(method, **kw)
    m.background = False
    m.show_method("tsne")  # the map fails, saying why
    values = html_values(app) + html_values(m.selection_box)
    text = "\n".join(values)
    assert "<img" not in text and "<script" not in text
    evil = "&lt;img src=x onerror=alert(1)&gt;"
    assert f"labeled 3 clips as {evil}" in text  # the note, escaped
    assert f"label {evil} · model" in text  # the selection list
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in m.error.value  # the map's error
    for mode in ("label", "predicted"):  # plotly reads tags in tick labels and titles
        m.color_box.value = mode
        assert "&lt;img src=x onerror=alert(1)&gt;" in m.trace.marker.colorbar.ticktext
        assert not any("<img" in t for t in m.trace.marker.colorbar.ticktext)
    m.color_box.value = "probability"
    assert "<img" not in m.trace.marker.colorbar.title.text
    grid = spectrogram_grid(s, {"<b>region</b>": ids[:2]}, per_group=2)
    assert all("<b>" not in a.text for a in grid.layout.annotations)
    assert grid.layout.annotations[0].text.startswith("&lt;b&gt;region&lt;/b&gt;: clip ")
    m._act(m.label_selection, "<script>alert(1)</script>")  # and the error through _act
    assert m.error.value.startswith("<pre>") and "&lt;script&gt;" in m.error.value


def test_rerunning_map_and_app_cells_keeps_one_live_view_of_each(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    apps = [LabelingApp(s, map_method="pca") for _ in range(10)]
    assert listening(s, LabelingWidget) == [apps[-1].labeler]
    assert listening(s, MapView) == [apps[-1].map] and live_view(s, "app") is apps[-1]
    assert all(a.comm is None and a.labeler.comm is None and a.map.comm is None for a in apps[:-1])
    maps = [MapView(s, method="pca", background=False) for _ in range(10)]
    assert listening(s, MapView) == [maps[-1]] and apps[-1].map.comm is None  # replaced
    assert listening(s, LabelingWidget) == [apps[-1].labeler]  # another kind: kept
    before = np.asarray(maps[0].trace.marker.color).copy()
    s.submit("yes")
    assert np.array_equal(np.asarray(maps[0].trace.marker.color), before)  # closed: not recoloured
    assert not np.array_equal(np.asarray(maps[-1].trace.marker.color), before)
    apps[-1].close()
    maps[-1].close()
    assert s._observers == [] and live_view(s, "map") is None


def test_widgets_are_updated_on_the_main_thread_while_a_loop_runs(tmp_path):
    """As in a kernel: cells run inside an asyncio loop on the main thread; the t-SNE map, its
    progress, a failure and a decision made on another thread all reach the widgets there."""
    import asyncio
    import threading

    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    real = s.pool.projection
    computed_on = []

    def projection(method, **kw):
        computed_on.append(threading.current_thread().name)
        if method == "umap":
            raise RuntimeError("umap is broken here")
        return real(method, **kw)

    s.pool.projection = projection
    updates = []  # (widget, trait, thread) of every trait change

    async def main():
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        async def until(done):
            while not done():
                changed.clear()
                await changed.wait()

        app = LabelingApp(s, map_method="pca")  # made in the loop, as a cell makes it
        m, w = app.map, app.labeler

        def watch(name):
            def record(change):
                updates.append((name, change["name"], threading.current_thread()))
                loop.call_soon_threadsafe(changed.set)
            return record

        for name, widget in (("info", m.info), ("error", m.error), ("figure", m.figure),
                             ("labeler", w)):
            widget.observe(watch(name))
        m.method_box.value = "t-SNE"  # computed on a thread of its own
        await asyncio.wait_for(until(lambda: m.info.value.startswith("t-SNE of")), 60)
        threading.Thread(target=s.submit, args=("yes",), name="elsewhere").start()
        await asyncio.wait_for(until(lambda: "1 labels" in (m.figure.layout.title.text or "")
                                     and w.status["n_labels"] == 1), 60)
        m.method_box.value = "UMAP"
        await asyncio.wait_for(until(lambda: "umap is broken here" in m.error.value), 60)
        return m

    m = asyncio.run(main())
    assert "alwidget-map-tsne" in computed_on and "alwidget-map-umap" in computed_on
    assert {name for name, _, _ in updates} == {"info", "error", "figure", "labeler"}
    off_main = {(name, trait, t.name) for name, trait, t in updates
                if t is not threading.main_thread()}
    assert off_main == set(), f"widgets touched off the main thread: {off_main}"
    assert m.projection.method == "tsne"  # the failed UMAP left the t-SNE map in place
