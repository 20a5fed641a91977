"""CIFAR-10/100, Flowers 17 and TinyImageNet readers on archives written in the official formats."""

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

from bench import data as datasets
from bench.data import archive, cifar, flowers17, sources, tiny_imagenet
from bench.errors import DataError
from bench.records.spec import DatasetSpec, validate_model

import datasets_fixtures as fx
from common import REPO


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the array cache and download cache
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)


def test_cifar10_archive(tmp_path):
    fx.cifar10_tar(tmp_path / "cifar-10-python.tar.gz", per_batch=4)
    with pytest.raises(DataError, match="checksum mismatch .* c58f30108f718f92721af3b95e74349a"):
        cifar.load("cifar10", tmp_path, verify=True)  # a fixture is not the official archive
    tx, ty, sx, sy, src = cifar.load("cifar10", tmp_path, verify=False)
    assert tx.shape == (20, 32, 32, 3) and tx.dtype == np.uint8 and sx.shape == (4, 32, 32, 3)
    assert ty.tolist() == [0, 1, 2, 3] * 5 and src["class_names"][9] == "truck"
    assert src["checks"]["cifar-10-python.tar.gz"].startswith("unverified md5")
    # channel-major rows become HWC: pixel (0, 0) of channel 1 is byte 1024 of the row
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz") as t:
        raw = pickle.loads(t.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
    assert tx[0, 0, 0, 1] == raw[b"data"][0][1024] and tx[0, 0, 1, 0] == raw[b"data"][0][1]


def test_cifar10_folder_and_cache(tmp_path):
    fx.cifar10_tar(tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as t:
        t.extractall(tmp_path / "x", filter="data")
    first = cifar.load("cifar10", tmp_path / "x", verify=False)
    assert "cache" not in first[4]
    second = cifar.load("cifar10", tmp_path / "x", verify=False)
    assert second[4]["cache"]["hit"] is True
    np.testing.assert_array_equal(first[0], second[0])
    with pytest.raises(DataError, match="checksum mismatch .*data_batch_1"):
        cifar.load("cifar10", tmp_path / "x", verify=True)


def test_cifar100_archive(tmp_path):
    fx.cifar100_tar(tmp_path / "cifar-100-python.tar.gz", n=20)
    tx, ty, sx, sy, src = cifar.load("cifar100", tmp_path, verify=False)
    assert tx.shape == (20, 32, 32, 3) and ty.max() == 19 and src["class_names"][3] == "class3"


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    fx.cifar10_tar(tmp_path / "ok.tar.gz")
    bad = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tmp_path / "ok.tar.gz") as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.endswith("data_batch_1"):
                data = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(DataError, match="refused to unpickle .*(posix|os)\\.system"):
        cifar.load("cifar10", tmp_path, verify=False)
    assert not marker.exists()
    with pytest.raises(DataError, match="refused"):
        archive.safe_unpickle(pickle.dumps(eval), "x")  # builtins.eval: refused too


@pytest.mark.parametrize("member", ["../escape.txt", "/etc/evil", "cifar-10-batches-py/../../up"])
def test_tar_traversal_is_refused(tmp_path, member):
    bad = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(bad, "w:gz") as t:
        info = tarfile.TarInfo(member)
        info.size = 3
        t.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DataError, match="refused unsafe member"):
        cifar.load("cifar10", tmp_path, verify=False)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_tar_link_leaving_the_archive_is_refused(tmp_path):
    bad = tmp_path / "17flowers.tgz"
    with tarfile.open(bad, "w:gz") as t:
        info = tarfile.TarInfo("jpg/image_0001.jpg")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
    with pytest.raises(DataError, match="refused unsafe member 'jpg/image_0001.jpg'"):
        flowers17.load(tmp_path, verify=False)


def test_zip_traversal_is_refused(tmp_path):
    bad = tmp_path / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("tiny-imagenet-200/wnids.txt", "n1\n")
        z.writestr("../../evil.txt", "x")
    with pytest.raises(DataError, match="refused unsafe member '../../evil.txt'"):
        tiny_imagenet.load(tmp_path, verify=False)


def test_truncated_archive_errors_clearly(tmp_path):
    fx.cifar10_tar(tmp_path / "full.tar.gz", per_batch=50)
    blob = (tmp_path / "full.tar.gz").read_bytes()
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz.*(truncated|corrupt)"):
        cifar.load("cifar10", tmp_path, verify=False)


def test_corrupt_jpeg_names_the_file(tmp_path):
    with tarfile.open(tmp_path / "17flowers.tgz", "w:gz") as t:
        info = tarfile.TarInfo("jpg/image_0001.jpg")
        data = b"\xff\xd8\xff\xe0 not really a jpeg"
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="image_0001.jpg: cannot decode image"):
        flowers17.load(tmp_path, verify=False)


def test_flowers17_archive_split_and_size(tmp_path):
    fx.flowers17_tgz(tmp_path / "17flowers.tgz", per_class=5)
    tx, ty, sx, sy, src = flowers17.load(tmp_path, verify=False, image_size=24)
    assert tx.shape[1:] == (24, 24, 3) and len(tx) + len(sx) == 85
    assert np.bincount(sy).tolist() == [1] * 17 and np.bincount(ty).tolist() == [4] * 17  # 80/20 per class
    assert src["class_names"][0] == "Daffodil" and src["class_names"][16] == "Pansy"
    default = flowers17.load(tmp_path, verify=False)
    assert default[0].shape[1:] == (224, 224, 3)
    other = flowers17.load(tmp_path, verify=False, image_size=24, split_seed=1)
    assert not np.array_equal(other[3], sy) or not np.array_equal(other[2], sx)


def test_flowers17_class_folders(tmp_path):
    rng = np.random.default_rng(0)
    for cname in ("b_rose", "a_daisy"):
        (tmp_path / "flowers" / cname).mkdir(parents=True)
        for k in range(5):
            (tmp_path / "flowers" / cname / f"{k}.jpg").write_bytes(fx._jpeg(rng))
    tx, ty, sx, sy, src = flowers17.load(tmp_path / "flowers", verify=False, image_size=16)
    assert src["class_names"] == ["a_daisy", "b_rose"] and len(tx) == 8 and len(sx) == 2


def test_tiny_imagenet_zip_and_folder(tmp_path):
    fx.tiny_imagenet_zip(tmp_path / "tiny-imagenet-200.zip")
    tx, ty, sx, sy, src = tiny_imagenet.load(tmp_path, verify=False)
    assert tx.shape == (12, 64, 64, 3) and sx.shape == (6, 64, 64, 3)
    assert np.bincount(ty).tolist() == [4, 4, 4] and sy.tolist() == [0, 0, 1, 1, 2, 2]
    assert src["class_names"] == ["name 0", "name 1", "name 2"]
    with zipfile.ZipFile(tmp_path / "tiny-imagenet-200.zip") as z:
        z.extractall(tmp_path / "x")
    fx2 = tiny_imagenet.load(tmp_path / "x" / "tiny-imagenet-200", verify=False)
    np.testing.assert_array_equal(fx2[0], tx)


def test_missing_dataset_names_every_path(tmp_path):
    (tmp_path / "nowhere").mkdir()  # empty: a data_dir that does not exist is refused before any looking
    with pytest.raises(DataError) as e:
        cifar.load("cifar10", tmp_path / "nowhere")
    msg = str(e.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path / "nowhere") in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg and "c58f30108f718f92721af3b95e74349a" in msg


def test_prepare_with_subsets(tmp_path):
    fx.cifar10_tar(tmp_path / "cifar-10-python.tar.gz", per_batch=20)
    ds = validate_model(DatasetSpec, {"name": "cifar10", "data_dir": str(tmp_path), "verify": False,
                                      "train_size": 50, "val_size": 10})
    p = datasets.prepare(ds)
    assert len(p.train_y) == 50 and len(p.val_y) == 10 and np.bincount(p.train_y).tolist() == [5] * 10
    assert p.input_shape == (32, 32, 3) and p.class_names[0] == "airplane"


def test_augmentation_statistics():
    from bench.records.spec import AugmentSpec
    from bench.running import augment

    flips, shifts = [], []
    for step in range(200):
        d = augment.draw(AugmentSpec(flip=True, shift=4), 0, step, 128)
        flips.append(d.flip.mean())
        shifts += list(d.dx) + list(d.dy)
    assert abs(np.mean(flips) - 0.5) < 0.01
    assert min(shifts) == -4 and max(shifts) == 4
    counts = np.bincount(np.array(shifts) + 4)
    assert counts.min() > 0.8 * counts.mean()  # uniform over the 9 offsets


def _bench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_data_check_cli(tmp_path):
    fx.cifar10_tar(tmp_path / "cifar-10-python.tar.gz")
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "BENCH_OFFLINE": "1"}
    out = _bench("data", "check", "cifar10", "--data-dir", str(tmp_path), env=env)
    assert out.returncode == 2 and "checksum mismatch" in out.stderr and "Traceback" not in out.stderr
    out = _bench("data", "check", "cifar10", "--data-dir", str(tmp_path), "--no-verify", env=env)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["train"]["images"] == [20, 32, 32, 3] and r["classes"][0] == "airplane"
    assert "unverified" in json.dumps(r["files"])
    (tmp_path / "none").mkdir()  # empty: a --data-dir that does not exist is refused before any looking
    out = _bench("data", "check", "tiny_imagenet", "--data-dir", str(tmp_path / "none"), env=env)
    assert out.returncode == 2 and "tiny-imagenet-200.zip" in out.stderr and "Traceback" not in out.stderr


FIXTURES = {
    "cifar10": lambda d: fx.cifar10_tar(d / "cifar-10-python.tar.gz", per_batch=8),
    "cifar100": lambda d: fx.cifar100_tar(d / "cifar-100-python.tar.gz", n=40),
    "oxflower17": lambda d: fx.flowers17_tgz(d / "17flowers.tgz", per_class=3),
    "tiny_imagenet": lambda d: fx.tiny_imagenet_zip(d / "tiny-imagenet-200.zip"),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_bench_run_on_fixture_every_backend(tmp_path, name):
    from bench.running.registry import available

    FIXTURES[name](tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "BENCH_OFFLINE": "1"}
    size = ", image_size: 32" if name == "oxflower17" else ""
    sets = [f"dataset={{name: {name}, data_dir: '{tmp_path}', verify: false{size}}}",
        "budget={steps: 3}", "batch_size=4", "eval_every=2", "dataset.augment={flip: true, shift: 2}"]
    for b in available():
        args = ["run", "smoke", "--backend", b, "--quiet", "--out", str(tmp_path / "runs")]
        for s in sets:
            args += ["--set", s]
        out = _bench(*args, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        summary = json.loads((tmp_path / "runs" / out.stdout.strip().splitlines()[-1].split("/")[-1] / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["steps_done"] == 3


def test_sources_table_is_complete():
    for name in ("cifar10", "cifar100", "oxflower17", "tiny_imagenet"):
        s = sources.SOURCES[name]
        assert len(s.md5) == 32 and s.url.endswith(s.archive) and name in datasets.DATASETS
