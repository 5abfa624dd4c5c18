"""The team labeler's Python side, driven as the browser drives it (messages and traits)."""

from __future__ import annotations

import pytest

from alwidget.store import Store
from alwidget.team import Team
from alwidget.team.synthetic import synthetic_archive
from alwidget.widgets import TeamLabeler

GROUPS = {"A": ["ann", "bob"], "B": ["cat", "dan"]}


@pytest.fixture
def team(tmp_path):
    """Two groups of two on a small archive with audio; one round of four proposals (two a
    group)."""
    store = Store(tmp_path / "team.db")
    synthetic_archive(store, n_nodes=1, days=1, files_per_day=2, dim=8,
                      audio_dir=tmp_path / "audio")
    team = Team.create(store, groups=GROUPS, batch_size=4, max_set=20, daily_quota=3)
    team.plan_round()
    yield team
    store.close()


def send(w, kind, **content):
    """A message as team_labeler.js sends it (submissions name the clip and round shown)."""
    if kind in ("submit", "background"):
        content = dict(clip_id=w.status.get("clip_id"), round_id=w.status.get("round_id"),
                       **content)
    w._on_message(w, dict(type=kind, **content), [])


def ev(tag, onset, offset):
    return {"tag": tag, "onset": onset, "offset": offset}


def test_several_events_per_clip_are_stored_with_their_tags_and_times(team):
    w = TeamLabeler(team, "ann")
    (r, first), (_, second) = team.queue("ann")
    assert (w.status["round_id"], w.status["clip_id"]) == (r, first)
    assert len(w.audio) > 44 and w.spec_shape[0] > 0 and w.clip_duration_s == 1.0
    send(w, "submit", events=[ev("Engine", 0.1, 0.6), ev("Wind", 0.55, 0.9),
                              ev("Gull, seagull", 0.0, 0.2)])
    assert w.error == ""
    assert team.store.clip_annotations([first])[first] == {
        "ann": [("Engine", 0.1, 0.6), ("Wind", 0.55, 0.9), ("Gull, seagull", 0.0, 0.2)]}
    assert w.status["clip_id"] == second and w.events == []  # the next clip, a fresh draft
    assert w.message.startswith(f"Saved clip {first}: 3 events (Engine, Gull, seagull, Wind).")
    assert f"Next: clip {second}" in w.message and not w.busy

    # the draft as the browser keeps it (the events trait), submitted without events
    w.events = [ev("Speech", 0.2, 0.4), ev("Speech", 0.6, 0.8)]
    send(w, "submit")
    assert team.store.clip_annotations([second])[second]["ann"] == [
        ("Speech", 0.2, 0.4), ("Speech", 0.6, 0.8)]
    # bob agrees on the first clip: the proposal is settled with the group's label
    TeamLabeler(team, "bob").submit([("Engine", 0.0, 0.7)])
    (p,) = [p for p in team.store.round_proposals(r) if p.clip_id == first]
    assert (p.status, p.label, p.n_labelers, p.agreement) == ("medoid", "Engine", 2, 1.0)


def test_a_refused_tag_shows_an_error_and_stores_nothing(team):
    w = TeamLabeler(team, "ann")
    clip = w.status["clip_id"]
    drawn = [ev("Engine", 0.1, 0.5), ev("Foghorns of Mars", 0.5, 0.9)]
    send(w, "submit", events=drawn)
    assert "'Foghorns of Mars' is not in the ontology" in w.error
    assert team.store.clip_annotations([clip]) == {} and team.store.annotated("ann") == set()
    assert w.status["clip_id"] == clip and w.events == drawn  # nothing drawn is lost
    assert not w.busy and w.status["left"] == 2
    # an event without a tag, one outside the clip, no event at all: refused the same way
    for events, says in [([ev("", 0.1, 0.5)], "event 1 (0.10–0.50 s) has no tag"),
                         ([ev("Engine", 0.5, 1.5)], "must satisfy 0 <= onset < offset"),
                         ([], "no event on clip"),
                         ([{"onset": "soon"}], "must be (tag, onset_s, offset_s)")]:
        send(w, "submit", events=events)
        assert says in w.error, w.error
        assert team.store.clip_annotations([clip]) == {}
    # fixed: stored, and the error is gone
    send(w, "submit", events=[ev("Engine", 0.1, 0.5)])
    assert w.error == "" and team.store.clip_annotations([clip])[clip]["ann"] == [
        ("Engine", 0.1, 0.5)]


def test_doubt_events_and_their_resolution_round(team):
    w = TeamLabeler(team, "ann")
    (r, first), (_, second) = team.queue("ann")
    send(w, "submit", events=[ev("Engine", 0.1, 0.5), ev("Doubt", 0.5, 1.0)])
    assert team.store.clip_annotations([first])[first]["ann"][1] == ("Doubt", 0.5, 1.0)
    assert w.status["doubts"] == 1 and team.store.doubt_clips("ann") == [first]
    send(w, "background")
    assert w.status["done"]
    doubt_round = team.doubt_round()
    w.refresh()  # the new round reaches the open widget
    assert (w.status["round_id"], w.status["clip_id"]) == (doubt_round, first)
    assert w.status["kind"] == "doubt" and "doubt resolution" in w.status["round"]
    # the labeler starts from their earlier answer and resolves the Doubt event
    assert w.events == [ev("Engine", 0.1, 0.5), ev("Doubt", 0.5, 1.0)]
    send(w, "submit", events=[ev("Engine", 0.1, 0.5), ev("Wind", 0.5, 1.0)])
    assert w.error == "" and team.store.doubt_clips("ann") == []
    assert team.store.clip_annotations([first])[first]["ann"] == [
        ("Engine", 0.1, 0.5), ("Wind", 0.5, 1.0)]
    assert len([r for r, c in team.store.annotated("ann") if c == first]) == 2  # history kept


def test_the_background_key_tags_the_whole_clip(team):
    w = TeamLabeler(team, "ann")
    clip = w.status["clip_id"]
    assert w.background == "Silence"
    w.events = [ev("Engine", 0.1, 0.5)]  # drawn events: B refuses, nothing lost
    send(w, "background")
    assert "has 1 event(s) drawn" in w.error and w.events == [ev("Engine", 0.1, 0.5)]
    assert team.store.clip_annotations([clip]) == {}
    send(w, "background", events=[])  # deleted in the browser, then B
    assert w.error == ""
    assert team.store.clip_annotations([clip])[clip]["ann"] == [("Silence", 0.0, 1.0)]
    assert w.message.startswith(f"Saved clip {clip}: 1 event (Silence).")


def test_only_the_labelers_own_assignments_are_shown(team):
    ann, cat = TeamLabeler(team, "ann"), TeamLabeler(team, "cat")
    mine = [c for _, c in team.queue("ann")]
    theirs = [c for _, c in team.queue("cat")]
    assert len(mine) == len(theirs) == 2 and not set(mine) & set(theirs)
    seen = []
    while not ann.status["done"]:
        seen.append(ann.status["clip_id"])
        send(ann, "background")
    assert seen == mine
    assert cat.status["clip_id"] == theirs[0] and cat.status["left"] == 2
    assert (ann.status["group"], cat.status["group"]) == ("A", "B")
    with pytest.raises(ValueError, match="'eve' is not in any group"):
        TeamLabeler(team, "eve")


def test_an_empty_queue_says_so(team):
    w = TeamLabeler(team, "dan")
    while not w.status["done"]:
        send(w, "background")
    assert w.status["left"] == 0 and "clip_id" not in w.status
    assert w.message.endswith("No clip left for dan: the queue is empty.")
    assert w.audio == b"" and w.events == []
    send(w, "submit", events=[ev("Engine", 0.1, 0.5)])  # a late press: refused, said so
    assert "the queue is empty" in w.error
    # a new round planned meanwhile: Refresh shows its clips
    team.plan_round(seed=1)
    send(w, "refresh")
    assert not w.status["done"] and w.status["left"] == 2 and w.status["round_id"] == 2


def test_the_quota_count_follows_the_annotations(team):
    w = TeamLabeler(team, "ann")
    assert (w.status["today"], w.status["quota"], w.status["left"]) == (0, 3, 2)
    send(w, "background")
    assert (w.status["today"], w.status["left"]) == (1, 1)
    send(w, "submit", events=[ev("Engine", 0.0, 0.4), ev("Wind", 0.4, 1.0)])
    assert (w.status["today"], w.status["left"]) == (2, 0)
    assert TeamLabeler(team, "bob").status["today"] == 0  # each labeler's own count


def test_a_submission_for_a_clip_no_longer_shown_is_refused(team):
    w = TeamLabeler(team, "ann")
    first = w.status["clip_id"]
    send(w, "background")
    w._on_message(w, dict(type="submit", clip_id=first, round_id=w.status["round_id"],
                          events=[ev("Engine", 0.1, 0.5)]), [])  # a double press
    assert "clip " + str(first) + ", which is no longer shown" in w.error
    assert team.store.clip_annotations([first])[first]["ann"] == [("Silence", 0.0, 1.0)]
    assert team.store.clip_annotations([w.status["clip_id"]]) == {}


def test_a_clip_annotated_in_another_kernel_is_not_stored_twice(team):
    here, there = TeamLabeler(team, "ann"), TeamLabeler(Team(team.store), "ann")
    clip = here.status["clip_id"]
    assert there.status["clip_id"] == clip
    send(there, "submit", events=[ev("Engine", 0.1, 0.5)])
    send(here, "submit", events=[ev("Wind", 0.1, 0.5)])
    assert "'ann' already annotated clip" in here.error
    assert "Not stored: Wind 0.10–0.50 s. Showing your next clip." in here.error
    assert here.status["clip_id"] != clip
    assert team.store.clip_annotations([clip])[clip]["ann"] == [("Engine", 0.1, 0.5)]


def test_search_and_hierarchy_offer_the_rounds_selectable_tags(team):
    w = TeamLabeler(team, "ann")
    send(w, "search", text="engi")
    assert w.results["text"] == "engi" and w.results["tags"][0] == "Engine"
    assert all("engi" in t.lower() for t in w.results["tags"])
    send(w, "search", text="  ")
    assert w.results == {"text": "  ", "tags": []}
    assert "Animal" in w.tree[""] and "Domestic animals, pets" in w.tree["Animal"]
    assert all(kid in set(team.selectable_tags()) for kids in w.tree.values() for kid in kids)


def test_a_suggested_class_is_announced_and_selectable_from_the_next_round(team):
    w = TeamLabeler(team, "ann")
    send(w, "suggest", tag="Rope creak", parent="Wood", description="<b>mooring</b> ropes")
    (s,) = team.store.suggestions()
    assert (s["tag"], s["parent"], s["labeler"]) == ("Rope creak", "Wood", "ann")
    assert s["description"] == "<b>mooring</b> ropes"  # stored as typed, shown as text
    assert w.status["suggestions"] == [{"tag": "Rope creak", "status": "pending"}]
    assert w.message.startswith("Suggested 'Rope creak' under 'Wood'")
    send(w, "suggest", tag="Engine", parent="", description="")
    assert "suggestion not stored: 'Engine' is already in the ontology" in w.error
    team.decide_class(s["id"], accept=True, reviewer="team")
    send(w, "refresh")
    assert w.status["announcements"] == [
        "new class 'Rope creak' under 'Wood', suggested by ann, accepted by team"]
    send(w, "search", text="rope")
    assert "Rope creak" not in w.results["tags"]  # not in this round
    send(w, "submit", events=[ev("Rope creak", 0.1, 0.5)])
    assert "accepted from a later round" in w.error
    while not w.status["done"]:
        send(w, "background", events=[])
    team.plan_round(seed=1)
    send(w, "refresh")
    send(w, "search", text="rope")
    assert w.results["tags"][0] == "Rope creak" and "Rope creak" in w.tree["Wood"]
    send(w, "submit", events=[ev("Rope creak", 0.1, 0.5)])
    assert w.error == ""
