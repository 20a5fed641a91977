"""Where a run ran, beyond the framework: the image it ran in and the accelerator stack.

Both go into ``meta.json`` (``image`` and ``accelerator``). Nothing here imports a
framework (the core rule: ``bench/`` imports none); the trainer's ``describe()`` already
reports the framework's own versions.

``image_identity()``: what the image build baked in (Dockerfile, docker/build.sh): the git
commit of the working tree it was built from, the SHA-256 of the lock file its packages were
installed from, the base image and its digest, and the target. ``None`` outside an image.

``accelerator()``: the CUDA runtime and cuDNN versions of the installed NVIDIA wheels (read
from the packages' metadata, not by loading them), and the GPUs with the host's driver
version (``nvidia-smi``, or ``/proc/driver/nvidia`` where the tool is absent). Never raises;
what cannot be read is left out or ``None``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

# environment variable (set in the image, Dockerfile) -> key in meta.json's "image"
IMAGE_ENV = {
    "BENCH_IMAGE_TARGET": "target",
    "BENCH_IMAGE_COMMIT": "commit",
    "BENCH_IMAGE_LOCK_SHA256": "lock_sha256",
    "BENCH_IMAGE_BASE": "base",
    "BENCH_IMAGE_BASE_DIGEST": "base_digest",
}
# the lock file inside the image (its hash is computed when the build did not pass it)
LOCK_ENV = "BENCH_IMAGE_LOCK"

# distribution names of the NVIDIA wheels the frameworks depend on (CUDA 13 names first)
CUDA_RUNTIME_DISTS = ("nvidia-cuda-runtime", "nvidia-cuda-runtime-cu13", "nvidia-cuda-runtime-cu12")
CUDNN_DISTS = ("nvidia-cudnn-cu13", "nvidia-cudnn-cu12", "nvidia-cudnn")
PROC_DRIVER = Path("/proc/driver/nvidia")


def image_identity(environ: dict[str, str] | None = None) -> dict | None:
    """The image this process runs in, from the variables its build set; ``None`` when
    none is set (not in one of the harness's images)."""
    env = os.environ if environ is None else environ
    ident = {key: env[var] for var, key in IMAGE_ENV.items() if env.get(var)}
    lock = env.get(LOCK_ENV)
    if not ident and not lock:
        return None
    if lock:
        ident["lock"] = lock
        if "lock_sha256" not in ident:
            digest = _sha256(Path(lock))
            if digest:
                ident["lock_sha256"] = digest
    if "base_digest" not in ident and "@" in ident.get("base", ""):
        ident["base_digest"] = ident["base"].split("@", 1)[1]
    return ident


def accelerator(nvidia_smi: str | None = None) -> dict:
    """``{"cuda_runtime": {dist: version}, "cudnn": {dist: version}, "driver": str | None,
    "gpus": [{"name", "memory_mib"}, ...]}``: what is installed and what the host provides.
    ``nvidia_smi``: the tool's path (default: found on PATH)."""
    gpus, driver = _gpus(nvidia_smi)
    return {
        "cuda_runtime": _versions(CUDA_RUNTIME_DISTS),
        "cudnn": _versions(CUDNN_DISTS),
        "driver": driver,
        "gpus": gpus,
    }


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _versions(dists) -> dict[str, str]:
    out = {}
    for name in dists:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # a broken installation's metadata: leave it out
            continue
    return out


def _gpus(nvidia_smi: str | None) -> tuple[list[dict], str | None]:
    tool = nvidia_smi or shutil.which("nvidia-smi")
    if tool:
        try:
            out = subprocess.run([tool, "--query-gpu=name,memory.total,driver_version",
                                  "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20)
            if out.returncode == 0:
                gpus, driver = [], None
                for line in out.stdout.splitlines():
                    parts = [p.strip() for p in line.split(",")]
                    if len(parts) != 3:
                        continue
                    name, mem, driver = parts
                    gpus.append({"name": name, "memory_mib": int(mem) if mem.isdigit() else None})
                return gpus, driver
        except (OSError, subprocess.SubprocessError):
            pass
    return _proc_gpus()


def _proc_gpus(root: Path = PROC_DRIVER) -> tuple[list[dict], str | None]:
    """The kernel module's view (visible in containers the NVIDIA runtime starts)."""
    driver = None
    try:
        first = (root / "version").read_text().splitlines()[0]
        # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 ..."
        words = first.split("Kernel Module", 1)[-1].split()
        driver = words[0] if words else None
    except (OSError, IndexError):
        pass
    gpus = []
    try:
        for info in sorted(root.glob("gpus/*/information")):
            fields = dict(line.split(":", 1) for line in info.read_text().splitlines() if ":" in line)
            gpus.append({"name": fields.get("Model", "").strip() or None, "memory_mib": None})
    except OSError:
        pass
    return gpus, driver
