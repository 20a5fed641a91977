"""The golden-output check shared by test_torch_golden.py and test_keras_golden.py."""

import difflib
import subprocess
import sys
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO / "tests" / "golden"))
import golden  # noqa: E402


def check(backend: str, tmp_path: Path) -> None:
    """Run the golden spec in a fresh process (no state from other tests: threads, seeds)
    and compare its clock-free records with the committed ones, byte for byte."""
    out = subprocess.run([sys.executable, str(REPO / "tests" / "golden" / "golden.py"), backend,
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    got, want = golden.canonical(run_dir), golden.expected(backend)
    for name in want:
        if got[name] != want[name]:
            diff = "".join(list(difflib.unified_diff(want[name].splitlines(True), got[name].splitlines(True),
                                                     f"golden/{backend}/{name}", "this run"))[:40])
            raise AssertionError(f"{name} differs from the golden output:\n{diff}")
