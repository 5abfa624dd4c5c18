"""What one ingest run did: :class:`IngestSummary`, its end-of-run report."""

from __future__ import annotations

from dataclasses import dataclass, field

from .files import display_path

__all__ = ["IngestSummary", "copy_reason"]


@dataclass
class IngestSummary:
    """What one ingest run did. ``str(summary)`` is the end-of-run report.

    ``errors`` and ``changed`` hold paths as shown (and as stored in ``ingest_errors``):
    bytes of a name that are not UTF-8 shown as ``\\xNN``. ``moved`` and ``duplicates`` hold
    pairs of paths that open the files (``os.fsdecode`` of their bytes); ``str()`` shows them.

    Attributes
    ----------
    files, added, unchanged, clips : int
        Audio files and objects listed in this run; stored now; stored already (at this path,
        or reached through a link); clips added. A re-run does not list what it knows to be
        unchanged (see ``folders_skipped`` and ``prefixes_from_key``): those files are not
        counted.
    seconds : float
        Audio added, in seconds (:attr:`hours`).
    moved : list of (old path, new path)
        Stored files found at a new path (the old one is gone, or was a link): the path is
        updated, the audio keeps its id, clips, features and labels.
    duplicates : list of (path, stored path)
        Files whose content is stored already from another file that still exists (a copy):
        not stored again; also recorded in the store's ``ingest_errors``.
    changed : list of str
        Stored paths whose content is not what was stored (the stored version is kept).
    errors : list of (path, reason)
        Files and folders that could not be used.
    unmatched_names : int
        File names that did not match ``name_pattern``.
    read : int
        Files and objects read in this run; the others were stored by an earlier run and have
        the same size and version (ETag, or modification time and inode) since: not read
        again, counted in ``unchanged``.
    folders_skipped : int
        Local folders not listed: unchanged since the last run (same modification time).
    folders_listed : int
        Local folders listed (their entries read).
    prefixes_from_key : int
        Object-storage folders listed only from after the newest key listed in them before.
    writing : list of str
        Local files that changed while this run read them (still being written): not stored
        now; their folders are listed again next run.
    grown : list of str
        Stored files found longer (stored while still being written): stored again whole;
        the audio keeps its id, clips, features and labels, and gets the new clips.
    listen_again : list of int
        Clips of grown files that were lengthened (a short last clip made whole) and carry a
        label given on the shorter clip: listen to them again (the label now stands for the
        whole clip).
    failed_before : int
        Files that failed in earlier runs (:data:`~alwidget.ingestion.sources.MAX_ATTEMPTS`
        times) with the same size and version since: not read again (a full listing does).
    full_listing : bool
        Whether every folder and prefix was listed whole (``ingest(..., full_listing=True)``).
    """

    files: int = 0
    added: int = 0
    unchanged: int = 0
    clips: int = 0
    seconds: float = 0.0
    moved: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    unmatched_names: int = 0
    read: int = 0
    folders_skipped: int = 0
    folders_listed: int = 0
    prefixes_from_key: int = 0
    writing: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    listen_again: list[int] = field(default_factory=list)
    failed_before: int = 0
    full_listing: bool = False

    @property
    def hours(self) -> float:
        """Hours of audio added by this run."""
        return self.seconds / 3600

    def __str__(self) -> str:
        extra = "".join(f"{len(items)} {what}, " for what, items in
                        (("moved", self.moved), ("duplicates", self.duplicates)) if items)
        lines = [
            f"{self.files} audio files: {self.added} added ({self.clips} clips, "
            f"{self.hours:.2f} h), {self.unchanged} already stored, {extra}"
            f"{len(self.changed)} changed, {len(self.errors)} errors"
        ]
        if self.read < self.files:
            lines.append(f"{self.files - self.read} not read again: stored by an earlier run, "
                         "same size and version since")
        if self.folders_skipped or self.prefixes_from_key:
            parts = [f"{n} {what}" for n, what in (
                (self.folders_skipped, "folders unchanged since the last run not listed"),
                (self.prefixes_from_key, "object folders listed from after their newest "
                 "listed key"))
                if n]
            lines.append(f"{'; '.join(parts)} (a full listing: --full-listing, "
                         "full_listing=True)")
        if self.failed_before:
            lines.append(f"{self.failed_before} files that failed before not tried again: same "
                         "size and version since (a full listing tries them)")
        for path in self.writing:
            lines.append(f"still being written: {path}: it changed while it was read; not "
                         "stored now, read again by the next run")
        for path in self.grown:
            lines.append(f"grown: {path}: longer than stored (it was still being written); "
                         "stored again whole, its clips, features and labels kept")
        if self.listen_again:
            ids = ", ".join(map(str, self.listen_again[:10]))
            extra = len(self.listen_again) - 10
            more = f" and {extra} more" if extra > 0 else ""
            lines.append(f"listen again: clips {ids}{more} were labeled when they were shorter "
                         "(a grown file's last clip, now whole); their labels now stand for the "
                         "whole clip")
        if self.unmatched_names:
            lines.append(
                f"{self.unmatched_names} file names did not match the name pattern: "
                "node/time taken from folders or left empty"
            )
        for old, new in self.moved:
            lines.append(f"moved: {display_path(old)} -> {display_path(new)}: path updated; "
                         "its clips, features and labels are kept")
        for path, stored in self.duplicates:
            lines.append(f"duplicate: {display_path(path)}: {copy_reason(stored)}")
        for path in self.changed:
            lines.append(
                f"changed: {path}: content differs from the stored file; kept the stored "
                "version (to add the new content, copy it under another name and ingest "
                "that; a file that only grew is stored again whole)"
            )
        for path, reason in self.errors:
            lines.append(f"error: {path}: {reason}")
        return "\n".join(lines)


def copy_reason(stored: str) -> str:
    """Why a copy of a stored file is not stored again."""
    return (f"the same content (SHA-256) as {display_path(stored)}, which is stored already; "
            "not stored again (delete the copy, or the stored file to keep this one)")
