"""The core imports no framework: every bench/ module imports with torch and TF blocked."""

import subprocess
import sys

from common import REPO

BLOCKER = r"""
import importlib, importlib.abc, pkgutil, sys

BLOCKED = {"torch", "torchvision", "tensorflow", "keras", "jax"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"framework import blocked in the core: {name}")
        return None

sys.meta_path.insert(0, Block())
import bench
names = [m.name for m in pkgutil.walk_packages(bench.__path__, "bench.") if not m.name.endswith("__main__")]
for n in names:
    importlib.import_module(n)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print(len(names))
"""


def test_every_bench_module_imports_without_frameworks():
    out = subprocess.run([sys.executable, "-c", BLOCKER], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 10  # all modules were walked, not none


def test_blocker_really_blocks():
    code = BLOCKER.replace("import bench\n", "import bench\nimport backends.torch\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and "blocked" in out.stderr


def test_no_framework_import_statements_in_bench():
    import re

    pat = re.compile(r"^\s*(import|from)\s+(torch|tensorflow|keras|torchvision)\b", re.M)
    hits = [str(p) for p in (REPO / "bench").rglob("*.py") if pat.search(p.read_text())]
    assert hits == []
