"""Team rounds at scale: time and peak RSS to plan one round on a window of a large archive.

For each size, builds (or reuses, cached in ``--work``) a synthetic archive in the SQLite
store (:func:`alwidget.team.synthetic.synthetic_archive`: 7 nodes x 150 days from
2024-05-01, files of 10 one-second clips, ``files_per_day`` chosen to reach the size;
128-d float32 embeddings and the 8 class probabilities of a synthetic tagger, both as BLOBs
in ``features``), then gives it a team (the framework's 5 labelers in two groups) and two
rounds of history: round 1 (MAL) on node1's first week and round 2 (MAL-MF) on node2's,
both labeled by :class:`~alwidget.team.synthetic.SimulatedLabeler` s, so ~740 agreed
medoids (from two nodes and another window) are there for the round measured.

Then, each in a fresh Python process, plans ONE round on a window of node1 from
2024-07-01 (one week; four weeks; and a window holding as many clips as a week of the 1M
archive) with ``max_set`` = each of ``--max-set``: :meth:`alwidget.team.Team.plan_round`,
the way a user calls it (finding the default feature sets, reading the window, the labels,
the tagger, the features of the first disjoint set and of the medoids, fitting, writing the
round), inside a transaction that is rolled back, so the cached store stays as built. It is
planned twice: "cold", the process's first round with the database file dropped from the
OS file cache (``posix_fadvise(DONTNEED)``: its pages come from the disk), and "warm", a
second round with the OS cache warm; SQLite's own page cache is emptied before each
(``PRAGMA shrink_memory``), so each reads its pages again. On the largest archive, one more
row plans with ``--history-labels`` more agreed labels (rounds of 400 on clips of other
windows, inserted in the rolled-back transaction, untimed): months of rounds. Reported:

* wall time of each plan, and where the warm one went (each store read wrapped);
* peak RSS: ``getrusage``'s ``ru_maxrss`` of the process after imports and opening the
  store and team (baseline), after the two plans (peak), and their difference;
* bytes the process read from files during the warm plan (``rchar`` of ``/proc/self/io``:
  SQLite's page reads, whether the OS served them from its cache or from disk), beside the
  database's size: a round that touches only its window reads a small share;
* the ``EXPLAIN QUERY PLAN`` of every distinct statement a plan ran (traced in a third,
  untimed plan), flagging any that reads a whole table or a whole feature set.

Run from the project root (the 1M archive takes ~0.7 GB of disk in ``--work`` and a few
minutes to build once; later runs reuse it):

    .venv/bin/python benchmarks/bench_rounds.py --sizes 100000 300000 1000000

Prints markdown tables and writes them to ``--out`` (default benchmarks/results/rounds.md).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_NODES, DAYS, CLIPS_PER_FILE, DIM = 7, 150, 10, 128
BUILD_VERSION = 1  # bump when the archive or its history changes: cached stores are rebuilt
WINDOW_START = "2024-07-01"
HISTORY = (("node1", "2024-05-01", "2024-05-08"), ("node2", "2024-05-01", "2024-05-08"))
REF_PER_DAY = 95 * CLIPS_PER_FILE  # clips per node-day of the 1M archive

_BUILD = r"""
import json, os, resource, sys, time
from alwidget.store import Store
from alwidget.team import Team
from alwidget.team.synthetic import SimulatedLabeler, synthetic_archive
db, files_per_day, n_nodes, days, clips_per_file, dim = sys.argv[1], *map(int, sys.argv[2:7])
history = json.loads(sys.argv[7])
store = Store(db)
t0 = time.perf_counter()
truth = synthetic_archive(store, n_nodes=n_nodes, days=days, files_per_day=files_per_day,
                          clips_per_file=clips_per_file, dim=dim, seed=0)
archive_s = time.perf_counter() - t0
t0 = time.perf_counter()
team = Team.create(store)  # the framework's defaults: 5 labelers, 3 + 2, batch 400
labelers = {}
rounds = []
for node, start, end in history:
    round_id = team.plan_round(nodes=[node], start=start, end=end)
    for names in team.groups.values():
        for who in names:
            lab = labelers.setdefault(who, SimulatedLabeler(who, seed=1))
            for r, clip in team.queue(who):
                team.annotate(who, clip, lab.events(truth[clip]), round_id=r)
    rounds.append(store.rounds()[-1]["strategy"])
history_s = time.perf_counter() - t0
medoids = len(store.agreed_labels())
clips = int(store._scalar("SELECT COUNT(*) FROM clips"))
audios = int(store._scalar("SELECT COUNT(*) FROM audios"))
store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
store.close()
print(json.dumps(dict(clips=clips, audios=audios, archive_s=archive_s, history_s=history_s,
                      medoids=medoids, history=rounds, db_bytes=os.path.getsize(db),
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""

_PLAN = r"""
import json, os, re, resource, sys, time
t_import = time.perf_counter()
import numpy as np
import alwidget.loop
import alwidget.team.team as team_module
from alwidget.store import Store
from alwidget.team import Team
db, node, start, end, max_set = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
named, extra, repeat = sys.argv[6] == "named", int(sys.argv[7]), int(sys.argv[8])
BIG = ("audios", "clips", "features")

def rchar():
    with open("/proc/self/io") as f:
        return int(next(l for l in f if l.startswith("rchar")).split()[1])

def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

phases = {}  # name -> [seconds, bytes read, calls, rows]
captured = {}
rss = {"max": None}  # the peak so far, and how much each phase raised it (MB)
rise = {}

def raised(name):
    m = maxrss_mb()
    if rss["max"] is not None and m > rss["max"]:
        rise[name] = rise.get(name, 0.0) + m - rss["max"]
        rss["max"] = m

def wrap(owner, attr, name, rows=None):
    fn = getattr(owner, attr)
    def timed(*a, **kw):
        t, r = time.perf_counter(), rchar()
        try:
            out = fn(*a, **kw)
        finally:
            key = name(a) if callable(name) else name
            p = phases.setdefault(key, [0.0, 0, 0, 0])
            p[0] += time.perf_counter() - t
            p[1] += rchar() - r
            p[2] += 1
            raised(key)
        if rows is not None:
            p[3] += rows(a, out)
        if attr == "plan_proposals":
            captured["plan"] = out
        return out
    setattr(owner, attr, timed)

wrap(Store, "default_feature_set", "find sets")
wrap(team_module, "default_tagger", "find sets")
wrap(Store, "window_clips", "window", lambda a, out: len(out))
wrap(Store, "agreed_labels", "labels", lambda a, out: len(out))
wrap(Store, "proposed_clips", "labels", lambda a, out: len(out))
wrap(Store, "get_features",
     lambda a: "tagger" if a[1].columns is not None else "features",
     lambda a, out: len(out[0]))
wrap(alwidget.loop.LoopCore, "plan", "model")
wrap(Store, "window_audio_count", "window")
wrap(Store, "add_round", "write")
wrap(team_module, "plan_proposals", "other planning")

store = Store(db)
team = Team(store)
team.settings["max_set"] = max_set  # this process's settings only: the store keeps its own
if named:  # the team names its feature sets: no search for the default ones
    team.settings.update(features="synthetic-embedding", tagger="synthetic-tagger")
old = []
if extra:  # months of rounds: `extra` more agreed labels, on clips out of the window
    n_clips = store._scalar("SELECT MAX(id) FROM clips")
    skip = np.union1d(store.window_clips([node], start, end), store.proposed_clips())
    old = np.setdiff1d(np.linspace(1, n_clips, extra + len(skip) + 1).astype(np.int64), skip)
    old = [int(c) for c in np.random.default_rng(0).permutation(old)[:extra]]
    classes = sorted({r[1] for r in store.agreed_labels()})
import_s = time.perf_counter() - t_import
base_mb = rss["max"] = maxrss_mb()
db_bytes = os.path.getsize(db)

def plan_once(trace=None):
    store._conn.execute("PRAGMA shrink_memory")  # SQLite's page cache emptied: each plan reads
    store._conn.execute("BEGIN IMMEDIATE")  # its pages; rolled back: the store stays as built
    try:
        for k in range(0, len(old), 400):  # rounds of 400 proposals, each agreed (untimed)
            rid = store._conn.execute("INSERT INTO al_iterations (strategy, created_at) "
                                      "VALUES ('mal-mf', '2024-06-01')").lastrowid
            store._conn.executemany(
                "INSERT INTO proposals (iteration_id, clip_id, status, label, n_labelers, "
                "agreement) VALUES (?, ?, 'medoid', ?, 3, 1.0)",
                [(rid, c, classes[c % len(classes)]) for c in old[k:k + 400]])
        if trace is not None:
            store._conn.set_trace_callback(trace)
        t, r = time.perf_counter(), rchar()
        team.plan_round(nodes=[node], start=start, end=end)
        out = time.perf_counter() - t, rchar() - r
        raised("rest")
        return out
    finally:
        store._conn.set_trace_callback(None)
        store._conn.execute("ROLLBACK")

def evict():  # drop the store's pages from the OS file cache: the first plan reads the disk
    for path in (db, db + "-wal"):
        if os.path.exists(path):
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)

evict()
cold_s, cold_read = plan_once()
warm_s = None
for _ in range(repeat):  # the best of `repeat` warm plans (other jobs may share the cores)
    phases.clear()
    seconds, nbytes = plan_once()
    if warm_s is None or seconds < warm_s:
        warm_s, warm_read, warm_phases = seconds, nbytes, {k: list(v) for k, v in phases.items()}
peak_mb = maxrss_mb()

# a third plan, untimed: every statement, the bytes read until the next one, and its plan
stmts = []
def trace(sql):
    r = rchar()
    if stmts:
        stmts[-1][1] = r - stmts[-1][2]
    stmts.append([sql, 0, r])
plan_once(trace)

def shape(sql):
    s = re.sub(r"'(?:[^']|'')*'", "?", sql)
    s = re.sub(r"\b\d+(\.\d+)?\b", "?", s)
    return re.sub(r"\?(\s*,\s*\?)+", "?,...", " ".join(s.split()))

def whole_reads(sql, lines):
    # detail lines that read a whole big table, or a whole feature set
    alias = {t: t for t in BIG}
    for table, name in re.findall(r"\b(audios|clips|features)\s+(?:AS\s+)?(\w+)", sql, re.I):
        if name.upper() not in ("WHERE", "ON", "JOIN", "USING", "ORDER", "GROUP", "LIMIT",
                                "LEFT", "INNER", "CROSS", "VALUES", "SET"):
            alias[name] = table
    probe = re.search(r"\bEXISTS\s*\(|\bLIMIT\s+1\b", sql, re.I)
    bad = []
    for d in lines:
        words = d.split()
        if len(words) < 2 or words[0] not in ("SCAN", "SEARCH") or words[1] not in alias:
            continue
        table = alias[words[1]]
        if words[0] == "SCAN":
            bad.append(d)
        elif table == "features" and "clip_id" not in d and not probe:
            bad.append(d)  # the feature set's whole key range (EXISTS, LIMIT 1: one row)
        elif table == "audios" and not re.search(r"recorded_at|rowid|\bid\b", d):
            bad.append(d)
    return bad

shapes = {}
for sql, nbytes, _ in stmts:
    key = shape(sql)
    entry = shapes.setdefault(key, dict(sql=key, calls=0, bytes=0, plan=None, whole=[]))
    entry["calls"] += 1
    entry["bytes"] += nbytes
    if entry["plan"] is None and sql.lstrip().upper().startswith(("SELECT", "WITH")):
        entry["plan"] = [r[3] for r in store._conn.execute("EXPLAIN QUERY PLAN " + sql)]
        entry["whole"] = whole_reads(sql, entry["plan"])

plan = captured["plan"]
print(json.dumps(dict(
    import_s=import_s, cold_s=cold_s, warm_s=warm_s, cold_read=cold_read, warm_read=warm_read,
    base_mb=base_mb, peak_mb=peak_mb, db_bytes=db_bytes, phases=warm_phases, rise=rise,
    n_window=plan.n_window, n_unlabeled=plan.n_unlabeled, n_sets=plan.n_sets,
    set_sizes=plan.set_sizes[:3], first_set=plan.set_sizes[0], medoids=len(plan.medoids),
    strategy=plan.strategy, proposals=len(plan.proposals), sets_by=plan.sets_by,
    statements=[s for s in shapes.values() if s["plan"] is not None],
    load=os.getloadavg())))
"""


def layout(n: int) -> dict:
    """files per node-day (of 10 one-second clips) that bring 7 nodes x 150 days nearest n."""
    per_day = max(1, round(n / (N_NODES * DAYS * CLIPS_PER_FILE)))
    return dict(files_per_day=per_day, clips=N_NODES * DAYS * per_day * CLIPS_PER_FILE)


def build(work: Path, n: int, rebuild: bool) -> tuple[Path, dict]:
    """The cached store of about ``n`` clips with its history (built when absent)."""
    lay = layout(n)
    db = work / f"rounds-{lay['clips']}.db"
    meta_path = db.with_suffix(".json")
    key = dict(version=BUILD_VERSION, nodes=N_NODES, days=DAYS, clips_per_file=CLIPS_PER_FILE,
               dim=DIM, history=HISTORY, **lay)
    if not rebuild and db.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == json.loads(json.dumps(key)):
            meta["reused"] = True
            return db, meta
    tmp = db.with_name(db.name + ".building")
    for suffix in ("", "-wal", "-shm"):
        for p in (Path(str(db) + suffix), Path(str(tmp) + suffix)):
            p.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)
    print(f"building {lay['clips']:,} clips in {db} ...", flush=True)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _BUILD, str(tmp), str(lay["files_per_day"]),
                          str(N_NODES), str(DAYS), str(CLIPS_PER_FILE), str(DIM),
                          json.dumps(HISTORY)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"building {db} failed:\n{out.stderr}")
    meta = json.loads(out.stdout.strip().splitlines()[-1])
    meta.update(key=key, built_at=_dt.datetime.now().isoformat(timespec="seconds"),
                wall_s=time.perf_counter() - t0, load=os.getloadavg())
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(db)
    meta_path.write_text(json.dumps(meta, indent=1))
    meta["reused"] = False
    print(f"  built in {meta['wall_s']:.0f} s: {meta}", flush=True)
    return db, meta


def windows(lay: dict, kinds: list[str]) -> list[tuple[set, str, str, str]]:
    """({kinds it stands for}, label, start, end) of node1's windows from WINDOW_START."""
    day0 = _dt.date.fromisoformat(WINDOW_START)
    same = round(7 * REF_PER_DAY / (lay["files_per_day"] * CLIPS_PER_FILE))
    out = []
    for kind in kinds:
        if kind == "week":
            days, label, also = 7, "1 week", {"week"} | ({"same"} if same == 7 else set())
        elif kind == "4weeks":
            days, label, also = 28, "4 weeks", {"4weeks"}
        else:  # as many clips as a week of the 1M archive: the same work on every archive
            if same == 7 and "week" in kinds:
                continue
            days, label, also = same, f"{same} days (~1M's week)", {"same"}
        out.append((also, label, WINDOW_START, (day0 + _dt.timedelta(days=days)).isoformat()))
    return out


def measure(db: Path, node: str, start: str, end: str, max_set: int, named: bool = False,
            extra: int = 0, repeat: int = 3) -> dict:
    out = subprocess.run([sys.executable, "-c", _PLAN, str(db), node, start, end, str(max_set),
                          "named" if named else "default", str(extra), str(repeat)],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"planning on {db} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f} MB" if nbytes < 1e9 else f"{nbytes / 1e9:,.2f} GB"


def _phase(r: dict, name: str) -> str:
    p = r["phases"].get(name)
    if p is None:
        return "-"
    text = f"{p[0]:.2f} s, {_mb(p[1])}"
    return text + (f", {p[3]:,} rows" if name in ("tagger", "features", "window") else "")


def report(builds: list[dict], rows: list[dict], args, started: str, load0, load1) -> str:
    cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/bench_rounds.py",
                                            *sys.argv[1:]])
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "# Team rounds at scale: planning one round on a window of a large archive",
        "",
        f"Command: `{cmd}`  ",
        f"Date: {started}; machine: {os.cpu_count()} cores, {mem_gb:.0f} GiB, "
        f"{platform.platform()}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}; load average (1/5/15 min) at start "
        f"{'/'.join(f'{x:.2f}' for x in load0)}, at end {'/'.join(f'{x:.2f}' for x in load1)} "
        "(other jobs may run: see the load column).",
        "",
        f"Archive: {N_NODES} nodes x {DAYS} days from 2024-05-01, files of {CLIPS_PER_FILE} "
        f"one-second clips, {DIM}-d float32 embeddings and 8 tagger probabilities per clip "
        "(BLOBs in `features`, WITHOUT ROWID, key (feature_set_id, clip_id)). History: a team "
        "of 5 labelers (3 + 2), round 1 (MAL) on node1's first week and round 2 (MAL-MF) on "
        "node2's, labeled by simulated labelers.",
        "",
        "| clips | audio files | clips per node-day | DB size | build archive | history (2 rounds "
        "+ annotations) | medoids | build peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in builds:
        m = b["meta"]
        lines.append(
            f"| {m['clips']:,}{' (cached, built ' + m['built_at'] + ')' if m.get('reused') else ''}"
            f" | {m['audios']:,} | {m['key']['files_per_day'] * CLIPS_PER_FILE} "
            f"| {_mb(m['db_bytes'])} | {m['archive_s']:.0f} s | {m['history_s']:.0f} s | "
            f"{m['medoids']} | {m['rss_mb']:.0f} MB |")
    lines += [
        "",
        "One round planned by `Team.plan_round` on a window of node1 from 2024-07-01 (MAL-MF "
        "on the first disjoint set, batch 400, at most 2,000 medoids), in a fresh process per "
        "row, rolled back. \"cold\": the process's first plan, the DB file dropped from the OS "
        "cache first (its pages read from the disk); \"warm\": the second, OS cache warm. Peak "
        "RSS is `ru_maxrss`; the baseline is after imports and opening the store and team; "
        "\"read\" is the bytes the process read from files during the warm plan (SQLite's "
        "pages, its own cache emptied first), against the DB size. \"sets named\": the team "
        "names its embedding and tagger sets (no search for the default ones); \"+N labels\": "
        "N more agreed labels in the store (months of rounds).",
        "",
        "| clips | window | window clips | max_set | sets K (first) | medoids | plan s cold | "
        "plan s warm | RSS baseline | peak RSS | peak - baseline | read (share of DB) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clips']:,} | {r['window']} | {r['n_window']:,} | {r['max_set']:,} | "
            f"{r['n_sets']} ({r['first_set']:,}) | {r['medoids']} | {r['cold_s']:.2f} | "
            f"{r['warm_s']:.2f} | {r['base_mb']:.0f} MB | {r['peak_mb']:.0f} MB | "
            f"{r['peak_mb'] - r['base_mb']:.0f} MB | {_mb(r['warm_read'])} "
            f"({100 * r['warm_read'] / r['db_bytes']:.1f} %) | {r['load'][0]:.2f} |")
    lines += [
        "",
        "Where the (fastest) warm plan went (time, bytes read, rows): \"find sets\" is "
        "`Store.default_feature_set` + `default_tagger` (the team names no feature set); "
        "\"window\" the window's clip ids and audio count; \"labels\" the agreed labels and "
        "proposed clips; \"tagger\" the window's probabilities (in blocks of 8,192); "
        "\"features\" the embeddings of the medoids and the first set; \"model\" "
        "`LoopCore.plan`; \"write\" the round's rows. \"RSS rise\": which steps raised the "
        "process's peak RSS above the baseline, over all its plans (\"other planning\": "
        "`plan_proposals` outside the steps named, e.g. the disjoint sets).",
        "",
        "| clips | window | max_set | find sets | window | labels | tagger | features | model "
        "| write | RSS rise |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rise = sorted(r["rise"].items(), key=lambda kv: -kv[1])
        lines.append(f"| {r['clips']:,} | {r['window']} | {r['max_set']:,} | "
                     + " | ".join(_phase(r, k) for k in ("find sets", "window", "labels",
                                                         "tagger", "features", "model",
                                                         "write")) + " | "
                     + ", ".join(f"{k} +{v:.0f} MB" for k, v in rise if v >= 1) + " |")
    # growth: the same window kind and max_set on each archive
    sizes = sorted({r["clips"] for r in rows})
    if len(sizes) > 1:
        lines += ["", "Growth with the archive (" + " / ".join(f"{n:,}" for n in sizes)
                  + " clips), the same window kind and max_set:", "",
                  "| window | max_set | window clips | plan s cold | plan s warm | "
                  "peak - baseline | read |", "|---|---|---|---|---|---|---|"]
        names = {"week": "1 week", "4weeks": "4 weeks", "same": "~6,650 clips (1M's week)",
                 "named": "1 week, sets named"}
        for kind, name in names.items():
            for max_set in sorted({r["max_set"] for r in rows}):
                got = [r for n in sizes for r in rows
                       if r["clips"] == n and r["max_set"] == max_set and kind in r["kinds"]]
                if len(got) < 2:
                    continue
                lines.append(
                    f"| {name} | {max_set:,} | "
                    + " / ".join(f"{r['n_window']:,}" for r in got) + " | "
                    + " / ".join(f"{r['cold_s']:.2f}" for r in got) + " s | "
                    + " / ".join(f"{r['warm_s']:.2f}" for r in got) + " s | "
                    + " / ".join(f"{r['peak_mb'] - r['base_mb']:.0f}" for r in got) + " MB | "
                    + " / ".join(_mb(r["warm_read"]) for r in got) + " |")
    # the statements a plan ran, on the largest archive
    big = [r for r in rows if r["clips"] == sizes[-1]]
    if big:
        r = max(big, key=lambda r: r["n_window"])
        lines += ["", f"Statements of one plan ({r['clips']:,} clips, {r['window']}, max_set "
                  f"{r['max_set']:,}), their `EXPLAIN QUERY PLAN` and the bytes read until the "
                  "next statement; **WHOLE** marks a read of a whole table (SCAN of audios, "
                  "clips or features) or of a whole feature set (its key range without clip "
                  "ids):", ""]
        for s in sorted(r["statements"], key=lambda s: -s["bytes"]):
            flag = " **WHOLE**" if s["whole"] else ""
            sql = s["sql"] if len(s["sql"]) < 240 else s["sql"][:240] + " ..."
            lines.append(f"- {s['calls']} x, {_mb(s['bytes'])}{flag}: `{sql}`  ")
            lines.append("  plan: " + "; ".join(f"`{d}`" for d in s["plan"]))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--max-set", type=int, nargs="+", default=[2000, 5000])
    ap.add_argument("--windows", nargs="+", default=["week", "4weeks", "same"],
                    choices=["week", "4weeks", "same"],
                    help="week, 4weeks, same (as many clips as a week of the 1M archive)")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(),
                                                   "alwidget-bench-rounds"),
                    help="folder of the cached archives (outside the repository)")
    ap.add_argument("--rebuild", action="store_true", help="build the archives again")
    ap.add_argument("--repeat", type=int, default=3,
                    help="warm plans per process; the fastest is reported")
    ap.add_argument("--history-labels", type=int, default=10_000,
                    help="on the largest archive, one more row where that many more clips "
                         "hold agreed labels (months of rounds of 400; 0: none)")
    ap.add_argument("--no-named-sets", dest="named_sets", action="store_false",
                    help="skip the extra row per size where the team names its feature sets")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rounds.md"))
    args = ap.parse_args()
    started = _dt.datetime.now().isoformat(timespec="minutes")
    load0 = os.getloadavg()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    builds, rows = [], []
    for n in args.sizes:
        db, meta = build(work, n, args.rebuild)
        builds.append(dict(db=db, meta=meta))
        for kinds, label, start, end in windows(meta["key"], args.windows):
            for max_set in args.max_set:
                r = measure(db, "node1", start, end, max_set, repeat=args.repeat)
                r.update(clips=meta["clips"], window=label, max_set=max_set, kinds=sorted(kinds))
                rows.append(r)
                show(r)
        _, label, start, end = windows(meta["key"], ["week"])[0]
        if args.named_sets:  # the same round, the team's feature sets named
            r = measure(db, "node1", start, end, args.max_set[0], named=True,
                        repeat=args.repeat)
            r.update(clips=meta["clips"], window=label + ", sets named", max_set=args.max_set[0],
                     kinds=["named"])
            rows.append(r)
            show(r)
        if args.history_labels and n == max(args.sizes):
            r = measure(db, "node1", start, end, args.max_set[0], extra=args.history_labels,
                        repeat=args.repeat)
            r.update(clips=meta["clips"], max_set=args.max_set[0], kinds=["labels"],
                     window=f"{label}, +{args.history_labels:,} labels")
            rows.append(r)
            show(r)
    text = report(builds, rows, args, started, load0, os.getloadavg())
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    (work / "rounds-last-run.json").write_text(json.dumps(rows, indent=1, default=str))


def show(r: dict) -> None:
    print(f"{r['clips']:,} clips, {r['window']}, max_set {r['max_set']}: window "
          f"{r['n_window']:,}, K={r['n_sets']}, {r['strategy']}, cold {r['cold_s']:.2f} s, "
          f"warm {r['warm_s']:.2f} s, peak {r['peak_mb']:.0f} MB (baseline "
          f"{r['base_mb']:.0f}), read {_mb(r['warm_read'])}, load {r['load'][0]:.2f}",
          flush=True)


if __name__ == "__main__":
    main()
