"""Part B judging, ddpm_schedule: betas, alphas and alpha_bars against the recipe (numpy only)."""

from __future__ import annotations

import numpy as np

from grader.course.proj5b.judging.common import (
    arr,
    schedule,
)

# ---- ddpm_schedule ---------------------------------------------------------------------------------


def schedule_problem(got, beta1: float, beta2: float, num_ts: int) -> str | None:
    g = arr(got)
    if g is None or g.ndim != 2 or g.shape[0] != 3:
        return "ddpm_schedule did not return betas, alphas and alpha_bars"
    lengths = [int(np.isfinite(row).sum()) for row in g]
    if any(n != num_ts for n in lengths):
        return (
            f"ddpm_schedule({beta1:g}, {beta2:g}, {num_ts}) returns {lengths[0]} betas, {lengths[1]} alphas and "
            f"{lengths[2]} alpha_bars; expected num_ts = {num_ts} of each"
        )
    betas, alphas, abars = (row[:num_ts] for row in g)
    exp = schedule(num_ts, beta1, beta2)

    def close(a, b):
        return np.all(np.abs(a - b) <= 1e-6 + 1e-4 * np.abs(b))

    what = f"ddpm_schedule({beta1:g}, {beta2:g}, {num_ts})"
    if not close(betas, exp["betas"]):
        if abs(betas[0] - beta1) < 1e-9 and abs(betas[-1] - beta2) > 1e-9:
            return f"{what}: betas end at {betas[-1]:.6g}, not beta2 = {beta2:g}: use linspace(beta1, beta2, num_ts)"
        return (
            f"{what}: betas run {betas[0]:.6g} .. {betas[-1]:.6g}; expected linspace(beta1, beta2, num_ts) = "
            f"{beta1:g} .. {beta2:g}"
        )
    if not close(alphas, 1 - betas):
        return f"{what}: alphas must be 1 - betas"
    if not close(abars, np.cumprod(1 - betas)):
        if close(abars, alphas):
            return f"{what}: alpha_bars equal alphas: they must be the cumulative product of alphas (cumprod)"
        if close(abars, np.cumprod(betas)):
            return f"{what}: alpha_bars are the cumulative product of betas; use the alphas"
        if close(abars, 1 - np.cumsum(betas)):
            return f"{what}: alpha_bars are 1 - cumsum(betas); use the cumulative product of alphas"
        return f"{what}: alpha_bars are not the cumulative product of alphas (cumprod)"
    return None
