"""Part B training, the evidence a run must bring: complete, finite records of its optimizer steps and
of its first forwards (made in the student's process, so required and checked, never trusted)."""

from __future__ import annotations

import numpy as np

from grader.course.proj5b import shared as P

# ---- training ----------------------------------------------------------------------------------------


def steps_evidence_problem(name: str, step: dict, num_steps: int) -> str | None:
    """What is missing or inconsistent in the record of the first optimizer steps, or None.

    The record (harness ``_StepRecorder``) must hold, for each of the first steps taken (at least one), the
    parameters before and after, the gradients stepped with and those of the backward() calls, and the
    optimizer's settings, all finite and of one parameter count (the sum of the parameters' sizes)."""
    before, after, grads, fresh, hyper, live, sizes = (step.get(k) for k in P.STEP_KEYS)
    if num_steps == 0:
        return f"{name} never calls optimizer.step() on the model's parameters, so its training cannot be checked"
    if after is None or after.ndim != 2 or len(after) == 0:
        return f"{name}: its optimizer steps left no record of the parameters and gradients: training cannot be checked"
    n, width = after.shape
    shaped = all(a is not None and a.ndim == 2 and len(a) >= n and a.shape[1] == width for a in (before, grads, fresh))
    if not shaped or hyper is None or hyper.ndim != 2 or len(hyper) < n or hyper.shape[1] != 6:
        return f"{name}: the record of its optimizer steps is incomplete, so its training cannot be checked"
    if sizes is None or int(np.sum(sizes)) != width or n > num_steps:
        return f"{name}: the record of its optimizer steps does not fit the model's parameters"
    if not all(np.all(np.isfinite(a[:n])) for a in (before, after, grads, fresh)):
        return f"{name}: its optimizer steps hold NaN or infinite parameters or gradients"
    return None


def forwards_evidence_problem(name: str, fwd: dict, kind: str) -> str | None:
    """What is missing in the record of the first training forwards (input, output, clean batch; t unless the
    run trains the single-step denoiser), or None."""
    keys = ("fwd_x", "fwd_out", "clean") + (() if kind == "denoiser" else ("fwd_t",))
    values = [fwd.get(k) for k in keys]
    if any(v is None or v.size == 0 for v in values):
        missing = "t" if values[:3] and all(v is not None and v.size for v in values[:3]) else "a training batch"
        if missing == "t":
            return f"{name} calls the model without t"
        return f"{name} never calls the model on a training batch with gradients enabled"
    if not all(np.all(np.isfinite(v)) for v in values):
        return f"{name}: the model's inputs or outputs in training are NaN or infinite"
    if len({len(v) for v in values}) != 1:
        return f"{name}: the record of its training forwards is incomplete"
    return None


# ---- the optimisation step -------------------------------------------------------------------------------

#: PyTorch's Adam defaults, which the spec's optimizer uses: beta1, beta2, weight_decay, eps, amsgrad, maximize.
