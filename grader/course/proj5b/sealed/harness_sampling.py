"""Part B instruments for the samplers (worker side): recording analytic denoisers, the steps and draws
they observe, and the run_sample helpers."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from grader.course.proj5b.sealed import interfaces
from grader.course.proj5b.sealed.harness_common import (
    _STASH,
    reference_schedule,
)
from grader.course.proj5b.sealed.harness_modules import with_student_model
from grader.course.proj5b.sealed.standins import (
    INPUTS,
    LooksLikeUNet,
    make_denoiser,
    per_sample_mask,
)
from grader.worker import adapters
from grader.worker import environment as runtime

# ---- samplers with the analytic denoisers ---------------------------------------------------

TRAJ_STEPS = (299, 200, 100, 20)


class _Recorder(LooksLikeUNet, nn.Module):
    """A denoiser that records each call; ``_keep`` runs inside the subclasses' ``forward``, outside GraderMode."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.records: list[tuple[float, int, torch.Tensor, float]] = []
        self.calls: list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]] = []  # t, x, out, dropped rows

    def _keep(self, x, t, mask=None, c=None, out=None):
        x = torch.as_tensor(x)
        t = torch.as_tensor(t).detach().double().reshape(-1)
        n = int(x.shape[0])
        rows = _dropped_rows(c, mask, n)
        dropped = float(rows.double().mean()) if (mask is not None or c is not None) else 0.0
        t0 = float(t[0]) if t.numel() else float("nan")
        self.records.append((t0, n, x.detach().float().cpu()[: self.n].clone(), dropped))
        if out is not None:
            self.calls.append(
                (t0, x.detach().double().cpu().clone(), torch.as_tensor(out).detach().double().cpu().clone(), rows)
            )


def _dropped_rows(c, mask, n: int) -> torch.Tensor:
    """(n,) bool: the rows of a class-conditioned call whose class is dropped (mask 0 or an all-zero one-hot)."""
    rows = torch.zeros(n, dtype=torch.bool)
    if c is not None:
        c = torch.as_tensor(c).detach().cpu()
        if c.dim() == 2 and c.shape[0] == n and c.shape[1] > 1:
            rows |= c.abs().sum(1) == 0
    if mask is not None:  # (N,), (N, 1), a scalar, or shaped like the one-hot: one value per row
        try:
            rows |= per_sample_mask(mask, n).detach().cpu().reshape(-1) == 0
        except ValueError:  # a mask that fits no sample count: the student's call fails on its own
            pass
    return rows


# The recorders and the analytic denoisers inside them are the grader's own arithmetic: their ops skip the
# worker's torch function mode (it changes only devices, dtypes and draws, and none of them arise here),
# which halves the cost of a 300-step sampler's UNet calls.


class _RecordingDenoiser(_Recorder):
    def forward(self, x, t):
        with torch._C.DisableTorchFunction():
            out = self.inner(x, t)
            self._keep(x, t, out=out)
        return out


class _RecordingClassDenoiser(_Recorder):
    def forward(self, x, c, t, mask=None):
        with torch._C.DisableTorchFunction():
            out = self.inner(x, c, t, mask)
            self._keep(x, t, mask, c, out=out)
        return out


#: Which denoising steps (by position, from the first) the sampler-step check sees, counted from the end
#: where negative: early, middle and late steps, and the last two.
STEP_POSITIONS = (0, 150, -30, -2, -1)


def _steps_of(calls: list) -> list[list]:
    """The UNet calls grouped into denoising steps: runs of consecutive calls with the same t."""
    steps: list[list] = []
    for call in calls:
        if steps and steps[-1][0][0] == call[0]:
            steps[-1].append(call)
        else:
            steps.append([call])
    return steps


def _sampler_runs(calls: list) -> list[list[list]]:
    """The steps of each call of the sampler: a sampler that makes one sample per call (the grader then calls
    it once per sample) starts again from the largest t; each run is one call's steps."""
    runs: list[list] = [[]]
    for call in calls:
        if runs[-1] and call[0] > runs[-1][-1][0]:
            runs.append([])
        runs[-1].append(call)
    return [_steps_of(run) for run in runs if run]


def _merged_steps(calls: list) -> list[list]:
    """Steps with every sample in them: one run's steps, or, when the sampler ran once per sample with the same
    number of steps each time, step k of every run together (in run order, as the samples were concatenated)."""
    runs = _sampler_runs(calls)
    if len(runs) > 1 and len({len(r) for r in runs}) == 1:
        return [[call for run in runs for call in run[k]] for k in range(len(runs[0]))]
    return _steps_of(calls)


def _first_inputs(group: list) -> torch.Tensor:
    """The x_t of a step, one row per sample: the inputs of its conditional calls (every call when there is
    no dropout), which hold the same x_t as its unconditional ones."""
    xs = torch.cat([g[1].reshape(g[1].shape[0], -1) for g in group])
    dropped = torch.cat([g[3] for g in group])
    return xs[~dropped] if bool((~dropped).any()) else xs


def _sampler_steps(rec: _Recorder, final) -> torch.Tensor:
    """(len(STEP_POSITIONS), 5, n, 784) float32: per chosen step, [x_t, eps_c, eps_u, x_next, t] (eps_u NaN
    when no call of that step dropped the class; the t row holds t in every entry).

    A step is a run of consecutive UNet calls with the same t; x_next is the input of the next step
    (the sampler's result after the last step). From these the grading side checks the update's
    coefficients: x_next - (a x_t + b eps) must be noise of the right size, uncorrelated with x_t
    and eps.
    """
    n = rec.n
    steps = _merged_steps(rec.calls)
    out = torch.full((len(STEP_POSITIONS), 5, n, 784), float("nan"))
    if not steps:
        return out
    final = torch.as_tensor(final).detach().double().cpu().reshape(-1, 784) if final is not None else None
    for j, pos in enumerate(STEP_POSITIONS):
        k = pos if pos >= 0 else len(steps) + pos
        if not 0 <= k < len(steps):
            continue
        group = steps[k]
        xs = _first_inputs(group)
        outs = torch.cat([g[2].reshape(g[2].shape[0], -1) for g in group])
        dropped = torch.cat([g[3] for g in group])
        if xs.shape[1] != 784 or outs.shape[1] != 784:
            continue
        cond, uncond = outs[~dropped], outs[dropped]
        if len(xs) < n or len(cond) < n:
            continue
        out[j, 0] = xs[:n].float()
        out[j, 1] = cond[:n].float()
        if len(uncond) >= n:
            out[j, 2] = uncond[:n].float()
        nxt = _first_inputs(steps[k + 1]) if k + 1 < len(steps) else final
        if nxt is not None and nxt.shape[0] >= n and nxt.shape[1] == 784:
            out[j, 3] = nxt[:n].float()
        out[j, 4] = float(group[0][0])
    return out


#: Keyed noise draws kept per chosen step: those numbered position - 1 .. position + DRAW_WINDOW - 2.
DRAW_WINDOW = 5


def _nearby_draws(n: int, num_steps: int) -> torch.Tensor:
    """(len(STEP_POSITIONS), DRAW_WINDOW, n, 784): the keyed draws of shape (n, 1, 28, 28) that a sampler
    drawing one per step (after its x_T) would have used near each chosen step (NaN beyond those drawn).

    They are what the grader handed out in this very call, not a reference answer: the grading side
    finds which of them, if any, a step added as its noise, and so checks the step's other terms exactly
    whatever order the noise was drawn in.
    """
    shape = (n, 1, 28, 28)
    count = runtime.NOISE.counts.get(shape, 0)
    out = torch.full((len(STEP_POSITIONS), DRAW_WINDOW, n, 784), float("nan"))
    for j, pos in enumerate(STEP_POSITIONS):
        k = pos if pos >= 0 else num_steps + pos
        for w in range(DRAW_WINDOW):
            i = k - 1 + w
            if 0 <= i < count:
                out[j, w] = runtime.NOISE.at(("draw", i), shape).reshape(n, 784)
    return out


def _stash_sampling(rec: _Recorder, num_ts: int, final=None) -> None:
    ts = np.array([r[0] for r in rec.records], dtype=np.float64)
    n = rec.n
    traj = torch.full((len(TRAJ_STEPS), n, 1, 28, 28), float("nan"))
    for j, k in enumerate(TRAJ_STEPS):
        hits = np.flatnonzero(np.abs(ts - k / num_ts) < 0.25 / num_ts)
        if hits.size:
            x = rec.records[int(hits[0])][2]
            if x.shape[0] == n and tuple(x.shape[1:]) == (1, 28, 28):
                traj[j] = x
    try:
        steps = _sampler_steps(rec, final)
    except Exception:  # noqa: BLE001 - a diagnosis aid: an odd call pattern leaves it empty (NaN)
        steps = torch.full((len(STEP_POSITIONS), 5, n, 784), float("nan"))
    draws = _nearby_draws(n, len({r[0] for r in rec.records}))
    _STASH.clear()
    _STASH.update(
        {
            "t_calls": torch.as_tensor(ts),
            "batch_calls": torch.tensor([r[1] for r in rec.records]),
            "dropped_calls": torch.tensor([r[3] for r in rec.records], dtype=torch.float64),
            "traj": traj,
            "steps": steps,
            "draws": draws,
        }
    )


def _as_samples(out):
    """The samples a sampler returned, for the step record (its first element if it returned a tuple, the last of a
    trajectory)."""
    if adapters.is_trajectory(out):
        out = out[-1]
    elif isinstance(out, (tuple, list)) and out and isinstance(out[0], (torch.Tensor, np.ndarray)):
        out = out[0]
    try:
        return torch.as_tensor(np.asarray(out) if isinstance(out, np.ndarray) else out)
    except Exception:  # noqa: BLE001 - not a tensor: the last step is then left unchecked
        return None


def run_sample(fn, n=4, num_ts=300, offset=0, seed=0):
    """ddpm_sample with the analytic denoiser (0-based ``offset=0`` or 1-based ``-1`` reading)."""
    den = make_denoiser(INPUTS, reference_schedule(num_ts)["alpha_bars"], num_ts=num_ts, index_offset=offset)
    recs: list = []

    def make():
        recs.append(_RecordingDenoiser(den))
        recs[-1].n = n
        return recs[-1]

    def attempt(model, rec):
        runtime.NOISE.reset(runtime.NOISE.seed)
        _STASH.clear()
        return interfaces.call_sampler(fn, rec, (reference_schedule(num_ts), (28, 28), num_ts), n, seed, model)

    out = with_student_model(fn, "time", make, attempt)
    _stash_sampling(recs[-1], num_ts, _as_samples(out))
    return out


def run_sample_class(fn, labels, guidance_scale=None, num_ts=300, offset=0, seed=0):
    """ddpm_sample_class with the analytic class denoiser; ``guidance_scale=None`` leaves the default."""
    den = make_denoiser(
        INPUTS, reference_schedule(num_ts)["alpha_bars"], conditional=True, num_ts=num_ts, index_offset=offset
    )
    c = torch.as_tensor(labels).long().reshape(-1).clone()
    recs: list = []

    def make():
        recs.append(_RecordingClassDenoiser(den))
        recs[-1].n = int(c.numel())
        return recs[-1]

    kwargs = {"seed": seed}
    if guidance_scale is not None:
        kwargs["guidance_scale"] = guidance_scale

    def attempt(labels_given):
        def once(model, rec):
            runtime.NOISE.reset(runtime.NOISE.seed)
            _STASH.clear()
            return fn(model, reference_schedule(num_ts), labels_given, (28, 28), num_ts, **kwargs)

        return with_student_model(fn, "class", make, once)

    out = interfaces.labels_or_one_hot("ddpm_sample_class", attempt, c)
    _stash_sampling(recs[-1], num_ts, _as_samples(out))
    return out
