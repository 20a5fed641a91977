"""SGD with momentum in both formulations, with the rate and momentum set every step.

``caffe`` (Caffe, Keras; the logs we compare against):  ``v = mu*v - lr*g; w += v``
``torch`` (``torch.optim.SGD``):                         ``v = mu*v + g;     w -= lr*v``

They are the same only while lr is constant. Nesterov: caffe form ``w += mu*v - lr*g``
(Caffe's NesterovSolver and Keras' SGD, after substituting the new v), torch form
``w -= lr*(g + mu*v)``. Weight decay is ``decay*w`` added to the gradient, before
momentum, on the parameters chosen by the spec (by default not batch-norm scales and
shifts nor biases). The first torch-form step sets ``v = g`` as torch does; the
caffe-form buffer starts at zero, as Caffe's and Keras' do.
"""

from __future__ import annotations

import torch


class HarnessSGD:
    def __init__(self, decayed, not_decayed, *, form: str, nesterov: bool, decay: float):
        if form not in ("caffe", "torch"):
            raise ValueError(f"momentum form must be caffe or torch; received {form!r}")
        self.decayed = [p for p in decayed if p.requires_grad]
        self.not_decayed = [p for p in not_decayed if p.requires_grad]
        self.params = self.decayed + self.not_decayed
        self.form, self.nesterov, self.decay = form, nesterov, float(decay)
        self.buffers: list[torch.Tensor] | None = None

    @classmethod
    def for_model(cls, model: torch.nn.Module, optimizer_spec) -> HarnessSGD:
        decayed, rest = [], []
        for p in model.parameters():
            # weights of conv and dense layers have ndim >= 2; BN scales/shifts and biases 1
            (decayed if (p.ndim > 1 or optimizer_spec.decay_bn_and_bias) else rest).append(p)
        return cls(decayed, rest, form=optimizer_spec.momentum_form,
                   nesterov=optimizer_spec.nesterov, decay=optimizer_spec.decay)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float, momentum: float) -> None:
        params = self.params
        grads = [p.grad for p in params]
        if any(g is None for g in grads):
            raise RuntimeError("a parameter has no gradient: every parameter must take part in the loss")
        n_dec = len(self.decayed)  # decayed parameters come first in self.params
        if self.decay and n_dec:
            torch._foreach_add_(grads[:n_dec], params[:n_dec], alpha=self.decay)
        if self.buffers is None:
            if self.form == "torch":
                self.buffers = [g.clone() for g in grads]
            else:
                self.buffers = [torch.zeros_like(g) for g in grads]
                torch._foreach_add_(self.buffers, grads, alpha=-lr)
        else:
            torch._foreach_mul_(self.buffers, momentum)
            torch._foreach_add_(self.buffers, grads, alpha=1.0 if self.form == "torch" else -lr)
        v = self.buffers
        if self.form == "torch":
            upd = torch._foreach_add(grads, v, alpha=momentum) if self.nesterov else v
            torch._foreach_add_(params, upd, alpha=-lr)
        elif self.nesterov:
            torch._foreach_add_(params, v, alpha=momentum)
            torch._foreach_add_(params, grads, alpha=-lr)
        else:
            torch._foreach_add_(params, v)

    def state_dict(self) -> dict:
        return {"buffers": None if self.buffers is None else [b.clone() for b in self.buffers]}
