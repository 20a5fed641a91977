"""Benchmarks (``nox -s bench``; skipped by the default test run). The framework-free ones
and those that run one backend per test (each skips itself in the other backend's
process) sit here; torch/ and keras/ hold each backend's own and are collected only in
the process of their --backend."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    if collection_path.parent == HERE and collection_path.is_dir() and collection_path.name in ("torch", "keras"):
        if collection_path.name != config.getoption("--backend"):
            return True
    return None
