"""The experiment spec: YAML in, validated into small frozen models, resolved YAML out.

The schema is docs/contract.md's. Validation happens when a spec is built: a bad value
is reported with its dotted field path, what was received and what is allowed, all
problems at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import BenchError, SpecError, SpecInvalid
from bench.records.architectures import NETWORKS
from bench.records.schedules import Policy
from bench.running.registry import names as backend_names

BACKENDS = backend_names()  # the registry's (bench/running/registry.py)

_Pos = Annotated[int, Field(ge=1)]
_Size = Annotated[int, Field(ge=1)] | None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSpec(_Frozen):
    name: Literal[NETWORKS]  # type: ignore[valid-type]
    # PyTorch sense: weight of the new batch's statistics (Keras momentum m is 1 - m here;
    # Caffe moving_average_fraction f is 1 - f)
    bn_momentum: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    bn_eps: Annotated[float, Field(gt=0.0)] = 1e-5
    # false: every batch-norm layer becomes the identity (e.g. for a data-parallel CPU run,
    # where each process would otherwise normalise over its own shard only)
    batch_norm: bool = True
    width: Annotated[float, Field(gt=0.0)] = 1.0  # channel multiplier


class AugmentSpec(_Frozen):
    flip: bool = False
    shift: Annotated[int, Field(ge=0)] = 0  # pixels
    rotate: Annotated[float, Field(ge=0.0, le=180.0)] = 0.0  # degrees


class DatasetSpec(_Frozen):
    name: str
    data_dir: str | None = None
    train_size: _Size = None  # stratified subset of the training split
    val_size: Annotated[int, Field(ge=0)] = 0  # held out of the training split
    test_size: _Size = None
    eval_size: _Size = None  # fixed stratified subset of the test split for periodic evals
    split_seed: Annotated[int, Field(ge=0)] = 0  # draws the subsets (not the run seed)
    image_size: Annotated[int, Field(ge=8, le=512)] | None = None  # resize to this square (default: native;
    #                                                                 Flowers 17: 224)
    verify: bool = True  # refuse files whose checksums are not the official ones
    augment: AugmentSpec = AugmentSpec()

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from bench.data import DATASETS

        if v not in DATASETS:
            raise ValueError(f"unknown dataset; allowed: {' | '.join(DATASETS)}")
        return v

    @model_validator(mode="after")
    def _sizes(self):
        from bench.data import DATASETS

        i = DATASETS[self.name]
        if self.val_size + (self.train_size or 1) > i.n_train:
            raise ValueError(
                f"train_size ({self.train_size}) + val_size ({self.val_size}) exceed the "
                f"{i.n_train} training examples of {self.name}"
            )
        if self.test_size is not None and self.test_size > i.n_test:
            raise ValueError(f"test_size ({self.test_size}) exceeds the {i.n_test} test examples")
        if self.eval_size is not None and self.eval_size > (self.test_size or i.n_test):
            raise ValueError(
                f"eval_size ({self.eval_size}) exceeds the test split ({self.test_size or i.n_test})"
            )
        return self


class OptimizerSpec(_Frozen):
    name: Literal["sgd"] = "sgd"
    # caffe (Keras, Caffe): v = mu*v - lr*g; w += v.   torch: v = mu*v + g; w -= lr*v
    momentum_form: Literal["caffe", "torch"] = "caffe"
    nesterov: bool = False
    # wd*w added to the gradient (PyTorch/Caffe convention) ...
    weight_decay: Annotated[float, Field(ge=0.0)] | None = None
    # ... or the Keras-style loss term x*sum(w^2), i.e. weight_decay = 2x. One or the other.
    l2: Annotated[float, Field(ge=0.0)] | None = None
    decay_bn_and_bias: bool = False  # decay batch-norm scales/shifts and biases too

    @model_validator(mode="after")
    def _one(self):
        if self.weight_decay is not None and self.l2 is not None:
            raise ValueError(
                f"give weight_decay ({self.weight_decay}) or l2 ({self.l2}), not both "
                "(l2 = x is weight_decay = 2x)"
            )
        return self

    @property
    def decay(self) -> float:
        """The coefficient added to the gradient as ``decay * w``."""
        if self.l2 is not None:
            return 2.0 * self.l2
        return self.weight_decay or 0.0


class BudgetSpec(_Frozen):
    epochs: _Pos | None = None
    steps: _Pos | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(
                f"give exactly one of epochs or steps; received epochs={self.epochs}, steps={self.steps}"
            )
        return self


NOT_HASHED = ("checkpoint_every", "compile")


class Spec(_Frozen):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)]
    backend: Literal[BACKENDS] = "torch"  # type: ignore[valid-type]
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    precision: Literal["float32", "float64", "bf16"] = "float32"
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"
    # graph compilation: torch.compile (PyTorch) or XLA jit_compile (Keras). auto: on a GPU
    # only (on this 2-core CPU both ran slower: docs/performance.md). An execution
    # choice, not part of the experiment: left out of the run id, recorded in meta.json
    compile: Literal["auto", True, False] = "auto"
    network: NetworkSpec
    dataset: DatasetSpec
    optimizer: OptimizerSpec = OptimizerSpec()
    policy: Policy
    batch_size: _Pos
    budget: BudgetSpec
    eval_every: _Pos = 100  # steps
    # the split of the periodic evaluations: auto (the evaluation subset where dataset.eval_size is
    # set, else the whole test split) | val (the validation split, dataset.val_size images held out
    # of the training split: what a tuning run is judged on; it also evaluates val at the end).
    # Written in spec.yaml and the run id only when val, so runs made before the key keep their ids
    eval_split: Literal["auto", "val"] = "auto"
    # updates between checkpoints (0: only when interrupted); does not change the results,
    # so it is left out of the run id
    checkpoint_every: Annotated[int, Field(ge=0)] = 1000
    targets: tuple[Annotated[float, Field(gt=0.0, le=1.0)], ...] = ()  # accuracy fractions
    # a finite loss above EXPLOSION_FACTOR x the first update's loss is recorded as the run's
    # exploded_at; true: the run also ends there, as diverged (exit 3). Written in spec.yaml
    # and the run id only when true, so runs made before the key existed keep their ids
    stop_on_explosion: bool = False
    # where a generated spec came from (bench tune: the derivation rule, c, momentum, ...)
    provenance: dict[str, Any] | None = None

    @field_validator("targets")
    @classmethod
    def _sorted(cls, v):
        return tuple(sorted(set(v)))

    @field_validator("eval_split")
    @classmethod
    def _val_split(cls, v, info):
        ds = info.data.get("dataset")
        if v == "val" and ds is not None and not ds.val_size:
            raise ValueError("val evaluates on the validation split: give dataset.val_size > 0")
        return v

    # -- derived -------------------------------------------------------------------
    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain data (written as spec.yaml);
        ``stop_on_explosion`` only when true, ``eval_split`` only when val."""
        data = self.model_dump(mode="json")
        if not data["stop_on_explosion"]:
            del data["stop_on_explosion"]
        if data["eval_split"] == "auto":
            del data["eval_split"]
        return data

    def spec_hash(self) -> str:
        """8 hex of the resolved spec's sha256, less the keys that cannot change a result
        (``checkpoint_every``: a resumed run continues exactly; ``compile``: how the same
        computation is executed)."""
        blob = json.dumps({k: v for k, v in self.resolved().items() if k not in NOT_HASHED},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    def run_id(self) -> str:
        return f"{self.name}-{self.backend}-s{self.seed}-{self.spec_hash()}"

    def steps_per_epoch(self, n_train: int | None = None) -> int:
        """Updates per epoch; ``n_train`` is the loaded training set's size (default: the
        official size of the dataset less the validation split, or train_size)."""
        from bench.data import train_count
        from bench.data.splits import steps_per_epoch

        return steps_per_epoch(train_count(self.dataset) if n_train is None else n_train, self.batch_size)

    def total_steps(self, n_train: int | None = None) -> int:
        if self.budget.steps is not None:
            return self.budget.steps
        return self.budget.epochs * self.steps_per_epoch(n_train)


# -- validation -------------------------------------------------------------------------


def _problems(err: ValidationError, prefix: str, model: type[BaseModel]) -> list[str]:
    from bench.records.schedules import POLICIES

    out = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        # discriminated unions add the tag as a path element: policy.one-cycle.max_lr
        tag = ""
        if len(loc) > 1 and loc[0] == "policy" and loc[1] in POLICIES:
            tag = f" (policy {loc[1]})"
            loc = [loc[0]] + loc[2:]
        path = ".".join(([prefix] if prefix else []) + loc) + tag
        received = e.get("input")
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"][:-1])
            msg = f"unknown key; allowed keys: {', '.join(allowed)}" if allowed else "unknown key"
        elif e["type"] == "missing":
            out.append(f"{path}: required but missing")
            continue
        elif e["type"] == "model_type":  # a scalar or list where a section belongs
            allowed = _allowed_keys(model, e["loc"])
            msg = f"allowed: a mapping with keys {' | '.join(allowed)}" if allowed else "allowed: a mapping"
        elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = ".".join(([prefix] if prefix else []) + loc + ["name"])
            if e["type"] == "union_tag_not_found":
                out.append(f"{path}: required but missing; allowed: {' | '.join(POLICIES)}")
                continue
            received = e.get("ctx", {}).get("tag", received)
            msg = f"allowed: {' | '.join(POLICIES)}"
        msg = msg.replace("Value error, ", "")
        out.append(f"{path}: received {received!r}; {msg}")
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    from bench.records.schedules import POLICIES

    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            if part in cur.model_fields:
                ann = cur.model_fields[part].annotation
                cur = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
                if part == "policy":
                    cur = "policy"
                continue
        if cur == "policy" and part in POLICIES:
            cur = POLICIES[part]
            continue
        return []
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    return []


def validate_model(model: type[BaseModel], data: Any, prefix: str = "", source: str = "spec"):
    if not isinstance(data, dict):
        raise SpecError(prefix or "spec", data, "a mapping of keys to values")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise SpecInvalid(source, _problems(err, prefix, model)) from None


def parse_value(text: str) -> Any:
    """A ``--set`` value, parsed as a YAML scalar (``1e-3`` is a float, ``null`` is None,
    ``'"1e5"'`` the string 1e5)."""
    try:
        return safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def apply_sets(data: dict, sets: list[str]) -> dict:
    """Apply ``KEY=VALUE`` overrides with dotted paths (``policy.max_lr=1.0``)."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in sets:
        if "=" not in item:
            raise BenchError(f"--set expects KEY=VALUE with a dotted key; received {item!r}")
        key, _, text = item.partition("=")
        parts = key.strip().split(".")
        if not all(parts):
            raise BenchError(f"--set: bad key {key!r} (dotted path such as policy.max_lr)")
        cur = data
        for i, p in enumerate(parts[:-1]):
            nxt = cur.get(p)
            if nxt is None:
                nxt = cur[p] = {}
            if not isinstance(nxt, dict):
                raise BenchError(
                    f"--set {item!r}: {'.'.join(parts[: i + 1])} is {nxt!r}, not a mapping"
                )
            cur = nxt
        cur[parts[-1]] = parse_value(text)
    return data


# PyYAML follows YAML 1.1, where a float needs a dot: it reads ``1e-5`` as the string
# "1e-5". Specs are read as YAML 1.2 reads them: an unquoted 1e-5 is a float. Only plain
# (unquoted) scalars are resolved, so a quoted "1e5" stays a string (a name, a label).
_EXP_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads ``1e-5`` (no dot) as a float."""


class _Dumper(yaml.SafeDumper):
    """yaml.SafeDumper that quotes the strings :class:`_Loader` would read as floats
    (the string "1e5" is written ``'1e5'``), so that written specs read back the same."""


for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("+-.0123456789"))


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2's floats: ``1e-5`` unquoted is a float, quoted a string."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def shipped_specs() -> list[str]:
    """The names of the shipped specs (bench/specs/*.yaml), as ``bench run NAME`` takes them."""
    return sorted(p.stem for p in (Path(__file__).parent.parent / "specs").glob("*.yaml"))


def _not_found(p: Path) -> BenchError:
    import difflib

    shipped = Path(__file__).parent.parent / "specs" / p.name
    if shipped.is_file():
        return BenchError(f"spec file not found: {p} (a shipped spec of that name is at {shipped})")
    names = shipped_specs()
    stem = p.name[:-5] if p.name.endswith((".yaml", ".yml")) else p.name
    close = difflib.get_close_matches(stem, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return BenchError(f"spec file not found: {p}{hint}\nshipped specs (bench run NAME; bench list specs): "
                      f"{', '.join(names)}; or give the path of a spec YAML file")


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise _not_found(p)
    try:
        data = safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise BenchError(f"{p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{p}: a spec is a YAML mapping; received {type(data).__name__}")
    return data


def build(data: dict, sets: list[str] = (), overrides: dict | None = None, source: str = "spec") -> Spec:
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    data = apply_sets(data, list(sets))
    return validate_model(Spec, data, source=source)


def load(path: str | Path, sets: list[str] = (), overrides: dict | None = None) -> Spec:
    """Read, override and validate a spec file."""
    return build(read_yaml(path), sets, overrides, source=str(path))


def shipped_spec(name: str) -> Path:
    return Path(__file__).parent.parent / "specs" / name


def dump_yaml(data: dict) -> str:
    """YAML that :func:`read_yaml` reads back equal (the string "1e5" is quoted)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def parse_policy(data: dict):
    """Validate a bare policy mapping (``{name: ..., key: value}``) into its model
    (``bench schedule``: the policy keys without the spec around them)."""
    from bench.records.schedules import POLICIES

    name = data.get("name")
    if name not in POLICIES:
        raise SpecError("policy", name, " | ".join(POLICIES))
    return validate_model(POLICIES[name], data, prefix="policy", source="policy")
