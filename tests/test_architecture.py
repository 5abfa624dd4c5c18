"""The architecture holds in the code: allowed imports only, no private or cyclic imports.

DEVELOPERS.md's table says which parts of alwidget each part may import (data flows one
way: files → clips → features → store → learner + strategy → loop core → session → widgets).
These tests read every module's imports (nested ones too) with ``ast``.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import alwidget

PACKAGE = Path(alwidget.__file__).parent

#: Part of alwidget -> the parts it may import (DEVELOPERS.md's table). A part is a
#: subpackage or a top-level module; ``cli`` and the package ``__init__`` may import anything.
ALLOWED = {
    "store": set(),
    "audio": set(),
    "ingestion": {"store"},
    "features": {"store", "audio"},
    "tagger": {"store"},
    "demo": set(),
    "distances": set(),
    "uncertainty": set(),
    "learn": {"distances", "uncertainty"},
    "strategies": {"distances", "uncertainty"},
    "loop": {"learn", "strategies", "distances"},
    "experiment": {"loop", "learn", "strategies"},
    "projections": {"store"},
    "session": {"store", "audio", "loop", "learn", "strategies", "projections", "tagger",
                "model_file", "search"},
    "widgets": {"session", "audio", "search", "team", "nodes"},
    "nodes": {"store"},
    "exchange": {"store", "nodes"},  # the shared node and time filter (clips_where)
    "model_file": {"store", "learn"},
    "search": {"store", "features", "audio", "distances"},
    "detect": {"store", "features", "model_file", "exchange"},
    "team": {"store", "loop", "learn", "strategies", "tagger", "session", "projections"},
    "datasets": {"store", "ingestion", "features"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(line, imported module, imported names) of every import in ``path``, nested ones too."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            yield node.lineno, target, [a.name for a in node.names]


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str, names: list[str], modules: dict) -> list[str]:
    """The alwidget modules an import loads ("from . import x" may name a submodule)."""
    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
    return subs or ([target] if target in modules else [])


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_every_part_imports_only_what_the_architecture_allows():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        part = _part(name)
        if part in ("", "cli"):
            continue
        assert part in ALLOWED, f"{name}: add its part {part!r} to ALLOWED and DEVELOPERS.md"
        for line, target, names in _imports(path):
            for used in _resolve(target, names, modules):
                other = _part(used)
                if other not in ("", part) and other not in ALLOWED[part]:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {used}")
    assert wrong == [], "imports the architecture does not allow:\n" + "\n".join(wrong)


def test_no_module_imports_a_private_name_of_another_module():
    found = []
    for path in _modules().values():
        for line, target, names in _imports(path):
            bad = [n for n in names if _private(n)] + [p for p in target.split(".") if _private(p)]
            if bad and target != "__future__":
                found.append(f"{path.relative_to(PACKAGE)}:{line} {target} {bad}")
    assert found == [], "private names imported across modules:\n" + "\n".join(found)


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = {name: {m for _, t, ns in _imports(path) for m in _resolve(t, ns, modules)} - {name}
             for name, path in modules.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}

    def cycle_from(start, node, seen):
        for nxt in graph[node]:
            if nxt == start:
                return [node, nxt]
            if nxt not in seen:
                seen.add(nxt)
                rest = cycle_from(start, nxt, seen)
                if rest:
                    return [node] + rest
        return None

    cycles = [c for m in graph if (c := cycle_from(m, m, {m}))]
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(_modules())
    assert "alwidget.features.distributed" in names
    code = ("import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    for m in [k for k in sys.modules if k.startswith('alwidget')]:\n"
            "        del sys.modules[m]\n"
            "    importlib.import_module(name)\n")
    names = sorted(names, key=lambda n: n != "alwidget.features.distributed")  # that first
    # one interpreter; before each module, every alwidget module is forgotten, so each is
    # imported as if alone (numpy and the other libraries stay loaded: they are not ours)
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"a module fails to import alone:\n{done.stderr[-2000:]}"
