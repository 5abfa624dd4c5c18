"""``export_labels``: a project's labels in the formats of the field."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from alwidget.store import Store

from .audacity import write_label_track
from .common import open_store, shown
from .raven import write_selection_table
from .tables import audioset_mids, write_audioset_tsv, write_labels_csv

__all__ = ["FORMATS", "export_labels"]

#: The formats :func:`export_labels` writes, by name.
FORMATS = ("csv", "raven", "audacity", "audioset")


def _formats(formats: str | Sequence[str]) -> list[str]:
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    wrong = [n for n in names if n not in FORMATS]
    if wrong or not names:
        raise ValueError(f"formats={formats!r}: "
                         + (f"{wrong[0]!r} is not a format" if wrong else "no format given")
                         + f"; choose from {','.join(FORMATS)}")
    return list(dict.fromkeys(names))


def export_labels(db: Store | str | os.PathLike, out_dir: str | os.PathLike,
                  formats: str | Sequence[str] = FORMATS, *, labeler: str | None = None,
                  classes: Sequence[str] | None = None, clips: bool = True,
                  ontology: str | os.PathLike | Mapping[str, str] | None = None,
                  nodes: Sequence[str] | None = None, start: str | None = None,
                  end: str | None = None) -> dict[str, list[Path]]:
    """Write a project's labels for other tools; return the files written, by format.

    Only reads the project: a read-only store exports too.

    Parameters
    ----------
    db : Store or path
        The project (an existing database file, or an open :class:`~alwidget.store.Store`).
    out_dir : str or Path
        Folder for the files (created): ``labels.csv``; ``raven/<recording>.Table.1.
        selections.txt``; ``audacity/<recording>.txt``; ``audioset_strong.tsv``. Two
        recordings with one file stem get ``<stem>__a<audio id>`` names.
    formats : str or sequence of str
        Any of ``"csv"`` (one row per current clip label and per strong-label event: file,
        start_s, end_s, label, labeler, time, strategy, reason, source, kind), ``"raven"``
        (a Raven Pro selection table per recording), ``"audacity"`` (an Audacity label track
        per recording), ``"audioset"`` (AudioSet-style strong labels: segment_id = the file
        stem, start_time_seconds, end_time_seconds, label); comma-separated text or a list.
    labeler : str, optional
        Export only this labeler's labels and events.
    classes : sequence of str, optional
        Export only these labels (e.g. ``["target"]``: a binary project's positives).
    clips : bool, default True
        Clip labels become selections (labels, rows) of the recordings in the Raven,
        Audacity and AudioSet files too, beside the strong-label events; False: events only
        there. ``labels.csv`` always holds both.
    ontology : path or mapping, optional
        The AudioSet ontology JSON (e.g. ``../shared/data/audioset_ontology/ontology.json``)
        or a ``{name: MID}`` mapping: labels named like an AudioSet class (any case) are
        written as its MID in ``audioset_strong.tsv``; others as they are.
    nodes, start, end : optional
        Only the labels of clips of files recorded by ``nodes`` in ``[start, end)``, and
        the events of those files (:func:`alwidget.nodes.clips_where`, the filter sessions,
        maps and rounds use).

    Returns
    -------
    dict of str to list of Path

    Examples
    --------
    >>> import tempfile
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(":memory:")
    >>> aid = store.add_audio(NewAudio("/rec", "owl.wav", 16000, 16, 48000, 1, "WAV",
    ...                                "PCM_16", "h", 0), [(0, 1.0), (1, 1.0), (2, 1.0)])
    >>> _ = store.add_tag("owl")
    >>> _ = store.add_label(2, "owl", labeler="ann")
    >>> _ = store.add_strong_events(aid, [("owl", 1.25, 1.75)], labeler="ann")
    >>> files = export_labels(store, tempfile.mkdtemp())
    >>> {k: [p.name for p in v] for k, v in files.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'csv': ['labels.csv'], 'raven': ['owl.Table.1.selections.txt'],
     'audacity': ['owl.txt'], 'audioset': ['audioset_strong.tsv']}
    >>> files["audacity"][0].read_text().splitlines()
    ['1\\t2\\towl', '1.25\\t1.75\\towl']
    """
    names = _formats(formats)
    keep = None if classes is None else {str(c) for c in classes}
    mids = audioset_mids(ontology) if ontology is not None and "audioset" in names else {}
    store, opened = open_store(db)
    try:
        records = [r for r in store.label_records(labeler=labeler)
                   if keep is None or r.label in keep]
        events = [e for e in store.strong_events()
                  if (labeler is None or e.labeler == labeler)
                  and (keep is None or e.label in keep)]
        audios = store.audios()
        if nodes is not None or start is not None or end is not None:
            from ..nodes import clips_where

            window = clips_where(store, nodes, start, end)
            inside = set(window.tolist())
            records = [r for r in records if r.clip_id in inside]
            files = set(store.clip_sources(window).audio_id.tolist()) if len(window) else set()
            events = [e for e in events if e.audio_id in files]
    finally:
        if opened:
            store.close()
    by_path = {a.path: a for a in audios}
    stems = Counter(PurePosixPath(shown(a.path)).stem for a in audios)

    def name(audio) -> str:
        stem = PurePosixPath(shown(audio.path)).stem
        return stem if stems[stem] == 1 else f"{stem}__a{audio.id}"

    # per recording: (begin, end, label, labeler, kind)
    marks: dict[int, list[tuple]] = defaultdict(list)
    if clips:
        for r in records:
            marks[by_path[r.path].id].append((r.start_s, r.end_s, r.label, r.labeler, "clip"))
    for e in events:
        marks[e.audio_id].append((e.onset_s, e.offset_s, e.label, e.labeler, "event"))
    order = {a.id: i for i, a in enumerate(audios)}
    recordings = [(a, sorted(marks[a.id], key=lambda m: (m[0], m[1], m[2], m[4], m[3] or "")))
                  for a in sorted((a for a in audios if marks[a.id]), key=lambda a: order[a.id])]

    out, written = Path(out_dir), {}
    out.mkdir(parents=True, exist_ok=True)
    if "csv" in names:
        rows = [dict(file=r.path, start_s=r.start_s, end_s=r.end_s, label=r.label,
                     labeler=r.labeler, time=r.created_at, strategy=r.strategy, reason=r.reason,
                     source=r.source, kind="clip") for r in records]
        rows += [dict(file=e.path, start_s=e.onset_s, end_s=e.offset_s, label=e.label,
                      labeler=e.labeler, time=e.created_at, source=e.source, kind="event")
                 for e in events]
        rows.sort(key=lambda r: (order[by_path[r["file"]].id], r["start_s"], r["end_s"],
                                 r["kind"], r["label"], r["labeler"] or ""))
        written["csv"] = [write_labels_csv(out / "labels.csv", rows)]
    if "raven" in names:
        written["raven"] = [write_selection_table(
            out / "raven" / f"{name(a)}.Table.1.selections.txt",
            [dict(begin_s=b, end_s=e, label=lab, labeler=who or "", kind=kind, file=a.path,
                  high_hz=a.sample_rate / 2) for b, e, lab, who, kind in rows])
            for a, rows in recordings]
    if "audacity" in names:
        written["audacity"] = [
            write_label_track(out / "audacity" / f"{name(a)}.txt",
                              [(b, e, lab) for b, e, lab, _, _ in rows])
            for a, rows in recordings]
    if "audioset" in names:
        def mid(label: str) -> str:
            return label if label.startswith(("/m/", "/t/")) else mids.get(label.lower(), label)

        written["audioset"] = [write_audioset_tsv(
            out / "audioset_strong.tsv",
            [(name(a), b, e, mid(lab)) for a, rows in recordings for b, e, lab, _, _ in rows])]
    return {k: written[k] for k in names}
