"""The team view: where a labeling team stands, read from the shared database.

:class:`TeamView` shows the rounds (their windows and what became of their proposals), each
labeler's progress against the daily quota, how far labelers agree, whether a
doubt-resolution round is due, suggested and accepted classes, and a histogram of the
classes labeled. Every labeler's kernel writes to the same database; :meth:`TeamView.refresh`
re-reads it, so the others' work appears. Plain HTML tables and one plotly figure; every text
that comes from users (labeler names, tags, descriptions, reviewers, nodes) is escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections import Counter

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from ..team import Team

__all__ = ["TeamView"]

_STATUSES = ("medoid", "proposed", "discarded")
_CSS = ("<style>.alw-team td, .alw-team th {padding: 2px 8px; text-align: left} "
        ".alw-team th {border-bottom: 1px solid #ccc}</style>")


class _Raw(str):
    """A table cell that is HTML made here (never user text): not escaped again."""


def _escaped(value) -> str:
    return html.escape(str(value), quote=False)


def _table(header, rows) -> str:
    cells = lambda tag, row: "".join(  # noqa: E731
        f"<{tag}>{v if isinstance(v, _Raw) else _escaped(v)}</{tag}>" for v in row)
    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table class='alw-team'><tr>{cells('th', header)}</tr>{body}</table>"


def _share(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.0f} %"


def _kappa(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.2f}"


def _bar(done: int, quota: int) -> _Raw:
    pct = 100.0 if quota <= 0 else min(100.0, 100.0 * done / quota)
    color = "#2ca02c" if done >= quota else "#ff7f0e"
    return _Raw(f"<div style='width:140px;height:10px;background:#eee;display:inline-block'>"
                f"<div style='width:{pct:.0f}%;height:10px;background:{color}'></div></div>")


class TeamView(W.VBox):
    """A view of a team's work on its database; :meth:`refresh` re-reads it.

    Sections: rounds (id, kind, window, nodes, proposals and what they became, labeled share,
    strategy); progress (each labeler's annotations today against the daily quota as a bar,
    assigned, annotated, pending, clips with a Doubt event); agreement (Cohen's kappa per pair
    of labelers and per class, the share of proposals agreed, Dawid–Skene beside the 2/3
    rule); whether a doubt-resolution round is due; pending class suggestions and accepted
    announcements; a bar chart of the classes labeled: the events of the labelers'
    annotations (each labeler's latest annotation of each proposed clip, every event
    counted) beside the agreed labels (one per labeled clip, rounds' or not).

    Parameters
    ----------
    team : Team
    day : str, optional
        The day (``YYYY-MM-DD``, UTC) counted against the daily quota; default today.

    Attributes
    ----------
    rounds : list of dict
        The rounds table's rows (``counts``: proposals per status).
    progress : list of LabelerProgress
    report : dict
        :meth:`Team.agreement_report`.
    histogram : dict of str to (int, int)
        Class -> (events annotated, agreed labels).
    figure : plotly.graph_objects.FigureWidget
        The histogram.

    Examples
    --------
    >>> from alwidget.store import Store
    >>> from alwidget.team import Team
    >>> from alwidget.team.synthetic import synthetic_archive
    >>> store = Store(":memory:")
    >>> _ = synthetic_archive(store, n_nodes=1, days=1, files_per_day=4, dim=8)
    >>> team = Team.create(store, groups={"A": ["ann", "bob"]}, batch_size=4, daily_quota=3)
    >>> r = team.plan_round(["node1"], "2024-05-01", "2024-05-02")
    >>> for who in ("ann", "bob"):
    ...     _ = team.annotate(who, team.queue(who)[0][1], [("Engine", 0.0, 0.8)])
    >>> view = TeamView(team)
    >>> [(p.labeler, p.annotated, p.pending) for p in view.progress]
    [('ann', 1, 3), ('bob', 1, 3)]
    >>> view.rounds[0]["counts"], view.histogram["Engine"]
    ({'medoid': 1, 'proposed': 3, 'discarded': 0}, (2, 1))
    >>> "1 / 3" in view.progress_html.value
    True
    """

    def __init__(self, team: Team, *, day: str | None = None):
        if not isinstance(team, Team):
            raise TypeError(f"team={team!r} must be an alwidget.team.Team; open one with "
                            "Team(store)")
        self.team = team
        self.day = day
        self.rounds: list[dict] = []
        self.progress: list = []
        self.report: dict = {}
        self.histogram: dict[str, tuple[int, int]] = {}
        self.refresh_button = W.Button(description="Refresh", icon="refresh",
                                       tooltip="re-read the database: the other labelers' work")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.header = W.HTML()
        self.rounds_html = W.HTML()
        self.progress_html = W.HTML()
        self.agreement_html = W.HTML()
        self.doubt_html = W.HTML()
        self.classes_html = W.HTML()
        self.figure = go.FigureWidget(
            data=[go.Bar(name="events annotated", marker_color="#1f77b4"),
                  go.Bar(name="agreed labels", marker_color="#ff7f0e")],
            layout=go.Layout(barmode="group", height=340, template="plotly_white",
                             margin=dict(l=40, r=10, t=40, b=120),
                             title="Classes labeled: events annotated (every labeler's latest "
                                   "annotation) and agreed labels (one per clip)",
                             yaxis_title="count", legend=dict(orientation="h", y=1.08)))
        super().__init__([W.HBox([self.refresh_button, self.header]), self.rounds_html,
                          self.progress_html, self.agreement_html, self.doubt_html,
                          self.classes_html, self.figure])
        self.refresh()

    def refresh(self) -> None:
        """Re-read the database (the team's groups and settings too) and redraw."""
        self.team = team = Team(self.team.store)  # groups or the quota may have changed
        store = team.store
        day = self.day or _dt.datetime.now(_dt.timezone.utc).date().isoformat()
        rounds = store.rounds()
        proposals = {r["id"]: store.round_proposals(r["id"]) for r in rounds}
        self.rounds = [dict(r, counts=_counts(proposals[r["id"]])) for r in rounds]
        self.progress = team.progress(day)
        self.report = team.agreement_report()
        self.histogram = _histogram(store)
        n_rounds = sum(r["kind"] == "round" for r in rounds)
        self.header.value = (f"<b>Team of {_escaped(store.path)}</b>: {len(team.groups)} "
                             f"group(s), {sum(map(len, team.groups.values()))} labelers, "
                             f"{n_rounds} round(s), {len(rounds) - n_rounds} doubt round(s)")
        self.rounds_html.value = _CSS + "<h4>Rounds</h4>" + (_table(
            ["round", "kind", "window", "nodes", "proposals", "medoid", "proposed", "discarded",
             "labeled share", "strategy"],
            [[r["id"], r["kind"], _window(r), ", ".join(r["nodes"]) if r["nodes"] else "all",
              sum(r["counts"].values()), *r["counts"].values(), _share(r["labeled_share"]),
              r["strategy"]] for r in self.rounds]) if rounds else "<p>no round yet</p>")
        self.progress_html.value = f"<h4>Progress on {_escaped(day)}</h4>" + _table(
            ["labeler", "group", "today / quota", "", "assigned", "annotated", "pending",
             "doubts"],
            [[p.labeler, p.group, f"{p.today} / {p.quota}", _bar(p.today, p.quota), p.assigned,
              p.annotated, p.pending, p.doubts] for p in self.progress])
        self.agreement_html.value = self._agreement(proposals, rounds)
        self.doubt_html.value = self._doubts(rounds)
        self.classes_html.value = self._classes()
        tags = sorted(self.histogram, key=lambda t: (-sum(self.histogram[t]), t))
        with self.figure.batch_update():
            names = [_escaped(t) for t in tags]
            self.figure.data[0].x, self.figure.data[0].y = names, [self.histogram[t][0]
                                                                   for t in tags]
            self.figure.data[1].x, self.figure.data[1].y = names, [self.histogram[t][1]
                                                                   for t in tags]

    # -- sections ------------------------------------------------------------------------
    def _agreement(self, proposals: dict, rounds: list[dict]) -> str:
        regular = [p for r in rounds if r["kind"] == "round" for p in proposals[r["id"]]]
        agreed, waiting, discarded = _counts(regular).values()
        text = "<h4>Agreement</h4>"
        if regular:
            text += (f"<p>{agreed} of {len(regular)} proposals agreed "
                     f"({_share(agreed / len(regular))}); {waiting} waiting (annotations or "
                     f"doubt resolution), {discarded} discarded.</p>")
        pairs = self.report["pairs"]
        if not pairs:
            return text + "<p>no clip annotated by two labelers yet</p>"
        text += "<p>Cohen's kappa per pair of labelers:</p>" + _table(
            ["labelers", "clips", "kappa"],
            [[f"{a} · {b}", v["n"], _kappa(v["kappa"])] for (a, b), v in pairs.items()])
        text += "<p>Cohen's kappa per class (one class against the rest, mean over pairs):</p>" \
            + _table(["class", "kappa"], [[t, _kappa(k)] for t, k in
                                          self.report["per_class"].items()])
        ds = self.report["dawid_skene"]
        settled = {p.clip_id: p.label for p in regular if p.status == "medoid"}
        if ds is not None and settled:
            by_ds = dict(zip(ds.items, ds.labels))
            same = sum(by_ds.get(c) == label for c, label in settled.items())
            text += (f"<p>Dawid–Skene gives the agreed (2/3 rule) label to {same} of "
                     f"{len(settled)} agreed proposals.</p>")
        return text

    def _doubts(self, rounds: list[dict]) -> str:
        since = 0
        for r in rounds:
            since = 0 if r["kind"] == "doubt" else since + 1
        every = self.team.settings["doubt_every"]
        doubts = sum(p.doubts for p in self.progress)
        if self.team.doubt_round_due:
            head = (f"<b style='color:#d62728'>A doubt-resolution round is due</b> ({since} "
                    f"rounds since the last; every {every}): run <code>team.doubt_round()"
                    "</code>.")
        else:
            head = f"No doubt-resolution round due ({since} of {every} rounds since the last)."
        return f"<h4>Doubts</h4><p>{head} {doubts} clip(s) hold a labeler's Doubt event.</p>"

    def _classes(self) -> str:
        store = self.team.store
        pending = store.suggestions("pending")
        text = "<h4>Suggested classes</h4>"
        text += _table(["id", "class", "parent", "description", "suggested by", "on"],
                       [[s["id"], s["tag"], s["parent"] or "—", s["description"] or "",
                         s["labeler"], (s["created_at"] or "")[:10]] for s in pending]) \
            if pending else "<p>no suggestion waiting for a decision</p>"
        news = self.team.announcements()
        text += "<h4>New classes</h4>" + ("<ul>" + "".join(
            f"<li>{_escaped(line)}</li>" for line in news) + "</ul>" if news
            else "<p>none accepted yet</p>")
        return text


def _counts(proposals) -> dict[str, int]:
    """Proposals per status, in the order of ``_STATUSES``."""
    c = Counter(p.status for p in proposals)
    return {s: c.get(s, 0) for s in _STATUSES}


def _window(r: dict) -> str:
    if r["window_start"] is None and r["window_end"] is None:
        return "—" if r["kind"] == "doubt" else "all time"
    return f"[{r['window_start'] or '…'}, {r['window_end'] or '…'})"


def _histogram(store) -> dict[str, tuple[int, int]]:
    """Class -> (events in the labelers' latest annotations of proposed clips, agreed labels)."""
    events: Counter = Counter()
    for by in store.clip_annotations(store.proposed_clips()).values():
        for evs in by.values():
            events.update(t for t, _, _ in evs)
    agreed = Counter(label for _, label, _, _ in store.agreed_labels())
    return {t: (events.get(t, 0), agreed.get(t, 0)) for t in set(events) | set(agreed)}
