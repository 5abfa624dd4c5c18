"""The deployment: which nodes record where, from a small YAML or CSV file.

YAML (``sources`` and ``node_types`` are optional; a node's ``paths`` are the folders or
object prefixes its recordings are uploaded to: ingest gives their files that node when
their names do not)::

    sources:
      - {name: port, latitude: 43.36, longitude: -8.39, description: industrial port}
    node_types:
      - {name: audiomoth, description: AudioMoth 1.2, 48 kHz}
    nodes:
      - name: n1
        type: audiomoth
        source: port
        location: quay 3, crane 2
        latitude: 43.361
        longitude: -8.392
        sample_rate: 48000
        gain_db: 30
        installed_at: 2024-05-01T08:00:00
        removed_at:              # still recording
        file_seconds: 10         # one file every 10 s ...
        duty_cycle: 1.0          # ... recording all the time (0.5: half of it)
        paths: [s3://port-archive/n1]

CSV: one row per node with the node fields above as columns (``name`` required; ``paths``
separated by ``;``).

Names are text as written: in YAML, ``name``, ``type``, ``source``, ``location`` and
``description`` keep their characters (``01`` stays "01", never the number 1 or, for
``010``, the octal 8); a name that is not one value (a list, a mapping) is refused.

A local folder in ``paths`` is stored resolved (``os.path.realpath``; a relative one from
the deployment file's folder), as ingest stores the files in it. A URL with credentials in
it (``s3://KEY:SECRET@bucket/...``) is refused: they come from the environment or a profile.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path

from ..store import NodeInfo, Store
from ..store.audios import check_no_credentials, is_url

__all__ = ["Deployment", "DeploymentError", "apply_deployment", "load_deployment"]

_NODE_FIELDS = {f.name for f in fields(NodeInfo)} - {"node_type"} | {"type", "paths"}
_FLOATS = {"latitude", "longitude", "gain_db", "file_seconds", "duty_cycle"}
_TIMES = {"installed_at", "removed_at"}


class DeploymentError(ValueError):
    """A deployment file that cannot be used; the message names the file, the node and the
    field, and what to do."""


@dataclass(frozen=True)
class Deployment:
    """Nodes, sources, node types and each node's folders or object prefixes."""

    nodes: list[NodeInfo]
    sources: list[dict] = field(default_factory=list)
    node_types: list[dict] = field(default_factory=list)
    paths: list[tuple[str, str]] = field(default_factory=list)  # (folder or prefix, node)


def load_deployment(path: str | Path) -> Deployment:
    """Read and check a deployment file (``.yaml``/``.yml`` or ``.csv``).

    Raises
    ------
    DeploymentError
        Naming the file, the node and the field: an unknown field, a missing or repeated
        name, a value that is not a number or an ISO time, a removal before the
        installation, a duty cycle outside (0, 1].

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "nodes.csv")
    >>> _ = open(path, "w").write("name,type,sample_rate,installed_at,paths\\n"
    ...                           "n1,audiomoth,48000,2024-05-01,s3://port/n1\\n")
    >>> d = load_deployment(path)
    >>> d.nodes[0].sample_rate, d.nodes[0].installed_at, d.paths
    (48000, '2024-05-01T00:00:00', [('s3://port/n1', 'n1')])
    """
    path = Path(path)
    if not path.is_file():
        raise DeploymentError(f"{str(path)!r}: no such deployment file")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        raw = _read_yaml(path)
    elif suffix == ".csv":
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = [{k.strip(): (v.strip() if isinstance(v, str) else v)
                         for k, v in r.items() if k is not None} for r in csv.DictReader(f)]
        except UnicodeDecodeError as exc:
            raise DeploymentError(_not_utf8(path, exc)) from None
        for r in rows:
            r["paths"] = [p.strip() for p in (r.get("paths") or "").split(";") if p.strip()]
        raw = {"nodes": rows}
    else:
        raise DeploymentError(f"{str(path)!r}: a deployment is a .yaml, .yml or .csv file")
    where = str(path)
    nodes, paths, seen = [], [], set()
    for i, row in enumerate(raw.get("nodes") or []):
        node = _node(row, f"{where}: node {i + 1}")
        if node.name in seen:
            raise DeploymentError(f"{where}: node {node.name!r} is described twice; keep one")
        seen.add(node.name)
        nodes.append(node)
        paths += [(p, node.name) for p in _paths(row.get("paths"), path.parent,
                                                 f"{where}: node {node.name!r}: paths")]
    if not nodes:
        raise DeploymentError(f"{where}: describes no node; list them under 'nodes:' (YAML) "
                              "or one per row (CSV)")
    sources = [_named(r, f"{where}: source", {"name", "latitude", "longitude", "description"})
               for r in raw.get("sources") or []]
    types = [_named(r, f"{where}: node type", {"name", "description"})
             for r in raw.get("node_types") or []]
    return Deployment(nodes, sources, types, paths)


def apply_deployment(store: Store, deployment: Deployment | str | Path) -> Deployment:
    """Write a deployment (or a deployment file) to the store in one transaction: its
    sources, node types, nodes and paths. Nodes ingest met before keep their recordings.

    Examples
    --------
    >>> from alwidget.store import NodeInfo, Store
    >>> store = Store(":memory:")
    >>> _ = apply_deployment(store, Deployment([NodeInfo("n1", gain_db=30.0)]))
    >>> store.nodes_info()[0].gain_db
    30.0
    """
    if not isinstance(deployment, Deployment):
        deployment = load_deployment(deployment)
    store.put_deployment(deployment.nodes, sources=deployment.sources,
                         node_types=deployment.node_types, paths=deployment.paths)
    return deployment


def _paths(value, folder: Path, where: str) -> list[str]:
    """A node's ``paths``: a list of folders or URLs (one alone may be a string); local
    folders resolved (``os.path.realpath``, relative to the deployment file's folder) as
    ingest stores its files; URLs with credentials in them refused."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise DeploymentError(f"{where}={value!r} must be a folder or object prefix, or a "
                              "list of them, e.g. [s3://port-archive/n1, /data/n1]")
    out = []
    for p in (p.strip() for p in value):
        try:
            check_no_credentials(p, f"{where}: ")
        except ValueError as exc:
            raise DeploymentError(str(exc)) from None
        if is_url(p):
            out.append(p.rstrip("/"))
        else:
            out.append(os.path.realpath(folder / os.path.expanduser(p)))
    return out


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    return (f"{str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet)")


#: YAML fields read as the text written (a node "01" is not the number 1).
_TEXT_FIELDS = {"name", "type", "source", "location", "description"}


def _text_loader(yaml):
    """A safe YAML loader that keeps the plain values of :data:`_TEXT_FIELDS` as written."""

    class TextNames(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            out = super().construct_mapping(node, deep=deep)
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in _TEXT_FIELDS and \
                        isinstance(value, yaml.ScalarNode) and \
                        value.tag != "tag:yaml.org,2002:null":
                    out[key.value] = value.value
            return out

    return TextNames


def _read_yaml(path: Path) -> dict:
    try:
        import yaml
    except ImportError:
        raise ImportError("reading a YAML deployment needs PyYAML: pip install pyyaml (or "
                          "write the deployment as CSV)") from None
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_text_loader(yaml))
    except UnicodeDecodeError as exc:
        raise DeploymentError(_not_utf8(path, exc)) from None
    except yaml.YAMLError as exc:
        raise DeploymentError(f"{str(path)!r} is not valid YAML: "
                              f"{' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise DeploymentError(f"{str(path)!r}: expected a mapping with 'nodes:' (and "
                              "optionally 'sources:' and 'node_types:')")
    unknown = set(raw) - {"nodes", "sources", "node_types"}
    if unknown:
        raise DeploymentError(f"{str(path)!r}: unknown section(s) {sorted(unknown)}; "
                              "known: nodes, sources, node_types")
    return raw


def _named(row, where: str, known: set[str]) -> dict:
    if not isinstance(row, dict):
        raise DeploymentError(f"{where}: {row!r} must be a mapping with a name")
    unknown = set(row) - known
    if unknown:
        raise DeploymentError(f"{where} {row.get('name')!r}: unknown field(s) {sorted(unknown)}"
                              f"; known: {', '.join(sorted(known))}")
    if not isinstance(row.get("name"), str) or not row["name"].strip():
        raise DeploymentError(f"{where}: every entry needs a name")
    out = {k: row.get(k) for k in known}
    for k in ("latitude", "longitude"):
        if k in known:
            out[k] = _number(out[k], f"{where} {row['name']!r}: {k}")
    return out


def _node(row, where: str) -> NodeInfo:
    if not isinstance(row, dict):
        raise DeploymentError(f"{where}: {row!r} must be a mapping of node fields")
    unknown = set(row) - _NODE_FIELDS
    if unknown:
        raise DeploymentError(f"{where}: unknown field(s) {sorted(unknown)}; known: "
                              f"{', '.join(sorted(_NODE_FIELDS))}")
    name = row.get("name")
    if name is None or not str(name).strip():
        raise DeploymentError(f"{where}: has no name; every node needs one (as in its files' "
                              "names or folders)")
    if not isinstance(name, str):
        raise DeploymentError(f"{where}: name={name!r} must be one name as text, e.g. "
                              "name: '01'")
    name = name.strip()
    where = f"{where.rsplit(': ', 1)[0]}: node {name!r}"
    values = {}
    for key in _NODE_FIELDS - {"name", "paths", "type"}:
        value = row.get(key)
        if value in ("", None):
            values[key] = None
        elif key in _FLOATS:
            values[key] = _number(value, f"{where}: {key}")
        elif key == "sample_rate":
            rate = _number(value, f"{where}: sample_rate")
            if rate <= 0 or rate != int(rate):
                raise DeploymentError(f"{where}: sample_rate={value!r} must be a whole number "
                                      "of Hz > 0, e.g. 48000")
            values[key] = int(rate)
        elif key in _TIMES:
            values[key] = _time(value, f"{where}: {key}")
        else:
            values[key] = str(value)
    if values["installed_at"] and values["removed_at"] and \
            values["removed_at"] <= values["installed_at"]:
        raise DeploymentError(f"{where}: removed_at={values['removed_at']} must come after "
                              f"installed_at={values['installed_at']}")
    if values["duty_cycle"] is not None and not 0 < values["duty_cycle"] <= 1:
        raise DeploymentError(f"{where}: duty_cycle={values['duty_cycle']!r} must be in (0, 1] "
                              "(the share of the time it records)")
    if values["file_seconds"] is not None and values["file_seconds"] <= 0:
        raise DeploymentError(f"{where}: file_seconds={values['file_seconds']!r} must be > 0")
    kind = row.get("type")
    if kind is not None and not isinstance(kind, str) or \
            row.get("source") is not None and not isinstance(row.get("source"), str):
        raise DeploymentError(f"{where}: type and source must be names as text, e.g. "
                              "type: audiomoth")
    return NodeInfo(name=name, node_type=None if kind in ("", None) else str(kind), **values)


def _number(value, where: str) -> float | None:
    if value in ("", None):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out):
        raise DeploymentError(f"{where}={value!r} is not a finite number")
    return out


def _time(value, where: str) -> str:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat() if value.tzinfo is None else \
            value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat()
    try:
        return datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise DeploymentError(f"{where}={value!r} is not an ISO 8601 time; write e.g. "
                              "2024-05-01T08:00:00") from None
