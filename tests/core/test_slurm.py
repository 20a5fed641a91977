"""bench/grids/slurm.py and the SLURM side of bench full, without a scheduler: what a job asks
for, what a run records, the container command, the grid's status, the sacct filter.
The real scheduler: cluster/check-slurm.sh (nox -s slurm), run by .ci/run."""

import json
import logging
import os
import stat
import subprocess
import sys

import pytest

from bench.errors import BenchError
from bench.grids import full, slurm
from bench.grids.slurm import Container, Resources

from common import REPO, meta_of_a_fake_run


def test_resources_become_submitit_parameters():
    r = Resources(partition="gpu", gpus_per_job=1, cpus_per_job=8, mem="32G", time="2:00:00", array_parallelism=4,
                  options=Resources.parse_options(["account=abc", "qos=high", "--constraint=a100"]))
    assert r.executor_params() == {
        "timeout_min": 120, "slurm_partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 8, "slurm_mem": "32G",
        "slurm_array_parallelism": 4,
        "slurm_additional_parameters": {"account": "abc", "qos": "high", "constraint": "a100"}}
    assert r.thread_env() == {k: "8" for k in slurm.THREAD_ENV}
    assert Resources(partition="p").executor_params() == {"timeout_min": 24 * 60, "slurm_partition": "p"}
    assert Resources().thread_env() == {}
    assert r.asked()["mem"] == "32G" and "options" not in Resources(partition="p").asked()


def test_resources_reach_sbatch(tmp_path, monkeypatch):
    """What submitit writes into the sbatch script from them (its own parameter check and
    script writer; no scheduler needed: submitit only looks for an srun on PATH, so one that
    does nothing stands in where SLURM is not installed)."""
    submitit = pytest.importorskip("submitit")
    from submitit.slurm.slurm import _make_sbatch_string

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")

    r = Resources(partition="gpu", gpus_per_job=1, cpus_per_job=8, mem="32G", time="2:00:00", array_parallelism=2,
                  options=Resources.parse_options(["account=abc", "qos=high"]))
    ex = submitit.AutoExecutor(folder=str(tmp_path), cluster="slurm")
    ex.update_parameters(**r.executor_params())  # refuses a parameter name it does not know
    script = _make_sbatch_string(command="x", folder=str(tmp_path), map_count=5, **ex._executor.parameters)
    for line in ("--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=8", "--mem=32G", "--time=120",
                 "--array=0-4%2", "--account=abc", "--qos=high", "--signal=USR2@90"):
        assert f"#SBATCH {line}\n" in script, line


@pytest.mark.parametrize("time,minutes", [("30", 30), ("90:00", 90), ("1:30:00", 90), ("1-00:00", 1440),
                                          ("0:00:30", 1), ("2-12", 3600)])
def test_time_limits_in_slurms_forms(time, minutes):
    assert Resources(time=time).time_minutes() == minutes


@pytest.mark.parametrize("kwargs,named", [
    ({"mem": "lots"}, "--mem"), ({"mem": "1.5G"}, "--mem"), ({"time": "1h"}, "--time"), ({"cpus_per_job": 0}, "--cpus-per-job"),
    ({"gpus_per_job": -1}, "--gpus-per-job"), ({"array_parallelism": 0}, "--array-parallelism"),
])
def test_bad_resources_are_named(kwargs, named):
    with pytest.raises(BenchError, match=named):
        Resources(**kwargs)
    with pytest.raises(BenchError, match="KEY=VALUE"):
        Resources.parse_options(["account"])


def test_job_record_from_slurms_variables():
    env = {"SLURM_JOB_ID": "120", "SLURM_ARRAY_JOB_ID": "117", "SLURM_ARRAY_TASK_ID": "3", "SLURMD_NODENAME": "n1",
           "SLURM_JOB_PARTITION": "debug", "SLURM_CPUS_ON_NODE": "2", "SLURM_MEM_PER_NODE": "4096"}
    rec = slurm.job_record(env, asked={"mem": "4G"})
    assert rec == {"job_id": "120", "array_job_id": "117", "array_task_id": 3, "node": "n1", "partition": "debug",
                   "cpus_on_node": 2, "mem_per_node_mb": 4096, "asked": {"mem": "4G"}}
    assert slurm.job_record({}) is None
    # a single job (a submission of one run is not an array)
    assert slurm.job_record({"SLURM_JOB_ID": "130", "SLURMD_NODENAME": "n1"}) == {"job_id": "130", "node": "n1"}
    # what the submitting side passes on (into a container too) wins
    assert slurm.job_record({**env, slurm.JOB_ENV: json.dumps({"job_id": "9"})}) == {"job_id": "9"}
    assert slurm.job_record({slurm.JOB_ENV: "not json"}) is None


def test_meta_json_records_the_slurm_job(monkeypatch):
    for k in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(k)
    assert meta_of_a_fake_run()["slurm"] is None
    monkeypatch.setenv(slurm.JOB_ENV, json.dumps({"job_id": "7", "asked": {"cpus_per_job": 2}}))
    assert meta_of_a_fake_run()["slurm"] == {"job_id": "7", "asked": {"cpus_per_job": 2}}


def test_container_commands(tmp_path):
    out = tmp_path / "res"
    c = Container("lr-policy-bench:torch", engine="podman --runtime runc", flags="--ulimit nofile=4096:4096")
    cmd = c.command(["run", str(out / "s.yaml"), "--out", str(out)], mounts=[out], env={"A": "1"}, gpus=True)
    assert cmd[:5] == ["podman", "--runtime", "runc", "run", "--rm"]
    assert f"{out.resolve()}:{out.resolve()}" in cmd and "A=1" in cmd and "nvidia.com/gpu=all" in cmd
    assert f"{os.getuid()}:{os.getgid()}" in cmd and ["--network", "none"] == cmd[5:7]
    assert cmd[-5:] == ["lr-policy-bench:torch", "run", str(out / "s.yaml"), "--out", str(out)]  # entrypoint: bench
    assert cmd.index("--ulimit") < cmd.index("lr-policy-bench:torch")
    d = Container("img", engine="docker").command(["smoke"], mounts=[out], env={}, gpus=True)
    assert ["--gpus", "all"] == d[d.index("--gpus"):d.index("--gpus") + 2]
    a = Container("bench.sif", engine="apptainer").command(["smoke"], mounts=[out], env={"A": "1"}, gpus=True)
    assert a[:4] == ["apptainer", "exec", "--cleanenv", "--nv"] and a[-3:] == ["bench.sif", "bench", "smoke"]
    with pytest.raises(BenchError, match="docker, podman or apptainer"):
        Container("img", engine="kubectl")
    limited = c.command(["smoke"], mounts=[out], env={}, gpus=False, read_only={"/srv/data": "/data"},
                        name="bench-r-7", cpus=4, mem="16G")
    for pair in (["--name", "bench-r-7"], ["--cpus", "4"], ["--memory", "16g"]):
        i = limited.index(pair[0])
        assert limited[i:i + 2] == pair
    assert limited[limited.index("/srv/data:/data:ro") - 1] == "-v"
    assert "--gpus" not in limited and "--device" not in limited
    assert c.remove_command("bench-r-7") == ["podman", "--runtime", "runc", "rm", "-f", "bench-r-7"]


def test_container_gets_the_jobs_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    p = Container("img", engine="podman").command(["smoke"], mounts=[tmp_path], env={}, gpus=True)
    assert [p[i + 1] for i, a in enumerate(p) if a == "--device"] == ["nvidia.com/gpu=2", "nvidia.com/gpu=3"]
    d = Container("img", engine="docker").command(["smoke"], mounts=[tmp_path], env={}, gpus=True)
    assert d[d.index("--gpus") + 1] == "device=2,3"
    a = Container("x.sif", engine="apptainer").command(["smoke"], mounts=[tmp_path], env={}, gpus=True)
    assert "CUDA_VISIBLE_DEVICES=2,3" in a


def test_run_job_in_a_container_with_a_relative_out(tmp_path, monkeypatch):
    """The engine gets absolute paths (its working folder is not the caller's), the spec in a
    folder it can read under OUT, the data folder read-only; the container is removed after."""
    calls = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(full, "_run_cell", lambda cmd, env=None: (calls.append((cmd, env)), (0, ""))[1])
    monkeypatch.setattr(full.subprocess, "run", lambda cmd, **kw: calls.append((cmd, None)))
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    for k in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    code = full.run_job("name: x\n", "x-torch-s0-1", "runs/full", asked={"cpus_per_job": 2},
                        container={"image": "img", "engine": "podman"}, threads={"OMP_NUM_THREADS": "2"})
    assert code == 0
    (cmd, env), (rm, _) = calls
    out = str((tmp_path / "runs" / "full").resolve())
    assert cmd[cmd.index("--workdir") + 1] == out and f"{out}:{out}" in cmd
    spec = cmd[cmd.index("run", cmd.index("img")) + 1]
    assert spec.startswith(out + "/.specs/")
    assert cmd[cmd.index("--out") + 1] == out
    assert f"{(tmp_path / 'data').resolve()}:/data:ro" in cmd and ["--cpus", "2"] == cmd[cmd.index("--cpus"):][:2]
    assert env["OMP_NUM_THREADS"] == "2" and json.loads(env[slurm.JOB_ENV])["job_id"] == "41"
    assert "OMP_NUM_THREADS=2" in cmd  # passed into the container too
    assert rm == ["podman", "rm", "-f", "bench-x-torch-s0-1-41"]


def test_a_signal_delivered_twice_is_one_request():
    from bench.running.loop import Stop
    from bench.running.runner import _Signals

    sig = _Signals(Stop())
    sig._handle(15, None)
    sig._handle(15, None)  # the same scancel, from another process: still one request
    assert sig.stop.requested
    sig.first_at -= 10
    with pytest.raises(KeyboardInterrupt):  # a real second request stops at once
        sig._handle(2, None)


def test_a_rerun_collects_queued_jobs_instead_of_submitting_them_again(tmp_path, monkeypatch):
    """bench full again with some runs' jobs still in the queue: those are waited for, the
    others (here: one cancelled) submitted; if squeue cannot be asked, nothing is."""
    pytest.importorskip("submitit")
    import submitit

    submitted = []

    class FakeJob:
        def __init__(self, i):
            self.job_id = f"50_{i}"

    class FakeExecutor:
        def __init__(self, folder, cluster):
            pass

        def update_parameters(self, **kw):
            pass

        def map_array(self, fn, specs, run_ids, *rest):
            submitted.extend(run_ids)
            return [FakeJob(i) for i in range(len(run_ids))]

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    out = tmp_path / "out"
    out.mkdir()
    slurm.write_jobs(out, {"r-queued": "9_0", "r-cancelled": "9_1"}, {}, None)
    _fake_squeue(tmp_path, monkeypatch, "9_0 PENDING\n")
    todo = [("spec", "r-queued", "[1/2]"), ("spec", "r-cancelled", "[2/2]")]
    full._submit(todo, out, "slurm", Resources(partition="debug"), None, sys.stderr, wait=False)
    assert submitted == ["r-cancelled"]
    assert slurm.read_jobs(out)["runs"] == {"r-queued": "9_0", "r-cancelled": "50_0"}
    _fake_squeue(tmp_path, monkeypatch, "", code=1, err="Unable to contact slurm controller")
    with pytest.raises(BenchError, match="squeue did not answer"):
        full._submit(todo, out, "slurm", Resources(partition="debug"), None, sys.stderr, wait=False)
    assert submitted == ["r-cancelled"]


def _fake_squeue(tmp_path, monkeypatch, lines: str, code: int = 0, err: str = ""):
    tool = tmp_path / "bin" / "squeue"
    tool.parent.mkdir(exist_ok=True)
    tool.write_text(f"#!/bin/sh\necho '{err}' >&2\nprintf '{lines}'\nexit {code}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tool.parent}:{os.environ['PATH']}")


def test_queue_states_and_live_jobs(tmp_path, monkeypatch):
    _fake_squeue(tmp_path, monkeypatch, "17_0 RUNNING\\n17_1 PENDING\\n")
    assert slurm.queue_states(["17_0", "17_1", "17_2"]) == {"17_0": "RUNNING", "17_1": "PENDING"}
    out = tmp_path / "out"
    out.mkdir()
    slurm.write_jobs(out, {"r0": "17_0", "r1": "17_1", "r2": "17_2"}, {"mem": "4G"}, None)
    assert slurm.live_jobs(out) == {"r0": "17_0", "r1": "17_1"}
    data = slurm.read_jobs(out)
    assert data["submissions"][0]["jobs"] == ["17_0", "17_1", "17_2"] and data["submissions"][0]["asked"] == {"mem": "4G"}
    _fake_squeue(tmp_path, monkeypatch, "", code=1, err="slurm_load_jobs error: Invalid job id specified")
    assert slurm.queue_states(["17_0"]) == {}
    _fake_squeue(tmp_path, monkeypatch, "", code=1, err="Unable to contact slurm controller")
    assert slurm.queue_states(["17_0"]) is None


def _run_dir(out, name, summary=None, checkpoint=False):
    d = out / name
    d.mkdir(parents=True)
    cell, backend = name.rsplit("-", 3)[0], name.rsplit("-", 3)[1]
    (d / "spec.yaml").write_text(f"name: {cell}\nbackend: {backend}\nseed: 0\nnetwork: {{name: n}}\n"
                                 "dataset: {name: d}\npolicy: {name: p}\nbatch_size: 1\n")
    if summary:
        from bench.records.rundir import TrainSummary, write_json

        write_json(d / "summary.json", TrainSummary(run_id=name, status=summary, backend=backend, steps_done=1,
                                                    total_steps=1).model_dump(mode="json"))
    if checkpoint:
        (d / "checkpoint.json").write_text("{}")


def test_status_from_run_directories_and_the_queue(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _run_dir(out, "a-torch-s0-11111111", "completed")
    _run_dir(out, "a-torch-s1-22222222", "diverged")
    _run_dir(out, "a-torch-s2-33333333", checkpoint=True)  # cancelled: a checkpoint, no job
    _run_dir(out, "b-torch-s0-44444444")  # its job runs now
    _run_dir(out, "b-torch-s1-55555555")  # killed, no job
    slurm.write_jobs(out, {"b-torch-s0-44444444": "9_0", "b-torch-s2-66666666": "9_1",
                           "b-torch-s3-77777777": "9_2"}, {}, None)
    _fake_squeue(tmp_path, monkeypatch, "9_0 RUNNING\\n9_1 PENDING\\n")
    cells, runs = full.status(out)
    states = {r["run"]: r["state"] for r in runs}
    assert states == {"a-torch-s0-11111111": "completed", "a-torch-s1-22222222": "diverged",
                      "a-torch-s2-33333333": "interrupted", "b-torch-s0-44444444": "running",
                      "b-torch-s1-55555555": "started", "b-torch-s2-66666666": "pending",
                      "b-torch-s3-77777777": "lost"}
    b = next(c for c in cells if c["cell"] == "b")
    assert (b["runs"], b["running"], b["pending"], b["started"], b["lost"]) == (4, 1, 1, 1, 1)
    with pytest.raises(BenchError, match="no results folder"):
        full.status(tmp_path / "absent")


def test_status_command_prints_cells_and_jobs(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _run_dir(out, "a-torch-s0-11111111", "completed")
    _run_dir(out, "a-torch-s1-22222222", checkpoint=True)
    p = subprocess.run([sys.executable, "-m", "bench", "full", "--status", str(out)], capture_output=True,
                       text=True, cwd=REPO, env={**os.environ, "PATH": "/nonexistent:/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "| a      | torch     |      2 |           1 |" in p.stdout
    assert "1 of 2 runs finished; 1 not: the same `bench full` command collects or resumes them" in p.stdout


@pytest.mark.parametrize("args,named", [
    (["--mem", "4G"], "--mem: for --launcher slurm"),
    (["--launcher", "local", "--cpus-per-job", "2"], "--cpus-per-job: for --launcher slurm"),
    (["--container-engine", "podman"], "go with --container IMAGE"),
    (["--no-wait"], "--no-wait is for --launcher slurm"),
    (["--launcher", "slurm", "--partition", "p", "--time", "1h"], "--time takes SLURM's form"),
    (["--container", "img"], "give --launcher slurm or local"),
])
def test_cluster_options_refused_where_they_do_not_apply(tmp_path, args, named):
    p = subprocess.run([sys.executable, "-m", "bench", "full", "--suite", "fashion-mnist", "--budget", "smoke",
                        "--out", str(tmp_path / "o"), *args], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 2, p.stderr
    assert named in p.stderr and "Traceback" not in p.stderr


def test_sacct_warnings_become_one_line():
    f = slurm.SacctOnce()

    def rec(msg):
        return logging.LogRecord("submitit", logging.WARNING, "x", 1, msg, (), None)

    first, second = rec("Call #1 - Bypassing sacct error Command 'sacct' returned 1"), rec("Call #2 - Bypassing sacct error")
    assert f.filter(first) and "said once" in first.getMessage()
    assert not f.filter(second)
    assert f.filter(rec("something else"))
