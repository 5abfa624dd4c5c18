"""Maps of a round: which clips (medoids trained on, proposals by status), their top-1 class
from the tagger, seeded coordinates from the points alone, and the two-panel figure."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

import alwidget.team.team as team_module
from alwidget.store import Store
from alwidget.team import Team
from alwidget.team.maps import ROLES, RoundMap, round_figures, round_map
from alwidget.team.synthetic import synthetic_archive

GROUPS = {"A": ["ann", "bob", "kim"], "B": ["lea", "max"]}
DISPUTE = {"ann": "Engine", "bob": "Wind", "kim": "Speech"}  # three tags: no agreement


def events_for(clip: int, tag: str) -> list[tuple[str, float, float]]:
    """What a labeler marks: the tag, and on even clips a stretch of Silence before it."""
    return [(tag, 0.1, 0.9)] + ([("Silence", 0.0, 0.1)] if clip % 2 == 0 else [])


@dataclass
class Built:
    """A team database after round 1 (all answered, one clip disputed), a doubt round that
    discards it, and round 2 (group A answered, group B not)."""

    path: Path
    truth: dict
    medoids: dict     # round id -> the clip ids its planning trained on
    annotated: dict   # (labeler, clip) -> the events of their latest annotation
    answers: Counter  # labeler -> annotations made (a doubt round's answer too)
    disputed: int
    rounds: tuple     # (round 1, doubt round, round 2)


def build_team_db(path: Path) -> Built:
    store = Store(path)
    truth = synthetic_archive(store, n_nodes=2, days=14, files_per_day=4, dim=16)
    team = Team.create(store, groups=GROUPS, batch_size=12, max_set=60, doubt_every=2)
    plans, real = [], team_module.plan_proposals

    def spy(*args, **kwargs):
        plans.append(real(*args, **kwargs))
        return plans[-1]

    annotated: dict = {}
    answers: Counter = Counter()

    def answer(who, clip, tag):
        events = [(tag, 0.1, 0.9)] if clip == disputed else events_for(clip, tag)
        team.annotate(who, clip, events)
        annotated[(who, clip)] = events
        answers[who] += 1

    medoids, disputed = {}, None
    team_module.plan_proposals = spy
    try:
        r1 = team.plan_round(["node1"], "2024-05-01", "2024-05-08")
        medoids[r1] = plans[-1].medoids.tolist()
        disputed = team.queue("ann")[0][1]  # (no shared Silence event: nothing agreed)
        for who in [w for names in GROUPS.values() for w in names]:
            for _, clip in team.queue(who):
                answer(who, clip, DISPUTE[who] if clip == disputed else truth[clip])
        doubt = team.doubt_round()
        for who in GROUPS["A"]:
            for _, clip in team.queue(who):
                answer(who, clip, DISPUTE[who])
        r2 = team.plan_round(["node1"], "2024-05-08", "2024-05-15")
        medoids[r2] = plans[-1].medoids.tolist()
        for who in GROUPS["A"]:
            for _, clip in team.queue(who):
                answer(who, clip, truth[clip])
    finally:
        team_module.plan_proposals = real
    store.close()
    return Built(path, truth, medoids, annotated, answers, disputed, (r1, doubt, r2))


def copy_db(built: Built, folder: Path) -> Built:
    """A copy of the built database to change (the built one is shared by the module)."""
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(built.path) + suffix)
        if src.exists():
            shutil.copy(src, folder / (src.name.replace(built.path.name, "copy.db")))
    return replace(built, path=folder / "copy.db")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return build_team_db(tmp_path_factory.mktemp("team") / "team.db")


@pytest.fixture
def store(built):
    s = Store(built.path, read_only=True)
    yield s
    s.close()


def test_roles_and_counts_match_the_rounds_proposals(built, store):
    r1, _, r2 = built.rounds
    m = round_map(store, r1, method="pca")
    assert m.counts() == {"medoid": 0, "proposed": 11, "discarded": 1}
    assert not m.trained.any()  # the first round trained on nothing
    assert m.clip_ids.tolist() == sorted(p.clip_id for p in store.round_proposals(r1))
    assert m.roles[m.clip_ids == built.disputed].tolist() == ["discarded"]
    agreed = m.roles == "proposed"  # all agreed since, but the disputed one
    assert m.labels[agreed].tolist() == [built.truth[c] for c in m.clip_ids[agreed]]
    assert m.labels[~agreed].tolist() == [None]

    m2 = round_map(store, r2, method="pca")
    assert m2.counts() == {"medoid": 11, "proposed": 6 + 6, "discarded": 0}
    # the medoids it trained on, recomputed, are those its planning used
    assert sorted(m2.clip_ids[m2.trained].tolist()) == sorted(built.medoids[r2])
    assert m2.trained.sum() == store.rounds()[r2 - 1]["params"]["n_medoids"] == 11
    status = {p.clip_id: "discarded" if p.status == "discarded" else "proposed"
              for p in store.round_proposals(r2)}
    assert {int(c): role for c, role, t in zip(m2.clip_ids, m2.roles, m2.trained)
            if not t} == status
    assert m2.coords.dtype == np.float32 and m2.coords.shape == (len(m2.clip_ids), 2)
    assert not m2.coords.flags.writeable and np.isfinite(m2.coords).all()


def test_a_round_that_recorded_its_medoids_is_mapped_with_those(built, tmp_path):
    copy = copy_db(built, tmp_path)
    store = Store(copy.path)
    labeled = [c for c, _, _, _ in store.agreed_labels()][:3]
    window = store.window_clips(["node2"], "2024-05-01", "2024-05-03")[:5]
    r = store.add_round(window, strategy="mal-mf", params={"medoids": labeled,
                                                          "features": "synthetic-embedding"})
    m = round_map(store, r, method="pca")
    assert m.clip_ids[m.trained].tolist() == sorted(labeled)
    assert m.counts() == {"medoid": 3, "proposed": 5, "discarded": 0}
    store.close()


def test_top1_colouring_uses_the_tagger(built, store):
    m = round_map(store, built.rounds[2], method="pca")
    assert m.tagger == "synthetic-tagger" and m.features == "synthetic-embedding"
    fs = next(f for f in store.feature_sets() if f.extractor == "synthetic-tagger")
    _, P = store.get_features(fs, m.clip_ids)
    assert m.top1.tolist() == [fs.columns[k] for k in P.argmax(axis=1)]
    fig = round_figures(m)
    by_class = {t.name.rsplit(" (", 1)[0]: len(t.x) for t in fig.data if t.legend == "legend2"}
    classes, counts = np.unique(m.top1.astype(str), return_counts=True)
    assert by_class == dict(zip(classes.tolist(), counts.tolist()))
    by_role = {t.name.rsplit(" (", 1)[0]: len(t.x) for t in fig.data if t.legend == "legend"}
    assert by_role == m.counts() and list(by_role) == list(ROLES)
    assert len({t.marker.symbol for t in fig.data if t.legend == "legend"}) == 3


def test_without_a_tagger_there_is_no_top1_class(tmp_path):
    store = Store(tmp_path / "plain.db")
    synthetic_archive(store, n_nodes=1, days=1, files_per_day=2, dim=8, tagger=False)
    team = Team.create(store, groups={"A": ["ann", "bob"]}, batch_size=5)
    r = team.plan_round(["node1"], "2024-05-01", "2024-05-02")
    m = round_map(team, r, method="pca")
    assert m.tagger is None and m.top1.tolist() == [None] * 5
    names = [t.name for t in round_figures(m).data if t.legend == "legend2"]
    assert names == ["no top-1 class (5)"]
    store.close()


def test_a_clip_without_tagger_probabilities_gets_no_top1_class(built, tmp_path):
    copy = copy_db(built, tmp_path)
    store = Store(copy.path)
    m = round_map(store, built.rounds[0], method="pca")
    gone = int(m.clip_ids[4])
    store._conn.execute("DELETE FROM features WHERE clip_id = ? AND feature_set_id = (SELECT id "
                        "FROM feature_sets WHERE extractor = 'synthetic-tagger')", (gone,))
    after = round_map(store, built.rounds[0], method="pca")
    assert after.top1[4] is None
    assert after.top1[np.arange(len(m.clip_ids)) != 4].tolist() == \
        m.top1[np.arange(len(m.clip_ids)) != 4].tolist()
    store.close()


def test_only_the_points_embeddings_are_read(built, store, monkeypatch):
    reads = []
    real = store.get_features

    def recorded(feature_set, clip_ids=None):
        reads.append(None if clip_ids is None else len(clip_ids))
        return real(feature_set, clip_ids)

    monkeypatch.setattr(store, "get_features", recorded)
    m = round_map(store, built.rounds[2], method="pca")
    assert reads and None not in reads and max(reads) <= len(m.clip_ids)


def test_bad_round_ids_and_methods_get_clear_errors(built, store):
    with pytest.raises(ValueError, match=r"round_id=99 is not a round of .*its rounds are "
                                         r"\[1, 2, 3\]"):
        round_map(store, 99, method="pca")
    with pytest.raises(ValueError, match="round_id='1' is not a round"):
        round_map(store, "1", method="pca")
    with pytest.raises(ValueError, match="method='mds' must be one of"):
        round_map(store, 1, method="mds")
    with pytest.raises(ValueError, match="round 2 has 1 clip"):
        round_map(store, built.rounds[1], method="pca")  # the doubt round: one clip
    with pytest.raises(TypeError, match="must be a Team or a Store"):
        round_map(str(built.path), 1)


def test_a_map_is_the_same_from_a_team_or_its_store_with_a_seed(built, store):
    a = round_map(store, built.rounds[2], method="pca", seed=3)
    b = round_map(Team(store), built.rounds[2], method="pca", seed=3)
    assert np.array_equal(a.coords, b.coords) and np.array_equal(a.clip_ids, b.clip_ids)
    assert np.array_equal(a.roles, b.roles) and np.array_equal(a.top1, b.top1)


@pytest.mark.slow  # three t-SNE fits of 12 points: 1 s to a minute on a busy machine
def test_a_tsne_map_is_seeded(built, store):
    t1 = round_map(store, built.rounds[0], method="tsne", seed=0)
    t2 = round_map(store, built.rounds[0], method="tsne", seed=0)
    t3 = round_map(store, built.rounds[0], method="tsne", seed=1)
    assert np.array_equal(t1.coords, t2.coords)
    assert not np.allclose(t1.coords, t3.coords)


def test_hover_text_and_legend_names_are_escaped():
    evil = "<script>alert(1)</script>"
    n = 4
    m = RoundMap(7, "round", np.arange(1, n + 1), np.zeros((n, 2), np.float32),
                 np.array(["medoid", "proposed", "discarded", "medoid"], object),
                 np.array([True, False, False, False]), np.array([evil, None, None, "Engine"],
                                                                 object),
                 np.array([evil, "Engine", None, evil], object), "pca", 0, "emb", evil)
    fig = round_figures(m)
    text = " ".join(str(h) for t in fig.data for h in t.hovertext) + " ".join(
        t.name for t in fig.data) + fig.layout.title.text + " ".join(
        a.text for a in fig.layout.annotations)
    assert "<script>" not in text and "&lt;script&gt;" in text
    hover = dict(zip(fig.data[0].hovertext, ["x"] * n))
    assert any("clip 1<br>medoid (trained on)<br>label &lt;script&gt;" in h for h in hover)
    assert [t.name for t in fig.data if t.legend == "legend2"] == [
        "&lt;script&gt;alert(1)&lt;/script&gt; (2)", "Engine (1)", "no top-1 class (1)"]
