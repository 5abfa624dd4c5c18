"""The map view's Python side: float32 recolouring, click to hear and label, selections kept
current, label all with confirmation, the ring on the labeler's clip, legend, tooltips' data,
theme, snapshots. The browser side (a lasso reaching Python, the ring moving on screen) is in
``test_browser_maps.py``."""

from pathlib import Path

import numpy as np
import pytest

from alwidget.session import STATUS_NAMES, Session
from alwidget.widgets import LabelingApp, LabelingWidget, MapView
from alwidget.widgets.live import live_view
from alwidget.widgets.map_style import STATUS_COLORS, STATUS_SIZES
from test_widgets import listening, project

EVIL_CLASS = "<img src=x onerror=alert(1)>"


def lasso(m, clip_ids):
    """What the page sends when a lasso or box closes around ``clip_ids`` (their customdata)."""
    m.events.receive({"type": "select", "n": len(clip_ids)},
                     [np.asarray(clip_ids, np.float64).tobytes()])


def legend_names(m):
    return [t.name for t in m.figure.data[1:] if t.showlegend]


def truth_of(session):
    """Every third clip is 'yes' (the toy features are random: the model only needs two classes)."""
    return {int(c): ("yes" if i % 3 == 0 else "no") for i, c in enumerate(session.pool.view().clip_ids)}


def test_map_arrays_are_small_and_recolour_after_a_label(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    t = m.trace
    assert len(t.x) == 18 and np.asarray(t.x).dtype == np.float32
    colors = np.asarray(t.marker.color)
    # codes and sizes in one byte per clip (sent after every decision), probabilities float32
    assert colors.dtype == np.uint8 and np.asarray(t.marker.size).dtype == np.uint8
    proposed = STATUS_NAMES.index("proposed")
    current = s.current.clip_id
    row = int(np.flatnonzero(m.projection.clip_ids == current)[0])
    assert colors[row] == proposed and (colors == proposed).sum() == 1
    s.submit("yes")
    after = np.asarray(m.trace.marker.color)
    assert after[row] == STATUS_NAMES.index("labeled")  # the map heard the session
    assert "1 labels" in m.counts.value
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
    app.map.events.receive({"type": "click", "clip": target})  # what the page sends
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
    lasso(m, ids[:3])
    assert m.selected.tolist() == ids[:3].tolist()
    assert "3 clips selected" in m.selection.head.value
    assert len(m.selection.rows.children) == 3
    m._act(m.label_selection, "no")
    assert sorted(store.current_labels().clip_id.tolist()) == sorted(ids[:3].tolist())
    assert m.selection.rows.children[0].children[1].value.startswith("labeled: no · ")
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
    assert "iteration 3" in fig.layout.annotations[1].text
    assert fig.layout.width is None  # as wide as the notebook: never cut off
    (bar,) = [t.marker.colorbar for t in fig.data if t.marker.showscale]
    assert bar.orientation == "h" and bar.title.text == "P(yes)"  # under the panels
    assert [t.name for t in fig.data if t.showlegend] == ["labeled clip", "unlabeled clip"]
    assert fig.layout.template == m.figure.layout.template  # one look for every figure
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
    shown = []
    m.info.observe(lambda ch: shown.append(ch["new"]), "value")
    release.set()

    for t in threading.enumerate():
        if t.name.startswith("alwidget-map"):
            t.join(60)
    assert m.projection.method == "tsne" and "t-SNE of 18 clips" in m.info.value
    progress = [v for v in shown if "t-SNE: iteration" in v]  # measured, with its clock
    assert progress and all(" so far" in v and "aria-live" in v for v in progress)
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
    heat = fig.data[0]
    assert heat.dx * heat.z.shape[1] == pytest.approx(1.0)  # seconds along x: the 1-s clip
    assert fig.layout.xaxis4.title.text == "time (s)" and fig.layout.xaxis.title.text is None
    assert "1 kHz" in fig.layout.yaxis.ticktext and fig.layout.yaxis.showticklabels
    assert fig.layout.yaxis2.showticklabels is False  # frequencies on the first column only
    assert fig.layout.width is None  # as wide as the notebook
    ctx = spectrogram_grid(s, {"left": left[:1]}, per_group=1, context_s=0.5, theme="dark")
    assert [sh.x0 for sh in ctx.layout.shapes] == pytest.approx(  # the clip's start and end
        [min(0.5, s.pool.proposal(int(left[0])).start_s), min(0.5, s.pool.proposal(
            int(left[0])).start_s) + 1.0])
    assert ctx.layout.template.layout.font.color == "#f2f5fa"
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
    assert "left 4 alone" in m.selection.note.value


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
    m.selection.label_all.value = EVIL_CLASS
    m.selection.label_all_button.click()  # "Label 3 clips as <img ...>?"
    assert "Label <b>3</b> clips as <b>&lt;img" in m.selection.confirm_text.value
    m.selection.confirm_button.click()  # "labeled 3 clips as <img ...>"
    evil = "&lt;img src=x onerror=alert(1)&gt;"
    assert f"labeled 3 clips as {evil}" in m.selection.note.value  # the note, escaped
    assert "<img" not in m.selection.note.value
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
    assert f"labeled: {evil} · model" in text  # the selection list
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in m.error.value  # the map's error
    for mode in ("label", "predicted"):  # plotly reads tags in legend entries and titles
        m.color_box.value = mode
        assert any(n.startswith(evil) for n in legend_names(m))
        assert not any("<img" in n for n in legend_names(m))
    m.color_box.value = "probability"
    assert "<img" not in m.trace.marker.colorbar.title.text
    grid = spectrogram_grid(s, {"<b>region</b>": ids[:2]}, per_group=2)
    assert all("<b>" not in a.text for a in grid.layout.annotations)
    assert grid.layout.annotations[0].text.startswith("&lt;b&gt;region&lt;/b&gt;: clip ")
    m._act(m.label_selection, "<script>alert(1)</script>")  # and the error through _act
    assert m.error.value.startswith("<pre role='alert'>") and "&lt;script&gt;" in m.error.value


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
                             ("labeler", w), ("counts", m.counts), ("events", m.events)):
            widget.observe(watch(name))
        m.method_box.value = "t-SNE"  # computed on a thread of its own
        await asyncio.wait_for(until(lambda: "t-SNE of" in m.info.value), 60)
        threading.Thread(target=s.submit, args=("yes",), name="elsewhere").start()
        await asyncio.wait_for(until(lambda: "1 labels" in m.counts.value
                                     and w.status["n_labels"] == 1), 60)
        m.method_box.value = "UMAP"
        await asyncio.wait_for(until(lambda: "umap is broken here" in m.error.value), 60)
        return m

    m = asyncio.run(main())
    assert "alwidget-map-tsne" in computed_on and "alwidget-map-umap" in computed_on
    assert {name for name, _, _ in updates} == {"info", "error", "figure", "labeler", "counts",
                                                "events"}
    off_main = {(name, trait, t.name) for name, trait, t in updates
                if t is not threading.main_thread()}
    assert off_main == set(), f"widgets touched off the main thread: {off_main}"
    assert m.projection.method == "tsne"  # the failed UMAP left the t-SNE map in place


def test_a_lasso_reaches_the_kernel_as_a_message_and_a_double_click_clears_it(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    picked = []
    m = MapView(s, method="pca", background=False, on_pick=picked.append)
    ids = m.projection.clip_ids
    lasso(m, [ids[4], ids[2], 10**9])  # a clip that is not on the map is left out
    assert m.selected.tolist() == [ids[4], ids[2]]
    assert len(m.selection.rows.children) == 2
    m.events.receive({"type": "deselect"})  # a double click on the map
    assert len(m.selected) == 0 and m.selection.children == ()
    m.events.receive({"type": "click", "clip": int(ids[3])})
    assert picked == [int(ids[3])]


def test_the_list_follows_decisions_made_anywhere(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = LabelingApp(s, map_method="pca").map
    ids = m.projection.clip_ids
    m.select(ids[:4])
    texts = [row.children[1] for row in m.selection.rows.children]
    assert all(t.value.startswith("unlabeled · no model yet") for t in texts)
    s.label(int(ids[1]), "yes")  # e.g. in the labeler, or in another cell
    assert texts[1].value.startswith("labeled: yes · ")
    assert "4 clips selected</b> · 3 to label, 1 decided" in m.selection.head.value
    s.label(int(ids[2]), "no")  # two classes: a model now guesses every listed clip
    assert texts[0].value.startswith("unlabeled · model ")
    s.undo()
    assert texts[2].value.startswith("unlabeled · ")


def test_label_all_asks_for_a_class_and_the_count_first(tmp_path):
    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    ids = m.projection.clip_ids
    s.label(int(ids[0]), "yes")
    m.select(ids[:6])
    panel = m.selection
    assert panel.label_all.value == ""  # no class is chosen for the expert
    panel.label_all_button.click()
    assert "choose the class" in m.error.value and len(store.current_labels()) == 1
    panel.label_all.value = "no"
    panel.label_all_button.click()
    assert "Label <b>5</b> clips as <b>no</b>? 1 decided" in panel.confirm_text.value
    assert panel.confirm_button.description == "Label 5 clips"
    assert len(store.current_labels()) == 1  # nothing labeled before the answer
    panel.cancel_button.click()
    assert panel.confirm.children == () and len(store.current_labels()) == 1
    panel.label_all_button.click()
    panel.confirm_button.click()
    assert len(store.current_labels()) == 6 and panel.label_all.value == ""
    assert "labeled 5 clips as no; left 1 alone" in panel.note.value
    s.undo()  # one undo takes the group back
    assert len(store.current_labels()) == 1
    panel.label_all.value = "no"
    panel.label_all_button.click()
    m.select(ids[6:8])  # another selection drops the question
    assert panel.confirm.children == ()
    with pytest.raises(ValueError, match="no labeling to confirm"):
        panel.confirm_label_all()


def ring_clip(m):
    """The clip under the ring the page draws over the map (None without a ring)."""
    row = m.events.ring_row
    return None if row < 0 else int(m.projection.clip_ids[row])


def test_the_ring_marks_the_clip_in_the_labeler(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    app = LabelingApp(s, map_method="pca")
    m = app.map
    assert ring_clip(m) == app.labeler.shown.clip_id == s.current.clip_id
    other = int(next(c for c in m.projection.clip_ids if c != s.current.clip_id))
    m.pick(other)  # a click on the map
    assert ring_clip(m) == other
    assert m.events.ring_label == f"clip {other}, in the labeler"
    assert f"◯ clip {other}, in the labeler" in m.counts.value  # in words beside the map
    (shape,) = m._static_figure().layout.shapes  # an exported map has the ring too
    assert (shape.xanchor, shape.yanchor) == tuple(m.projection.coords[m.events.ring_row])
    app.labeler.decide("skip")  # back to the queue: nothing stored, the session says nothing
    assert ring_clip(m) == s.current.clip_id
    app.labeler.decide("label", "yes")
    assert ring_clip(m) == s.current.clip_id  # the next clip
    alone = MapView(s, method="pca", background=False)  # no labeler: the session's next clip
    assert ring_clip(alone) == s.current.clip_id
    assert alone.events.ring_label.endswith("next to label")


def test_the_legend_lists_only_the_colours_present(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    assert legend_names(m) == ["unlabeled", "proposed"]  # no pseudo-labeled, no doubt...
    assert not m.trace.marker.showscale  # a legend, not a tall colour bar
    ids = m.projection.clip_ids
    s.label(int(ids[0]), "yes")
    s.skip()
    assert legend_names(m) == ["unlabeled", "proposed", "labeled", "skipped"]
    assert m.events.summary.startswith("PCA of 18 clips, coloured by status: 15 unlabeled, "
                                       "1 proposed, 1 labeled, 1 skipped; 1 labels.")
    m.color_box.value = "probability"
    assert legend_names(m) == [] and m.trace.marker.showscale
    assert m.trace.marker.colorbar.len <= 0.6 and m.trace.marker.colorbar.title.text == "P(yes)"


def test_tooltips_carry_file_time_status_label_and_p(tmp_path):
    from alwidget.widgets.map_events import NONE

    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False)
    ev, ids = m.events, m.projection.clip_ids
    assert ev.files == [f"f{i}.wav" for i in range(6)]  # file names as shown, in file order
    file_of, start = np.frombuffer(ev.file_of, np.int32), np.frombuffer(ev.start_of, np.float32)
    assert file_of.tolist() == [i // 3 for i in range(18)] and start[:3].tolist() == [0, 1, 2]
    state = np.frombuffer(ev.state, np.uint8).reshape(4, -1)
    assert (state[1] == NONE).all() and (state[3] == NONE).all()  # no label, no model
    s.label(int(ids[0]), "yes")
    s.label(int(ids[1]), "no")
    v, state = s.pool.view(), np.frombuffer(ev.state, np.uint8).reshape(4, -1)
    assert state[0].tolist() == v.status.tolist()
    assert state[1][:3].tolist() == [1, 0, NONE]  # yes, no, none (indices into label_names)
    assert ev.label_names == ["no", "yes", "Doubt"] and ev.p_name == "P(yes)"
    assert np.abs(state[3] / 250 - v.p_target).max() <= 0.5 / 250 + 1e-6
    assert state[2].tolist() == v.predicted.tolist()
    assert len(ev.state) == 4 * len(ids)  # 4 bytes a clip per decision, no text


def test_the_map_follows_the_page_theme(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    m = MapView(s, method="pca", background=False, snapshots=(1,))
    ids = m.projection.clip_ids
    assert m.figure.layout.template.layout.font.color == "#2a3f5f"  # plotly_white's
    m.events.theme = "dark"  # what the page reports when JupyterLab's theme is dark
    layout = m.figure.layout.template.layout
    assert layout.font.color == "#f2f5fa" and layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert m._static_figure().layout.shapes[0].line.color == "#ffffff"  # the ring shows on dark
    s.label(int(ids[0]), "yes")
    s.label(int(ids[1]), "no")
    assert m.snapshot_figure().layout.template.layout.font.color == "#f2f5fa"


def test_decisions_are_drawn_over_the_map_and_the_scatter_redrawn_when_the_expert_pauses(tmp_path):
    """In a kernel the answer's message handler decides, the labeler sends its next clip, and
    only then (the loop's next turn) the map sends the page the points that changed, once for
    answers given meanwhile (the snapshots are taken at once); the whole scatter is redrawn
    after ``redraw_after_s`` without a decision."""
    import asyncio

    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    order, patches = [], []

    async def main():
        app = LabelingApp(s, map_method="pca",
                          map_kwargs={"snapshots": (1,), "redraw_after_s": 0.2})
        m = app.map
        redrawn, patched = asyncio.Event(), asyncio.Event()
        real_patch, real_recolor = m.events.patch, m.recolor

        def patch(p):
            order.append("map")
            patches.append(p)
            real_patch(p)
            patched.set()

        def recolor():
            real_recolor()
            redrawn.set()

        m.events.patch, m.recolor = patch, recolor
        before = np.asarray(m.trace.marker.color).copy()
        app.labeler.observe(lambda _: order.append("labeler"), "status")
        first = app.labeler.shown.clip_id
        app.labeler.decide("label", "yes")
        second = app.labeler.shown.clip_id
        app.labeler.decide("label", "no")
        assert "map" not in order and 1 in m.snapshots
        await asyncio.wait_for(patched.wait(), 30)
        assert np.array_equal(np.asarray(m.trace.marker.color), before)  # not redrawn yet
        assert "2 labels" in m.counts.value
        assert legend_names(m) == ["unlabeled", "proposed", "labeled"]  # the legend follows
        assert m._redraw_at is not None  # the scatter itself waits for a pause
        (p,) = patches
        await asyncio.wait_for(redrawn.wait(), 30)
        return app, first, second, p

    app, first, second, p = asyncio.run(main())
    assert order.index("map") > order.index("labeler")
    ids = app.map.projection.clip_ids
    rows = {int(np.flatnonzero(ids == c)[0]) for c in (first, second)}
    assert rows <= set(p.rows.tolist())  # both labeled clips, and the next one proposed
    labeled, proposed = STATUS_NAMES.index("labeled"), STATUS_NAMES.index("proposed")
    assert all(p.state[0][list(p.rows).index(r)] == labeled for r in rows)
    # the scatter's own (larger) marker of the clip proposed then is covered first
    assert p.under[list(p.rows).index(ids.tolist().index(first))] == STATUS_SIZES[proposed]
    assert set(p.colors) >= {STATUS_COLORS[labeled]}
    colors = np.asarray(app.map.trace.marker.color)
    assert all(colors[r] == labeled for r in rows)  # the scatter, redrawn after the pause
    assert app.map._shown.patched == 0


def test_what_a_patch_cannot_say_waits_for_a_redraw():
    from alwidget.widgets.map_style import Colouring
    from alwidget.widgets.map_updates import ShownPoints, point_colors

    n = 10
    shown = ShownPoints(limit=3)
    state = np.zeros((4, n), np.uint8)
    values, sizes = np.zeros(n, np.float32), np.full(n, 4, np.uint8)
    assert shown.changes("status", values, sizes, state).redraw  # nothing drawn yet
    shown.drawn("status", values, sizes, state)
    assert shown.changes("label", values, sizes, state).redraw  # another colouring
    refit = state.copy()
    refit[3] = 7  # a refit: new P for every clip, in the tooltips only
    refit[0, 2] = 2  # and a decision
    ch = shown.changes("status", np.where(np.arange(n) == 2, 2, 0), sizes, refit)
    assert ch.rows.tolist() == [2] and ch.tooltips and not ch.redraw
    shown.patch(ch.rows, np.where(np.arange(n) == 2, 2, 0), sizes, refit)
    shown.tooltips(refit)
    assert shown.patched == 1
    recoloured = np.arange(n, dtype=np.float32)  # every colour changed (P after a refit)
    ch = shown.changes("status", recoloured, sizes, refit)
    assert ch.redraw and ch.rows.tolist() == []  # no decision among them: nothing to patch
    p = Colouring(None, (), (), "P(yes)")
    assert point_colors(p, np.array([np.nan]), np.array([0])) == ["rgb(247, 247, 247)"]


def _in_a_kernel(session, steps, **map_kwargs):
    """Run ``steps(map, messages)`` (a coroutine function) with a map made in a running loop,
    as in a kernel; ``messages``: what the map sent the page beside its traits."""
    import asyncio

    async def main():
        m = MapView(session, method="pca", background=False, **map_kwargs)
        sent = []
        real = m.events.send
        m.events.send = lambda content, buffers=None: (sent.append(content),
                                                        real(content, buffers))
        await steps(m, sent)
        return m

    return asyncio.run(main())


def test_decisions_on_a_grown_archive_are_still_drawn_and_undo_reaches_the_tooltips(tmp_path):
    import asyncio

    from alwidget.widgets.map_events import NONE

    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], random_state=0)

    async def steps(m, sent):
        ids = m.projection.clip_ids
        changed = asyncio.Event()
        m.events.patch = (lambda real: lambda p: (real(p), changed.set()))(m.events.patch)
        n_before = len(ids)
        add_clips(store, 3)  # the archive grew: the session takes the new clips
        s.label(int(ids[0]), "yes")
        await asyncio.wait_for(changed.wait(), 30)
        assert len(s.pool.view().clip_ids) == n_before + 3
        assert [c["type"] for c in sent if c["type"] == "patch"] == ["patch"]  # drawn at once
        m.recolor()  # a redraw (e.g. a new colouring) while the label is in force
        state = np.frombuffer(m.events.state, np.uint8).reshape(4, -1)
        s.undo()
        m.recolor()  # the same bytes as before the label: the page is told to re-read them
        assert sent[-1] == {"type": "tips"}
        after = np.frombuffer(m.events.state, np.uint8).reshape(4, -1)
        assert after[1][0] == NONE and state[1][0] != NONE  # no label after the undo

    _in_a_kernel(s, steps)


def add_clips(store, n):
    """``n`` more clips (of a new audio file) with features, as a growing archive brings."""
    import soundfile as sf

    from alwidget.store.types import NewAudio

    rng = np.random.default_rng(1)
    folder = Path(store.path).parent
    sf.write(folder / "grown.wav", rng.normal(size=32000 * n) * 0.1, 32000)
    store.add_audio(NewAudio(str(folder), "grown.wav", 32000, 16, 32000 * n, 1, "WAV", "PCM_16",
                             "grown", 0), [(float(k), 1.0) for k in range(n)])
    fs = store.feature_set("toy", {}, 4)
    store.put_features(fs, store.clip_ids()[-n:], rng.normal(size=(n, 4)).astype(np.float32))


def test_the_exported_map_has_the_sessions_colours_not_the_pages(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)

    async def steps(m, sent):
        import asyncio

        ids = m.projection.clip_ids
        s.label(int(ids[3]), "yes")  # in the same cell: the map has not caught up
        fig = m._static_figure()
        assert np.asarray(fig.data[0].marker.color)[3] == STATUS_NAMES.index("labeled")
        assert "labeled" in [t.name for t in fig.data[1:] if t.showlegend]
        assert not any(c["type"] == "clear" for c in sent)  # the live map was not redrawn
        await asyncio.sleep(0)

    _in_a_kernel(s, steps)


def test_the_map_of_a_session_on_some_clips_draws_those_clips_only(tmp_path):
    store = project(tmp_path)
    ids = store.clip_ids()
    inside = [int(c) for c in ids[:9]]  # e.g. one node's clips in a time window (clips_where)
    s = Session(store, classes=["no", "yes"], clips=inside, random_state=0)
    m = MapView(s, method="pca", background=False)
    drawn = np.asarray(m.trace.marker.size) > 0
    assert m.projection.clip_ids[drawn].tolist() == inside  # the others are not drawn
    assert "outside" not in legend_names(m)
    assert "9 clips outside the session's clips not drawn" in m.events.summary
    m.select(ids)  # a lasso over everything lists the session's clips only
    assert sorted(m.selected.tolist()) == inside
    fig = m._static_figure()
    assert (np.asarray(fig.data[0].marker.size)[~drawn] == 0).all()


def test_hidden_clips_are_never_patched_picked_or_break_an_export_after_growth(tmp_path):
    import asyncio

    store = project(tmp_path)
    ids = store.clip_ids()
    s = Session(store, classes=["no", "yes"], clips=[int(c) for c in ids[:9]], random_state=0)
    picked = []

    async def steps(m, sent):
        got = asyncio.Event()
        patches = []
        m.events.patch = (lambda real: lambda p: (patches.append(p), real(p), got.set()))(
            m.events.patch)
        hidden = set(np.flatnonzero(np.asarray(m.trace.marker.size) == 0).tolist())
        s.label(int(ids[0]), "yes")
        await asyncio.wait_for(got.wait(), 30)
        assert patches and not hidden & set(patches[-1].rows.tolist())  # never drawn over
        m.pick(int(ids[12]))  # a clip outside the session's clips: not shown
        assert picked == []
        m.pick(int(ids[3]))
        assert picked == [int(ids[3])]
        add_clips(store, 3)
        s.add_new_clips(clips=[int(c) for c in store.clip_ids()[-3:]])
        fig = m._static_figure()  # the grown pool's file names, no IndexError
        assert len(fig.data[0].x) == len(ids)

    _in_a_kernel(s, steps, on_pick=picked.append)
