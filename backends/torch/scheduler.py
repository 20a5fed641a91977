"""A benchmarked policy in your own PyTorch loop: :class:`PolicyScheduler`, an ``LRScheduler``
that sets each param group's ``lr`` and ``momentum`` per optimizer step from the harness's
schedule (``bench schedule`` prints the same values)::

    from backends.torch.scheduler import PolicyScheduler
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.0)
    sched = PolicyScheduler(opt, "bench/specs/fashion_mnist_one_cycle.yaml")
    for x, y in batches:  # the spec's batch size
        opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step(); sched.step()

**Momentum form.** Stock ``torch.optim.SGD`` (``dampening=0``) is the harness's ``torch``
form, ``v = mu*v + g; w -= lr*v`` (Nesterov: ``w -= lr*(g + mu*v)``), and with this
scheduler it reproduces a harness run whose spec says ``optimizer.momentum_form: torch``,
update for update. The harness's default, ``caffe`` (Caffe's and Keras' SGD),
``v = mu*v - lr*g; w += v``, differs from it whenever the rate changes between steps
(every policy but ``constant``): the same rates in stock SGD are not the caffe-form run.

**Weight decay.** ``SGD(weight_decay=wd)`` adds ``wd*w`` to the gradient of every parameter
in the group, as the harness does, but the harness by default leaves batch-norm scales and
shifts and biases undecayed (``decay_bn_and_bias: false``). To match it, give two param
groups: the weights with ``ndim > 1`` with ``weight_decay=wd``, the rest with 0 (or set
``decay_bn_and_bias: true`` in the spec).

The scheduler is stepped after every optimizer step: at construction it sets the values
of update 0, after the k-th ``step()`` those of update k. ``step()`` after the last update
is allowed and changes nothing; one more raises :class:`bench.errors.StepOutOfRange` (a
schedule never wraps). Its ``state_dict`` holds plain data (the policy as a mapping), so
it saves with ``torch.save`` and loads with ``weights_only=True``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from backends.policy import schedule_for
from bench.errors import StepOutOfRange


def _set(group: dict, key: str, value: float) -> None:
    if isinstance(group[key], torch.Tensor):  # a tensor lr or momentum (capturable optimizers)
        group[key].fill_(value)
    else:
        group[key] = value


class PolicyScheduler(LRScheduler):
    """Sets ``lr`` and ``momentum`` of every param group to the harness schedule's values.

    ``policy``: a ``bench.records.spec.Spec``, a spec file or run directory, a policy model or
    mapping, or a ``bench.records.schedules.Schedule`` (:func:`backends.policy.schedule_for`);
    ``total_steps`` overrides the spec's budget (required for a bare policy); ``n_train``:
    the training examples an epoch budget counts (default the spec's)."""

    def __init__(self, optimizer: torch.optim.Optimizer, policy: Any, total_steps: int | None = None, *,
                 n_train: int | None = None, last_epoch: int = -1):
        self.schedule = schedule_for(policy, total_steps, n_train)
        for i, group in enumerate(optimizer.param_groups):
            if "momentum" not in group:
                raise ValueError(f"param group {i} of {type(optimizer).__name__} has no momentum: "
                                 "PolicyScheduler drives SGD (torch.optim.SGD) rate and momentum")
            if group.get("dampening", 0) != 0:
                raise ValueError(f"param group {i} has dampening={group['dampening']}: the harness's torch "
                                 "momentum form is SGD with dampening 0")
        self._momenta: list[float] = []
        super().__init__(optimizer, last_epoch)

    @property
    def total_steps(self) -> int:
        return self.schedule.total_steps

    def _values(self) -> tuple[float, float] | None:
        """(lr, momentum) of update ``last_epoch``; None just past the last update."""
        s = self.last_epoch
        if s == self.schedule.total_steps:  # stepped after the last update: nothing more to set
            return None
        if s > self.schedule.total_steps:
            raise StepOutOfRange(f"PolicyScheduler stepped {s} times; its schedule has {self.schedule.total_steps} "
                                 "updates and never wraps")
        return self.schedule(s)

    def get_lr(self) -> list[float]:
        v = self._values()
        if v is None:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [v[0]] * len(self.optimizer.param_groups)

    def step(self, epoch: int | None = None) -> None:
        super().step(epoch)  # lr of update last_epoch (after last_epoch += 1)
        v = self._values()
        if v is not None:
            for group in self.optimizer.param_groups:
                _set(group, "momentum", v[1])
        self._momenta = [float(g["momentum"]) for g in self.optimizer.param_groups]

    def get_last_momentum(self) -> list[float]:
        """The momentum of each param group, as last set."""
        return list(self._momenta)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in super().state_dict().items() if k != "schedule"}
        state["policy"] = self.schedule.policy.model_dump(mode="json")
        state["total_steps"] = self.schedule.total_steps
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        policy, total = state.pop("policy", None), state.pop("total_steps", None)
        mine = self.schedule.policy.model_dump(mode="json")
        if (policy, total) != (mine, self.schedule.total_steps):
            raise ValueError(f"the saved scheduler follows {policy} over {total} steps; this one follows {mine} "
                             f"over {self.schedule.total_steps}")
        super().load_state_dict(state)


__all__ = ["PolicyScheduler"]
