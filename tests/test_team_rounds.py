"""The framework's rounds end to end: planning, assignments, annotations and agreement, doubt
rounds, suggested classes, bad input, concurrent labelers and a kernel killed mid-round."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alwidget.store import Store, StoreError
from alwidget.team import Team
from alwidget.team.synthetic import SimulatedLabeler, synthetic_archive

GROUPS = {"A": ["ann", "bob", "kim"], "B": ["lea", "max"]}
WEEK1 = ("2024-05-01", "2024-05-08")


def _archive(path, **kw):
    store = Store(path)
    truth = synthetic_archive(store, **{**dict(n_nodes=2, days=8, files_per_day=6, dim=16), **kw})
    return store, truth


@pytest.fixture
def team(tmp_path):
    store, truth = _archive(tmp_path / "t.db")
    team = Team.create(store, GROUPS, batch_size=20, max_set=200, doubt_every=2)
    team.truth = truth
    return team


def _label_all(team, labelers, truth):
    for name, lab in labelers.items():
        for _, clip in team.queue(name):
            team.annotate(name, clip, lab.events(truth[clip]))


def _rows(store, table):
    return store._scalar(f"SELECT COUNT(*) FROM {table}")


def test_a_round_is_written_whole_with_its_window_sets_and_groups(team):
    store = team.store
    r = team.plan_round(["node1"], *WEEK1)
    row = store.rounds()[-1]
    assert (row["id"], row["kind"], row["nodes"], row["strategy"]) == (r, "round", ["node1"], "mal")
    window = store.window_clips(["node1"], *WEEK1)
    assert row["params"]["n_window"] == len(window) == 7 * 6 * 10
    assert row["n_sets"] == -(-len(window) // 200) and row["n_audios"] == 7 * 6
    assert row["labeled_share"] == 0.0
    proposals = store.round_proposals(r)
    assert len(proposals) == 20 and {p.status for p in proposals} == {"proposed"}
    assert set(p.clip_id for p in proposals) <= set(window.tolist())
    # the clips of the first disjoint set only: sets hold at most max_set
    assert max(row["params"]["set_sizes"]) <= 200
    # each group labels its half of the batch, every member all of it
    by_labeler = {n: {c for _, c in team.queue(n)} for g in GROUPS.values() for n in g}
    assert by_labeler["ann"] == by_labeler["bob"] == by_labeler["kim"]
    assert by_labeler["lea"] == by_labeler["max"]
    assert len(by_labeler["ann"]) == len(by_labeler["lea"]) == 10
    assert not by_labeler["ann"] & by_labeler["lea"]


def test_agreement_is_written_to_the_proposal_when_the_group_is_complete(team):
    r = team.plan_round(["node1"], *WEEK1)
    clip = team.queue("lea")[0][1]
    assert team.annotate("lea", clip, [("Engine", 0.1, 0.9)]).complete is False
    prop = [p for p in team.store.round_proposals(r) if p.clip_id == clip][0]
    assert (prop.status, prop.n_labelers, prop.label) == ("proposed", 1, None)
    got = team.annotate("max", clip, [("Engine", 0.0, 0.5), ("Wind", 0.5, 1.0)])
    assert got.label == "Engine" and got.complete
    prop = [p for p in team.store.round_proposals(r) if p.clip_id == clip][0]
    assert (prop.status, prop.label, prop.n_labelers, prop.agreement) == ("medoid", "Engine", 2,
                                                                          1.0)
    # a pair that disagrees: marked for doubt resolution (still proposed, no label)
    other = team.queue("lea")[0][1]
    team.annotate("lea", other, [("Engine", 0, 1)])
    assert team.annotate("max", other, [("Wind", 0, 1)]).doubt
    prop = [p for p in team.store.round_proposals(r) if p.clip_id == other][0]
    assert (prop.status, prop.label, prop.agreement) == ("proposed", None, 0.5)
    # several events per clip are kept with their times
    assert team.store.clip_annotations([clip])[clip]["max"] == [("Engine", 0.0, 0.5),
                                                                 ("Wind", 0.5, 1.0)]


def test_second_round_is_mal_mf_on_new_clips_and_trains_on_the_agreed_labels(team):
    labelers = {n: SimulatedLabeler(n, error=0.0, doubt=0.0) for g in GROUPS.values() for n in g}
    r1 = team.plan_round(["node1"], *WEEK1)
    _label_all(team, labelers, team.truth)
    first = {p.clip_id for p in team.store.round_proposals(r1)}
    assert {p.status for p in team.store.round_proposals(r1)} == {"medoid"}
    assert all(p.label == team.truth[p.clip_id] for p in team.store.round_proposals(r1))
    r2 = team.plan_round(["node1"], *WEEK1)
    row = team.store.rounds()[-1]
    assert row["strategy"] == "mal-mf" and row["params"]["n_medoids"] == 20
    assert row["labeled_share"] == pytest.approx(20 / 420)
    assert not first & {p.clip_id for p in team.store.round_proposals(r2)}


def test_a_clip_in_doubt_goes_to_the_doubt_round_and_the_history_is_kept(team):
    store = team.store
    r = team.plan_round(["node1"], *WEEK1)
    clip = team.queue("ann")[0][1]
    team.annotate("ann", clip, [("Doubt", 0, 1)])
    team.annotate("bob", clip, [("Engine", 0, 1)])
    assert team.annotate("kim", clip, [("Wind", 0, 1)]).doubt  # 1 of 3 each: no agreement
    agreed = team.queue("lea")[0][1]  # another clip: agreed, but lea had a doubt first
    team.annotate("lea", agreed, [("Engine", 0, 1), ("Doubt", 0.2, 0.4)])
    team.annotate("max", agreed, [("Engine", 0, 1)])
    assert not team.doubt_round_due  # one round of doubt_every=2
    team.plan_round(["node2"], *WEEK1)
    assert team.doubt_round_due
    d = team.doubt_round()
    assert store.rounds()[-1]["kind"] == "doubt" and not team.doubt_round_due
    assert {c for _, c in team.queue("ann")} >= {clip}
    assert {c for r_, c in team.queue("lea") if r_ == d} == {agreed}  # her own doubt only
    assert clip in {c for r_, c in team.queue("bob") if r_ == d}  # the group re-listens
    team.annotate("ann", clip, [("Engine", 0, 1)], round_id=d)
    team.annotate("bob", clip, [("Engine", 0, 1)], round_id=d)
    got = team.annotate("kim", clip, [("Engine", 0.0, 0.8)], round_id=d)
    assert got.label == "Engine" and got.agreement == 1.0
    assert [p.status for p in store.round_proposals(r) if p.clip_id == clip] == ["medoid"]
    # the first answers stay in the history (append-only)
    labels = [e.label for e in store.active_events("ann") if e.clip_id == clip]
    assert labels == ["Doubt", "Engine"]


def test_no_agreement_after_the_doubt_round_discards_the_proposal(team):
    store = team.store
    team.plan_round(["node1"], *WEEK1)
    clip = team.queue("lea")[0][1]
    team.annotate("lea", clip, [("Engine", 0, 1)])
    team.annotate("max", clip, [("Wind", 0, 1)])
    d = team.doubt_round()
    team.annotate("lea", clip, [("Speech", 0, 1)], round_id=d)
    team.annotate("max", clip, [("Wind", 0, 1)], round_id=d)
    assert {p.status for p in store.round_proposals(d)} == {"discarded"}
    assert clip not in {c for c, *_ in store.agreed_labels()}


def test_without_cross_validation_each_labeler_gets_different_clips(tmp_path):
    store, truth = _archive(tmp_path / "s.db")
    team = Team.create(store, {"all": ["ann", "bob", "kim"]}, cross_validation=False,
                       batch_size=9)
    team.plan_round(["node1"], *WEEK1)
    seen = [{c for _, c in team.queue(n)} for n in ("ann", "bob", "kim")]
    assert [len(s) for s in seen] == [3, 3, 3] and len(set.union(*seen)) == 9
    clip = min(seen[0])
    assert team.annotate("ann", clip, [("Gull, seagull", 0, 1)]).label == "Gull, seagull"


def test_a_suggested_class_is_selectable_from_the_next_round_and_announced(team):
    team.plan_round(["node1"], *WEEK1)
    s = team.suggest_class("kim", "Crane", parent="Sounds of things", description="port crane")
    assert team.store.suggestions("pending")[0]["tag"] == "Crane"
    team.decide_class(s, accept=True, reviewer="team")
    assert team.announcements() == [
        "new class 'Crane' under 'Sounds of things', suggested by kim, accepted by team"]
    clip = team.queue("ann")[0][1]
    with pytest.raises(ValueError, match="'Crane' is accepted from a later round"):
        team.annotate("ann", clip, [("Crane", 0, 1)])
    team.plan_round(["node2"], *WEEK1)
    clip2 = [c for r, c in team.queue("ann") if r == 2][0]
    team.annotate("ann", clip2, [("Crane", 0, 1)])
    with pytest.raises(StoreError, match="already"):
        team.decide_class(s, accept=False, reviewer="team")


@pytest.mark.parametrize("bad, message", [
    (lambda t: t.plan_round(["node9"], *WEEK1), r"nodes=\['node9'\] are not nodes"),
    (lambda t: t.plan_round(["node1"], "2025-01-01", "2025-01-08"), "holds no clips"),
    (lambda t: t.plan_round(["node1"], "2024-05-08", "2024-05-01"),
     "end=2024-05-01 must come after start=2024-05-08"),
    (lambda t: t.plan_round(["node1"], "May 1"), r"start='May 1' is not an ISO 8601"),
    (lambda t: t.queue("zoe"), "labeler 'zoe' is not in any group"),
    (lambda t: t.annotate("zoe", 1, [("Engine", 0, 1)]), "labeler 'zoe' is not in any group"),
    (lambda t: t.annotate("ann", t.queue("ann")[0][1], [("Enjine", 0, 1)]),
     "tag 'Enjine' is not in the ontology"),
    (lambda t: t.annotate("ann", t.queue("ann")[0][1], [("Engine", 0.5, 0.2)]),
     "0 <= onset < offset"),
    (lambda t: t.annotate("ann", t.queue("ann")[0][1], []), "one event at least"),
    (lambda t: t.annotate("ann", t.queue("lea")[0][1], [("Engine", 0, 1)]),
     "not assigned to 'ann'"),
    (lambda t: t.suggest_class("ann", "Engine"), "already in the ontology"),
    (lambda t: t.doubt_round(), "nothing to resolve"),
])
def test_bad_input_gets_a_clear_error_and_stores_nothing(team, bad, message):
    team.plan_round(["node1"], *WEEK1)
    tables = ("al_iterations", "proposals", "assignments", "label_events", "chunks",
              "class_suggestions", "ontology")
    before = {t: _rows(team.store, t) for t in tables}
    with pytest.raises(ValueError, match=message):
        bad(team)
    assert {t: _rows(team.store, t) for t in tables} == before


@pytest.mark.parametrize("groups, kw, message", [
    ({"A": ["ann"], "B": ["bob", "kim"]}, {}, r"group\(s\) \['A'\] have one member"),
    ({"A": ["ann", "bob"], "B": ["bob", "kim"]}, {}, r"\['bob'\] are in more than one group"),
    ({"A": []}, {}, "name no labeler"),
    (GROUPS, dict(batch_size=0), "batch_size=0 must be a positive integer"),
    (GROUPS, dict(background="Nothing"), "background='Nothing' is not in the ontology"),
    (GROUPS, dict(features="yamnet"), "features='yamnet' is not a feature set"),
])
def test_a_bad_team_is_refused_before_anything_is_written(tmp_path, groups, kw, message):
    store, _ = _archive(tmp_path / "s.db", days=1)
    with pytest.raises(ValueError, match=message):
        Team.create(store, groups, **kw)
    assert store.team_settings() == {} and store.team_groups() == {}
    with pytest.raises(ValueError, match="has no team yet"):
        Team(store)


_LABEL_SCRIPT = textwrap.dedent("""
    import sys
    from alwidget.store import Store
    from alwidget.team import Team
    path, name, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    team = Team(Store(path))
    for round_id, clip in team.queue(name):
        team.annotate(name, clip, [(tag, 0.0, 0.6), ("Silence", 0.6, 1.0)], round_id=round_id)
        print(clip, flush=True)
""")


def test_concurrent_labelers_lose_and_duplicate_nothing(team, tmp_path):
    store = team.store
    r = team.plan_round(["node1"], *WEEK1)
    procs = [subprocess.Popen([sys.executable, "-c", _LABEL_SCRIPT, str(store.path), name, tag],
                              stdout=subprocess.PIPE, text=True)
             for name, tag in (("ann", "Engine"), ("bob", "Engine"), ("kim", "Wind"),
                               ("lea", "Wind"), ("max", "Wind"))]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert [len(o) for o in outs] == [10] * 5
    events = collections.Counter((e.clip_id, e.labeler) for e in store.active_events()
                                 if e.kind == "label")
    assert len(events) == 50 and set(events.values()) == {1}
    props = store.round_proposals(r)
    assert {p.status for p in props} == {"medoid"}
    assert collections.Counter(p.label for p in props) == {"Engine": 10, "Wind": 10}
    assert {p.n_labelers for p in props} == {2, 3}
    # the same labeler in two kernels cannot annotate a clip twice
    r2 = team.plan_round(["node2"], *WEEK1)
    clip = team.queue("ann")[0][1]
    other = Team(Store(store.path))
    other.annotate("ann", clip, [("Engine", 0, 1)])
    with pytest.raises(StoreError, match="not assigned to 'ann'|already annotated"):
        team.annotate("ann", clip, [("Wind", 0, 1)], round_id=r2)


def test_a_round_resumed_after_its_kernel_is_killed(team):
    store = team.store
    r = team.plan_round(["node1"], *WEEK1)
    proc = subprocess.Popen([sys.executable, "-c", _LABEL_SCRIPT, str(store.path), "ann",
                             "Engine"], stdout=subprocess.PIPE, text=True)
    done = [proc.stdout.readline().strip() for _ in range(4)]  # four annotations committed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    reopened = Team(Store(store.path))
    annotated = {c for e in store.active_events("ann") if e.kind == "label"
                 for c in [e.clip_id]}
    assert {int(c) for c in done} <= annotated and len(annotated) >= 4
    left = reopened.queue("ann")
    assert len(left) == 10 - len(annotated) and not {c for _, c in left} & annotated
    for name in ("ann", "bob", "kim"):
        for round_id, clip in reopened.queue(name):
            reopened.annotate(name, clip, [("Engine", 0, 1)], round_id=round_id)
    props = {p.clip_id: p for p in store.round_proposals(r)}
    assert all(props[c].status == "medoid" for c in annotated)
    # every annotation whole: each label event of ann has its events
    for c in annotated:
        assert store.clip_annotations([c])[c]["ann"][0][0] == "Engine"


def _status(store, round_id, clip):
    return [p.status for p in store.round_proposals(round_id) if p.clip_id == clip][0]


def test_a_disagreement_after_a_members_own_doubt_goes_to_the_groups_doubt_round(team):
    store = team.store
    r = team.plan_round(["node1"], *WEEK1)
    clip = team.queue("ann")[0][1]
    team.annotate("ann", clip, [("Doubt", 0, 1)])
    d1 = team.doubt_round()  # asks ann only, about her Doubt
    assert {who for _, c, who, _ in store.assignments(round_id=d1) if c == clip} == {"ann"}
    team.annotate("ann", clip, [("Engine", 0, 1)], round_id=d1)
    team.annotate("bob", clip, [("Wind", 0, 1)])
    team.annotate("kim", clip, [("Speech", 0, 1)])
    assert _status(store, r, clip) == "proposed"  # not discarded: the group never re-listened
    d2 = team.doubt_round()
    assert {who for _, c, who, _ in store.assignments(round_id=d2) if c == clip} == {
        "ann", "bob", "kim"}
    for who, tag in (("ann", "Engine"), ("bob", "Wind"), ("kim", "Speech")):
        team.annotate(who, clip, [(tag, 0, 1)], round_id=d2)
    assert _status(store, r, clip) == "discarded" and _status(store, d2, clip) == "discarded"


def test_a_medoid_back_in_doubt_or_discarded_is_no_longer_trained_on(team):
    store = team.store
    team.plan_round(["node1"], *WEEK1)
    clip = team.queue("lea")[0][1]
    team.annotate("lea", clip, [("Engine", 0, 1), ("Doubt", 0.2, 0.4)])
    assert team.annotate("max", clip, [("Engine", 0, 1)]).label == "Engine"
    assert clip in {c for c, *_ in store.agreed_labels()}
    d = team.doubt_round()
    assert clip not in {c for c, *_ in store.agreed_labels()}  # being re-examined
    team.annotate("lea", clip, [("Wind", 0, 1)], round_id=d)
    assert clip not in {c for c, *_ in store.agreed_labels()}  # no agreement any more
    d2 = team.doubt_round()
    team.annotate("lea", clip, [("Wind", 0, 1)], round_id=d2)
    team.annotate("max", clip, [("Wind", 0, 1)], round_id=d2)
    assert [(c, label) for c, label, *_ in store.agreed_labels() if c == clip] == [(clip, "Wind")]


def test_a_doubt_round_is_not_written_twice_and_kept_doubts_do_not_come_back(tmp_path):
    store, _ = _archive(tmp_path / "s.db")
    team = Team.create(store, {"all": ["ann", "bob"]}, cross_validation=False, batch_size=4)
    team.plan_round(["node1"], *WEEK1)
    clip = team.queue("ann")[0][1]
    team.annotate("ann", clip, [("Doubt", 0, 1)])
    d = team.doubt_round()
    with pytest.raises(ValueError, match="still wait for 1 answers"):
        team.doubt_round()
    team.annotate("ann", clip, [("Doubt", 0, 1)], round_id=d)  # still unsure
    assert _status(store, d, clip) == "discarded"
    with pytest.raises(ValueError, match="nothing to resolve"):
        team.doubt_round()


def test_two_kernels_planning_at_once_cannot_propose_a_clip_twice(team, monkeypatch):
    import alwidget.team.team as team_module

    store = team.store
    other = Team(Store(store.path))
    real = team_module.plan_proposals
    plans = []

    def plan_then_let_the_other_kernel_write(*args, **kw):
        plan = real(*args, **kw)
        if not plans:
            plans.append(plan)
            other.plan_round(["node1"], *WEEK1)  # the other kernel writes first
        return plan

    monkeypatch.setattr(team_module, "plan_proposals", plan_then_let_the_other_kernel_write)
    rounds = len(store.rounds())
    with pytest.raises(StoreError, match="proposed meanwhile .* plan the round again"):
        team.plan_round(["node1"], *WEEK1)
    assert len(store.rounds()) == rounds + 1  # the other kernel's round only


@pytest.mark.parametrize("kw, message", [
    (dict(groups={"A": "annbob"}), "must map each group's name to a list of labeler names"),
    (dict(groups=[["ann", "bob"]]), "must map each group's name"),
    (dict(groups={"A": ["ann", ""]}), "must map each group's name"),
    (dict(groups={"A": ["ann", "bob"]}, background="Nothing"), "background='Nothing'"),
])
def test_a_bad_team_stores_not_even_the_ontology(tmp_path, kw, message):
    store, _ = _archive(tmp_path / "s.db", days=1)
    with pytest.raises(ValueError, match=message):
        Team.create(store, **kw)
    assert store.tags() == [] and store.team_settings() == {}


def test_nodes_must_be_a_list_of_names(team):
    with pytest.raises(ValueError, match=r"nodes='node1' must be a list of node names"):
        team.plan_round("node1", *WEEK1)


def test_doubt_answers_are_no_class_in_the_agreement_report(team):
    team.plan_round(["node1"], *WEEK1)
    clip = team.queue("ann")[0][1]
    for who, tag in (("ann", "Doubt"), ("bob", "Doubt"), ("kim", "Engine")):
        team.annotate(who, clip, [(tag, 0, 1)])
    report = team.agreement_report()
    ds = report["dawid_skene"]
    assert dict(zip(ds.items, ds.labels))[clip] == "Engine"
    assert "Doubt" not in report["per_class"] and "Doubt" not in ds.classes


def test_a_round_reads_its_window_as_every_node_and_time_filter_does(team):
    from alwidget.nodes import clips_where

    r = team.plan_round(["node1"], "2024-05-01 12:00", "2024-05-08")
    row = team.store.rounds()[-1]
    assert (row["window_start"], row["window_end"]) == ("2024-05-01T12:00:00", "2024-05-08")
    window = clips_where(team.store, ["node1"], "2024-05-01 12:00", "2024-05-08")
    assert row["params"]["n_window"] == len(window)  # not the whole morning ('T' > ' ')
    assert len(window) < len(clips_where(team.store, ["node1"], "2024-05-01", "2024-05-08"))
    assert set(p.clip_id for p in team.store.round_proposals(r)) <= set(window.tolist())
