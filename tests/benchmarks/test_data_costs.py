"""Benchmark (run by `nox -s bench`, skipped by the default test run): data and schedule costs.

Framework-free: collected under either ``--backend`` (tests/benchmarks/conftest.py), imports neither
torch nor TensorFlow. Writes results/benchmarks/data_costs.json (the run under each backend
rewrites it; the numbers do not depend on the backend).

- Fashion-MNIST load time, cold (an empty array cache: the four IDX .gz files are read,
  decompressed, MD5-checked, parsed, and the cache entry written) and cached (the second
  load: one ``numpy.load``);
- the schedule's cost per step: ``make_schedule(policy, total)`` and then ``schedule(step)``
  for every step, for every policy in bench/records/schedules.py, against one training step.
"""

import json
import os
import shutil
import statistics
import time

import numpy as np

from bench.data import fashion_mnist as fm
from bench.records import spec as S
from bench.records.schedules import POLICIES, make_schedule
from bench.records.spec import parse_policy

from common import REPO, needs_fmnist  # noqa: E402

OUT = REPO / "results" / "benchmarks" / "data_costs.json"
STEP_MS = 16.0  # one simple-CNN training step (batch 128) measured on this 2-core CPU
COLD_REPEATS, CACHED_REPEATS, SCHEDULE_REPEATS = 5, 10, 20


def _load_costs(tmp_path) -> dict:
    cold, cached, entry_bytes, source = [], [], None, None
    first = None
    for r in range(COLD_REPEATS):
        xdg = tmp_path / f"xdg{r}"
        os.environ["XDG_CACHE_HOME"] = str(xdg)  # a fresh, empty array cache for this round
        t = time.perf_counter()
        got = fm.load(allow_download=False)
        cold.append(time.perf_counter() - t)
        assert all("cache" not in got[4][s] for s in fm.FILES), "the cold load must not hit a cache"
        if first is None:
            first, source = got, got[4]
        if r < COLD_REPEATS - 1:
            shutil.rmtree(xdg)
    for _ in range(CACHED_REPEATS):
        t = time.perf_counter()
        got = fm.load(allow_download=False)
        cached.append(time.perf_counter() - t)
        assert all("cache" in got[4][s] for s in fm.FILES), "the second load must come from the cache"
    for a, b in zip(first[:4], got[:4], strict=True):
        np.testing.assert_array_equal(a, b)
    entry = next(iter(got[4].values()))["cache"]
    entry_bytes = os.path.getsize(entry)
    cold_med, cached_med = statistics.median(cold), statistics.median(cached)
    return {
        "what": "fashion_mnist.load(): cold = empty array cache ($XDG_CACHE_HOME a fresh folder): the 4 IDX .gz "
                "files read, decompressed, MD5-checked (as on every cold read), parsed, and the .npz cache entry "
                "written; cached = a later load of the same files, one numpy.load of that entry. The .gz files "
                "are in the OS page cache in both (warm disk), so cold is the CPU cost of decoding.",
        "files": {s: v["path"] for s, v in source.items()},
        "checks": {s: v["check"] for s, v in source.items()},
        "cache_entry_bytes": entry_bytes,
        "cold_s": cold,
        "cached_s": cached,
        "median_cold_s": cold_med,
        "median_cached_s": cached_med,
        "speedup": cold_med / cached_med,
    }


def _policies() -> dict:
    """Every policy: the shipped specs' where one ships, otherwise the documented example's values."""
    out = {}
    for f in ("fashion_mnist_constant", "fashion_mnist_triangular", "fashion_mnist_one_cycle"):
        p = S.load(REPO / "bench" / "specs" / f"{f}.yaml").policy
        out[p.name] = p
    out["multistep"] = parse_policy({"name": "multistep", "lr": 0.1, "milestones": [700, 1050]})
    out["one-cycle-cosine"] = parse_policy({"name": "one-cycle-cosine", "max_lr": 0.1})
    out["range-test"] = parse_policy({"name": "range-test", "start_lr": 1e-4, "end_lr": 10})
    return out


def _schedule_costs(total: int) -> dict:
    policies = _policies()
    assert set(policies) == set(POLICIES), f"a policy is not benchmarked: {set(POLICIES) - set(policies)}"
    rows = {}
    for name, policy in policies.items():
        per_step, make = [], []
        for _ in range(SCHEDULE_REPEATS):
            t0 = time.perf_counter()
            sched = make_schedule(policy, total)
            t1 = time.perf_counter()
            for step in range(total):
                sched(step)
            t2 = time.perf_counter()
            make.append(t1 - t0)
            per_step.append((t2 - t0) / total)  # make_schedule amortised over the run, as the loop pays it
        med = statistics.median(per_step)
        rows[name] = {
            "median_us_per_step": med * 1e6,
            "min_us_per_step": min(per_step) * 1e6,
            "max_us_per_step": max(per_step) * 1e6,
            "median_make_schedule_us": statistics.median(make) * 1e6,
            "fraction_of_16ms_step": med / (STEP_MS / 1e3),
        }
    return {
        "what": f"make_schedule(policy, {total}) and then schedule(step) for every step of that budget (the "
                "shipped one-cycle spec's 3 epochs of 468 steps), timed together and divided by the steps; "
                f"median of {SCHEDULE_REPEATS} repeats per policy",
        "total_steps": total,
        "reference_step_ms": STEP_MS,
        "reference_step_note": "fraction_of_16ms_step = the schedule's cost per step / 16 ms, the measured "
                               "time of one simple-CNN training step at batch 128 on this 2-core CPU (torch); "
                               "not remeasured here (results/benchmarks/eval_share_<backend>.json has this "
                               "run's own ms per step)",
        "policies": rows,
    }


@needs_fmnist
def test_data_costs(benchmark, tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)  # the installed Debian files
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # restored after the test
    spec = S.load(REPO / "bench" / "specs" / "fashion_mnist_one_cycle.yaml")
    total = spec.total_steps(60000)

    def measure():
        return {"fashion_mnist_load": _load_costs(tmp_path), "schedule_cost": _schedule_costs(total)}

    result = benchmark.pedantic(measure, rounds=1, iterations=1)
    load = result["fashion_mnist_load"]
    benchmark.extra_info.update({"median_cold_s": load["median_cold_s"], "median_cached_s": load["median_cached_s"],
                                 "speedup": load["speedup"]})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"median_cold_s": round(load["median_cold_s"], 4),
                      "median_cached_s": round(load["median_cached_s"], 4),
                      "speedup": round(load["speedup"], 1),
                      "us_per_step": {k: round(v["median_us_per_step"], 2)
                                      for k, v in result["schedule_cost"]["policies"].items()}}))
    assert load["speedup"] > 1
