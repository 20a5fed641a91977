"""Benchmark (run by `nox -s bench`, skipped by the default test run): Keras harness vs model.fit.

Writes results/benchmarks/keras_vs_fit.json. Target: median ratio >= 0.97.
"""

import json
import os

import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
pytest.importorskip("keras")

from backends.keras.perf import compare_with_fit  # noqa: E402
from bench import data as datasets  # noqa: E402
from bench.records import spec as S  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402

pytestmark = [pytest.mark.keras, needs_fmnist]


def test_keras_harness_vs_fit(benchmark):
    spec = S.load(REPO / "bench" / "specs" / "fashion_mnist_one_cycle.yaml",
                  ["backend=keras", "budget={steps: 200}", "eval_every=100000", "dataset.eval_size=256"])
    data = datasets.prepare(spec.dataset)
    result = benchmark.pedantic(compare_with_fit, args=(spec, data), kwargs={"repeats": 9}, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    out = REPO / "results" / "benchmarks" / "keras_vs_fit.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_ratio", "min_ratio", "max_ratio", "median_harness", "median_fit")}))
    assert len(result["ratios"]) == 9 and all(r > 0 for r in result["ratios"])
