"""Dataset readers (numpy only) and the run's data preparation.

Readers return uint8 NHWC images and int64 labels. :func:`prepare` applies the spec's
subsets: a validation split held out of the training data (tuning never looks at the
test set), a stratified training subset, a test subset, and a fixed stratified
evaluation subset of the test split for frequent periodic evaluations (the final
evaluation always uses the whole test split). Subsets are drawn with
``dataset.split_seed`` (default 0), not the run seed, so seeds of one experiment vary
initialisation and batch order but train and test on the same examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.data import cifar, fashion_mnist, flowers17, sources, tiny_imagenet
from bench.data.splits import stratified_subset
from bench.errors import SpecError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, int, int]  # H, W, C of the images as read
    num_classes: int
    n_train: int
    n_test: int
    load: Callable[..., tuple]
    class_names: tuple[str, ...]
    # locate(data_dir): where the files are, looking in the places this dataset is looked
    # for (data_dir, $BENCH_DATA_DIR, the cache; Fashion-MNIST also the Debian package's
    # folder) without downloading; raises DataError naming every place looked
    locate: Callable[[Any], Any]


DATASETS: dict[str, DatasetInfo] = {
    fashion_mnist.NAME: DatasetInfo(fashion_mnist.NAME, (28, 28, 1), 10, 60000, 10000,
                                    lambda d, **kw: fashion_mnist.load(d, **kw), fashion_mnist.CLASS_NAMES,
                                    lambda d: fashion_mnist.locate(d, allow_download=False)),
    "cifar10": DatasetInfo("cifar10", (32, 32, 3), 10, 50000, 10000,
                           lambda d, **kw: cifar.load("cifar10", d, **kw),
                           ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                           lambda d: sources.locate("cifar10", d, allow_download=False, folder_ok=cifar._folder_ok("cifar10"))),
    "cifar100": DatasetInfo("cifar100", (32, 32, 3), 100, 50000, 10000,
                            lambda d, **kw: cifar.load("cifar100", d, **kw), tuple(str(i) for i in range(100)),
                            lambda d: sources.locate("cifar100", d, allow_download=False, folder_ok=cifar._folder_ok("cifar100"))),
    "oxflower17": DatasetInfo("oxflower17", (224, 224, 3), 17, 1088, 272,
                              lambda d, **kw: flowers17.load(d, **kw), flowers17.CLASS_NAMES,
                              lambda d: sources.locate("oxflower17", d, allow_download=False, folder_ok=flowers17._folder_ok)),
    "tiny_imagenet": DatasetInfo("tiny_imagenet", (64, 64, 3), 200, 100000, 10000,
                                 lambda d, **kw: tiny_imagenet.load(d, **kw), tuple(str(i) for i in range(200)),
                                 lambda d: sources.locate("tiny_imagenet", d, allow_download=False,
                                                          folder_ok=tiny_imagenet._folder_ok)),
}


def info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise SpecError("dataset.name", name, " | ".join(DATASETS))
    return DATASETS[name]


@dataclass
class Prepared:
    """What a backend gets: arrays (uint8 NHWC images, int64 labels) and normalisation."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    eval_idx: np.ndarray | None  # positions in test_x for periodic evals; None: whole test split
    mean: tuple[float, ...]  # per channel, of train_x / 255
    std: tuple[float, ...]
    num_classes: int
    class_names: tuple[str, ...]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units.

    Exact, from a histogram of the 256 pixel values (no float copy of the data).
    """
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for c in range(x.shape[-1]):
        h = np.bincount(x[..., c].ravel(), minlength=256).astype(np.float64)
        m = float((h * values).sum() / h.sum())
        mean.append(m)
        std.append(float(np.sqrt((h * (values - m) ** 2).sum() / h.sum())))
    return tuple(mean), tuple(std)


def train_count(ds) -> int:
    """Training examples a run will use, known before loading (for epochs -> steps)."""
    i = info(ds.name)
    if ds.train_size is not None:
        return ds.train_size
    return i.n_train - ds.val_size


def prepare(ds, allow_download: bool = True) -> Prepared:
    """Load ``ds.name`` and apply the spec's subsets (``ds`` is the spec's ``dataset``)."""
    i = info(ds.name)
    kw = {"allow_download": allow_download, "verify": ds.verify, "image_size": ds.image_size}
    if ds.name == "oxflower17":
        kw["split_seed"] = ds.split_seed  # its train/test split is drawn, not given
    train_x, train_y, test_x, test_y, source = i.load(ds.data_dir, **kw)
    rng = np.random.default_rng([ds.split_seed, 0x5EED])
    pool = np.arange(len(train_y))
    if ds.val_size:
        if ds.val_size >= len(train_y):
            raise SpecError("dataset.val_size", ds.val_size, f"fewer than the {len(train_y)} training examples")
        val_pos = stratified_subset(train_y, ds.val_size, rng, "dataset.val_size")
        pool = np.setdiff1d(pool, val_pos)
    else:
        val_pos = np.array([], dtype=np.int64)
    if ds.train_size is not None:
        pool = pool[stratified_subset(train_y[pool], ds.train_size, rng, "dataset.train_size")]
    if ds.test_size is not None:
        keep = stratified_subset(test_y, ds.test_size, rng, "dataset.test_size")
        test_x, test_y = test_x[keep], test_y[keep]
    eval_idx = None
    if ds.eval_size is not None:
        eval_idx = stratified_subset(test_y, ds.eval_size, rng, "dataset.eval_size")
    tx = train_x[pool]
    mean, std = channel_stats(tx)
    return Prepared(
        name=ds.name,
        train_x=np.ascontiguousarray(tx),
        train_y=train_y[pool],
        val_x=train_x[val_pos],
        val_y=train_y[val_pos],
        test_x=np.ascontiguousarray(test_x),
        test_y=test_y,
        eval_idx=eval_idx,
        mean=mean,
        std=std,
        num_classes=i.num_classes,
        class_names=tuple(source.get("class_names") or i.class_names),
        source=source,
    )
