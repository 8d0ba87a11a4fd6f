"""Part B judging, samplers: the steps they take, where they land, and each term of one update step (numpy only)."""

from __future__ import annotations

import numpy as np

from grader.course.proj5b.judging.common import (
    arr,
    bank,
    closest_variant,
    results,
    schedule,
)
from grader.judging.judge import Fail, fail_if

# ---- samplers --------------------------------------------------------------------------------------


def nearest(samples) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: MSE to the nearest bank digit and that digit's label."""
    images, labels = bank()
    x = arr(samples).reshape(len(samples), -1)
    d = ((x[:, None, :] - images[None]) ** 2).mean(-1)
    return d.min(1), labels[d.argmin(1)]


LAND_MSE = 1e-5


def lands(samples, labels=None) -> bool:
    a = arr(samples)
    if a is None or not np.all(np.isfinite(a)) or a.shape[1:] != (1, 28, 28):
        return False
    mse, lab = nearest(a)
    return bool(np.all(mse < LAND_MSE) and (labels is None or list(lab) == list(labels)))


def steps_problem(name: str, t_calls, num_ts: int = 300, per_step: int = 1) -> str | None:
    t = arr(t_calls)
    if t is None or t.size == 0:
        return f"{name} never calls the UNet"
    if np.nanmax(t) > 1 + 1e-6:
        return (
            f"{name}: t is not normalised: the UNet received t up to {np.nanmax(t):g}; pass t / num_ts "
            f"(values in [0, 1])"
        )
    steps = np.unique(np.round(t * num_ts).astype(int))
    if len(steps) != num_ts:
        lo, hi = int(steps.min()), int(steps.max())
        skipped = len(steps) == num_ts - 1 and (lo, hi) in ((1, num_ts - 1), (2, num_ts))
        hint = " (the last step is skipped: the loop must reach t = 0)" if skipped else ""
        return f"{name} runs {len(steps)} denoising steps; expected num_ts = {num_ts} (t = T-1 .. 0){hint}"
    return None


# ---- one update step of a sampler ---------------------------------------------------------------------


def _lsq(y: np.ndarray, cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients of y on the columns (no intercept) and their standard errors."""
    X = np.stack([c.ravel() for c in cols], axis=1)
    coef, *_ = np.linalg.lstsq(X, y.ravel(), rcond=None)
    resid = y.ravel() - X @ coef
    dof = max(1, X.shape[0] - X.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.linalg.pinv(X.T @ X) * float(resid @ resid) / dof
    return coef, np.sqrt(np.clip(np.diag(cov), 0, None))


class _Step:
    """One recorded update x_t -> x_next of a sampler, under one reading of its timestep index."""

    def __init__(self, row: np.ndarray, draws: np.ndarray, k: int, sched: dict, guidance):
        self.x, self.ec, self.eu, self.xn = row[0], row[1], row[2], row[3]
        self.k, self.guidance = k, guidance
        self.draws = [d for d in draws if np.all(np.isfinite(d))]
        b, a, abar = sched["betas"][k], sched["alphas"][k], sched["alpha_bars"][k]
        abar_prev = sched["alpha_bars"][k - 1] if k > 0 else 1.0
        self.a_ref = 1 / np.sqrt(a)  # x_t's coefficient
        self.b_ref = -b / (np.sqrt(a) * np.sqrt(1 - abar))  # the noise estimate's coefficient
        self.sigmas = (np.sqrt(b), np.sqrt((1 - abar_prev) / (1 - abar) * b)) if k > 0 else (0.0,)
        self.coef = {"alpha_t": a, "alpha_bar_t": abar, "beta_t": b}
        self.eps = self.ec if guidance is None else self.eu + guidance * (self.ec - self.eu)
        self.resid = self.xn - (self.a_ref * self.x + self.b_ref * self.eps)
        self.tol = 2e-5 + 1e-5 * float(np.abs(self.xn).max())

    def exact(self) -> bool:
        """The update is the DDPM step plus one of the draws scaled by an accepted sigma (no noise at k = 0)."""
        if self.k == 0:
            return float(np.abs(self.resid).max()) <= self.tol
        return any(float(np.abs(self.resid - s * d).max()) <= self.tol for s in self.sigmas for d in self.draws)

    def traceable(self) -> bool:
        """Does the added noise look like one of the grader's draws (then the check can be exact)?"""
        if self.k == 0 or not self.draws:
            return self.k == 0
        r = self.resid.ravel()
        return any(abs(float(np.corrcoef(r, d.ravel())[0, 1])) > 0.5 for d in self.draws if r.std() > 0)

    def noise_like(self) -> bool:
        """For noise the grader did not hand out: the residual is N(0, sigma^2) and unrelated to x_t and eps."""
        cols = [self.x, self.eps] if self.guidance is None else [self.x, self.ec, self.eu]
        _, se = _lsq(self.resid, cols)
        coef, _ = _lsq(self.resid, cols)
        std = float(self.resid.std())
        size_ok = any(abs(std / s - 1) < 0.15 for s in self.sigmas if s > 0)
        return size_ok and bool(np.all(np.abs(coef) <= 6 * se + 1e-12))

    def ok(self) -> bool:
        return self.exact() or (not self.traceable() and self.noise_like())

    def explain(self, name: str) -> str:
        """What the recorded update does instead, by fitting its coefficients."""
        eps_cols = [self.eps] if self.guidance is None else [self.ec, self.eu]
        # the draw added as noise: the one that leaves the least unexplained (x_T itself is among the draws
        # near the first step; a draw that is x_t cannot be told apart from x_t's own term, so it is skipped)
        options = [[]] + (
            [[d] for d in self.draws if abs(float(np.corrcoef(d.ravel(), self.x.ravel())[0, 1])) < 0.9]
            if self.k > 0
            else []
        )

        def unexplained(cols):
            c, _ = _lsq(self.xn, [self.x] + eps_cols + cols)
            return float(
                np.abs(self.xn.ravel() - np.stack([v.ravel() for v in [self.x] + eps_cols + cols], 1) @ c).max()
            )

        noise = min(options, key=unexplained)
        coef, _ = _lsq(self.xn, [self.x] + eps_cols + noise)
        a = float(coef[0])
        c = self.coef
        at = f"{name}: in the update from t = {self.k}"
        if abs(a - self.a_ref) > 1e-4 * abs(self.a_ref):
            named = {
                "1/sqrt(alpha_bar_t)": 1 / np.sqrt(c["alpha_bar_t"]),
                "1/alpha_t (no square root)": 1 / c["alpha_t"],
                "1 (x_t is not divided by sqrt(alpha_t))": 1.0,
                "sqrt(alpha_t)": np.sqrt(c["alpha_t"]),
                "1/sqrt(1 - beta_t ** 2)": 1 / np.sqrt(1 - c["beta_t"] ** 2),
            }
            what = next((k for k, v in named.items() if abs(a - v) <= 1e-3 * abs(v)), None)
            return (
                f"{at}, x_t is multiplied by {a:.6g}"
                + (f" = {what}" if what else "")
                + f"; the DDPM step multiplies it by 1/sqrt(alpha_t) = {self.a_ref:.6g}"
            )
        if self.guidance is None:
            b = float(coef[1])
            if abs(b - self.b_ref) > 1e-3 * abs(self.b_ref):
                s = np.sqrt(c["alpha_t"])
                named = {
                    "-beta_t / sqrt(1 - alpha_bar_t) (not divided by sqrt(alpha_t))": -c["beta_t"]
                    / np.sqrt(1 - c["alpha_bar_t"]),
                    "-beta_t / (sqrt(alpha_t) (1 - alpha_bar_t)) (no square root on 1 - alpha_bar_t)": -c["beta_t"]
                    / (s * (1 - c["alpha_bar_t"])),
                    "-sqrt(1 - alpha_bar_t) / sqrt(alpha_t)": -np.sqrt(1 - c["alpha_bar_t"]) / s,
                    "-(1 - alpha_t) / sqrt(alpha_t)": -(1 - c["alpha_t"]) / s,
                }
                what = next((k for k, v in named.items() if abs(b - v) <= 1e-3 * abs(v)), None)
                return (
                    f"{at}, the coefficient of the noise estimate is {b:.6g}"
                    + (f" = {what}" if what else "")
                    + f"; the DDPM step uses -beta_t / (sqrt(alpha_t) sqrt(1 - alpha_bar_t)) = {self.b_ref:.6g}"
                )
        else:
            wc, wu = float(coef[1]) / self.b_ref, float(coef[2]) / self.b_ref
            g = self.guidance
            if abs(wc - g) > 1e-3 * max(1, abs(g)) or abs(wu - (1 - g)) > 1e-3 * max(1, abs(g)):
                if abs(wc + wu - 1) > 1e-3:
                    return (
                        f"{at}, the coefficient of the noise estimate is {(wc + wu) * self.b_ref:.6g}; the DDPM step "
                        f"uses -beta_t / (sqrt(alpha_t) sqrt(1 - alpha_bar_t)) = {self.b_ref:.6g}"
                    )
                return (
                    f"{at}, the guided noise estimate is {wc:.4g} eps_c {wu:+.4g} eps_u; with guidance_scale = {g:g} "
                    f"it is eps_u + g (eps_c - eps_u) = {g:g} eps_c {1 - g:+g} eps_u"
                )
        if self.k == 0:
            return f"{name}: the last step (t = 0) must return the mean, adding no noise"
        if noise:
            s = float(coef[-1])
            return (
                f"{at}, the added noise is {abs(s):.4g} z; expected sqrt(beta_t) = {self.sigmas[0]:.4g} (or the "
                f"posterior sqrt(beta_tilde_t) = {self.sigmas[1]:.4g})"
            )
        return (
            f"{at}, x_next is not the DDPM step 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) plus "
            f"sigma_t z"
        )


def sampler_step_problem(name: str, steps, draws, num_ts: int = 300, guidance=None) -> str | None:
    """Check the update of a few recorded steps (early, middle, late and the last two) exactly.

    ``steps`` (S, 5, n, 784): per step x_t, eps_c, eps_u (NaN without guidance), x_next, t; ``draws`` (S, W,
    n, 784): the grader's noise draws near each step. A step is right when x_next equals the DDPM step on
    x_t and the UNet's (guided) estimate plus one of those draws times sqrt(beta_t) or sqrt(beta_tilde_t)
    (no noise at the last step), under the 0- or the 1-based reading of t; noise the grader did not hand
    out must instead look like N(0, sigma^2), unrelated to x_t and eps. None when right, or not recorded.
    """
    steps, draws = arr(steps), arr(draws)
    if steps is None or draws is None or steps.ndim != 4:
        return None
    sched = schedule(num_ts)
    rows = [
        (steps[j], draws[j])
        for j in range(len(steps))
        if np.all(np.isfinite(steps[j][[0, 1, 3]])) and (guidance is None or np.all(np.isfinite(steps[j][2])))
    ]
    if not rows:
        return None
    best = None
    for offset in (0, -1):  # the 0-based and the 1-based reading
        parsed = []
        for row, dr in rows:
            k = round(float(row[4].ravel()[0]) * num_ts) + offset
            if not 0 <= k < num_ts:
                break
            parsed.append(_Step(row, dr, k, sched, guidance))
        else:
            bad = [st for st in parsed if not st.ok()]
            if not bad:
                return None
            if best is None or len(bad) < len(best):
                best = bad
    if best is None:
        return None
    return best[0].explain(name)


def denoiser_estimate(x: np.ndarray, k: int, num_ts: int = 300, labels=None) -> np.ndarray:
    """What the grader's analytic denoiser (``standins.AnalyticDenoiser``, 0-based) answers at x (n, 784) and
    schedule index k: E[eps | x_t] with x_0 uniform over the bank's digits (of each sample's label, if given)."""
    images, bank_labels = bank()
    abar = float(schedule(num_ts)["alpha_bars"][k])
    x = np.asarray(x, dtype=np.float64)
    d2 = (x * x).sum(1)[:, None] - 2 * np.sqrt(abar) * (x @ images.T) + abar * (images * images).sum(1)[None]
    logits = -d2 / (2 * (1 - abar))
    if labels is not None:
        logits = np.where(bank_labels[None, :] == np.asarray(labels).reshape(-1, 1), logits, -np.inf)
    w = np.exp(logits - logits.max(1, keepdims=True))
    x0 = (w / w.sum(1, keepdims=True)) @ images
    return (x - np.sqrt(abar) * x0) / np.sqrt(1 - abar)


def _estimates_problem(name: str, rows: np.ndarray, num_ts: int, guidance, labels) -> str | None:
    """Whether each recorded estimate is what the grader's denoiser answers at the recorded x_t: the records
    come from the student's process, so they are checked against the denoiser grading side."""
    for row in rows:
        k = int(np.clip(round(float(row[4].ravel()[0]) * num_ts), 0, num_ts - 1))
        pairs = [(row[1], labels)] + ([(row[2], None)] if guidance is not None else [])
        for got, given in pairs:
            want = denoiser_estimate(row[0], k, num_ts, given)
            if np.abs(got - want).max() > 1e-3 * max(1.0, float(np.abs(want).max())):
                return (
                    f"{name}: the recorded UNet estimates at t = {k} are not the UNet's answers for the recorded "
                    f"x_t, so its steps cannot be checked"
                )
    return None


def step_records_problem(name: str, steps, samples, num_ts: int = 300, guidance=None, labels=None) -> str | None:
    """The evidence a sampler check needs beyond its samples, or what is wrong with it.

    The sampler's recorded update steps (see :func:`sampler_step_problem`) are measured in the
    student's own process, so they count only when they are complete and agree with the output:
    every recorded step holds finite x_t, the UNet's estimate (both estimates under guidance), x_next
    and t; each estimate is the grader's denoiser's answer at that x_t (``labels``: the class of each
    sample, for the conditional estimate); the last step is the one from t = 0 (t = 1 when 1-based),
    and its x_next is the very sample that came back. None when they are.
    """
    rows = arr(steps)
    if rows is None or rows.ndim != 4 or rows.shape[1] != 5 or rows.shape[0] == 0:
        return f"{name}: no record of its update steps came back, so its sampling cannot be checked"
    needed = [0, 1, 3, 4] if guidance is None else [0, 1, 2, 3, 4]
    for row in rows:
        if not np.all(np.isfinite(row[needed])):
            k = row[4].ravel()[0]
            at = f" from t = {round(float(k) * num_ts)}" if np.isfinite(k) else ""
            what = "its conditional and unconditional estimates, " if guidance is not None else "its estimate, "
            return (
                f"{name}: the recorded update{at} is not finite (x_t, {what}x_next): every step must run the UNet on "
                f"the current x_t (NaN or missing records earn nothing)"
            )
    last = rows[-1]
    if round(float(last[4].ravel()[0]) * num_ts) not in (0, 1):
        return f"{name}: its last UNet call is not at t = 0: the loop must end with the step from t = 0"
    problem = _estimates_problem(name, rows, num_ts, guidance, labels)
    if problem:
        return problem
    out = arr(samples)
    if (
        out is None
        or out.size != last[3].size
        or not np.allclose(out.reshape(last[3].shape), last[3], rtol=0, atol=1e-5)
    ):
        return f"{name}: the samples returned are not the result of its last recorded update step"
    return None


def matches_exactly(ref, probe: str, got: dict, calls: list) -> bool:
    """Whether the samples (and trajectory) are the reference's or an accepted reading's under the grader's own
    noise: evidence enough by themselves, as no record is needed to produce them."""
    try:
        ref.judge(probe, got, calls)
    except Fail:
        return False
    return True


def judge_sampler(sub, ref, probe, got, calls, fallback, t_calls, labels=None, hint=None, update=None):
    """Exact match (reference or accepted reading), else a catalogued mistake, else exact DDPM steps that land.

    Short of an exact match, the check needs the sampler's own evidence, and fails when any is missing:
    the UNet's timesteps (``t_calls``), the recorded update steps and the grader's draws near them
    (``update``: steps, draws, num_ts, guidance), which must be complete, finite, exact DDPM updates,
    and end at the samples returned; only then may samples that land on stored digits pass.
    ``fallback``: (the call of this probe's samples, (fallback probe, its call) with the 1-based denoiser),
    each call by name.
    ``hint``: a diagnosis to prefer over the generic description of the difference.
    """
    try:
        ref.judge(probe, got, calls)
        return
    except Fail as exact:
        failure = exact
    variant = closest_variant(ref, probe, got, calls)
    if variant is not None:
        raise Fail(f"{probe}: {variant.message}")
    fail_if(steps_problem(probe, t_calls))
    steps, draws, num_ts, guidance = update
    fail_if(sampler_step_problem(probe, steps, draws, num_ts, guidance))
    fail_if(step_records_problem(probe, steps, got.get(fallback[0]), num_ts, guidance, labels))
    own, (other_probe, other_call) = fallback
    candidates = [got.get(own)]
    if not lands(candidates[0], labels):
        value, message = results(sub, other_probe)[sub.probes[other_probe].index(other_call)]
        candidates.append(value if message is None else None)
    if any(s is not None and lands(s, labels) for s in candidates):
        return  # noise drawn in another order: the samples still land on digits (of the requested classes)
    if hint:
        raise Fail(hint)
    if labels is not None and got.get(calls[0]) is not None:
        samples = arr(got[calls[0]])
        if samples is not None and samples.shape[1:] == (1, 28, 28) and np.all(np.isfinite(samples)):
            mse, lab = nearest(samples)
            if np.all(mse < 1e-3) and list(lab) != list(labels):
                raise Fail(
                    f"{probe}: asked for digits {list(labels)}, the samples are digits {list(lab)}: "
                    f"check the direction of classifier-free guidance"
                )
    raise failure
