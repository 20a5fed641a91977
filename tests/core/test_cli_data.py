"""`bench data check` on the installed Fashion-MNIST, and its error when data are missing."""

import json
import subprocess
import sys

from common import REPO, needs_fmnist


@needs_fmnist
def test_data_check_reports_counts_and_checks():
    out = subprocess.run([sys.executable, "-m", "bench", "data", "check", "fashion_mnist"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["train"]["images"] == [60000, 28, 28, 1] and r["test"]["images"] == [10000, 28, 28, 1]
    assert r["train"]["labels"] == [6000] * 10 and r["test"]["labels"] == [1000] * 10
    assert r["dtype"] == "uint8" and len(r["classes"]) == 10
    assert abs(r["mean"][0] - 0.2860) < 1e-3 and abs(r["std"][0] - 0.3530) < 1e-3
    assert all(f["check"].startswith("md5") for f in r["files"].values())


def test_data_check_missing_names_paths(tmp_path):
    env = {"PATH": "", "HOME": str(tmp_path), "BENCH_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path / "c")}
    code = ("import bench.data.fashion_mnist as f, sys; f.DEBIAN_DIR = f.Path(sys.argv[1]); "
            "from bench.cli import main; raise SystemExit(main(['data', 'check', 'fashion_mnist', '--data-dir', sys.argv[1]]))")
    (tmp_path / "nothing").mkdir()  # an empty folder (one that does not exist is refused before any looking)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "nothing")], cwd=REPO,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert "Fashion-MNIST not found" in out.stderr and str(tmp_path / "nothing") in out.stderr
    assert "apt-get install dataset-fashion-mnist" in out.stderr and "Traceback" not in out.stderr
