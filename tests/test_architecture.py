"""ARCHITECTURE.md stays true: every module of the package is in its map and in a layer, every module it names
exists, no module imports a later layer (lazy imports inside functions included), and no import cycle exists.

The layer order is read from the table in ARCHITECTURE.md ("| n | layer | path | job |"), so the document and the
check cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "simstats"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _layers() -> list[tuple[int, str, str]]:
    """(order, layer, path prefix) rows of the layer table in ARCHITECTURE.md (a row may name several paths)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([\w-]+)\s*\|([^|]*)\|", text, flags=re.M)
    assert rows, "ARCHITECTURE.md has no layer table (| n | layer | `path` | job |)"
    return [(int(n), name, path) for n, name, cell in rows for path in re.findall(r"`(simstats[\w/.]*)`", cell)]


def _layer_of(module: str, layers) -> tuple[int, str] | None:
    """The layer of ``module``: a row naming its file (``x.py``, ``pkg/__init__.py``) or, else, the row whose folder
    is the longest prefix of its path."""
    path = module.replace(".", "/")
    best = None
    for n, name, prefix in layers:
        if prefix.endswith(".py"):
            exact = prefix.removesuffix("/__init__.py").removesuffix(".py")
            if path == exact:
                return n, name
            continue
        p = prefix.rstrip("/")
        if (path == p or path.startswith(p + "/")) and (best is None or len(p) > best[2]):
            best = (n, name, len(p))
    return None if best is None else best[:2]


def _imports(path: Path, modules: dict[str, Path], *, unknown: set[str] | None = None) -> set[str]:
    """simstats modules a file imports (at the top or inside functions): ``from a.b import c`` names ``a.b.c``
    when that is a module, else ``a.b``. Imports of simstats modules that do not exist (such as the deprecated
    aliases of :mod:`simstats._compat`) are added to ``unknown``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "simstats"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "simstats":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in modules else node.module)
    if unknown is not None:
        unknown |= {m for m in out if m not in modules}
    return {m for m in out if m in modules}


def test_every_module_is_mapped():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    files = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]
    missing = [m for m in files if m not in text]
    assert not missing, f"add these modules to ARCHITECTURE.md: {missing}"


def test_mapped_modules_exist():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`(simstats/[\w/]+\.py)`", text))
    assert named, "ARCHITECTURE.md names no modules"
    gone = [m for m in named if not (ROOT / m).exists()]
    assert not gone, f"ARCHITECTURE.md names modules that do not exist: {gone}"


def test_every_module_is_in_a_layer():
    layers = _layers()
    orphans = [m for m in _modules() if _layer_of(m, layers) is None]
    assert not orphans, f"modules in no layer of ARCHITECTURE.md's table: {orphans}"


def test_imports_follow_the_layer_order():
    """A module imports only its own layer and the layers before it, lazily or not."""
    layers, modules = _layers(), _modules()
    bad = []
    for m, path in modules.items():
        here = _layer_of(m, layers)
        for target in _imports(path, modules):
            there = _layer_of(target, layers)
            if there[0] > here[0]:
                bad.append(f"{m} (layer {here[1]}) imports {target} (later layer {there[1]})")
    assert not bad, "\n".join(bad)


def test_the_library_imports_no_deprecated_alias():
    """Library code names modules by their real paths (an alias would hide an import from the layer check)."""
    modules = _modules()
    bad = {}
    for m, path in modules.items():
        unknown: set[str] = set()
        _imports(path, modules, unknown=unknown)
        if unknown and m != "simstats._compat":
            bad[m] = sorted(unknown)
    assert not bad, f"imports of modules that do not exist (old paths?): {bad}"


def test_no_import_cycle():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    state: dict[str, int] = {}            # 1 on the stack, 2 done
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_check_catches_a_layer_violation(tmp_path):
    """The import reader sees a lazy import inside a function (what hid the old builders/degradation cycle)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from simstats.report.text import sentences\n    return sentences\n")
    modules = _modules()
    assert _imports(f, modules) == {"simstats.report.text"}
    layers = _layers()
    assert _layer_of("simstats.report.text", layers)[0] > _layer_of("simstats.graph.design", layers)[0]
