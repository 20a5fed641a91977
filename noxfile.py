"""nox sessions: tests, smoke, lint.

Each backend's tests run in their own session (and so their own process and venv):
torch and TensorFlow are never imported into one process.
"""

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

BACKENDS = ["torch"]  # the Keras backend joins here when it lands


@nox.session
@nox.parametrize("backend", BACKENDS)
def tests(session, backend):
    """The test suite for one backend (core tests included)."""
    session.install("-e", f".[{backend},dev]")
    session.run("pytest", "-m", f"not {'keras' if backend == 'torch' else 'torch'}", *session.posargs)


@nox.session
@nox.parametrize("backend", BACKENDS)
def smoke(session, backend):
    """`bench smoke` on one backend: a real short run that fails unless accuracy rose."""
    session.install("-e", f".[{backend}]")
    session.run("bench", "smoke", "--backends", backend, *session.posargs)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "bench", "backends", "tests", "noxfile.py")
