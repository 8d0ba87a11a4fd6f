"""Part B training, the optimizer: Adam replayed from the recorded gradients, and what differs when a
loop's steps are not Adam's (settings, gradients used, parameters moved otherwise)."""

from __future__ import annotations

import numpy as np

from grader.course.proj5b import shared as P

# ---- training ----------------------------------------------------------------------------------------
from grader.course.proj5b.judging.training_evidence import steps_evidence_problem

ADAM_DEFAULTS = (0.9, 0.999, 0.0, 1e-8, 0.0, 0.0)


def adam_replay(
    before: np.ndarray,
    grads: np.ndarray,
    lrs,
    betas=(0.9, 0.999),
    eps=1e-8,
    reset_every: int | None = None,
    live: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
) -> np.ndarray:
    """The parameters after each step of PyTorch's Adam (float64), given the parameters before the first
    step, the gradients of each step and its lr; ``reset_every``: the optimizer is made anew every so
    many steps. ``live`` (steps, parameters): which parameter tensors (of ``sizes`` elements each) had a
    .grad at each step; PyTorch skips the others, state and step count alike (default: those with a
    nonzero gradient at that step or before)."""
    b1, b2 = betas
    p = before[0].copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    k = np.zeros_like(p)
    out = []
    for i, (g, lr) in enumerate(zip(grads, lrs)):
        if reset_every and i and i % reset_every == 0:
            m[:], v[:], k[:] = 0, 0, 0
        if live is not None and sizes is not None:
            on = np.repeat(np.asarray(live[i]) > 0, np.asarray(sizes, dtype=np.int64))
        else:
            on = (g != 0) | (k > 0)
        k = k + on
        m = np.where(on, b1 * m + (1 - b1) * g, m)
        v = np.where(on, b2 * v + (1 - b2) * g * g, v)
        with np.errstate(divide="ignore", invalid="ignore"):
            c1 = np.where(on, 1 - b1**k, 1.0)
            c2 = np.where(on, 1 - b2**k, 1.0)
            update = (lr / c1) * m / (np.sqrt(v) / np.sqrt(c2) + eps)
        p = np.where(on, p - update, p)
        out.append(p.copy())
    return np.asarray(out)


def _adam_settings_problem(name: str, hyper) -> str | None:
    """What differs from torch.optim.Adam's defaults in the optimizer's recorded settings, or None."""
    b1, b2, wd, eps, amsgrad, maximize = hyper
    if np.isfinite(b1) and (abs(b1 - 0.9) > 1e-6 or abs(b2 - 0.999) > 1e-6):
        return (
            f"{name}: Adam runs with betas = ({b1:g}, {b2:g}); the spec's optimizer uses PyTorch's defaults "
            f"(0.9, 0.999): pass only the parameters and lr"
        )
    if np.isfinite(wd) and wd != 0:
        return (
            f"{name}: the optimizer runs with weight_decay = {wd:g} (AdamW's default is 0.01); the spec's Adam "
            f"has no weight decay"
        )
    if np.isfinite(eps) and abs(eps - 1e-8) > 1e-12:
        return f"{name}: Adam runs with eps = {eps:g}; the spec's optimizer uses PyTorch's default (1e-8)"
    if amsgrad:
        return f"{name}: Adam runs with amsgrad=True; the spec's optimizer is plain Adam"
    if maximize:
        return f"{name}: Adam runs with maximize=True: it climbs the loss instead of descending it"
    return None


def _step_gradients_problem(name: str, grads, fresh, n: int) -> str | None:
    """Whether each optimizer step used the gradients of the latest backward(), once; else what it used."""
    scale = np.abs(fresh).max(axis=1, keepdims=True) + 1e-30

    def same(a, b):
        return bool(np.all(np.abs(a - b) <= 1e-5 * scale + 1e-12))

    if not same(grads, fresh):
        if n > 1 and same(grads, np.cumsum(fresh, axis=0)):
            return (
                f"{name} never zeroes the gradients: every optimizer.step() uses the sum of all gradients so "
                f"far; call optimizer.zero_grad() once per batch, before loss.backward()"
            )
        if np.all(np.abs(grads) <= 1e-12) and np.any(np.abs(fresh) > 0):
            return (
                f"{name}: the gradients are zeroed between loss.backward() and optimizer.step(); call "
                f"optimizer.zero_grad() before backward()"
            )
        if n > 1 and same(grads[1:], fresh[:-1]):
            return (
                f"{name}: each optimizer.step() uses the previous batch's gradients: call zero_grad(), "
                f"loss.backward() and step() in that order for every batch"
            )
        ratio = float(np.median(np.abs(grads[fresh != 0] / fresh[fresh != 0]))) if np.any(fresh != 0) else 0.0
        return (
            f"{name}: optimizer.step() uses gradients that differ from those of loss.backward() "
            f"(about {ratio:.3g} times them: clipped, rescaled or accumulated?); step on the loss's own gradients"
        )
    return None


def adam_step_problem(name: str, step: dict, lrs, nb: int) -> str | None:
    """A sentence naming what is wrong with the first optimizer steps a training loop took, or None.

    ``step`` holds the recorder's arrays (see harness ``_StepRecorder``): parameters before and after each
    step, the gradients it stepped with, the fresh gradients of the backward() calls since the previous
    step, and the optimizer's settings.
    """
    before, after, grads, fresh, hyper, live, sizes = (step.get(k) for k in P.STEP_KEYS)
    problem = steps_evidence_problem(name, step, len(lrs))
    if problem:
        return problem
    n = len(after)
    before, grads, fresh, hyper = before[:n], grads[:n], fresh[:n], hyper[:n]
    if live is None or sizes is None or live.ndim != 2 or int(np.sum(sizes)) != before.shape[1]:
        live = sizes = None
    else:
        live = live[:n]
        sizes = np.asarray(sizes).reshape(-1).astype(np.int64)
    lrs = np.asarray(lrs, dtype=np.float64)[:n]
    problem = _adam_settings_problem(name, hyper[0]) or _step_gradients_problem(name, grads, fresh, n)
    if problem:
        return problem
    # 3. the parameters move only by Adam's steps
    if n > 1 and not np.allclose(before[1:], after[:-1], rtol=0, atol=1e-7):
        return (
            f"{name}: the parameters change between optimizer steps (something other than optimizer.step() "
            f"updates them)"
        )
    tol = 1e-3 * np.abs(lrs).max() + 1e-7
    replay = adam_replay(before, grads, lrs, live=live, sizes=sizes)
    if np.allclose(after, replay, rtol=0, atol=tol):
        return None
    if n > nb and np.allclose(
        after, adam_replay(before, grads, lrs, reset_every=nb, live=live, sizes=sizes), rtol=0, atol=tol
    ):
        return (
            f"{name}: the optimizer is created anew every epoch, so Adam's moment estimates restart; create it "
            f"once, before the loop over epochs"
        )
    if np.allclose(after, before - lrs[:, None] * grads, rtol=0, atol=tol):
        return f"{name}: the parameters move by plain gradient descent (lr * grad), not by Adam's update"
    off = float(np.abs(after - replay).max())
    return (
        f"{name}: the parameters after optimizer.step() differ by up to {off:.3g} from Adam's update with lr "
        f"{lrs[0]:g} and the default settings on the same gradients"
    )
