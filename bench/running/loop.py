"""The training loop, framework-free: schedule, batch order, timing, records, divergence.

Every backend runs under this one loop, so the step conventions, what is timed and
what is recorded are the same for all of them:

- before update ``s`` the loop asks ``schedule(s)`` and hands ``(lr, momentum)`` to
  the backend, which sets them on its optimizer; ``steps.csv`` row s is written after
  update s;
- training time (``wall_s``) is the sum of the time spent in training steps, including
  the device synchronisation at each collection point; evaluation is timed separately
  and excluded. On a GPU, rows between collection points carry host (dispatch) time;
  the rows at collection points (every ``FETCH_EVERY`` steps and before each
  evaluation) are synchronised;
- the first ``warmup_steps`` (compilation, allocator and cache warm-up) are reported
  separately: ``images_per_s`` in the summary excludes them;
- over the same training steps the process's own CPU seconds and involuntary context
  switches are summed (:mod:`bench.running.clock`): the run's share of the machine, so that a
  reader can tell a quiet run's seconds from a contended one's;
- periodic evaluations use the fixed evaluation subset (``eval``), or the whole test split
  (``test``) where the spec has none, or the validation split (``val``) where the spec says
  ``eval_split: val`` (a tuning run: it also evaluates ``val`` at the end, before the final
  whole-test evaluation);
- a non-finite training loss ends the run with status ``diverged``: rows up to and
  including the first non-finite step are kept, ``diverged_at`` names that step;
- a finite loss above ``EXPLOSION_FACTOR`` x the first update's loss is recorded as
  ``exploded_at``; with ``stop_on_explosion: true`` the run also ends there as diverged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from bench.records.rundir import RunWriter
from bench.records.schedules import make_schedule
from bench.running import clock
from bench.running.progress import Progress
from bench.running.updates import Updates

FETCH_EVERY = 50  # steps between loss collections (each one synchronises the device)
# a finite training loss above this many times the first update's loss is an explosion: the
# run is recorded as exploded at that step (exploded_at), and ends there as diverged when
# the spec says stop_on_explosion: true. A run that blows up to 1e25 and stays near 1e6 at
# chance accuracy has a finite loss: without this it would end "completed" with nothing to
# tell it apart from a run that learned
EXPLOSION_FACTOR = 100.0


def warmup_steps(total: int) -> int:
    return min(10, max(1, total // 10))


@dataclass
class Outcome:
    status: str = "completed"  # completed | diverged | interrupted
    steps_done: int = 0
    diverged_at: int | None = None
    train_s: float = 0.0
    eval_s: float = 0.0
    warmup_s: float = 0.0
    checkpoint_s: float = 0.0
    final_test_acc: float | None = None
    final_test_loss: float | None = None
    evals: list[tuple[int, str, float, float, float]] = field(default_factory=list)  # step, split, loss, acc, train_s
    checkpointed_at: int | None = None  # updates done at the last checkpoint written
    first_loss: float | None = None  # the training loss of update 0 (the explosion reference)
    exploded_at: int | None = None  # the first update whose loss exceeded EXPLOSION_FACTOR x first_loss
    cpu_s: float = 0.0  # the process's CPU seconds (all threads) in training steps (bench.running.clock)
    involuntary_switches: int = 0  # times the kernel took a CPU from the process in training steps
    # run-queue time of the process's threads over the training loop (bench.running.clock.RunQueue)
    sched_run_s: float = 0.0  # on a CPU
    sched_wait_s: float = 0.0  # runnable, waiting for a CPU
    sched_measured: bool = False


@dataclass
class Stop:
    """A request to stop after the current update (SIGINT, SIGTERM, or the ``at`` hook).

    The loop looks at it after every update: the update in progress finishes, the rows
    are written, a checkpoint is taken, and the run ends with status ``interrupted``.
    ``at`` stops after that many updates: the deterministic interrupt the tests use."""

    requested: bool = False
    at: int | None = None
    reason: str = ""


def run_loop(spec, trainer, data, writer: RunWriter, progress: Progress | None = None, *,
             start=None, checkpoint=None, stop: Stop | None = None) -> Outcome:
    """Train from update 0, or from ``start`` (a :class:`bench.running.checkpoint.Checkpoint` whose
    state the trainer has loaded) to the end of the budget.

    ``checkpoint(step, outcome, reason) -> seconds`` writes a checkpoint; it is called
    every ``spec.checkpoint_every`` updates (after that step's rows and evaluation) and
    on a stop request. Its time counts neither as training nor as evaluation."""
    total = spec.total_steps(len(data.train_y))
    spe = spec.steps_per_epoch(len(data.train_y))
    updates = Updates(spec, make_schedule(spec.policy, total), len(data.train_y))
    # periodic evaluations: the validation split for a tuning run (eval_split: val), else the
    # fixed evaluation subset where the spec has one, else the whole test split
    if getattr(spec, "eval_split", "auto") == "val":
        periodic = "val"
    else:
        periodic = "eval" if data.eval_idx is not None else "test"
    warm = warmup_steps(total)
    out = Outcome()
    first = 0
    if start is not None:
        first = out.steps_done = out.checkpointed_at = start.step
        out.train_s, out.eval_s, out.warmup_s = start.train_s, start.eval_s, start.warmup_s
        out.checkpoint_s, out.evals = start.checkpoint_s, list(start.evals)
        out.first_loss, out.exploded_at = start.first_loss, start.exploded_at
        out.cpu_s, out.involuntary_switches = start.cpu_s, start.involuntary_switches
        out.sched_run_s, out.sched_wait_s = start.sched_run_s, start.sched_wait_s
        out.sched_measured = start.sched_measured
    every = getattr(spec, "checkpoint_every", 0) if checkpoint is not None else 0
    stop = stop or Stop()
    pending: list[tuple[int, float, float, float]] = []  # step, lr, momentum, wall_s
    progress = progress or Progress(total, enabled=False)
    if first:
        progress.update(first, math.nan, math.nan)

    def evaluate(step: int, split: str) -> tuple[float, float]:
        t = time.perf_counter()
        loss, acc = trainer.evaluate(split)
        dt = time.perf_counter() - t
        out.eval_s += dt
        writer.eval((step, step / spe, split, loss, acc, out.train_s, dt))
        out.evals.append((step, split, loss, acc, out.train_s))
        progress.evaluated(split, acc)
        return loss, acc

    def flush(partial: bool = False) -> bool:
        """Collect pending losses, write their rows; False if the run diverged.

        ``partial``: after an interrupt the last step may not have finished: keep the
        steps both sides know of."""
        vals = trainer.collect()
        rows = []
        ok = True
        for (step, lr, mom, wall), (loss, correct) in zip(pending, vals, strict=not partial):
            wall = wall if math.isfinite(wall) else out.train_s
            rows.append((step, step / spe, lr, mom, float(loss), float(correct) / spec.batch_size, wall))
            out.steps_done = step + 1
            if not math.isfinite(loss):
                out.status, out.diverged_at, ok = "diverged", step, False
                out.train_s = wall  # the updates after it (until this check) are not counted
                break
            if out.first_loss is None:
                out.first_loss = float(loss)
            elif out.exploded_at is None and loss > EXPLOSION_FACTOR * out.first_loss:
                out.exploded_at = step
                if spec.stop_on_explosion:
                    out.status, out.diverged_at, ok = "diverged", step, False
                    out.train_s = wall
                    break
        writer.steps(rows)
        if rows:
            progress.update(out.steps_done, rows[-1][2], rows[-1][4])
        pending.clear()
        return ok

    def save(done: int, reason: str) -> None:
        out.checkpoint_s += checkpoint(done, out, reason)
        out.checkpointed_at = done

    queue = clock.RunQueue(out.sched_run_s, out.sched_wait_s, out.sched_measured)

    def queue_stop() -> None:
        queue.stop()
        out.sched_run_s, out.sched_wait_s, out.sched_measured = queue.run_s, queue.wait_s, queue.measured

    try:
        if first == 0:
            evaluate(0, periodic)
        queue.start()
        carry = None  # the last step's closing reading, when nothing ran between it and this step
        for step in range(first, total):
            c0 = carry or clock.read()
            t0 = time.perf_counter()
            u = updates(step)
            lr, mom = u.lr, u.momentum
            pending.append((step, lr, mom, math.nan))  # before the step: an interrupt keeps both lists in step
            trainer.train_step(u.idx, u.draws, lr, mom)
            done = step + 1
            if stop.at is not None and done == stop.at:
                stop.requested, stop.reason = True, f"stop hook at step {done}"
            due_eval = done % spec.eval_every == 0 and done < total
            due_ckpt = bool(every) and done % every == 0 and done < total
            sync = (due_eval or due_ckpt or stop.requested or done == total or len(pending) >= FETCH_EVERY
                    or done == warm)
            if sync:
                trainer.synchronize()
            out.train_s += time.perf_counter() - t0
            c1 = clock.read()
            out.cpu_s += c1.cpu_s - c0.cpu_s
            out.involuntary_switches += c1.nivcsw - c0.nivcsw
            # rows, evaluations and checkpoints come after a synchronised step: read afresh after them
            carry = None if (sync or due_eval or due_ckpt or stop.requested) else c1
            pending[-1] = (step, lr, mom, out.train_s)
            if done == warm:
                out.warmup_s = out.train_s
            if sync and not flush():
                break
            if due_eval:
                evaluate(done, periodic)
            if (due_ckpt or stop.requested) and checkpoint is not None:
                queue_stop()  # the checkpoint carries the run-queue totals so far
                save(done, "interrupt" if stop.requested else "periodic")
                queue.start()
            if stop.requested:
                out.status = "interrupted"
                break
        queue_stop()
        progress.close()
        if out.status == "completed":
            if periodic == "val":  # a tuning run's last word on the validation split, then the test split
                evaluate(total, "val")
            out.final_test_loss, out.final_test_acc = evaluate(total, "test")
    except KeyboardInterrupt:  # a second signal, or one outside a step: stop now, keep the rows
        queue_stop()
        trainer.synchronize()
        flush(partial=True)
        out.status = "interrupted"
        progress.close()
    return out


def harness_images_per_s(spec, trainer, data, folder) -> float:
    """Throughput of the whole loop (schedule, batches, records), evaluation time excluded:
    what the backends' benchmarks compare with raw framework loops."""
    writer = RunWriter(folder)
    t0 = time.perf_counter()
    out = run_loop(spec, trainer, data, writer)
    wall = time.perf_counter() - t0 - out.eval_s
    writer.close()
    return out.steps_done * spec.batch_size / wall
