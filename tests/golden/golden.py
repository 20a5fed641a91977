"""Golden outputs: a run's records without anything that depends on the clock.

``python tests/golden/golden.py BACKEND --write`` runs the golden spec on one backend
(in this process: one framework only) and writes ``BACKEND/`` beside this file;
``canonical(run_dir)`` is what the golden tests compare with those files, exactly.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE / "spec.yaml"
# clock readings: they differ between any two runs
WALL_COLUMNS = ("wall_s", "train_wall_s", "eval_wall_s")
SUMMARY_TIMES = ("images_per_s", "train_s", "eval_s", "checkpoint_s", "warmup_s", "finished_at",
                 # the clock record (bench.running.clock): the machine's load, not the run's result
                 "cpu_s", "cpu_threads", "cpu_share", "involuntary_switches", "cpu_wait_s", "cpu_wait_share",
                 "gpu_util", "gpu_processes",
                 "contended")


def _csv_without_wall(path: Path) -> str:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keep = [i for i, c in enumerate(rows[0]) if c not in WALL_COLUMNS]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for r in rows:
        w.writerow([r[i] for i in keep])
    return out.getvalue()


def _summary_without_times(path: Path) -> str:
    s = json.loads(path.read_text())
    for k in SUMMARY_TIMES:
        s.pop(k, None)
    for hit in (s.get("targets") or {}).values():
        if isinstance(hit, dict):
            hit.pop("train_s", None)
    return json.dumps(s, indent=2, sort_keys=True) + "\n"


def canonical(run_dir: Path) -> dict[str, str]:
    """File name -> text: steps.csv and evals.csv without wall-clock columns, summary.json
    without times (floats as Python writes them: equal text means equal bits)."""
    run_dir = Path(run_dir)
    return {"steps.csv": _csv_without_wall(run_dir / "steps.csv"),
            "evals.csv": _csv_without_wall(run_dir / "evals.csv"),
            "summary.json": _summary_without_times(run_dir / "summary.json")}


def run_golden(backend: str, out: Path) -> Path:
    sys.path.insert(0, str(HERE.parent.parent))
    from bench.records import spec as S
    from bench.running import runner

    s = S.load(SPEC, sets=[f"backend={backend}"])
    run_dir, _, code = runner.run(s, out, progress=False)
    if code != 0:
        raise SystemExit(f"golden run ended with exit code {code}")
    return run_dir


def expected(backend: str) -> dict[str, str]:
    return {name: (HERE / backend / name).read_text() for name in ("steps.csv", "evals.csv", "summary.json")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("backend", choices=("torch", "keras"))
    p.add_argument("--write", action="store_true", help="write the fixtures (else: run into --out)")
    p.add_argument("--out", type=Path, help="results folder for the run (default: a temporary one)")
    args = p.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = run_golden(args.backend, args.out or Path(tmp))
        if args.write:
            dest = HERE / args.backend
            dest.mkdir(exist_ok=True)
            for name, text in canonical(run_dir).items():
                (dest / name).write_text(text)
            print(f"wrote {dest}")
        else:
            print(run_dir)


if __name__ == "__main__":
    main()
