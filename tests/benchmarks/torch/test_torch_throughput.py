"""Benchmark (run by `nox -s bench`, skipped by the default test run): torch harness vs raw loops.

Writes results/benchmarks/torch_vs_raw.json. Targets: >= 0.97 x a raw loop with
the same fast paths, >= 1.4 x a naive NCHW raw loop.
"""

import json

import pytest

pytest.importorskip("torch")

from backends.torch.perf import compare_with_raw  # noqa: E402
from bench import data as datasets  # noqa: E402
from bench.records import spec as S  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402

pytestmark = [pytest.mark.torch, needs_fmnist]


def test_torch_harness_vs_raw(benchmark):
    spec = S.load(REPO / "bench" / "specs" / "fashion_mnist_one_cycle.yaml",
                  ["budget={steps: 200}", "eval_every=100000", "dataset.eval_size=256"])
    data = datasets.prepare(spec.dataset)
    result = benchmark.pedantic(compare_with_raw, args=(spec, data), kwargs={"repeats": 9}, rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "images_per_s"})
    (REPO / "results" / "benchmarks" / "torch_vs_raw.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_ratio_vs_raw", "ratio_vs_raw", "median_ratio_vs_naive",
                                             "median_images_per_s")}))
    assert len(result["ratio_vs_raw"]) == 9 and all(r > 0 for r in result["ratio_vs_raw"])
