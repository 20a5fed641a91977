"""A wall clock you can judge: the training process's share of the machine while it trained.

Seconds to a target are only as good as the machine was quiet. The README's main job
trained in 43.5 s on a quiet machine and in 638.6 s while another process ran, with
nothing in either run to tell the two apart. So every run records, over its training
steps (evaluation and checkpoints excluded, as for ``train_s``):

- ``cpu_s``: the training process's own CPU time (user + system, all its threads:
  ``time.process_time``) spent in training steps;
- ``cpu_threads``: the threads it could use, ``min(framework threads, usable CPUs)``
  (usable CPUs: ``os.sched_getaffinity``);
- ``cpu_share = cpu_s / (train_s * cpu_threads)``: the fraction of the CPUs it could
  use that it got. On a quiet machine a CPU run is near its own ceiling (below 1 where
  parts of a step are single-threaded or a framework keeps fewer threads busy); while
  another CPU-bound process competes, the kernel gives it a share of the cores and the
  share falls;
- ``involuntary_switches``: how often the kernel took a CPU from it (``ru_nivcsw`` of
  ``getrusage``, all threads, during training steps);
- ``cpu_wait_s``, ``cpu_wait_share``: over the training loop, how long its threads were
  runnable but waited for a CPU (:class:`RunQueue`), and that as a share of their runnable
  time. Unlike the CPU share it does not depend on how many threads a framework keeps busy;
- ``contended``: ``cpu_wait_share > WAIT_ABOVE`` on a CPU run (``cpu_share <
  CONTENDED_BELOW`` where the kernel does not report the run queue). The thresholds are
  measured, not guessed: docs/clock.md gives the quiet and contended numbers and the
  command (``python -m bench.running.clock``).

On a GPU the host thread mostly waits for the device, so its CPU share says little:
there ``contended`` comes from the device instead (:class:`GpuSampler`: another compute
process on the same GPU while the run trained), and ``gpu_util`` records the device's mean
utilisation. Framework-free: only the standard library.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

# The thresholds, measured on this project's 2-core machine (docs/clock.md; python -m bench.running.clock):
# 100 steps of the simple CNN, quiet and beside one or two CPU-bound processes. Quiet: run-queue
# wait share 0.01 (PyTorch) and 0.17-0.18 (Keras: TensorFlow's own thread pools queue a little
# behind each other), CPU share 0.99 and 0.82. Beside one or two spinners: wait share 0.35-0.51
# (PyTorch) and 0.47-0.56 (Keras), CPU share 0.50-0.66 and 0.40-0.53, and 1.4-4 times slower.
# A run whose threads waited for a CPU more than this share of their runnable time is contended:
WAIT_ABOVE = 0.25
# Where the kernel does not report the run queue (not Linux), a CPU run whose share of its
# usable CPUs fell below this is contended instead:
CONTENDED_BELOW = 0.75


def contended(wait_share: float | None, cpu_share: float | None) -> bool | None:
    """The flag: the run-queue wait share above :data:`WAIT_ABOVE` where the kernel reports it
    (Linux); elsewhere the CPU share below :data:`CONTENDED_BELOW`; None where neither was
    measured."""
    if wait_share is not None:
        return wait_share > WAIT_ABOVE
    if cpu_share is not None:
        return cpu_share < CONTENDED_BELOW
    return None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; os.cpu_count() where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def framework_threads(threads) -> int | None:
    """The compute threads a backend reports (``meta.threads``): an int (PyTorch), or a
    mapping of pools (TensorFlow: ``intra_op``, where 0 means one per core)."""
    if isinstance(threads, bool):
        return None
    if isinstance(threads, int):
        return threads if threads > 0 else None
    if isinstance(threads, dict):
        intra = threads.get("intra_op")
        if isinstance(intra, int) and not isinstance(intra, bool):
            return intra if intra > 0 else usable_cpus()
    return None


def share_threads(threads) -> int:
    """The threads a run could keep busy: ``min(framework threads, usable CPUs)``, at least 1."""
    n = framework_threads(threads)
    cpus = usable_cpus()
    return max(1, min(n, cpus) if n else cpus)


def cpu_share(cpu_s: float, wall_s: float, threads: int) -> float | None:
    """``cpu_s / (wall_s * threads)``; None when no time was measured."""
    if not wall_s or wall_s <= 0 or threads < 1:
        return None
    return cpu_s / (wall_s * threads)


@dataclass
class Reading:
    """The process's CPU seconds and involuntary context switches at one moment."""

    cpu_s: float
    nivcsw: int


def read() -> Reading:
    """One reading (two system calls: cheap next to a training step)."""
    return Reading(time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw)


class RunQueue:
    """Time the process's threads spent runnable but waiting for a CPU (the kernel's run-queue
    delay, ``/proc/self/task/*/schedstat``: on-CPU ns, waiting ns, timeslices), summed over
    its threads between :meth:`start` and :meth:`stop`. It does not depend on how many threads
    a framework keeps busy, so one threshold serves every backend. Linux only: elsewhere (or
    where the file is absent) it measures nothing. Threads that exit in between are not
    counted; threads started in between count from zero."""

    def __init__(self, run_s: float = 0.0, wait_s: float = 0.0, measured: bool = False):
        self.run_s = run_s  # carried over from before a resume
        self.wait_s = wait_s
        self.measured = measured  # a start/stop pair was read
        self._at: dict[str, tuple[int, int]] | None = None

    @staticmethod
    def _read() -> dict[str, tuple[int, int]] | None:
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return None
        out = {}
        for tid in tids:
            try:
                with open(f"/proc/self/task/{tid}/schedstat") as f:
                    run, wait, *_ = f.read().split()
                out[tid] = (int(run), int(wait))
            except (OSError, ValueError):
                continue
        return out or None

    def start(self) -> None:
        self._at = self._read()

    def stop(self) -> None:
        now = self._read()
        if self._at is None or now is None:
            self._at = None
            return
        for tid, (run, wait) in now.items():
            r0, w0 = self._at.get(tid, (0, 0))
            self.run_s += max(0, run - r0) / 1e9
            self.wait_s += max(0, wait - w0) / 1e9
        self._at = None
        self.measured = True

    def share(self) -> float | None:
        """waiting / (running + waiting): the fraction of the time its threads wanted a CPU
        that they waited for one."""
        total = self.run_s + self.wait_s
        return self.wait_s / total if self.measured and total > 0 else None


class GpuSampler:
    """Samples ``nvidia-smi`` every ``interval`` seconds in a thread while a GPU run trains:
    the device's utilisation (percent) and the number of compute processes on it. Never
    fails a run: without ``nvidia-smi``, or when a query fails, it records nothing."""

    def __init__(self, device: str | None = None, interval: float = 2.0, exe: str | None = None):
        self.device = device or "0"  # as nvidia-smi -i takes it: an index, a UUID or a PCI bus id
        self.interval = interval
        self.exe = exe or shutil.which("nvidia-smi")
        self.util: list[float] = []
        self.procs: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _query(self, what: str) -> list[str] | None:
        try:
            out = subprocess.run([self.exe, "-i", self.device, f"--query-{what}", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode != 0:
            return None
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]

    def sample(self) -> None:
        util = self._query("gpu=utilization.gpu")
        if util:
            try:
                self.util.append(float(util[0]))
            except ValueError:
                pass
        apps = self._query("compute-apps=pid")
        if apps is not None:
            self.procs.append(len(apps))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> GpuSampler:
        if self.exe:
            self.sample()
            self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def result(self) -> dict:
        """``gpu_util`` (mean percent), ``gpu_processes`` (the most compute processes seen on
        the device at once) and ``contended`` (more than one: another process shared it);
        only the keys that were measured."""
        out: dict = {}
        if self.util:
            out["gpu_util"] = sum(self.util) / len(self.util)
        if self.procs:
            out["gpu_processes"] = max(self.procs)
            out["contended"] = max(self.procs) > 1
        return out


# -- the measurement behind the threshold: python -m bench.running.clock -------------------------------

PROBE_SPEC = """name: clock-probe
backend: {backend}
network: {{name: simple_cnn}}
dataset: {{name: fashion_mnist, train_size: 6000, test_size: 1000}}
policy: {{name: constant, lr: 0.05}}
batch_size: {batch}
budget: {{steps: {steps}}}
eval_every: 100000
"""
SPIN = "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n"


def probe(steps: int, spinners: list[int], backend: str, batch: int, stream=None) -> list[dict]:
    """The same short run once per entry of ``spinners``, each in its own process, beside that
    many CPU-bound processes; one line per run (what docs/clock.md quotes)."""
    import json
    import sys
    import tempfile
    from pathlib import Path

    stream = stream or sys.stdout
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "probe.yaml"
        spec.write_text(PROBE_SPEC.format(backend=backend, batch=batch, steps=steps))
        for k, n in enumerate(spinners):
            procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
            try:
                time.sleep(0.5 if n else 0.0)
                res = subprocess.run([sys.executable, "-m", "bench", "run", str(spec), "--out", tmp, "--seed", str(k),
                                      "--quiet"], capture_output=True, text=True)
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            if res.returncode != 0:
                raise SystemExit(res.stderr[-2000:])
            s = json.loads((Path(res.stdout.strip().splitlines()[-1]) / "summary.json").read_text())
            s["spinners"] = n
            out.append(s)
            print(f"{backend} batch {batch}, {steps} steps, {n} spinners: train_s {s['train_s']:.2f}, "
                  f"cpu_s {s['cpu_s']:.2f}, cpu_share {s['cpu_share']:.2f}, "
                  f"cpu_wait_share {s.get('cpu_wait_share', float('nan')):.2f}, "
                  f"involuntary_switches {s['involuntary_switches']}, contended {s.get('contended')}",
                  file=stream, flush=True)
    return out


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.running.clock", description="quiet and contended runs side by side: "
                                "the measurement behind the contention threshold (docs/clock.md)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--spinners", default="0,2,0", help="CPU-bound processes beside each run (default 0,2,0)")
    p.add_argument("--backend", default="torch")
    p.add_argument("--batch-size", type=int, default=128)
    a = p.parse_args(argv)
    probe(a.steps, [int(x) for x in a.spinners.split(",")], a.backend, a.batch_size)


if __name__ == "__main__":
    main()
