"""Results of simulated comparisons: records, summaries, tables and learning curves."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["BatchResult", "ExperimentResult", "SUMMARY_AT", "curves", "summarise", "write_tables"]

#: Numbers of labels at which the summary reports F1.
SUMMARY_AT = (10, 25, 50, 100)
#: Learning curves: each strategy a colour, a dash and a marker of its own.
CURVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
CURVE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
CURVE_MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross",
                 "triangle-down", "pentagon", "hexagon")


@dataclass
class ExperimentResult:
    """Records of a simulated comparison, with its summary and figure."""

    records: list[dict]
    references: list[dict]
    params: dict = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """One row per strategy; see :func:`summarise`."""
        return summarise(self.records, self.references)

    def summary_markdown(self) -> str:
        """The summary as a markdown table, headed by what a run was (queries, start, folds).

        F1@n columns are shown for the numbers of labels in :data:`SUMMARY_AT` that the runs
        reached (a run of 40 queries has no F1@50)."""
        rows = self.summary()
        p = self.params
        lines = []
        if "queries" in p:
            lines += [f"{p['queries']} queries per run after a start of "
                      f"{p.get('start', '1 positive + 1 negative')}; F1@n = test F1 at the "
                      "validation-tuned threshold with n labels (start included); "
                      f"folds: {p.get('fold_pairs', '')}"
                      + ("; mean F1 ± the standard deviation over seeds of each seed's mean F1"
                         if len(p.get("seeds", ())) > 1 else ""), ""]
        at = [n for n in SUMMARY_AT if any(r[f"f1_at_{n}"] is not None for r in rows)]
        head = ("| strategy | mean F1 | max F1 (labels) | "
                + "".join(f"F1@{n} | " for n in at) + "positive queries | reference F1 |")
        lines += [head, "|" + "---|" * (5 + len(at))]
        for r in rows:
            cells = "".join(("" if r[f"f1_at_{n}"] is None else f"{r[f'f1_at_{n}']:.3f}") + " | "
                            for n in at)
            sd = "" if r["mean_f1_seed_sd"] is None else f" ± {r['mean_f1_seed_sd']:.3f}"
            lines.append(f"| {r['strategy']} | {r['mean_f1']:.3f}{sd} | {r['max_f1']:.3f} "
                         f"({r['max_f1_labels']}) | {cells}{r['positive_query_share']:.1%} | "
                         f"{r['reference_f1']:.3f} |")
        return "\n".join(lines)

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        """Write ``records.csv``, ``summary.csv`` and ``summary.md``; return their paths."""
        return write_tables(folder, {"records": self.records, "summary": self.summary(),
                                     "references": self.references}, self.summary_markdown())

    @classmethod
    def read_csv(cls, folder: str | Path, params: dict | None = None) -> "ExperimentResult":
        """The records and references that :meth:`to_csv` wrote, to summarise or plot again.

        Examples
        --------
        >>> import tempfile
        >>> res = ExperimentResult([dict(target="t", strategy="lc", fold="1", seed=0,
        ...                              iteration=0, n_labels=2, f1=0.5, threshold=0.5,
        ...                              query_positive=True, n_pseudo=0, picked=7)],
        ...                        [dict(target="t", fold="1", seed=0, n_labels=9, f1=0.8,
        ...                              threshold=0.4)])
        >>> folder = tempfile.mkdtemp()
        >>> _ = res.to_csv(folder)
        >>> ExperimentResult.read_csv(folder).records == res.records
        True
        """
        import csv

        def typed(row: dict) -> dict:
            out = {}
            for k, v in row.items():
                if k in ("seed", "iteration", "n_labels", "n_pseudo", "picked"):
                    out[k] = int(v) if v != "" else None
                elif k in ("f1", "threshold"):
                    out[k] = float(v) if v != "" else None
                elif k == "query_positive":
                    out[k] = None if v == "" else v == "True"
                else:
                    out[k] = v
            return out

        folder = Path(folder)
        with open(folder / "records.csv", newline="") as fh:
            records = [typed(r) for r in csv.DictReader(fh)]
        references = []
        if (folder / "references.csv").exists():
            with open(folder / "references.csv", newline="") as fh:
                references = [typed(r) for r in csv.DictReader(fh)]
        return cls(records, references, dict(params or {}))

    def figure(self):
        """Plotly learning curves: mean F1 ± std per strategy against labels used.

        Each strategy has its own colour, dash and marker, so curves that coincide stay
        visible; the reference (the model trained on the whole pool) is a dashed grey line
        named in the legend.
        """
        import plotly.graph_objects as go

        fig = go.Figure()
        for i, (strategy, n, mean, std) in enumerate(curves(self.records)):
            colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
            fig.add_trace(go.Scatter(x=np.r_[n, n[::-1]], y=np.r_[mean + std, (mean - std)[::-1]],
                                     fill="toself", fillcolor=colour, opacity=0.15,
                                     line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=strategy))
            fig.add_trace(go.Scatter(
                x=n, y=mean, name=strategy, legendgroup=strategy, mode="lines+markers",
                line=dict(color=colour, width=2, dash=CURVE_DASHES[i % len(CURVE_DASHES)]),
                marker=dict(symbol=CURVE_MARKERS[i % len(CURVE_MARKERS)], size=7,
                            maxdisplayed=12)))
        if self.references:
            ref = float(np.mean([r["f1"] for r in self.references]))
            lo, hi = min(r["n_labels"] for r in self.records), max(r["n_labels"] for r in self.records)
            fig.add_trace(go.Scatter(x=[lo, hi], y=[ref, ref], mode="lines",
                                     name=f"reference: whole pool ({ref:.2f})", hoverinfo="name",
                                     line=dict(color="#555555", width=1.5, dash="dash")))
        fig.update_layout(xaxis_title="labels used",
                          yaxis_title="test F1 (threshold tuned on validation)",
                          yaxis_range=[0, 1.02], template="plotly_white",
                          title="Learning curves (mean ± std)",
                          legend=dict(title="strategy", orientation="v", x=1.02, y=1))
        return fig

    def save_figure(self, path: str | Path) -> Path:
        """Save the learning curves as a self-contained HTML file (works offline)."""
        path = Path(path)
        self.figure().write_html(path, include_plotlyjs=True)
        return path


def write_tables(folder: str | Path, tables: dict[str, list[dict]], summary_md: str) -> dict[str, Path]:
    """Write each table as ``NAME.csv`` and the summary as ``summary.md``; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in tables.items():
        paths[name] = folder / f"{name}.csv"
        with open(paths[name], "w", newline="") as fh:
            if rows:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    paths["summary_md"] = folder / "summary.md"
    paths["summary_md"].write_text(summary_md + "\n")
    return paths


def curves(records: list[dict]):
    """Per strategy: (name, labels, mean F1, std F1) over targets, folds and seeds."""
    by: dict[str, dict[int, list[float]]] = {}
    for r in records:
        by.setdefault(r["strategy"], {}).setdefault(r["n_labels"], []).append(r["f1"])
    for strategy, curve in by.items():
        n = np.array(sorted(curve))
        vals = [np.asarray(curve[k]) for k in n]
        yield strategy, n, np.array([v.mean() for v in vals]), np.array([v.std() for v in vals])


def summarise(records: list[dict], references: list[dict]) -> list[dict]:
    """Per strategy: mean F1, max F1 and when, F1 at 10/25/50/100 labels, positive share.

    F1 values are means over targets, folds and seeds at each number of labels;
    "mean F1" averages that curve over all fits. With several seeds, ``mean_f1_seed_sd`` is
    the sample standard deviation (ddof=1) over seeds of each seed's own mean F1 (how much a
    table row moves with the random start and forest seeds); None with one seed.
    """
    ref = float(np.mean([r["f1"] for r in references])) if references else float("nan")
    per_seed: dict[str, list[float]] = {}
    for seed in sorted({r.get("seed", 0) for r in records}):
        for strategy, _, mean, _ in curves([r for r in records if r.get("seed", 0) == seed]):
            per_seed.setdefault(strategy, []).append(float(mean.mean()))
    out = []
    for strategy, n, mean, _ in curves(records):
        q = [r["query_positive"] for r in records
             if r["strategy"] == strategy and r["query_positive"] is not None]
        best = int(np.argmax(mean))
        seeds = per_seed.get(strategy, [])
        row = {"strategy": strategy, "mean_f1": float(mean.mean()),
               "mean_f1_seed_sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else None,
               "max_f1": float(mean[best]), "max_f1_labels": int(n[best])}
        for k in SUMMARY_AT:
            row[f"f1_at_{k}"] = float(mean[n == k][0]) if (n == k).any() else None
        row["positive_query_share"] = float(np.mean(q)) if q else float("nan")
        row["reference_f1"] = ref
        out.append(row)
    return out



@dataclass
class BatchResult:
    """Per-iteration records of a batch experiment."""

    records: list[dict]
    params: dict = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """Per strategy: accuracy and macro-F1 (mean over folds and seeds) at each label count."""
        out = []
        for s in dict.fromkeys(r["strategy"] for r in self.records):
            rows = [r for r in self.records if r["strategy"] == s]
            for n in sorted({r["n_labels"] for r in rows}):
                at = [r for r in rows if r["n_labels"] == n]
                out.append({"strategy": s, "n_labels": n,
                            "accuracy": float(np.mean([r["accuracy"] for r in at])),
                            "macro_f1": float(np.mean([r["macro_f1"] for r in at]))})
        return out

    def summary_markdown(self) -> str:
        rows = self.summary()
        counts = sorted({r["n_labels"] for r in rows})
        lines = ["| strategy | " + " | ".join(f"{n} labels" for n in counts) + " |",
                 "|---|" + "---|" * len(counts)]
        for s in dict.fromkeys(r["strategy"] for r in rows):
            cells = {r["n_labels"]: r for r in rows if r["strategy"] == s}
            lines.append(f"| {s} | " + " | ".join(
                f"{cells[n]['accuracy']:.3f} / {cells[n]['macro_f1']:.3f}" if n in cells else ""
                for n in counts) + " |")
        return "accuracy / macro-F1\n\n" + "\n".join(lines)

    def to_csv(self, folder) -> dict:
        """Write ``records.csv``, ``summary.csv`` and ``summary.md``; return their paths."""
        return write_tables(folder, {"records": self.records, "summary": self.summary()},
                            self.summary_markdown())


