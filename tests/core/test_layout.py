"""The tree reads by its layers: docs/development.md's layout names every module and package
of bench/ where it is, and nothing that is not there; no module is over ~600 lines and no
function of the reading half (records, judging, cli) over ~80."""

import ast
import re

from common import REPO

MAX_MODULE_LINES = 620  # ~600: the records' module holds every record type and their reader
MAX_FUNCTION_LINES = 80
READING = ("records", "judging", "cli")


def _documented() -> set[str]:
    """bench/ paths the layout block names (``records/rundir.py``, ``judging/claims/``), from
    the indentation of each entry."""
    text = (REPO / "docs" / "development.md").read_text()
    block = text.split("## Layout of the tree", 1)[1].split("```", 2)[1]
    out, stack = set(), []
    for line in block.splitlines():
        m = re.match(r"^( *)([A-Za-z_][\w.-]*/?|[\w.-]+\.py)(?:, ([\w.-]+\.py))?\s", line + " ")
        if not m or line.startswith("bench/") or not line.startswith("  "):
            if line and not line.startswith(" "):
                stack = [] if not line.startswith("bench/") else stack
            continue
        depth = len(m.group(1)) // 2 - 1
        stack = stack[:depth]
        for name in filter(None, (m.group(2), m.group(3))):
            path = "/".join([*stack, name])
            out.add(path)
        if m.group(2).endswith("/"):
            stack.append(m.group(2).rstrip("/"))
    return out


def _in_tree() -> set[str]:
    bench = REPO / "bench"
    out = set()
    for p in bench.rglob("*.py"):
        rel = p.relative_to(bench)
        if "__pycache__" in rel.parts or p.name in ("__init__.py", "__main__.py"):
            continue
        parts = rel.parts
        if parts[0] in ("data", "cli") or (len(parts) > 2 and parts[1] in ("claims", "report")):
            continue  # packages described as a whole
        out.add("/".join(parts))
    for d in bench.rglob("*"):
        if d.is_dir() and (d / "__init__.py").is_file() and d != bench:
            out.add(str(d.relative_to(bench)) + "/")
    return out


def test_the_layout_names_the_tree():
    documented = {p for p in _documented() if p.endswith((".py", "/")) and not p.startswith("specs")}
    tree = _in_tree()
    assert not tree - documented, f"in bench/ but not in docs/development.md's layout: {sorted(tree - documented)}"
    missing = {p for p in documented - tree if not (REPO / "bench" / p).exists()}
    assert not missing, f"named in the layout but not in bench/: {sorted(missing)}"


def test_modules_and_functions_stay_small():
    big, long = [], []
    for p in (REPO / "bench").rglob("*.py"):
        text = p.read_text()
        rel = p.relative_to(REPO / "bench")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{rel}: {len(text.splitlines())} lines")
        if rel.parts[0] in READING:
            for f in ast.walk(ast.parse(text)):
                if isinstance(f, ast.FunctionDef) and f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES:
                    long.append(f"{rel}:{f.name}: {f.end_lineno - f.lineno + 1} lines")
    assert not big and not long, big + long


def test_layers_are_folders():
    for layer in ("records", "running", "rates", "grids", "judging"):
        assert (REPO / "bench" / layer / "__init__.py").is_file(), layer
    flat = sorted(p.name for p in (REPO / "bench").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "errors.py", "results.py"], flat


def test_readers_use_the_typed_spec_view():
    """The judging half reads a run's spec through run.head (bench/records/specview.py), not
    by raw dictionary look-ups that break silently when a key moves (the importers, which
    write specs, are the exception)."""
    raw = re.compile(r"""\bspec\[["']|\bspec\.get\(["']""")
    found = []
    for p in [*(REPO / "bench" / "judging").rglob("*.py"), REPO / "bench" / "results.py"]:
        if p.name == "importers.py":
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if raw.search(line):
                found.append(f"{p.relative_to(REPO)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)
