"""A session's model saved and evaluated: the numbers the session computed, the figures drawn."""

import json
import re
import zipfile

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve
from test_session import CLASSES, make_project

from alwidget.learn import f1_at
from alwidget.model_file import load_model
from alwidget.session import Session
from alwidget.store import Store
from alwidget.widgets.evaluation import FIGURE_NAMES, evaluation_figures, write_evaluation_html


def validation_of(store, truth, n=80):
    """The last ``n`` clips and clip 1 (a target: make_project plants one there)."""
    ids = store.clip_ids().tolist()
    val = ids[-n:] + ids[:1]
    return val, [truth[c] for c in val]


def labeled_session(tmp_path, n_labels=40, validation=True, strategy="lc", **kw):
    store, truth = make_project(tmp_path / "p.db")
    s = Session(store, classes=CLASSES, random_state=2, precompute=False, strategy=strategy,
                validation=validation_of(store, truth) if validation else None, **kw)
    for _ in range(n_labels):
        s.submit(truth[s.current.clip_id])
    return s, store, truth


@pytest.fixture
def session(tmp_path):
    s, store, truth = labeled_session(tmp_path)
    s.skip()  # a skip after the last label: the model's seed counts it
    yield s
    s.close()


def test_save_model_keeps_the_sessions_model_threshold_and_numbers(tmp_path, session):
    saved = session.save_model(tmp_path / "bird.alwmodel")
    model = load_model(tmp_path / "bird.alwmodel")
    assert model.model_id == saved.model_id
    _, X = session.store.get_features(session.feature_set)
    P = model.predict_proba(X)
    assert np.array_equal(P, session._planned.plan.proba)  # what the session scored, bit for bit
    assert np.array_equal(P, session.learner.predict_proba(X).astype(np.float32))
    # so the threshold decides every clip as in the session
    assert np.array_equal(P[:, 1] >= model.threshold,
                          session._planned.plan.proba[:, 1] >= session.threshold)
    assert (model.classes, model.target, model.threshold) == (tuple(CLASSES), "target",
                                                              session.threshold)
    model.check_feature_set(session.feature_set)
    assert model.feature_set_in(session.store) == session.feature_set
    # the numbers are the session's: F1 at the threshold it tuned on validation
    m = model.card["metrics"]
    assert m["f1"] == session.curve[-1][1] == session.evaluation().metrics["f1"]
    ev = session.evaluation()
    y = ev.labels == "target"
    p = ev.proba[:, 1]
    pred = p >= m["threshold"]
    assert m["f1"] == f1_at(y, p, m["threshold"])
    assert m["precision"] == (pred & y).sum() / pred.sum()
    assert m["recall"] == (pred & y).sum() / y.sum()
    assert (m["n_labels"], m["n_train"], m["n_validation"]) == (40, 40, 81)
    assert m["n_validation_positive"] == int(y.sum())


def test_the_card_names_the_label_events_trained_on(tmp_path, session):
    saved = session.save_model(tmp_path / "bird.alwmodel")
    with zipfile.ZipFile(saved.path) as z:
        trained = json.loads(z.read("card.json"))["trained_on"]
    events = [d for d in session.store.active_events() if d.kind == "label"]
    assert sorted(trained["event_ids"]) == sorted(d.id for d in events)
    by_event = {d.id: (d.clip_id, d.label) for d in events}
    assert [by_event[e] for e in trained["event_ids"]] == list(zip(trained["clip_ids"],
                                                                   trained["labels"]))
    assert trained["n_labels"] == session.n_labels == 40
    assert "pseudo_clip_ids" not in trained  # lc makes no pseudo-labels
    assert saved.card["feature_set"]["extractor"] == "toy"


def test_save_model_records_the_model_in_the_store_committed(tmp_path, session):
    saved = session.save_model(tmp_path / "bird.alwmodel")
    other = Store(tmp_path / "p.db")  # another connection sees it
    assert other.model_cards() == {saved.model_id: saved.card}
    session.save_model(tmp_path / "again.alwmodel")  # the same model: recorded once
    assert list(other.model_cards()) == [saved.model_id]


def test_a_semi_supervised_model_keeps_its_pseudo_labels(tmp_path):
    s, store, _ = labeled_session(tmp_path, n_labels=30, strategy="ssal-0.6")
    with s:
        saved = s.save_model(tmp_path / "m.alwmodel")
        trained, plan = saved.card["trained_on"], s._planned.plan
        assert len(trained["pseudo_clip_ids"]) == plan.n_train - trained["n_labels"] > 0
        assert list(zip(trained["pseudo_clip_ids"], trained["pseudo_labels"])) == list(
            s._planned.state.pseudo)
        assert saved.card["metrics"]["n_train"] == plan.n_train


def test_save_model_without_validation_keeps_threshold_half_and_no_metrics(tmp_path):
    s, _, _ = labeled_session(tmp_path, n_labels=30, validation=False)
    with s:
        saved = s.save_model(tmp_path / "m.alwmodel")
        assert saved.threshold == 0.5 and saved.card["metrics"] is None
        with pytest.raises(ValueError, match=r"no validation set.*validation=\(clip_ids, labels\)"):
            s.evaluation()
        with pytest.raises(ValueError, match="no validation set"):
            evaluation_figures(s)


def test_save_model_before_a_model_exists_is_refused(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, precompute=False) as s:
        with pytest.raises(ValueError, match="no model yet: label clips of at least two"):
            s.save_model(tmp_path / "m.alwmodel")
    assert not (tmp_path / "m.alwmodel").exists()


def test_a_multiclass_model_has_no_threshold_and_macro_metrics(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    rng = np.random.default_rng(0)
    three = {c: ("target" if v == "target" else ["bg", "rain"][rng.integers(2)])
             for c, v in truth.items()}
    val = store.clip_ids().tolist()[-60:] + [1]
    with Session(store, classes=["bg", "rain", "target"], precompute=False,
                 validation=(val, [three[c] for c in val])) as s:
        for _ in range(30):
            s.submit(three[s.current.clip_id])
        saved = s.save_model(tmp_path / "m.alwmodel")
        assert (saved.target, saved.threshold) == (None, None)
        assert saved.card["metrics"]["average"] == "macro"
        assert saved.card["metrics"]["f1"] == s.curve[-1][1]
        figures = evaluation_figures(s, n_points=3)
        names = [t.name for t in figures["precision_recall"].data]
        assert all(n.startswith("precision–recall") for n in names) and len(names) == 3
        assert np.array_equal(figures["confusion"].data[0].z, s.evaluation().confusion)


# --------------------------------------------------------------------------- the learning curve
def test_f1_by_labels_refits_give_the_f1_the_session_reported(tmp_path):
    s, _, truth = labeled_session(tmp_path, n_labels=20)
    with s:
        for k in range(15):  # doubts and skips move the seed, not the number of labels
            {0: s.doubt, 1: s.skip}.get(k % 5, lambda: s.submit(truth[s.current.clip_id]))()
        first = {}
        for n, f1 in s.curve:  # after each label (a skip would add a same-n point)
            first.setdefault(n, f1)
        points = s.f1_by_labels(n_points=100)
        assert [n for n, _ in points] == [n for n in sorted(first)]
        assert points == [(n, first[n]) for n in sorted(first)]
        few = s.f1_by_labels(n_points=4)
        assert len(few) == 4 and few[0] == points[0] and few[-1] == points[-1]
        with pytest.raises(ValueError, match="n_points=0"):
            s.f1_by_labels(n_points=0)


# --------------------------------------------------------------------------- the figures
def test_figures_show_the_curve_the_threshold_the_matrix_and_f1(session):
    figures = evaluation_figures(session, n_points=6)
    assert list(figures) == list(FIGURE_NAMES)
    ev = session.evaluation()
    pr = figures["precision_recall"]
    curve, marker = pr.data
    precision, recall, _ = precision_recall_curve(ev.labels == "target", ev.proba[:, 1])
    assert np.array_equal(curve.x, recall) and np.array_equal(curve.y, precision)
    assert marker.name == f"threshold {session.threshold:.3g}"
    assert (marker.x[0], marker.y[0]) == (ev.metrics["recall"], ev.metrics["precision"])
    # the marker lies on the curve: the operating point of the threshold
    assert any(np.isclose(r, marker.x[0]) and np.isclose(p, marker.y[0])
               for r, p in zip(recall, precision))
    cm = figures["confusion"].data[0]
    assert cm.type == "heatmap" and list(cm.x) == list(cm.y) == CLASSES
    assert np.array_equal(cm.z, ev.confusion) and ev.confusion.sum() == 81
    tp = ev.confusion[1, 1]
    assert tp == ((ev.proba[:, 1] >= session.threshold) & (ev.labels == "target")).sum()
    f1 = figures["f1_by_labels"].data[0]
    points = session.f1_by_labels(n_points=6)
    assert list(f1.x) == [n for n, _ in points] and list(f1.y) == [v for _, v in points]
    assert f1.x[-1] == 40


def test_class_names_are_escaped_in_the_figures(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    classes = ["<b>bg</b>", "<i>target</i>"]
    rename = {"background": classes[0], "target": classes[1]}
    val = store.clip_ids().tolist()[-60:] + [1]
    with Session(store, classes=classes, precompute=False,
                 validation=(val, [rename[truth[c]] for c in val])) as s:
        for _ in range(30):
            s.submit(rename[truth[s.current.clip_id]])
        figures = evaluation_figures(s, n_points=2)
    text = json.dumps([f.to_plotly_json() for f in figures.values()])
    assert "<b>" not in text and "<i>" not in text and "&lt;i&gt;target&lt;/i&gt;" in text


def test_the_html_file_holds_every_figure_and_plotly_inline(tmp_path, session):
    out = write_evaluation_html(session, tmp_path / "eval.html", n_points=3)
    page = out.read_text(encoding="utf-8")
    for name in FIGURE_NAMES:
        assert f'id="alwidget-{name}"' in page
    assert not re.search(r"<script[^>]+src=", page)  # nothing fetched when opened
    assert len(page) > 1_000_000  # plotly.js is inside
    assert f"F1 {session.evaluation().metrics['f1']:.3f}" in page
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".db"
                  and not p.name.startswith("p.db")) == ["eval.html"]


def test_a_read_only_project_saves_the_file_and_says_it_is_not_recorded(tmp_path):
    s, store, truth = labeled_session(tmp_path, n_labels=30)
    s.close()
    val = validation_of(store, truth)
    with Session(Store(tmp_path / "p.db", read_only=True), classes=CLASSES, random_state=2,
                 precompute=False, validation=val) as looking:
        with pytest.warns(UserWarning, match="not recorded in the store.*read-only"):
            saved = looking.save_model(tmp_path / "m.alwmodel")
    assert load_model(saved.path).model_id == saved.model_id
    assert Store(tmp_path / "p.db").model_cards() == {}
