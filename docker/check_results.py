"""What a run inside an image left on the host, checked (docker/check-images.sh calls it).

    python3 docker/check_results.py RESULTS --uid U --gid G --target torch \
        --commit C --lock-sha256 S [--base-digest D] [--suite-log runs/full/full-fashion-mnist-smoke.json ...]

RESULTS is the host folder that was mounted at /results. Checked: every file and folder in
it belongs to U:G (the user the container ran as); every run directory is complete (spec,
meta, summary, steps and evaluations; status completed, or diverged, which is a result; a
completed run did all its steps); each suite log names no failed cell; and each run's
meta.json records the image it ran in (target, commit, lock hash, base digest) and the
accelerator stack. Standard library only. Exit 0 when all holds, else 1 with one line per
problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

RUN_FILES = ("spec.yaml", "meta.json", "summary.json", "steps.csv", "evals.csv")


def check(results: Path, uid: int, gid: int, target: str, commit: str, lock_sha256: str,
          base_digest: str | None, suite_logs: list[str]) -> tuple[list[str], dict]:
    problems: list[str] = []
    stats = {"runs": 0, "completed": 0, "diverged": 0, "files": 0}
    for path in [results, *results.rglob("*")]:
        st = path.lstat()
        stats["files"] += 1
        if (st.st_uid, st.st_gid) != (uid, gid):
            problems.append(f"{path}: owned by {st.st_uid}:{st.st_gid}, not {uid}:{gid}")
    for meta_path in sorted(results.rglob("meta.json")):
        run = meta_path.parent
        stats["runs"] += 1
        missing = [f for f in RUN_FILES if not (run / f).is_file()]
        if missing:
            problems.append(f"{run}: incomplete, missing {', '.join(missing)}")
            continue
        summary = json.loads((run / "summary.json").read_text())
        status = summary.get("status")
        if status == "completed":
            stats["completed"] += 1
            if summary.get("steps_done") != summary.get("total_steps"):
                problems.append(f"{run}: completed after {summary.get('steps_done')} of {summary.get('total_steps')} steps")
        elif status == "diverged":
            stats["diverged"] += 1
        else:
            problems.append(f"{run}: status {status!r}")
        meta = json.loads(meta_path.read_text())
        image = meta.get("image") or {}
        want = {"target": target, "commit": commit, "lock_sha256": lock_sha256}
        if base_digest:
            want["base_digest"] = base_digest
        for key, value in want.items():
            if image.get(key) != value:
                problems.append(f"{meta_path}: image.{key} is {image.get(key)!r}, the build's is {value!r}")
        acc = meta.get("accelerator")
        if not isinstance(acc, dict) or "cuda_runtime" not in acc or "driver" not in acc:
            problems.append(f"{meta_path}: no accelerator record (CUDA, cuDNN, GPUs, driver)")
    if stats["runs"] == 0:
        problems.append(f"{results}: no run directory")
    for log in suite_logs:
        p = results / log
        if not p.is_file():
            problems.append(f"{p}: missing (the suite's log)")
            continue
        d = json.loads(p.read_text())
        if d.get("failed"):
            problems.append(f"{p}: {d['failed']} failed cells")
    return problems, stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--uid", type=int, default=os.getuid())
    ap.add_argument("--gid", type=int, default=os.getgid())
    ap.add_argument("--target", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--lock-sha256", required=True)
    ap.add_argument("--base-digest")
    ap.add_argument("--suite-log", action="append", default=[])
    args = ap.parse_args(argv)
    problems, stats = check(args.results, args.uid, args.gid, args.target, args.commit,
                            args.lock_sha256, args.base_digest, args.suite_log)
    for p in problems:
        print(f"check_results: {p}", file=sys.stderr)
    print(f"check_results: {args.results}: {stats['runs']} runs ({stats['completed']} completed, "
          f"{stats['diverged']} diverged), {stats['files']} paths owned by {args.uid}:{args.gid}: "
          f"{'ok' if not problems else 'FAILED'}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
