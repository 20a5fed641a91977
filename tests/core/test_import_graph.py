"""No import cycle among the project's modules, counting imports made inside functions.

A cycle hidden in a function (``from bench.records.spec import x  # local: spec imports this
module``) still ties two modules together: neither can be read, tested or moved alone.
Edges are the imports written in each module (``import a.b``, ``from a.b import c`` where
``a.b.c`` is a module or a name in ``a.b``); importing a submodule also runs its
package's ``__init__``, which is not counted as an edge (else every package whose
``__init__`` re-exports a submodule would be a cycle).
"""

import ast
from pathlib import Path

from common import REPO

PACKAGES = ("bench", "backends")


def project_modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*.py"):
            parts = f.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
    return mods


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``path`` imports anywhere in its body."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import a.b.c` where only a.b is ours
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def graph() -> dict[str, set[str]]:
    mods = project_modules()
    return {m: imports_of(p, mods) - {m} for m, p in mods.items()}


def test_no_import_cycle():
    g = graph()
    found = cycles(g)
    detail = "\n".join(" <-> ".join(c) + ": " + "; ".join(f"{a} imports {sorted(g[a] & set(c))}" for a in c)
                       for c in found)
    assert not found, f"import cycles among the project's modules:\n{detail}"


def test_the_check_sees_cycles_inside_functions(tmp_path):
    """The detector itself: a cycle closed by an import inside a function is found."""
    a = tmp_path / "a.py"
    b = tmp_path / "b.py"
    a.write_text("import b\n")
    b.write_text("def f():\n    from a import x\n    return x\n")
    mods = {"a": a, "b": b}
    g = {m: imports_of(p, mods) for m, p in mods.items()}
    assert g == {"a": {"b"}, "b": {"a"}}
    assert cycles(g) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_backends_mirror_each_other_by_module_name():
    names = {pkg: sorted(p.stem for p in (REPO / "backends" / pkg).glob("*.py")) for pkg in ("torch", "keras")}
    assert names["torch"] == names["keras"]
    for m in ("networks", "optim", "augment", "trainer", "perf"):
        assert m in names["torch"], m
