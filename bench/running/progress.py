"""Progress for people: a tqdm bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, desc: str = "", enabled: bool = True, stream=None):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and self.stream.isatty()
        self.bar = None
        self.last_acc: float | None = None
        self.lr = self.loss = float("nan")
        self.done = 0
        self._t0 = time.perf_counter()
        self._next_line = 0
        self._line_every = max(1, total // 10)
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step", file=self.stream, dynamic_ncols=True)

    def _fields(self) -> dict:
        f = {"lr": f"{self.lr:.4g}", "loss": f"{self.loss:.4f}"}
        if self.last_acc is not None:
            f["acc"] = f"{self.last_acc:.4f}"
        return f

    def update(self, done: int, lr: float, loss: float) -> None:
        if not self.enabled:
            return
        self.lr, self.loss = lr, loss
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.bar.set_postfix(self._fields(), refresh=False)
        elif done >= self._next_line or done == self.total:
            dt = time.perf_counter() - self._t0
            fields = " ".join(f"{k}={v}" for k, v in self._fields().items())
            print(f"{self.desc} step {done}/{self.total} {fields} ({dt:.0f}s)", file=self.stream, flush=True)
            self._next_line = done + self._line_every
        self.done = done

    def evaluated(self, split: str, acc: float) -> None:
        self.last_acc = acc
        if self.bar is not None:
            self.bar.set_postfix(self._fields(), refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
