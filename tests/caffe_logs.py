"""Caffe training logs written by the tests, in the format of the authors' logs.

The authors' logs (lnsmith54/super-convergence, Results/) are not redistributed here: their
repository gives no licence. This writes logs with the same structure (glog stamps, the
solver header, the data layer's mirror / crop_size / batch_size, batch-norm
moving_average_fraction, "Testing net" blocks with accuracy and loss, per-iteration loss
and lr lines, "Optimization Done") from numbers the test chooses, so the importer is
checked against values known exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def write_caffe_log(path: Path, *, solver: dict, evals: list[tuple[int, float, float]],
                    losses: dict[int, float], lrs: dict[int, float], gpus: int = 8, batch: int = 125,
                    mirror: bool = True, bn_fraction: float = 0.95, start: dt.datetime | None = None,
                    test_s: float = 79.0, iter_s: float = 1.4, done: bool = True) -> dict:
    """Write a log; returns what an importer must read back: the training seconds at each
    evaluation (wall time from "Solving" less the testing time before it)."""
    t = start or dt.datetime(2016, 8, 17, 16, 2, 51, 154722)
    lines = []
    pid = 17550

    def stamp(at: dt.datetime, src: str) -> str:
        return f"I{at:%m%d %H:%M:%S}.{at.microsecond:06d} {pid} {src}]"

    lines.append(f"{stamp(t, 'caffe.cpp:217')} Using GPUs {', '.join(map(str, range(gpus)))}")
    lines.append(f"{stamp(t, 'solver.cpp:48')} Initializing solver from parameters: ")
    for k, v in solver.items():
        for one in v if isinstance(v, list) else [v]:
            lines.append(f'{k}: "{one}"' if k == "lr_policy" else f"{k}: {one}")
    lines += ["train_state {", "  level: 0", '  stage: ""', "}"]
    lines.append(f"{stamp(t, 'solver.cpp:91')} Creating training net from net file: arch.prototxt")
    lines += ["layer {", '  name: "dataLayer"', "  transform_param {", f"    mirror: {str(mirror).lower()}",
              "    crop_size: 32", "  }", "  data_param {", f"    batch_size: {batch}", "  }", "}"]
    lines += ["layer {", '  name: "pre_bn"', "  batch_norm_param {",
              f"    moving_average_fraction: {bn_fraction}", "  }", "}"]
    t += dt.timedelta(seconds=8)
    lines.append(f"{stamp(t, 'solver.cpp:279')} Solving Cifar-Resnet")
    solving = t
    spent_testing = 0.0
    train_s_at = {}
    by_step = {s: (acc, loss) for s, acc, loss in evals}
    last = max([*by_step, *losses, *lrs])
    for it in range(0, last + 1):
        if it in by_step:
            acc, loss = by_step[it]
            lines.append(f"{stamp(t, 'solver.cpp:337')} Iteration {it}, Testing net (#0)")
            train_s_at[it] = (t - solving).total_seconds() - spent_testing
            t += dt.timedelta(seconds=test_s)
            spent_testing += test_s
            lines.append(f"{stamp(t, 'solver.cpp:404')}     Test net output #0: accuracy = {acc}")
            lines.append(f"{stamp(t, 'solver.cpp:404')}     Test net output #1: loss = {loss} (* 1 = {loss} loss)")
        if it in losses:  # the testing time ends at the next line that is not a test's
            lines.append(f"{stamp(t, 'solver.cpp:228')} Iteration {it}, loss = {losses[it]}")
        if it in lrs:
            lines.append(f"{stamp(t, 'sgd_solver.cpp:166')} Iteration {it}, lr = {lrs[it]}")
        if it in losses or it in lrs or it in by_step:
            t += dt.timedelta(seconds=iter_s)
    if done:
        lines.append(f"{stamp(t, 'solver.cpp:454')} Optimization Done.")
    Path(path).write_text("\n".join(lines) + "\n")
    return {"train_s_at": train_s_at}
