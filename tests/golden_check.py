"""The golden-output check shared by test_torch_golden.py and test_keras_golden.py.

On the machine the golden files were written on, a run reproduces them byte for byte. On
another CPU the frameworks pick other kernels (oneDNN and the BLAS choose code by the
instruction set), whose float sums round differently: losses differ in the 7th digit from
the third update, and training, being chaotic, amplifies that to whole percent by the end.
So where the bytes differ, the check falls back to what no kernel choice can change and a
changed harness would: every row's step, epoch, learning rate and momentum exactly (the
schedule), the first ``EARLY`` updates' loss within ``LOSS_RTOL`` and batch accuracy
exactly (batch order, augmentation draws, initial weights, the update rule), the
evaluation at update 0 (the evaluation subset), the evaluations' steps and splits, and the
summary's structure (status, step counts, checkpoints, which keys).
"""

import csv
import difflib
import io
import json
import subprocess
import sys
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO / "tests" / "golden"))
import golden  # noqa: E402

EARLY = 8  # updates whose numbers are compared across machines (kernel noise there: <= 1e-5 relative)
LOSS_RTOL = 1e-4
# summary keys that are counts or states, not results of float arithmetic
SUMMARY_EXACT = ("backend", "kind", "run_id", "schema", "status", "steps_done", "total_steps", "steps_per_epoch",
                 "warmup_steps", "checkpoint_step", "diverged_at", "exploded_at", "resumed_from")


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _loss_acc(row: dict) -> tuple[str, str]:
    """An evals.csv row's loss and accuracy (records schema 2: loss, acc; 1: test_loss, test_acc)."""
    return row.get("loss", row.get("test_loss")), row.get("acc", row.get("test_acc"))


def _close(a: str, b: str, rtol: float) -> bool:
    x, y = float(a), float(b)
    return abs(x - y) <= rtol * max(abs(x), abs(y), 1e-12)


def disagreements(name: str, want: str, got: str) -> list[str]:
    """What differs between two canonical files beyond kernel rounding ([] if nothing)."""
    bad: list[str] = []
    if name == "summary.json":
        w, g = json.loads(want), json.loads(got)
        if set(w) != set(g):
            bad.append(f"keys differ: {sorted(set(w) ^ set(g))}")
        bad += [f"{k}: {w.get(k)!r} != {g.get(k)!r}" for k in SUMMARY_EXACT if w.get(k) != g.get(k)]
        if set(w.get("targets") or {}) != set(g.get("targets") or {}):
            bad.append("targets differ")
        return bad
    w, g = _rows(want), _rows(got)
    if len(w) != len(g) or (w and list(w[0]) != list(g[0])):
        return [f"{len(w)} rows with columns {list(w[0]) if w else []} != {len(g)} with {list(g[0]) if g else []}"]
    exact = ("step", "epoch", "lr", "momentum") if name == "steps.csv" else ("step", "epoch", "split")
    for i, (a, b) in enumerate(zip(w, g)):
        bad += [f"row {i} {c}: {a[c]} != {b[c]}" for c in exact if a[c] != b[c]]
        if name == "steps.csv" and i < EARLY:
            if not _close(a["train_loss"], b["train_loss"], LOSS_RTOL) or a["train_acc"] != b["train_acc"]:
                bad.append(f"update {i}: loss/acc {a['train_loss']}/{a['train_acc']} != {b['train_loss']}/{b['train_acc']}")
        if name == "evals.csv" and i == 0:
            (la, aa), (lb, ab) = _loss_acc(a), _loss_acc(b)
            if not _close(la, lb, LOSS_RTOL) or aa != ab:
                bad.append(f"first evaluation: {la}/{aa} != {lb}/{ab}")
    return bad


# what the failing golden test tells whoever changed the numbers on purpose
BUMP = ("If this change is meant to alter what {backend} training produces, in the same commit: add a version to "
        "backends/{backend}/numerics.yaml (version: N+1, since: the commit, what changed), regenerate the golden "
        "records (python tests/golden/golden.py {backend} --write) and put their fingerprint "
        "(python -m bench.records.numerics fingerprint tests/golden/{backend}) in that entry's golden. Runs made under "
        "the old version are then never pooled with new ones (docs/reproducing.md#numerics-versions). If it is "
        "not meant to, the change is a bug.")


def check(backend: str, tmp_path: Path) -> dict[str, str]:
    """Run the golden spec in a fresh process (no state from other tests: threads, seeds)
    and compare its clock-free records with the committed ones: file name -> ``identical``
    (byte for byte) or ``agrees`` (differs only by kernel rounding, as the module says)."""
    out = subprocess.run([sys.executable, str(REPO / "tests" / "golden" / "golden.py"), backend,
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    got, want = golden.canonical(run_dir), golden.expected(backend)
    result = {}
    for name in want:
        if got[name] == want[name]:
            result[name] = "identical"
            continue
        bad = disagreements(name, want[name], got[name])
        if bad:
            diff = "".join(list(difflib.unified_diff(want[name].splitlines(True), got[name].splitlines(True),
                                                     f"golden/{backend}/{name}", "this run"))[:40])
            raise AssertionError(f"{name} differs from the golden output beyond kernel rounding: "
                                 f"{'; '.join(bad[:5])}\n{diff}\n" + BUMP.format(backend=backend))
        result[name] = "agrees"
    return result
