"""report.md as a report: its sections on a generated report (synthetic run directories written
with the typed records), the interpretation's caveats found from the specs and the data, and
the plots (markers where evaluations are sparse, no empty panels, a log-scale rate panel)."""

from __future__ import annotations

import pytest

from bench.judging import report
from bench.records import spec as S
from bench.records.rundir import ReferenceSummary, RunWriter

from rundirs import make_run

FM = {"network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist", "eval_size": 2000},
      "batch_size": 128, "budget": {"steps": 1404}, "eval_every": 100, "targets": [0.9],
      "provenance": {"c": 0.2119, "tuned_by": "bench tune (torch)"}}
CELLS = {
    "fm-cnn-full-constant": ({"name": "constant", "lr": 0.2119}, lambda st: min(0.88, 0.5 + st / 1000), {}),
    "fm-cnn-full-onecycle-smith": ({"name": "one-cycle", "min_lr": 0.02119, "max_lr": 0.2119},
                                   lambda st: min(0.92, 0.5 + st / 800), {"rule": "smith"}),
    # the report's rule: the network collapses to chance after a few hundred steps
    "fm-cnn-full-onecycle-report": ({"name": "one-cycle", "min_lr": 0.2119, "max_lr": 2.119},
                                    lambda st: 0.5 if st < 200 else 0.1, {"rule": "report"}),
}


META = {"harness_version": "t", "hostname": "testhost", "platform": "Linux", "framework": {"torch": "2.x"},
        "device": {"type": "cpu", "name": "x86_64", "count": 1}, "threads": 2, "cpu_count": 2,
        "trainable_params": 421738,
        "data": {"source": "t", "train": 60000, "val": 0, "test": 10000, "eval": 2000, "mean": [0.29], "std": [0.35]}}


def _train_run(root, name, seed, contended=False):
    policy, curve, prov = CELLS[name]
    make_run(root, dict(FM, policy=policy, provenance={**FM["provenance"], **prov}), seed, name=name,
             curve=lambda st: curve(st) + 0.001 * seed, every=100, split="eval", final_row=True, total=1404, spe=468,
             secs_per_step=0.02, meta=META,
             summary={"train_s": 28.0, "exploded_at": 300 if name.endswith("report") else None, "cpu_s": 50.0,
                      "cpu_threads": 2, "cpu_share": 0.2 if contended else 0.9,
                      "cpu_wait_share": 0.6 if contended else 0.01, "contended": contended})


def _reference(root, name, policy, bn, cross, top, drop_at=None):
    spec = S.build({"name": name, "backend": "torch", "seed": 0, "network": {"name": "resnet56", "bn_momentum": bn},
                    "dataset": {"name": "cifar10"}, "policy": policy, "batch_size": 1000,
                    "budget": {"steps": 80000 if drop_at else 10000}, "eval_every": 100})
    total = spec.budget.steps
    d = root / f"{name}-caffe-s0-00000000"
    w = RunWriter(d)
    w.write_spec(S.dump_yaml({**spec.resolved(), "backend": "caffe"}))
    rows = []
    for st in range(0, total, 100):
        lr = 0.35 if drop_at is None or st < drop_at else 0.035
        rows.append((st, "", lr, 0.9, 1.0, 0.5, ""))
    w.steps(rows)
    for st in range(0, total + 1, 100):
        w.eval((st, "", "test", 1.0, top if st >= cross else 0.8, st * 1.0, 0.5))
    w.write_summary(ReferenceSummary(run_id=d.name, status="completed", backend="caffe", steps_done=total,
                                     total_steps=total, final_test_acc=top,
                                     train_s=float(total)))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name in CELLS:
        for seed in range(5):
            _train_run(root, name, seed)
    _train_run(root, "fm-cnn-full-constant", 5, contended=True)  # a sixth seed, on a busy machine
    refs = root / "reference"
    # the authors' logs: a different batch-norm momentum, and a crossing right after a rate drop
    _reference(refs, "clr3SS5kFig1a", {"name": "triangular", "min_lr": 0.1, "max_lr": 3.0, "step_size": 5000},
               0.05, 9500, 0.9244)
    _reference(refs, "lr35Fig1a", {"name": "multistep", "lr": 0.35, "milestones": [50000, 70000]}, 0.001, 71100,
               0.9032, drop_at=70000)
    out = tmp_path_factory.mktemp("report")
    path = report.make_report([root], out)
    return path.read_text(), out


def test_the_report_has_its_sections(generated):
    text, _ = generated
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    for want in ("## Setup", "## Verdicts", "## Claims on our runs", "## The authors' logs",
                 "## Runs by experiment and backend", "## Limits", "## Plots"):
        assert want in heads, want
    assert heads.index("## Setup") < heads.index("## Claims on our runs") < heads.index("## Limits")
    setup = text.split("## Setup")[1].split("## Verdicts")[0]
    for what in ("**Networks.** simple_cnn (421,738 trainable parameters", "**Data, sizes and budgets**",
                 "**Seeds per backend.** torch", "**Hardware.** ", "**Evaluation set.**",
                 "**How rates were chosen.**", "c = 0.2119", "**Clock.** 1 of 16 runs"):
        assert what in setup, what


def test_each_claim_is_stated_judged_and_interpreted(generated):
    text, _ = generated
    ours = text.split("## Claims on our runs")[1].split("## The authors' logs")[0]
    # the id and the verdict, the question, the source, the statistic
    assert "### FM-3r: torch holds" in ours and "**FM-3r, torch: holds.**" in ours
    assert "### FM-3 (vs-c): torch holds" in ours
    assert "**Question.** final test accuracy of constant above one-cycle with the report's rule" in ours
    assert '**Source.** this project, the other half of FM-3: "with the report' in ours
    assert "95% CI [" in ours and "The 95% interval lies above 0, as the claim needs." in ours
    # the caveat the old report never gave: FM-3r holds because the network collapses to chance
    fm3r = ours.split("### FM-3r")[1]
    assert "collapsed to chance: mean final accuracy 0.10" in fm3r and "(its loss exploded)" in fm3r
    assert "Baseline (B): report rule (peak 10c): one-cycle 0.2119-2.119" in fm3r
    # a part whose runs are absent gets no prose (it is in Limits)
    assert "### FM-1 (vs-tuned)" not in ours


def test_the_authors_logs_have_their_own_section_with_caveats(generated):
    text, _ = generated
    logs = text.split("## The authors' logs")[1].split("## Runs by experiment")[0]
    assert "| clr3SS5kFig1a" in logs and "| lr35Fig1a" in logs
    assert "**ST-1 (logs), all: holds (n=1).** The authors' logs support it" in logs
    assert "a different batch-norm momentum (0.05 vs 0.001" in logs  # found by comparing the arms' specs
    assert "is a single run" in logs
    # ST-2: the piecewise-constant log reaches 90% 1,100 steps after its rate drop at 70,000
    assert "comes 1,100 steps after its learning rate fell from 0.35 to 0.035 (step 70,000)" in logs
    ours = text.split("## Claims on our runs")[1].split("## The authors' logs")[0]
    assert "ST-1 (logs)" not in ours


def test_limits_say_what_was_not_run_and_why(generated):
    text, _ = generated
    limits = text.split("## Limits")[1].split("## Plots")[0]
    assert "**CPU only.**" in limits and "**Fashion-MNIST stands in for CIFAR-10.**" in limits
    assert "**Not run here, and why.**" in limits and "R-7: no data: needs tiny_imagenet" in limits
    assert "FM-1 (vs-tuned)" in limits  # no tuned runs in these folders
    assert "**Contended runs.** 1 run trained while another process" in limits


def _figure(monkeypatch, series, targets=()):
    captured = {}

    def fake_save(fig, path, dpi=100):
        captured["fig"] = fig
        return path

    from bench.judging.report import curves

    monkeypatch.setattr(curves, "save_png", fake_save)
    monkeypatch.setattr(curves._plt(), "close", lambda fig: None)
    curves.plot_group(("net", "data"), series, __import__("pathlib").Path("/tmp"), targets)
    return captured["fig"]


def test_plots_draw_the_targets_the_claims_time(monkeypatch):
    import numpy as np

    class R:
        steps = []

    steps = np.array([0.0, 700.0, 1404.0])
    series = {("constant 0.1", "torch", "{lr: 0.1, name: constant}\n", 1404):
              [(steps, steps / 468, steps / 50, np.array([0.1, 0.8, 0.9]), R())]}

    def target_lines(ax):
        return [ln for ln in ax.get_lines() if ln.get_linestyle() == ":" and set(ln.get_ydata()) == {0.9}]

    drawn = _figure(monkeypatch, series, targets=[0.9])
    accuracy_axes = [ax for ax in drawn.axes if ax.get_ylabel() == "test accuracy"]
    assert len(accuracy_axes) == 3 and all(len(target_lines(ax)) == 1 for ax in accuracy_axes)
    assert "target 0.9" in [t.get_text() for t in drawn.axes[0].get_legend().get_texts()]
    assert not target_lines(_figure(monkeypatch, series).axes[0])  # no targets, no line


def test_plots_drop_empty_panels_mark_sparse_runs_and_log_scale_rates(monkeypatch):
    import numpy as np

    class R:  # a run whose rates come from its schedule
        steps = []

    steps = np.array([0.0, 700.0, 1404.0])
    nan = np.full(3, np.nan)
    # a reference-like series: no steps per epoch (epochs NaN) and no seconds: one accuracy panel
    series = {("one-cycle 0.02-0.2", "torch", "{max_lr: 0.2, min_lr: 0.02, name: one-cycle}\n", 1404):
              [(steps, nan, nan, np.array([0.1, 0.8, 0.9]), R())],
              ("one-cycle 0.2-2", "torch", "{max_lr: 2.0, min_lr: 0.2, name: one-cycle}\n", 1404):
              [(steps, nan, nan, np.array([0.1, 0.5, 0.1]), R())]}
    fig = _figure(monkeypatch, series)
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels == ["iteration", "iteration"]  # accuracy against iteration, and the rate; no empty panel
    acc_ax, lr_ax = fig.axes
    assert any(line.get_marker() == "o" for line in acc_ax.get_lines())  # 3 evaluations: points
    assert lr_ax.get_yscale() == "log"  # peaks 0.2 and 2: ten times apart


def test_dense_runs_are_lines_and_close_peaks_stay_linear(monkeypatch):
    import numpy as np

    class R:
        steps = []

    steps = np.arange(0, 2000, 100.0)
    acc = np.linspace(0.1, 0.9, len(steps))
    series = {("constant 0.2", "torch", "{lr: 0.2, name: constant}\n", 2000):
              [(steps, steps / 100, steps / 10, acc, R())],
              ("constant 0.1", "torch", "{lr: 0.1, name: constant}\n", 2000):
              [(steps, steps / 100, steps / 10, acc, R())]}
    fig = _figure(monkeypatch, series)
    assert [ax.get_xlabel() for ax in fig.axes] == ["iteration", "epoch", "training seconds", "iteration"]
    assert all(line.get_marker() in ("None", None, "") for line in fig.axes[0].get_lines())
    assert fig.axes[-1].get_yscale() == "linear"


def test_limits_name_the_subset_cells_and_say_the_rest_use_all_the_data(tmp_path):
    # "simple_cnn on 6,000 images" read as if every simple-CNN run had 6,000 images, when
    # only the 10% cells did and the rest trained on all 60,000
    root = tmp_path / "runs"
    for seed in range(2):
        _train_run(root, "fm-cnn-full-constant", seed)
        make_run(root, dict(FM, policy={"name": "constant", "lr": 0.02}, dataset={**FM["dataset"], "train_size": 6000}),
                 seed, name="fm-cnn-10pct-constant", evals=[(0, 0.5)], split="eval", final=0.85, final_row=True,
                 total=1404, spe=47, meta=META, summary={"train_s": 28.0})
    text = report.make_report([root], tmp_path / "out").read_text()
    limits = text.split("## Limits")[1].split("## Plots")[0]
    line = next(ln for ln in limits.splitlines() if ln.startswith("- **Subsets.**"))
    assert "simple_cnn on 6,000 images (2 runs: fm-cnn-10pct-constant)" in line, line
    assert "The other runs of simple_cnn train on the whole training split." in line, line
    assert "Contended" not in limits
