"""The team's ontology: the AudioSet ontology to start from, browsed by hierarchy and searched
by name; classes the labelers suggest join it once accepted.

A copy of the AudioSet ontology (CC BY-SA 4.0, Google Inc.; see ``audioset/LICENSE.md``
beside this module) ships with alwidget, so a project needs no download.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..store import Store

__all__ = ["AUDIOSET_ONTOLOGY", "load_audioset_ontology", "ontology_children",
           "search_ontology"]

#: The AudioSet ontology shipped with alwidget (its license notice is beside it).
AUDIOSET_ONTOLOGY = Path(__file__).with_name("audioset") / "ontology.json"


def load_audioset_ontology(store: Store, path: str | os.PathLike | None = None) -> int:
    """Add the AudioSet ontology's classes to the store's ontology, parents first (a class
    with several parents is placed under the first one met from the roots); return how many
    tags were new. Running it again adds nothing.

    Parameters
    ----------
    store : Store
    path : path, optional
        An ``ontology.json`` (default: the copy shipped with alwidget).

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> load_audioset_ontology(store)
    632
    >>> [e["parent"] for e in store.ontology_entries() if e["tag"] == "Bird vocalization, bird call, bird song"]
    ['Bird']
    """
    path = Path(path) if path is not None else AUDIOSET_ONTOLOGY
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        by_id = {e["id"]: e for e in entries}
        children = {e["id"]: list(e.get("child_ids", [])) for e in entries}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file; give the AudioSet ontology.json "
                                "(or no path for the copy shipped with alwidget)") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: not the AudioSet ontology (a JSON list of entries with id, "
                         f"name and child_ids): {exc}") from None
    child_ids = {c for kids in children.values() for c in kids}
    order, parent = [], {}
    queue = [i for i in by_id if i not in child_ids]
    seen = set(queue)
    while queue:  # breadth first: every parent before its children
        node = queue.pop(0)
        order.append(node)
        for kid in children[node]:
            if kid in by_id and kid not in seen:
                seen.add(kid)
                parent[kid] = node
                queue.append(kid)
    rows = [(by_id[i]["name"], by_id[parent[i]]["name"] if i in parent else None, i,
             by_id[i].get("description")) for i in order]
    return store.add_ontology(rows)


def ontology_children(store: Store) -> dict[str | None, list[str]]:
    """The ontology as a tree: parent tag (None for the roots) -> its children's tags, in
    the order added (for browsing by hierarchy).

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> _ = load_audioset_ontology(store)
    >>> ontology_children(store)[None][:3]
    ['Human sounds', 'Animal', 'Music']
    """
    tree: dict[str | None, list[str]] = {}
    for e in store.ontology_entries():
        tree.setdefault(e["parent"], []).append(e["tag"])
    return tree


def search_ontology(store: Store, text: str, limit: int = 20, *,
                    tags: list[str] | None = None) -> list[str]:
    """Tags whose name holds ``text`` (case-insensitive): names that start with it first,
    then shorter names, then by name.

    Parameters
    ----------
    store : Store
    text : str
    limit : int, default 20
    tags : list of str, optional
        Search only these (e.g. the tags selectable in a round).

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> _ = load_audioset_ontology(store)
    >>> search_ontology(store, "owl")
    ['Owl', 'Fowl', 'Howl', 'Growling', 'Howl (wind)', 'Singing bowl']
    """
    needle = str(text).strip().lower()
    names = tags if tags is not None else store.tags()
    if not needle:
        return list(names[:limit])
    hits = [t for t in names if needle in t.lower()]
    hits.sort(key=lambda t: (not t.lower().startswith(needle), len(t), t))
    return hits[:int(limit)]
