"""The team view: rounds, progress against the quota, agreement, doubts, suggested classes and
the histogram of classes labeled, as the database holds them (other kernels' work after
refresh()); user text escaped."""

from __future__ import annotations

from collections import Counter

import pytest

from alwidget.store import Store
from alwidget.team import Team
from alwidget.team.synthetic import synthetic_archive
from alwidget.widgets import TeamView
from test_team_maps import GROUPS, build_team_db, copy_db

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_team_db(tmp_path_factory.mktemp("team") / "team.db")


@pytest.fixture
def copy(built, tmp_path):
    return copy_db(built, tmp_path)


def test_the_rounds_table_counts_what_became_of_each_proposal(copy):
    store = Store(copy.path)
    view = TeamView(Team(store))
    r1, doubt, r2 = copy.rounds
    got = {r["id"]: (r["kind"], r["counts"]) for r in view.rounds}
    assert got == {r1: ("round", {"medoid": 11, "proposed": 0, "discarded": 1}),
                   doubt: ("doubt", {"medoid": 0, "proposed": 0, "discarded": 1}),
                   r2: ("round", {"medoid": 6, "proposed": 6, "discarded": 0})}
    html = view.rounds_html.value
    assert "<td>[2024-05-08, 2024-05-15)</td><td>node1</td><td>12</td><td>6</td><td>6</td>" \
           "<td>0</td>" in html and "<td>mal-mf</td>" in html
    assert "17 of 24 proposals agreed" in view.agreement_html.value  # 11 + 6 of 12 + 12
    store.close()


def test_progress_shows_each_labelers_quota_pending_and_doubts(copy):
    store = Store(copy.path)
    view = TeamView(Team(store))
    done = copy.answers
    rows = {p.labeler: p for p in view.progress}
    assert set(rows) == {w for names in GROUPS.values() for w in names}
    for who, p in rows.items():
        assert p.annotated == p.today == done[who]  # every annotation was made today
        assert p.assigned == len(store.assignments(labeler=who))
        assert p.pending == p.assigned - p.annotated and p.quota == 40
    assert rows["lea"].pending == 6 and rows["ann"].pending == 0  # group B left round 2 alone
    assert done["ann"] == 6 + 1 + 6  # round 1, the doubt round, round 2
    html = view.progress_html.value
    assert f"<td>ann</td><td>A</td><td>{done['ann']} / 40</td>" in html
    assert "width:100%" not in html  # nobody reached 40 today
    # another day: nothing counted against its quota
    other = TeamView(Team(store), day="2001-01-01")
    assert [p.today for p in other.progress] == [0] * 5 and "2001-01-01" in \
        other.progress_html.value
    store.close()


def test_refresh_shows_another_kernels_work(copy):
    mine = Store(copy.path)
    view = TeamView(Team(mine))
    before = {p.labeler: p.annotated for p in view.progress}
    n_rounds = len(view.rounds)
    theirs = Store(copy.path)  # another kernel, on the same file
    team = Team(theirs)
    for _, clip in team.queue("lea"):
        team.annotate("lea", clip, [(copy.truth[clip], 0.0, 1.0)])
    team.plan_round(["node2"], "2024-05-01", "2024-05-08")
    assert {p.labeler: p.annotated for p in view.progress} == before  # not read yet
    view.refresh()
    after = {p.labeler: p.annotated for p in view.progress}
    assert after == {**before, "lea": before["lea"] + 6}
    assert len(view.rounds) == n_rounds + 1 and view.rounds[-1]["nodes"] == ["node2"]
    assert "<td>node2</td>" in view.rounds_html.value
    assert f"<td>lea</td><td>B</td><td>{after['lea']} / 40</td>" in view.progress_html.value
    theirs.close()
    mine.close()


def test_the_doubt_round_flag_follows_the_rounds(copy):
    store = Store(copy.path)
    team = Team(store)  # doubt_every=2: round 1, a doubt round, round 2
    view = TeamView(team)
    assert not team.doubt_round_due
    assert "No doubt-resolution round due (1 of 2 rounds since the last)" in \
        view.doubt_html.value
    team.plan_round(["node2"], "2024-05-01", "2024-05-08")
    view.refresh()
    assert Team(store).doubt_round_due
    assert "A doubt-resolution round is due</b> (2 rounds since the last; every 2)" in \
        view.doubt_html.value
    store.close()


def test_pending_suggestions_and_announcements_are_listed_and_escaped(tmp_path):
    store = Store(tmp_path / "evil.db")
    synthetic_archive(store, n_nodes=1, days=1, files_per_day=2, dim=8)
    team = Team.create(store, groups={"A": [EVIL, "bob"]}, batch_size=4)
    team.plan_round(["node1"], "2024-05-01", "2024-05-02")
    clip = team.queue(EVIL)[0][1]
    team.annotate(EVIL, clip, [("Engine", 0.0, 0.5)])
    waiting = team.suggest_class(EVIL, "<img src=x onerror=alert(2)>", parent="Engine",
                                 description="<b>loud</b>")
    accepted = team.suggest_class("bob", "Crane <i>", description="port crane")
    team.decide_class(accepted, accept=True, reviewer="<u>kim</u>")
    view = TeamView(team)
    texts = [w.value for w in (view.header, view.rounds_html, view.progress_html,
                               view.agreement_html, view.doubt_html, view.classes_html)]
    assert not any(bad in t for t in texts for bad in ("<script>", "<img", "<b>loud", "<u>",
                                                        "<i>"))
    html = view.classes_html.value
    assert (f"<td>{waiting}</td><td>&lt;img src=x onerror=alert(2)&gt;</td><td>Engine</td>"
            "<td>&lt;b&gt;loud&lt;/b&gt;</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
            ) in html
    assert "Crane &lt;i&gt;" in html and "accepted by &lt;u&gt;kim&lt;/u&gt;" in html
    assert html.count("<tr>") == 2  # the header and the one pending suggestion
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>A</td><td>1 / 40</td>" in \
        view.progress_html.value
    store.close()


def test_the_histogram_counts_the_events_annotated_and_the_agreed_labels(copy):
    store = Store(copy.path)
    view = TeamView(Team(store))
    events = Counter(tag for evs in copy.annotated.values() for tag, _, _ in evs)
    agreed = Counter(p.label for r in copy.rounds[::2] for p in store.round_proposals(r)
                     if p.status == "medoid")
    assert sum(agreed.values()) == 17
    assert view.histogram == {t: (events.get(t, 0), agreed.get(t, 0))
                              for t in set(events) | set(agreed)}
    bars = view.figure.data
    assert dict(zip(bars[0].x, bars[0].y)) == dict(events)
    assert {t: n for t, n in zip(bars[1].x, bars[1].y) if n} == dict(agreed)
    totals = [a + b for a, b in zip(bars[0].y, bars[1].y)]
    assert totals == sorted(totals, reverse=True)  # the most labeled classes first
    store.close()


def test_a_view_needs_a_team():
    with pytest.raises(TypeError, match="must be an alwidget.team.Team"):
        TeamView("team.db")

