"""Benchmark (run by `nox -s bench`, skipped by the default test run): evaluation's share of wall clock.

The target: evaluation <= 5% of wall clock at the default cadence of the shipped
specs (bench/specs/*.yaml and the fashion-mnist suite: every 100 steps on a fixed
stratified 2,000 of the test set, batch 128). One test per backend; this module is
collected under either ``--backend`` (tests/benchmarks/conftest.py) and each test skips itself in the
other backend's process, so one process still imports one framework (through the runner).

The shipped ``fashion_mnist_one_cycle`` spec is run through ``bench.running.runner.run`` with its
own ``eval_every`` and ``eval_size`` and the full training set, the budget shortened to
300 steps. Writes results/benchmarks/eval_share_<backend>.json.
"""

import csv
import json
import statistics

import pytest
import yaml

from bench.records import spec as S
from bench.running.loop import warmup_steps

from common import REPO, needs_fmnist  # noqa: E402

STEPS = 300
REPEATS = 3
SPEC = REPO / "bench" / "specs" / "fashion_mnist_one_cycle.yaml"
TARGET = 0.05


def _cadences() -> dict:
    """eval_every / eval_size / batch_size of every shipped spec and the fashion-mnist suite's base."""
    out = {}
    for f in sorted((REPO / "bench" / "specs").glob("*.yaml")):
        s = S.load(f)
        out[f"specs/{f.name}"] = {"eval_every": s.eval_every, "eval_size": s.dataset.eval_size,
                                  "batch_size": s.batch_size}
    base = yaml.safe_load((REPO / "bench" / "grids" / "suites" / "fashion-mnist.yaml").read_text())["base"]
    out["suites/fashion-mnist.yaml (base)"] = {"eval_every": base["eval_every"],
                                               "eval_size": base["dataset"]["eval_size"],
                                               "batch_size": base["batch_size"]}
    return out


def _one_run(backend: str, out_root) -> dict:
    from bench.running.runner import run

    spec = S.load(SPEC, [f"backend={backend}", f"budget={{steps: {STEPS}}}"])
    run_dir, summary, code = run(spec, out_root, progress=False)
    assert code == 0 and summary["status"] == "completed", summary
    with open(run_dir / "evals.csv", newline="") as f:
        evals = list(csv.DictReader(f))
    first = [float(e["eval_wall_s"]) for e in evals if e["split"] != "test" and int(e["step"]) == 0]
    periodic = [float(e["eval_wall_s"]) for e in evals if e["split"] != "test" and int(e["step"]) > 0]
    final = [float(e["eval_wall_s"]) for e in evals if e["split"] == "test"]
    assert len(final) == 1 and len(first) == 1 and len(periodic) == (STEPS - 1) // spec.eval_every
    train_s, eval_s = summary["train_s"], summary["eval_s"]
    assert abs(eval_s - sum(first) - sum(periodic) - sum(final)) < 1e-3  # evals.csv adds up to the summary
    no_final = eval_s - final[0]
    return {
        "train_s": train_s,
        "eval_s": eval_s,
        "warmup_s": summary["warmup_s"],
        "warmup_steps": summary["warmup_steps"],
        "checkpoint_s": summary.get("checkpoint_s"),
        "steps": summary["steps_done"],
        "eval_size": spec.dataset.eval_size,
        "eval_every": spec.eval_every,
        "first_eval_s": first[0],
        "periodic_eval_s": periodic,
        "final_test_eval_s": final[0],
        "share_with_final": eval_s / (train_s + eval_s),
        "share_without_final": no_final / (train_s + no_final),
        "ms_per_train_step": 1e3 * (train_s - summary["warmup_s"]) / (summary["steps_done"] - summary["warmup_steps"]),
        "final_test_acc": summary["final_test_acc"],
    }


def _projection(runs: list[dict], steps: int) -> dict:
    """The same costs at the shipped budget: 3 epochs = ``steps`` updates, an evaluation at step 0
    and every eval_every steps before the end (the loop's cadence), the final test once."""
    every = runs[0]["eval_every"]
    n_periodic = (steps - 1) // every
    ms_step = statistics.median(r["ms_per_train_step"] for r in runs)
    warm = statistics.median(r["warmup_s"] for r in runs)
    train = warm + (steps - warmup_steps(steps)) * ms_step / 1e3
    per_eval = statistics.median(e for r in runs for e in r["periodic_eval_s"])
    first = statistics.median(r["first_eval_s"] for r in runs)
    final = statistics.median(r["final_test_eval_s"] for r in runs)
    ev = first + n_periodic * per_eval
    return {
        "steps": steps,
        "periodic_evals": n_periodic,
        "train_s": train,
        "eval_s_without_final": ev,
        "final_test_eval_s": final,
        "share_without_final": ev / (train + ev),
        "share_with_final": (ev + final) / (train + ev + final),
    }


def _measure(backend: str, tmp_path) -> dict:
    runs = [_one_run(backend, tmp_path / f"r{i}") for i in range(REPEATS)]
    full_steps = S.load(SPEC).total_steps(60000)
    with_final = [r["share_with_final"] for r in runs]
    without = [r["share_without_final"] for r in runs]
    per_eval = [e for r in runs for e in r["periodic_eval_s"]]
    return {
        "backend": backend,
        "spec": "bench/specs/fashion_mnist_one_cycle.yaml",
        "overrides": [f"backend={backend}", f"budget={{steps: {STEPS}}}"],
        "what": (f"{REPEATS} runs of the shipped one-cycle spec through bench.running.runner.run with its own eval_every "
                 f"(100 steps) and eval_size (2,000 test images), full 60,000 training set, batch 128, budget "
                 f"cut to {STEPS} steps. share = eval_s / (train_s + eval_s) from summary.json (train_s excludes "
                 "evaluation; both include the first steps/first evaluation's warm-up). eval_s counts the "
                 "evaluation at step 0, the periodic ones (steps 100, 200) and the final test evaluation on "
                 "all 10,000 test images, which the loop runs once at the end: share_with_final includes it, "
                 "share_without_final leaves it out (the cost of the periodic cadence alone). A 300-step run "
                 "over-weights the one-off costs (final test, first evaluation); 'projected_shipped_budget' "
                 f"applies this run's median costs to the spec's own budget (3 epochs = {full_steps} steps, "
                 f"{(full_steps - 1) // 100} periodic evaluations after the one at step 0)."),
        "target_share": TARGET,
        "median_share_with_final": statistics.median(with_final),
        "median_share_without_final": statistics.median(without),
        "median_periodic_eval_s": statistics.median(per_eval),
        "median_final_test_eval_s": statistics.median(r["final_test_eval_s"] for r in runs),
        "median_first_eval_s": statistics.median(r["first_eval_s"] for r in runs),
        "median_ms_per_train_step": statistics.median(r["ms_per_train_step"] for r in runs),
        "projected_shipped_budget": _projection(runs, full_steps),
        "cadences_of_shipped_specs": _cadences(),
        "runs": runs,
    }


def _bench(backend, benchmark, request, tmp_path):
    if request.config.getoption("--backend") != backend:
        pytest.skip(f"the {backend} benchmark runs under --backend {backend}")
    pytest.importorskip(backend if backend == "torch" else "tensorflow")
    result = benchmark.pedantic(_measure, args=(backend, tmp_path), rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in result.items() if k.startswith("median_")})
    out = REPO / "results" / "benchmarks" / f"eval_share_{backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    proj = result["projected_shipped_budget"]
    print(json.dumps({"backend": backend,
                      "median_share_with_final": round(result["median_share_with_final"], 4),
                      "median_share_without_final": round(result["median_share_without_final"], 4),
                      "projected_share_with_final": round(proj["share_with_final"], 4),
                      "projected_share_without_final": round(proj["share_without_final"], 4),
                      "median_periodic_eval_s": round(result["median_periodic_eval_s"], 4),
                      "median_final_test_eval_s": round(result["median_final_test_eval_s"], 4),
                      "median_ms_per_train_step": round(result["median_ms_per_train_step"], 2)}))
    # the target, at the shipped budget (a ratio of two times measured in the same runs)
    assert proj["share_without_final"] <= TARGET, f"periodic evaluation takes {proj['share_without_final']:.1%}"


@needs_fmnist
@pytest.mark.torch
def test_eval_share_torch(benchmark, request, tmp_path):
    _bench("torch", benchmark, request, tmp_path)


@needs_fmnist
@pytest.mark.keras
def test_eval_share_keras(benchmark, request, tmp_path):
    _bench("keras", benchmark, request, tmp_path)
