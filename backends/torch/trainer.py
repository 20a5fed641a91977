"""The PyTorch trainer behind the core's loop: implements :class:`bench.running.registry.Trainer`.

The data stay on the device as uint8 NHWC; each step gathers its batch there,
augments it (shift and flip on uint8, rotation on float), converts it to the
network's dtype and normalises ``(x/255 - mean) / std`` with the training set's
per-channel statistics. Losses and correct counts stay on the device until the
core collects them (every few dozen steps), so no step waits for the device.
"""

from __future__ import annotations

import math
import os
import platform

import numpy as np
import torch
import torch.nn.functional as F

from backends.torch import augment
from backends.torch.networks import (
    build,
    count_trainable,
    export_weights,
    flops_per_image,
    import_weights,
)
from backends.torch.optim import HarnessSGD

# Evaluation batch: on the 2-core CPU larger batches fall out of cache and run slower; what
# an evaluation costs at this batch: results/benchmarks/eval_share_torch.json
EVAL_BATCH = 128


def _bus_id(d: torch.device) -> str | None:
    """The GPU's PCI bus id as nvidia-smi writes it (``00000000:0F:00.0``), None where unknown."""
    try:
        p = torch.cuda.get_device_properties(d)
        return f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
    except (AttributeError, RuntimeError, AssertionError):
        return None


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from bench.errors import BenchError

        raise BenchError(f"device {requested!r} requested but CUDA is not available; allowed here: auto | cpu")
    return torch.device(requested)


class TorchTrainer:
    def __init__(self, spec, data):
        self.spec = spec
        # data parallel (bench run --nproc N launches torchrun, which sets these)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = pick_device(spec.device)
        if self.world > 1:
            self.device = self._init_distributed()
        self.dtype = torch.float64 if spec.precision == "float64" else torch.float32
        self.autocast = spec.precision == "bf16"
        torch.manual_seed(spec.seed)
        net = spec.network
        model = build(net.name, data.input_shape, data.num_classes, net.bn_momentum, net.bn_eps, net.width,
                      batch_norm=net.batch_norm)
        # channels_last: NHWC is the layout the data are stored in, so the batch needs no
        # copy; a raw loop on this simple CNN ran 8,010 img/s with it against 7,813 without
        # (results/benchmarks/torch_vs_raw.json, 2 CPU cores)
        self.channels_last = True
        model = model.to(self.device, self.dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward = model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            if self.device.type == "cuda":  # batch-norm statistics over the global batch
                self.model = model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            # the same initial weights on every rank: DDP broadcasts rank 0's at construction
            self.forward = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        # torch.compile of the training forward (evaluation runs the eager model). auto: on
        # CUDA only; on this 2-core CPU it ran slower than eager (docs/performance.md)
        self.compiled = bool(spec.compile if spec.compile != "auto" else self.device.type == "cuda")
        if self.compiled:
            self.forward = torch.compile(self.forward)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution algorithms
        self.opt = HarnessSGD.for_model(model, spec.optimizer)
        dev = self.device
        self.train_x = torch.from_numpy(data.train_x).to(dev)
        self.train_y = torch.from_numpy(data.train_y).to(dev)
        self.test_x = torch.from_numpy(data.test_x).to(dev)
        self.test_y = torch.from_numpy(data.test_y).to(dev)
        self.val_x = torch.from_numpy(data.val_x).to(dev)
        self.val_y = torch.from_numpy(data.val_y).to(dev)
        self.eval_idx = None if data.eval_idx is None else torch.from_numpy(data.eval_idx).to(dev)
        c = data.input_shape[2]
        self.mean = torch.tensor(data.mean, dtype=self.dtype, device=dev).view(1, c, 1, 1)
        self.std = torch.tensor(data.std, dtype=self.dtype, device=dev).view(1, c, 1, 1)
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (loss, correct) per step
        self.input_shape = data.input_shape
        self.model.train()

    def _init_distributed(self) -> torch.device:
        import torch.distributed as dist

        from bench.errors import BenchError

        if self.spec.batch_size % self.world:
            raise BenchError(f"batch_size {self.spec.batch_size} does not split over {self.world} processes; "
                             "the global batch must be a multiple of --nproc")
        cuda = torch.cuda.is_available() and self.spec.device != "cpu"
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")

    def _shard(self, idx, draws):
        """This rank's share of the global batch (and of its augmentation draws)."""
        if self.world == 1:
            return idx, draws
        r, w = self.rank, self.world
        if draws is not None:
            from dataclasses import replace

            draws = replace(draws, **{k: (None if getattr(draws, k) is None else getattr(draws, k)[r::w])
                                      for k in ("flip", "dx", "dy", "angle")})
        return idx[r::w], draws

    # -- interface -------------------------------------------------------------------
    def describe(self) -> dict:
        import torchvision

        d = self.device
        name = torch.cuda.get_device_name(d) if d.type == "cuda" else (platform.processor() or platform.machine())
        return {
            "framework": {"torch": torch.__version__, "torchvision": torchvision.__version__},
            "device": {"type": d.type, "name": name, "count": 1,
                       # the GPU as nvidia-smi names it (bench.running.clock samples its utilisation)
                       **({"pci_bus_id": _bus_id(d)} if d.type == "cuda" else {})},
            "threads": torch.get_num_threads(),
            "world_size": self.world,
            "cpu_count": os.cpu_count(),
            "trainable_params": count_trainable(self.model),
            "fast_paths": {"channels_last": self.channels_last, "data_on_device": True, "data_dtype": "uint8",
                           "augment_on_device": True, "lr_momentum_as_arguments": True,
                           "autocast_bf16": self.autocast, "compile": self.compiled,
                           "cudnn_benchmark": d.type == "cuda" and torch.backends.cudnn.benchmark,
                           "cudnn_allow_tf32": d.type == "cuda" and torch.backends.cudnn.allow_tf32},
        }

    def _inputs(self, x_u8: torch.Tensor, draws=None) -> torch.Tensor:
        if draws is not None:
            x_u8 = augment.shift_flip(x_u8, draws)
        x = x_u8.permute(0, 3, 1, 2).to(self.dtype)  # NHWC storage -> NCHW view (channels_last)
        x = (x / 255.0 - self.mean) / self.std
        if draws is not None and draws.angle is not None:
            x = augment.rotate(x, draws.angle)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def train_step(self, idx: np.ndarray, draws, lr: float, momentum: float) -> None:
        idx, draws = self._shard(idx, draws)
        i = torch.from_numpy(np.ascontiguousarray(idx)).to(self.device, non_blocking=True)
        x = self._inputs(self.train_x[i], draws)
        y = self.train_y[i]
        if self.autocast:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                logits = self.forward(x)
                loss = F.cross_entropy(logits.float(), y)
        else:  # no autocast context at all: entering a disabled one costs time every step
            logits = self.forward(x)
            loss = F.cross_entropy(logits, y)
        self.opt.zero_grad()
        loss.backward()  # under DDP: gradients averaged over the ranks = the global batch's mean
        self.opt.step(lr, momentum)  # the schedule's values, set before this update
        correct = (logits.detach().argmax(1) == y).sum()
        if self.world > 1:  # the global batch's loss (mean of equal shards) and correct count
            import torch.distributed as dist

            rec = torch.stack([loss.detach().to(torch.float64), correct.to(torch.float64)])
            dist.all_reduce(rec)
            rec[0] /= self.world
            self.pending.append((rec[0], rec[1]))
        else:
            self.pending.append((loss.detach(), correct))  # stacked when collected, not per step

    def collect(self) -> np.ndarray:
        if not self.pending:
            return np.zeros((0, 2))
        losses = torch.stack([p[0] for p in self.pending]).to(torch.float64)
        correct = torch.stack([p[1] for p in self.pending]).to(torch.float64)
        self.pending.clear()
        return torch.stack([losses, correct], 1).cpu().numpy()

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[float, float]:
        if split == "eval" and self.eval_idx is not None:
            xs, ys = self.test_x[self.eval_idx], self.test_y[self.eval_idx]
        elif split == "val":
            xs, ys = self.val_x, self.val_y
        else:
            xs, ys = self.test_x, self.test_y
        self.model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for s in range(0, len(ys), EVAL_BATCH):
            x = self._inputs(xs[s : s + EVAL_BATCH])
            y = ys[s : s + EVAL_BATCH]
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                logits = self.model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").to(torch.float64)
            correct += (logits.argmax(1) == y).sum()
        self.model.train()
        n = len(ys)
        loss = float(loss_sum) / n
        return (loss if math.isfinite(loss) else float("nan")), int(correct) / n

    # -- parity tools (bench/running/parity_tool.py) --------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.model)

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        import_weights(self.model, arrays)
        self.opt.buffers = None

    def set_weight_decay(self, decay: float) -> None:
        """Change the decay (``decay * w`` added to the gradient) for the coming steps."""
        self.opt.decay = float(decay)

    def get_state(self) -> dict:
        """Everything training changes: weights, batch-norm statistics, momentum buffers."""
        return {"model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                "buffers": None if self.opt.buffers is None else [b.clone() for b in self.opt.buffers]}

    def set_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.buffers = None if state["buffers"] is None else [b.clone() for b in state["buffers"]]

    def forward_flops(self) -> float:
        """Forward FLOPs of one image (bench perf): 2 x multiply-adds of convolutions and dense layers."""
        return flops_per_image(self.model, self.input_shape, self.device, self.dtype)

    # -- checkpoints (bench/running/checkpoint.py) -----------------------------------------------
    def save_checkpoint(self, folder, tag: str) -> list[str]:
        """Weights, batch-norm statistics, momentum buffers and the RNG state as one
        ``torch.save`` dict of tensors (loads with ``weights_only=True``)."""
        state = {f"model.{k}": v.detach().cpu() for k, v in self.model.state_dict().items()}
        for i, b in enumerate(self.opt.buffers or []):
            state[f"momentum.{i}"] = b.detach().cpu()
        state["rng.cpu"] = torch.get_rng_state()
        if self.device.type == "cuda":
            state["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        name = f"{tag}.pt"
        torch.save(state, os.path.join(folder, name))
        return [name]

    def load_checkpoint(self, folder, files: list[str]) -> None:
        from bench.running.checkpoint import check_momentum, reading

        path = os.path.join(folder, files[0])
        params = self.opt.params
        with reading(path):
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise ValueError("not a dict of tensors")
            buffers = check_momentum(state, [tuple(p.shape) for p in params])
            self.model.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")},
                                       strict=True)
        self.opt.buffers = [b.to(self.device, p.dtype).clone() for b, p in zip(buffers, params, strict=True)] or None
        torch.set_rng_state(state["rng.cpu"])
        if "rng.cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng.cuda"], self.device)

    @torch.no_grad()
    def logits(self, images_u8: np.ndarray) -> np.ndarray:
        self.model.eval()
        x = self._inputs(torch.from_numpy(images_u8).to(self.device))
        out = self.model(x).double().cpu().numpy()
        self.model.train()
        return out

    def augmented(self, images_u8: np.ndarray, draws) -> np.ndarray:
        """The normalised, augmented batch as NHWC float64 (for cross-backend checks)."""
        x = self._inputs(torch.from_numpy(images_u8).to(self.device), draws)
        return x.permute(0, 2, 3, 1).double().cpu().numpy()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def create_trainer(spec, data) -> TorchTrainer:
    return TorchTrainer(spec, data)
