"""A labeling team working the framework's rounds on one database.

Every labeler opens the same database in their own notebook (their own kernel) and sees
only the proposals assigned to them; everything (groups, settings, rounds, assignments,
annotations, suggestions) lives in the store, so kernels see each other's work, and a
kernel killed mid-round loses nothing that was answered.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..session.state import DOUBT
from ..store import Store, StoreError
from .agreement import Agreement, cohen_kappa, medoid_label
from .aggregation import Aggregated, dawid_skene
from .ontology import load_audioset_ontology
from .planning import default_tagger, plan_proposals

__all__ = ["DEFAULT_LABELERS", "LabelerProgress", "Team"]

#: The framework's team: five labelers in two groups, three and two.
DEFAULT_LABELERS = ("labeler1", "labeler2", "labeler3", "labeler4", "labeler5")

_SETTINGS = dict(cross_validation=True, daily_quota=40, doubt_every=10, batch_size=400,
                 max_set=20000, max_medoids=2000, background="Silence", features=None,
                 tagger=None)


@dataclass(frozen=True)
class LabelerProgress:
    """One labeler's work: proposals assigned and annotated, today's count against the
    daily quota, and their clips still holding a Doubt event."""

    labeler: str
    group: str
    assigned: int
    annotated: int
    today: int
    quota: int
    doubts: int

    @property
    def pending(self) -> int:
        return self.assigned - self.annotated


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


class Team:
    """The team of a database: its groups and settings, its rounds and their labels.

    Open it with ``Team(store)`` once :meth:`create` has written it (any kernel, any time).

    Parameters
    ----------
    store : Store

    Examples
    --------
    >>> from alwidget.store import Store
    >>> from alwidget.team.synthetic import synthetic_archive
    >>> store = Store(":memory:")
    >>> truth = synthetic_archive(store, n_nodes=2, days=2, files_per_day=4, dim=16)
    >>> team = Team.create(store, groups={"A": ["ann", "bob", "kim"], "B": ["lea", "max"]},
    ...                    batch_size=8, max_set=40)
    >>> r = team.plan_round(nodes=["node1"], start="2024-05-01", end="2024-05-02")
    >>> len(team.queue("ann")), len(team.queue("lea"))
    (4, 4)
    >>> clip = team.queue("ann")[0][1]
    >>> for who in ("ann", "bob", "kim"):
    ...     _ = team.annotate(who, clip, [("Engine", 0.2, 0.9), ("Silence", 0.0, 0.2)])
    >>> team.annotate("kim", clip, [("Engine", 0.2, 0.9)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    alwidget.store.types.StoreError: clip ... is not assigned to 'kim' ...
    >>> [p for p in store.round_proposals(r) if p.clip_id == clip][0].label
    'Engine'
    """

    def __init__(self, store: Store):
        self.store = store
        settings = store.team_settings()
        if not settings:
            raise ValueError(f"{store.path!r} has no team yet; write one with "
                             "Team.create(store, groups={...})")
        self.settings = {**_SETTINGS, **settings}
        self.groups = store.team_groups()
        self._group_of = {who: g for g, names in self.groups.items() for who in names}

    # -- setting up ----------------------------------------------------------------------
    @classmethod
    def create(cls, store: Store, groups: Mapping[str, Sequence[str]] | None = None, *,
               cross_validation: bool = True, daily_quota: int = 40, doubt_every: int = 10,
               batch_size: int = 400, max_set: int = 20000, max_medoids: int = 2000,
               background: str = "Silence", ontology: str | None = "audioset",
               features: str | None = None, tagger: str | None = None) -> "Team":
        """Write the team's groups and settings to the store (any later kernel opens it
        with ``Team(store)``); validation comes first, and nothing is written on bad input.

        Parameters
        ----------
        groups : mapping of group name to labeler names, optional
            Default: the framework's five labelers in two groups (3 + 2). With
            ``cross_validation`` every member of a group labels every proposal of the
            group's share of the batch, so a group needs two members at least; without it,
            each labeler gets different clips (give one group, or several).
        daily_quota : int, default 40
            Annotations a labeler is asked for per day (shown, not enforced).
        doubt_every : int, default 10
            A doubt-resolution round is due after this many rounds.
        batch_size : int, default 400
            Proposals per round.
        max_set : int, default 20000
            Largest disjoint set a round plans on (memory: ``max_set`` x the embedding).
        max_medoids : int, default 2000
            Most labeled clips a round trains on (this window's first).
        background : str, default "Silence"
            The tag of a clip without a sound of interest.
        ontology : "audioset" or None
            Load the AudioSet ontology shipped with alwidget (None: use the store's tags).
        features, tagger : str, optional
            Extractor names of the embeddings the model learns on (default the store's
            default set) and of the tagger that splits large windows (default the newest).
        """
        if groups is None:
            groups = {"group1": list(DEFAULT_LABELERS[:3]), "group2": list(DEFAULT_LABELERS[3:])}
        if not isinstance(groups, Mapping) or not all(
                isinstance(names, (list, tuple)) and all(isinstance(n, str) and n.strip()
                                                         for n in names)
                for names in groups.values()):
            raise ValueError(f"groups={groups!r} must map each group's name to a list of "
                             "labeler names (non-empty strings), e.g. {'A': ['ann', 'bob']}")
        groups = {str(g): [n.strip() for n in names] for g, names in groups.items()}
        members = [n for names in groups.values() for n in names]
        if not members:
            raise ValueError("groups name no labeler; give e.g. {'A': ['ann', 'bob', 'kim']}")
        twice = sorted({n for n in members if members.count(n) > 1})
        if twice:
            raise ValueError(f"labeler(s) {twice} are in more than one group (or twice in one)")
        if cross_validation:
            small = [g for g, names in groups.items() if len(names) < 2]
            if small:
                raise ValueError(f"group(s) {small} have one member: a group of one cannot "
                                 "cross-validate; add members, or cross_validation=False to "
                                 "give each labeler different clips")
        settings = dict(cross_validation=bool(cross_validation),
                        daily_quota=_positive_int("daily_quota", daily_quota),
                        doubt_every=_positive_int("doubt_every", doubt_every),
                        batch_size=_positive_int("batch_size", batch_size),
                        max_set=_positive_int("max_set", max_set),
                        max_medoids=_positive_int("max_medoids", max_medoids),
                        background=str(background), features=features, tagger=tagger)
        if ontology not in ("audioset", None):
            raise ValueError(f"ontology={ontology!r} must be 'audioset' or None")
        for name, value in (("features", features), ("tagger", tagger)):
            if value is not None and value not in {fs.extractor for fs in store.feature_sets()}:
                raise ValueError(f"{name}={value!r} is not a feature set of the store; it has "
                                 f"{sorted({fs.extractor for fs in store.feature_sets()})}")
        store.check_writable("writing a team")
        with store.transaction():  # the ontology, the Doubt tag and the team: whole or absent
            if ontology == "audioset":
                load_audioset_ontology(store)
            if background not in store.tags():
                raise ValueError(f"background={background!r} is not in the ontology; load one "
                                 "(ontology='audioset') or store.add_tag() it first")
            store.add_tag(DOUBT)
            store.set_team(groups, settings)
        return cls(store)

    # -- rounds --------------------------------------------------------------------------
    def plan_round(self, nodes: Sequence[str] | None = None, start: str | None = None,
                   end: str | None = None, *, seed: int = 0, model=None) -> int:
        """Plan one round on the window ``[start, end)`` of ``nodes`` and write it whole:
        its ``al_iterations`` row, its proposals and who labels them; return its id.

        The window is read as every node/time filter reads it
        (:meth:`~alwidget.store.Store.checked_window`: "2024-05-01 12:00" is
        2024-05-01T12:00:00); an unknown node or a time that is not ISO 8601 is a
        ``ValueError`` naming it.

        MAL (k-medoids) while nothing is labeled, MAL-MF after, on the first disjoint set of
        the window's unlabeled clips (:func:`alwidget.strategies.partition.disjoint_sets`),
        through the loop core. With cross-validation each group gets its share of the
        batch (proposals dealt in turn), and each member labels all of the group's share.
        """
        s = self.settings
        features = self._feature_set(s["features"]) if s["features"] else \
            self.store.default_feature_set()
        tagger = self._feature_set(s["tagger"]) if s["tagger"] else default_tagger(self.store)
        if isinstance(nodes, str) or not (nodes is None or all(isinstance(n, str)
                                                                for n in nodes)):
            raise ValueError(f"nodes={nodes!r} must be a list of node names, e.g. ['node1'] "
                             "(None: every node)")
        # the node/time window as sessions, maps and export read it (checked, ISO text)
        nodes, start, end = self.store.checked_window(nodes, start, end)
        plan = plan_proposals(self.store, nodes=nodes, start=start, end=end, features=features,
                              tagger=tagger, batch_size=s["batch_size"], max_set=s["max_set"],
                              max_medoids=s["max_medoids"], seed=int(seed), model=model)
        assignments = []
        if s["cross_validation"]:
            names = list(self.groups)
            for k, clip in enumerate(plan.proposals):
                group = names[k % len(names)]
                assignments += [(int(clip), who, group) for who in self.groups[group]]
        else:
            everyone = [(who, g) for g, names in self.groups.items() for who in names]
            for k, clip in enumerate(plan.proposals):
                who, group = everyone[k % len(everyone)]
                assignments.append((int(clip), who, group))
        params = dict(batch_size=s["batch_size"], max_set=s["max_set"],
                      max_medoids=s["max_medoids"], seed=int(seed), features=features.extractor,
                      sets_by=plan.sets_by, set_sizes=plan.set_sizes[:50],
                      n_window=plan.n_window, n_unlabeled=plan.n_unlabeled,
                      n_medoids=len(plan.medoids), medoids=plan.medoids.tolist(),
                      groups=self.groups,
                      cross_validation=s["cross_validation"])
        return self.store.add_round(
            plan.proposals, strategy=plan.strategy, params=params, window_start=start,
            window_end=end, n_audios=plan.n_audios, n_sets=plan.n_sets,
            labeled_share=plan.labeled_share, nodes=nodes, assignments=assignments)

    @property
    def doubt_round_due(self) -> bool:
        """``doubt_every`` rounds have passed since the last doubt-resolution round."""
        since = 0
        for r in self.store.rounds():
            since = 0 if r["kind"] == "doubt" else since + 1
        return since >= self.settings["doubt_every"]

    def doubt_round(self) -> int:
        """Write a doubt-resolution round and return its id: each labeler re-listens to
        their own clips holding a Doubt event, and every member of a group to its proposals
        that ended without agreement. The new annotations are appended (the history stays);
        a proposal still without agreement once its whole group answered in a doubt round
        is discarded. A labeler is never asked twice at once about one clip, nor again about
        a Doubt they kept in a doubt round."""
        doubt_ids = {r["id"] for r in self.store.rounds() if r["kind"] == "doubt"}
        annotated = {who: self.store.annotated(who) for who in self._group_of}
        waiting, answered = set(), set()
        for r, c, who, _ in self.store.assignments():
            if r in doubt_ids:
                done = (r, c) in annotated.get(who, ())
                (answered if done else waiting).add((c, who))
        assignments: dict[tuple[int, str], str | None] = {}
        for who in self._group_of:
            doubts = self.store.doubt_clips(who)
            newest = self.store.newest_proposal_status(doubts)
            for _, clip, member, group in self.store.assignments_of_clips(doubts, "round"):
                if member == who and newest.get(clip) != "discarded" \
                        and (clip, who) not in waiting | answered:
                    assignments[(clip, who)] = group
        open_props = self._open_proposals()
        annotations = self.store.clip_annotations(list(open_props))
        for clip, (members, group) in open_props.items():
            if self._agreement(members, annotations.get(clip, {})).doubt:
                for who in members:
                    if (clip, who) not in waiting:
                        assignments[(clip, who)] = group
        if not assignments:
            if waiting:
                raise ValueError("the open doubt-resolution round(s) still wait for "
                                 f"{len(waiting)} answers; answer them first")
            raise ValueError("no Doubt events and no proposal without agreement: nothing to "
                             "resolve")
        clips = sorted({c for c, _ in assignments})
        return self.store.add_round(
            clips, strategy="doubt-resolution", kind="doubt",
            params=dict(n_assignments=len(assignments)),
            assignments=[(c, who, g) for (c, who), g in sorted(assignments.items())])

    # -- labeling ------------------------------------------------------------------------
    def queue(self, labeler: str) -> list[tuple[int, int]]:
        """``(round_id, clip_id)`` of the proposals assigned to ``labeler`` and not yet
        annotated by them, oldest round first."""
        self._check_labeler(labeler)
        done = self.store.annotated(labeler)
        return [(r, c) for r, c, _, _ in self.store.assignments(labeler=labeler)
                if (r, c) not in done]

    def selectable_tags(self, round_id: int | None = None) -> list[str]:
        """Tags a labeler may use in ``round_id`` (default: the newest round): the ontology
        without classes accepted for later rounds."""
        if round_id is None:
            rounds = self.store.rounds()
            round_id = rounds[-1]["id"] if rounds else 0
        return [e["tag"] for e in self.store.ontology_entries()
                if e["from_round"] is None or e["from_round"] <= round_id]

    def annotate(self, labeler: str, clip_id: int, events: Sequence[tuple[str, float, float]],
                 *, round_id: int | None = None) -> Agreement | None:
        """Store ``labeler``'s events ``(tag, onset_s, offset_s)`` on an assigned clip (its
        oldest pending assignment, or that of ``round_id``), then settle the proposal when
        its group is complete; return the group's agreement (None without cross-validation
        until a label is found).

        An event tagged ``"Doubt"`` keeps the clip for the next doubt-resolution round.
        """
        self._check_labeler(labeler)
        clip_id = int(clip_id)
        if round_id is None:
            pending = [r for r, c in self.queue(labeler) if c == clip_id]
            if not pending:
                raise StoreError(f"clip {clip_id} is not assigned to {labeler!r} (or was "
                                       "annotated already); label the clips of "
                                       f"team.queue({labeler!r})")
            round_id = pending[0]
        events = _checked_events(clip_id, events)
        allowed = set(self.selectable_tags(round_id))
        for tag, _, _ in events:
            if tag not in allowed:
                later = tag in self.store.tags()
                raise ValueError(
                    f"tag {tag!r} " + ("is accepted from a later round" if later else
                                       "is not in the ontology") +
                    "; find a tag with search_ontology(store, text), or suggest a class with "
                    "team.suggest_class(...)")
        with self.store.transaction():  # the annotation and its settling: whole or absent
            self.store.add_annotation(round_id, clip_id, labeler, _summary(events), events)
            return self._settle(clip_id)

    # -- agreement -----------------------------------------------------------------------
    def _open_proposals(self, clips=None) -> dict[int, tuple[list[str], str | None]]:
        """Clips (of ``clips``, default all) with a proposal still "proposed": the members
        of its round's assignment and their group."""
        out: dict[int, tuple[list[str], str | None]] = {}
        open_clips = self.store.open_proposal_clips(clips)
        for r, c, who, group in self.store.assignments_of_clips(open_clips, kind="round"):
            members, _ = out.setdefault(c, ([], group))
            if who not in members:
                members.append(who)
        return out

    def _agreement(self, members: list[str], annotations: dict) -> Agreement:
        if len(members) >= 2:
            return medoid_label(annotations, members)
        (who,) = members
        events = annotations.get(who)
        if events is None:
            return Agreement(None, 0, 0.0, False, False)
        label = _summary(events)
        if label == DOUBT:
            return Agreement(None, 1, 0.0, True, True)
        return Agreement(label, 1, 1.0, True, False)

    def _settle(self, clip_id: int) -> Agreement | None:
        """Recompute a clip's agreement and write it (call inside a transaction: concurrent
        labelers settle one after the other)."""
        open_props = self._open_proposals([clip_id])
        if clip_id not in open_props:
            return None
        members, _ = open_props[clip_id]
        agreement = self._agreement(members, self.store.clip_annotations([clip_id]).get(
            clip_id, {}))
        asked = self.store.doubt_assignments(clip_id)  # in doubt-resolution rounds
        answered = all((r, clip_id) in self.store.annotated(who) for r, who in asked)
        whole_group = set(members) <= {who for _, who in asked}
        if not answered:  # a doubt round waits for everyone it asked
            status = "proposed"
        elif agreement.label is not None:
            status = "medoid"
        elif agreement.complete and whole_group:  # the group re-listened, still no agreement
            status = "discarded"
        else:  # waits for a doubt-resolution round of the whole group
            status = "proposed"
        self.store.settle_open_proposals(clip_id, status=status, label=agreement.label,
                                         n_labelers=agreement.n_labelers,
                                         agreement=agreement.agreement)
        return agreement

    def agreement_report(self) -> dict:
        """How far labelers agree on the clips they annotated for rounds: Cohen's kappa per
        pair, per class (one class against the rest, over pairs), and the labels Dawid-Skene
        infers (``"dawid_skene"``: :class:`~alwidget.team.aggregation.Aggregated`) beside the
        2/3 rule. Each labeler's latest annotation counts, as one label (the longest tag);
        annotations holding Doubt are left out."""
        clips = self.store.proposed_clips()
        annotations = self.store.clip_annotations(clips)
        labels = {c: {who: tag for who, ev in by.items() if (tag := _summary(ev)) != DOUBT}
                  for c, by in annotations.items()}  # a Doubt answer is no class: left out
        pairs = {}
        for a, b in itertools.combinations(sorted({w for by in labels.values() for w in by}), 2):
            both = [(by[a], by[b]) for by in labels.values() if a in by and b in by]
            if both:
                pairs[(a, b)] = dict(n=len(both), kappa=cohen_kappa(*zip(*both)))
        per_class = {}
        for tag in sorted({t for by in labels.values() for t in by.values()}):
            kappas = [cohen_kappa([x == tag for x, _ in both], [y == tag for _, y in both])
                      for (a, b) in pairs
                      for both in [[(by[a], by[b]) for by in labels.values()
                                    if a in by and b in by]]]
            kappas = [k for k in kappas if np.isfinite(k)]
            per_class[tag] = float(np.mean(kappas)) if kappas else float("nan")
        triples = [(c, who, lab) for c, by in labels.items() for who, lab in by.items()]
        aggregated: Aggregated | None = dawid_skene(triples) if triples else None
        return dict(pairs=pairs, per_class=per_class, dawid_skene=aggregated)

    # -- the ontology's new classes ------------------------------------------------------
    def suggest_class(self, labeler: str, tag: str, parent: str | None = None,
                      description: str = "") -> int:
        """A labeler suggests a new class; it is selectable from the round after it is
        accepted (:meth:`decide_class`). Returns the suggestion's id."""
        self._check_labeler(labeler)
        tag = str(tag).strip()
        if not tag:
            raise ValueError("a suggested class needs a name")
        if tag in self.store.tags():
            raise ValueError(f"{tag!r} is already in the ontology")
        if parent is not None and parent not in self.store.tags():
            raise ValueError(f"parent={parent!r} is not in the ontology")
        return self.store.add_suggestion(tag, parent, str(description), labeler)

    def decide_class(self, suggestion_id: int, *, accept: bool, reviewer: str) -> None:
        """Accept (selectable from the next round, announced to everyone) or reject a
        suggested class; ``reviewer`` names who decided (a person or "team")."""
        if not str(reviewer).strip():
            raise ValueError("reviewer must name who decided (a person, or 'team')")
        rounds = self.store.rounds()
        self.store.decide_suggestion(int(suggestion_id), accept=bool(accept),
                                     reviewer=str(reviewer),
                                     from_round=(rounds[-1]["id"] if rounds else 0) + 1)

    def announcements(self) -> list[str]:
        """One line per accepted class, newest first, for every labeler to see."""
        return [f"new class {s['tag']!r}" + (f" under {s['parent']!r}" if s["parent"] else "")
                + f", suggested by {s['labeler']}, accepted by {s['reviewer']}"
                for s in reversed(self.store.suggestions("accepted"))]

    # -- progress ------------------------------------------------------------------------
    def progress(self, day: str | None = None) -> list[LabelerProgress]:
        """Each labeler's assignments, annotations, count on ``day`` (default today, UTC)
        against the daily quota, and clips with a Doubt event."""
        day = day or _dt.datetime.now(_dt.timezone.utc).date().isoformat()
        today = self.store.annotation_counts(day)
        out = []
        for who, group in self._group_of.items():
            assigned = self.store.assignments(labeler=who)
            done = self.store.annotated(who)
            out.append(LabelerProgress(
                who, group, len(assigned), sum((r, c) in done for r, c, _, _ in assigned),
                today.get(who, 0), self.settings["daily_quota"],
                len(self.store.doubt_clips(who))))
        return out

    # -- helpers -------------------------------------------------------------------------
    def _check_labeler(self, labeler: str) -> None:
        if labeler not in self._group_of:
            raise ValueError(f"labeler {labeler!r} is not in any group; the team's groups are "
                             f"{self.groups}")

    def _feature_set(self, extractor: str):
        sets = [fs for fs in self.store.feature_sets() if fs.extractor == extractor]
        if not sets:
            raise ValueError(f"the team's feature set {extractor!r} is not in the store")
        return sets[-1]


def _checked_events(clip_id: int, events) -> list[tuple[str, float, float]]:
    """Events as ``(tag, onset_s, offset_s)``, or a clear error naming the bad one."""
    out = []
    for event in events:
        try:
            tag, onset, offset = event
            onset, offset = float(onset), float(offset)
        except (TypeError, ValueError):
            raise ValueError(f"clip {clip_id}: event {event!r} must be (tag, onset_s, "
                             "offset_s)") from None
        if not (np.isfinite(onset) and np.isfinite(offset) and 0 <= onset < offset):
            raise ValueError(f"clip {clip_id}: event {event!r} needs 0 <= onset < offset")
        out.append((str(tag), onset, offset))
    if not out:
        raise ValueError(f"clip {clip_id}: an annotation holds one event at least (a clip "
                         "without a sound of interest gets the background tag)")
    return out


def _summary(events) -> str:
    """One label for an annotation: Doubt when an event is Doubt, else the tag with the
    longest total duration (then by name)."""
    if any(t == DOUBT for t, _, _ in events):
        return DOUBT
    total: dict[str, float] = {}
    for tag, onset, offset in events:
        total[tag] = total.get(tag, 0.0) + float(offset) - float(onset)
    return min(total, key=lambda t: (-total[t], t))
