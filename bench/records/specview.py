"""The spec as readers see it: a typed view of a run's spec.yaml.

What every reader of run directories relies on is checked when a run is loaded
(:func:`bench.records.rundir.read_spec`) and read through :class:`SpecHead`
(``run.head``): ``run.head.network.name``, ``run.head.dataset.train_size``,
``run.head.provenance``, never ``run.spec["network"]["name"]``. An imported run's spec need
not be one this harness runs, so only these keys are checked; the rest is kept as it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class _Named(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class DatasetHead(_Named):
    """The dataset as a reader needs it (images; None where the spec leaves the default)."""

    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    eval_size: int | None = None

    def label(self) -> str:
        """``fashion_mnist``, or ``fashion_mnist n=6000`` on a training subset."""
        return self.name + (f" n={self.train_size}" if self.train_size else "")


class SpecHead(BaseModel):
    """A run's spec.yaml, typed where readers read it."""

    model_config = ConfigDict(extra="allow")
    name: str
    backend: str
    seed: int
    network: _Named
    dataset: DatasetHead
    policy: _Named
    batch_size: Annotated[int, Field(ge=1)]
    eval_every: Annotated[int, Field(ge=1)] | None = None  # steps between periodic evaluations
    targets: list[float] = []  # accuracy fractions whose first crossing the summary records
    budget: dict[str, Any] | None = None  # epochs or steps
    optimizer: dict[str, Any] | None = None
    # how a value was chosen (bench tune's rule and c, a tuned cell's grid and choice)
    provenance: dict[str, Any] | None = None

    @property
    def policy_data(self) -> dict[str, Any]:
        """The policy as plain data (name and every key the spec gives)."""
        return self.policy.model_dump()

    @property
    def rule(self) -> str | None:
        """``provenance.rule`` (smith, report, grid-best, tune-grid), None where not given."""
        return (self.provenance or {}).get("rule")
