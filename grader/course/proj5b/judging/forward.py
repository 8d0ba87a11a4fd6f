"""Part B judging, ddpm_forward and ddpm_forward_class: the objective a training step computes (numpy only)."""

from __future__ import annotations

import numpy as np

from grader.course.proj5b import shared as P
from grader.course.proj5b.judging.common import (
    _scalar_int,
    arr,
    need,
    schedule,
)

# ---- ddpm_forward / ddpm_forward_class ----------------------------------------------------------------


class ForwardRun:
    """One call of ddpm_forward(_class) with the recording probe UNet, read back from the stash."""

    def __init__(self, sub, probe: str, start: int, num_ts: int, name: str):
        values = need(sub, probe, range(start, start + 1 + len(P.FORWARD_KEYS)))
        self.name, self.T = name, num_ts
        self.loss = values[start]
        data = dict(zip(P.FORWARD_KEYS, (values[start + 1 + j] for j in range(len(P.FORWARD_KEYS)))))
        self.calls = _scalar_int(data["calls"])
        self.x0 = arr(data["x0"]).reshape(-1, 784)
        self.eps0 = arr(data["eps0"]).reshape(-1, 784)
        self.n = len(self.x0)
        self.t = arr(data["t"]).reshape(-1) if data["t"] is not None and self.calls else None
        self.x = arr(data["x"]).reshape(-1, 784) if self.calls else None
        self.out = 0.5 * self.x + 0.1 if self.calls else None  # what the probe UNet answers
        self.sched = schedule(num_ts)
        self._fit = None

    # -- basic shape of the call
    def runs_problem(self) -> str | None:
        loss = arr(self.loss)
        if loss is None:
            return f"{self.name} returned a {type(self.loss).__name__}; expected a scalar loss"
        if loss.size == self.n and self.n > 1:
            return f"{self.name} returns {loss.size} per-sample losses; return their mean (a scalar)"
        if loss.size != 1:
            return f"{self.name} returns {loss.size} values; expected a scalar loss"
        if not np.isfinite(loss).all():
            return f"{self.name} returns a NaN or infinite loss"
        if self.calls == 0:
            return f"{self.name} never calls the UNet"
        if self.x.shape[0] < self.n:
            return f"{self.name} gives the UNet {self.x.shape[0]} images; expected the whole batch of {self.n}"
        if self.t is None or np.isnan(self.t[: self.n]).any():
            return f"{self.name} calls the UNet without t"
        return None

    # -- t and x_t
    def t_problem(self) -> str | None:
        t = self.t[: self.n]
        if t.max() > 1 + 1e-6:
            return (
                f"{self.name}: t is not normalised: the UNet received t up to {t.max():g}; "
                f"pass t / num_ts (values in [0, 1])"
            )
        if t.min() < -1e-6:
            return f"{self.name}: the UNet received negative t ({t.min():g}); t must be in [0, 1]"
        k = t * self.T
        on_grid = np.abs(k - np.round(k)) < 1e-3
        k300 = t * 300
        if self.T != 300 and not on_grid.all() and (np.abs(k300 - np.round(k300)) < 1e-3).all():
            return (
                f"{self.name}: with num_ts = {self.T}, t is divided by 300: normalise by num_ts, not a hard-coded 300"
            )
        return None

    def rules(self) -> list[np.ndarray]:
        """Schedule indices per image under each reading of t = k / T: 0- or 1-based, rounded or floored."""
        k = self.t[: self.n] * self.T
        out = [np.round(k), np.round(k) - 1, np.floor(k), np.floor(k) - 1, np.ceil(k) - 1]
        return [np.clip(j, 0, self.T - 1).astype(int) for j in out]

    def _implied_eps(self, j, key="alpha_bars", sqrt=True):
        a = self.sched[key][j][:, None]
        x = self.x[: self.n]
        if key == "betas":
            a = 1 - a
        if sqrt:
            return (x - np.sqrt(a) * self.x0) / np.sqrt(1 - a)
        return (x - a * self.x0) / (1 - a)

    def fits(self) -> list[np.ndarray]:
        """The noises eps for which x_t = sqrt(abar) x0 + sqrt(1 - abar) eps under some reading; [] if none."""
        if self._fit is not None:
            return self._fit
        fits = []
        for j in self.rules():
            eps = self._implied_eps(j)
            if np.abs(eps - self.eps0).max() < 1e-2:  # the grader's keyed noise: exact
                self._fit = [self.eps0]
                return self._fit
            # drawn some other way: accept noise that looks like N(0, I), per image (784 pixels) and overall
            per_std, per_mean = eps.std(1), eps.mean(1)
            if (
                np.all(np.abs(per_std - 1) < 0.2)
                and np.all(np.abs(per_mean) < 0.25)
                and abs(eps.std() - 1) < 0.05
                and abs(eps.mean()) < 0.05
            ):
                fits.append(eps)
        if not fits:  # a reading per image (a mix of conventions would be odd, but is not wrong here)
            rules = self.rules()
            eps = np.empty_like(self.x0)
            for i in range(self.n):
                errs = [np.abs(self._implied_eps(j)[i] - self.eps0[i]).max() for j in rules]
                if min(errs) >= 1e-2:
                    break
                eps[i] = self.eps0[i]
            else:
                fits = [eps]
        self._fit = fits
        return fits

    def fit(self) -> bool:
        return bool(self.fits())

    def _predict(self, j, a_key="alpha_bars", sqrt=True):
        a = self.sched[a_key][j][:, None]
        if sqrt:
            return np.sqrt(a) * self.x0 + np.sqrt(1 - a) * self.eps0
        return a * self.x0 + (1 - a) * self.eps0

    def xt_problem(self) -> str | None:
        if self.fit():
            return None
        n = self.n
        x = self.x[:n]
        k = np.clip(np.round(self.t[:n] * self.T), 0, self.T - 1).astype(int)
        hypotheses = [
            ("alphas", True, None, "uses alphas where alpha_bars (cumulative products) are needed in x_t"),
            ("alpha_bars", False, None, "x_t = alpha_bar x_0 + (1 - alpha_bar) eps is missing the square roots"),
            ("betas", True, None, "uses betas where alpha_bars are needed in x_t"),
        ]
        for key, sqrt, _, message in hypotheses:
            for shift in (0, -1):
                j = np.clip(k + shift, 0, self.T - 1)
                if key == "betas":
                    a = self.sched["betas"][j][:, None]
                    pred = np.sqrt(1 - a) * self.x0 + np.sqrt(a) * self.eps0
                else:
                    pred = self._predict(j, key, sqrt)
                if np.abs(x - pred).max() < 1e-3:
                    return f"{self.name}: {message}"
        for key, sqrt, _, message in hypotheses:  # the noise was not the grader's keyed draw: by its statistics
            for j in self.rules()[:2]:
                with np.errstate(divide="ignore", invalid="ignore"):
                    eps = self._implied_eps(j, key, sqrt)
                if (
                    np.all(np.isfinite(eps))
                    and abs(eps.std() - 1) < 0.05
                    and abs(eps.mean()) < 0.05
                    and np.all(np.abs(eps.std(1) - 1) < 0.2)
                ):
                    return f"{self.name}: {message}"
        for shift in (0, -1):
            j = np.clip(k + shift, 0, self.T - 1)
            a = self.sched["alpha_bars"][j][:, None]
            if np.abs(x - (np.sqrt(a) * self.x0 + self.eps0)).max() < 1e-3:
                return f"{self.name}: the noise in x_t is not scaled by sqrt(1 - alpha_bar)"
        if np.abs(x - self.x0).max() < 1e-4:
            return f"{self.name}: the UNet is given the clean image x_0: noise it to x_t first"
        # consistent with some other timestep than the one given?
        abar = self.sched["alpha_bars"]
        others = 0
        for i in range(n):
            errs = np.abs(
                x[i][None]
                - (np.sqrt(abar)[:, None] * self.x0[i][None] + np.sqrt(1 - abar)[:, None] * self.eps0[i][None])
            ).max(1)
            others += int(errs.min() < 1e-3)
        if others == n:
            return (
                f"{self.name}: x_t is noised at a different timestep than the t given to the UNet "
                f"(use alpha_bars[t] for the same t that is passed as t / num_ts)"
            )
        return f"{self.name}: x_t is not sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for the t given to the UNet"

    def loss_problem(self) -> str | None:
        n = self.n
        out = self.out[:n]
        loss = float(arr(self.loss).reshape(-1)[0])

        def near(v):
            return abs(loss - v) <= 1e-4 * max(1.0, abs(v))

        # the noise in x_t: the grader's keyed draw, or the one implied under a reading (right or wrong,
        # so that a mistake in x_t is not charged to the loss as well)
        noises = list(self.fits()) + [self.eps0]
        for j in self.rules()[:2]:
            for key, sqrt in (("alpha_bars", True), ("alphas", True), ("betas", True), ("alpha_bars", False)):
                with np.errstate(divide="ignore", invalid="ignore"):
                    noises.append(self._implied_eps(j, key, sqrt))
        if any(near(float(((out - e) ** 2).mean())) for e in noises):
            return None
        eps = noises[0]
        x = self.x[:n]
        if near(float(((out - self.x0) ** 2).mean())):
            return f"{self.name}: the loss compares the UNet output with x_0; the target is the noise eps"
        if any(near(float(((out - e) ** 2).sum())) or near(float(((out - e) ** 2).sum() / n)) for e in noises):
            return f"{self.name}: the loss is summed; use the mean squared error (F.mse_loss)"
        if any(near(float(np.abs(out - e).mean())) for e in noises):
            return f"{self.name}: the loss is an L1 loss; use the mean squared error"
        if near(float(((out - x) ** 2).mean())):
            return f"{self.name}: the loss compares the UNet output with x_t; the target is the noise eps"
        return (
            f"{self.name}: the loss is {loss:.5g}; the MSE between the UNet output and the noise in x_t is "
            f"{float(((out - eps) ** 2).mean()):.5g}"
        )
