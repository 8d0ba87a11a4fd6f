"""Grader-side judgement for proj5b (numpy only): modules, the DDPM objective, samplers, training.

The checks in this folder are thin: they pick a probe, call one function here
and turn its verdict into points. Every function either returns quietly or
raises :class:`~grader.judge.Fail` with one line that names the mistake.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from grader import protocol
from grader.course.proj5b import probes as P
from grader.course.proj5b.opcodes import ACTIVATIONS, NORMS
from grader.course.proj5b.opcodes import NAMES as OP
from grader.judge import ATOL, Fail, as_array, call_index

# ---- reading a probe's results -----------------------------------------------------------------


def results(sub, probe: str) -> list[tuple[object, str | None]]:
    """(value or None, failure message or None) for every call of the probe."""
    out = []
    for r in sub.answers(probe)["results"]:
        out.append((protocol.decode(r["value"]), None) if r.get("ok") else (None, r.get("message") or "failed"))
    return out


def need(sub, probe: str, indices) -> dict[int, object]:
    """The values of these calls; the first failure becomes the check's message."""
    res = results(sub, probe)
    out = {}
    for i in indices:
        value, message = res[i]
        if message is not None:
            raise Fail(message)
        out[i] = value
    return out


def arr(value) -> np.ndarray | None:
    a = as_array(value)
    return None if a is None else np.asarray(a, dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _inputs() -> dict:
    from grader.fixtures import load_inputs

    return load_inputs("proj5b")


def bank() -> tuple[np.ndarray, np.ndarray]:
    data = _inputs()
    return data["bank_images"].reshape(len(data["bank_images"]), -1) / 255.0, data["bank_labels"]


@functools.lru_cache(maxsize=4)
def schedule(num_ts: int, beta1: float = 1e-4, beta2: float = 0.02) -> dict:
    betas = np.linspace(beta1, beta2, num_ts, dtype=np.float32).astype(np.float64)
    alphas = 1 - betas
    return {"betas": betas, "alphas": alphas, "alpha_bars": np.cumprod(alphas)}


def closest_variant(ref, probe: str, got: dict, calls: list, limit: float = 0.02):
    """The catalogued mistake whose outputs the student's match best (within ``limit``): a single one, else
    a pair made together; or None."""
    got = ref.by_index(probe, got)
    calls = [call_index(ref.probes[probe][1], c) for c in calls]
    return ref.closest_mistake(probe, got, calls, limit)


# ---- modules -------------------------------------------------------------------------------------


def op_text(row) -> str:
    code, a, b, k, s, p = (int(v) for v in row)
    name = OP.get(code, f"op{code}")
    if code in (1, 2):
        return f"{name}({a}->{b}, k{k} s{s} p{p})"
    if code in (5, 15):
        return f"{name}({k}" + (f", stride {s}" if s != k else "") + (f", padding {p}" if p else "") + ")"
    if code == 6:
        return f"Linear({a}->{b})"
    if code == 7:
        return f"cat of {b} tensors"
    return name


def _kind(code: int) -> str:
    if code in (1, 2):
        return "conv"
    if code in ACTIVATIONS:
        return "act"
    if code in NORMS:
        return "norm"
    if code in (5, 14, 15):
        return "pool"
    return OP.get(code, "op")


def _conv_hint(g, r) -> list[str]:
    hints = []
    if g[0] != r[0]:
        hints.append(f"{OP[int(g[0])]} where {OP[int(r[0])]} is expected")
        return hints
    for j, what in ((3, "kernel_size"), (4, "stride"), (5, "padding")):
        if g[j] != r[j]:
            hints.append(f"{OP[int(r[0])]} {what}={int(g[j])} (expected {what}={int(r[j])})")
    if g[1] != r[1] or g[2] != r[2]:
        hints.append(f"{OP[int(r[0])]} channels {int(g[1])}->{int(g[2])} (expected {int(r[1])}->{int(r[2])})")
    return hints


def block_structure_problem(name: str, got: np.ndarray, ref: np.ndarray) -> str | None:
    """Compare the ordered layer sequences of a small block; a sentence naming what differs."""
    got = [tuple(int(v) for v in row) for row in np.asarray(got).reshape(-1, 6)]
    ref = [tuple(int(v) for v in row) for row in np.asarray(ref).reshape(-1, 6)]
    if got == ref:
        return None
    hints: list[str] = []
    gk, rk = [_kind(r[0]) for r in got], [_kind(r[0]) for r in ref]
    gconv = [r for r in got if r[0] in (1, 2)]
    rconv = [r for r in ref if r[0] in (1, 2)]
    gsig = [(r[0], r[3], r[4], r[5]) for r in gconv]
    rsig = [(r[0], r[3], r[4], r[5]) for r in rconv]
    if gsig != rsig and sorted(gsig) == sorted(rsig):
        hints.append("the layers run in the wrong order (" + ", ".join(op_text(r) for r in gconv) + ")")
    elif len(gconv) == len(rconv):
        for g, r in zip(gconv, rconv):
            hints += _conv_hint(g, r)
    else:
        hints.append(f"{len(gconv)} convolution(s) where {len(rconv)} are expected")
    if rk.count("norm") and not any(r[0] == 3 for r in got):
        hints.append("no BatchNorm2d")
    elif gk.count("norm") != rk.count("norm"):
        hints.append(f"{gk.count('norm')} normalisation layer(s) where {rk.count('norm')} are expected")
    gacts = [r[0] for r in got if r[0] in ACTIVATIONS]
    racts = [r[0] for r in ref if r[0] in ACTIVATIONS]
    if gacts != racts:
        other = sorted({OP[c] for c in gacts if c != 4})
        if other:
            hints.append(f"{', '.join(other)} where GELU is expected")
        elif not gacts:
            hints.append("no GELU")
        else:
            hints.append(f"{len(gacts)} GELU where {len(racts)} are expected")
    gpool = [r for r in got if r[0] in (5, 14, 15)]
    rpool = [r for r in ref if r[0] in (5, 14, 15)]
    if gpool != rpool:
        hints.append(
            ("uses " + ", ".join(op_text(r) for r in gpool) if gpool else "no pooling")
            + (f" (expected {', '.join(op_text(r) for r in rpool)})" if rpool else "")
        )
    extra = sorted({OP.get(r[0], "?") for r in got if r[0] in (19, 16, 17, 18) and r[0] not in {x[0] for x in ref}})
    if extra:
        hints.append("extra " + ", ".join(extra))
    if not hints and sorted(got) == sorted(ref):
        hints.append("the layers run in the wrong order")
    if not hints:
        hints.append("its layers differ")
    expected = ", ".join(op_text(r) for r in ref[:9]) + (", ..." if len(ref) > 9 else "")
    return f"{name}: {'; '.join(dict.fromkeys(hints))}. Expected {expected}"


def unet_structure_problem(name: str, got: np.ndarray, ref: np.ndarray) -> str | None:
    """Compare the layers of a UNet as a multiset (branch order is free); name skips and composition."""
    got = [tuple(int(v) for v in row) for row in np.asarray(got).reshape(-1, 6)]
    ref = [tuple(int(v) for v in row) for row in np.asarray(ref).reshape(-1, 6)]
    if Counter(got) == Counter(ref):
        return None
    gcat = sum(1 for r in got if r[0] == 7 and r[3] == 1)
    rcat = sum(1 for r in ref if r[0] == 7 and r[3] == 1)
    if gcat != rcat:
        return (
            f"{name}: {gcat} skip connection(s) by channel concatenation where {rcat} are expected "
            f"(torch.cat of the encoder features with the decoder input at 7x7, 14x14 and 28x28): "
            f"a skip connection is missing or extra"
        )
    g, r = Counter(x for x in got if x[0] != 7), Counter(x for x in ref if x[0] != 7)
    missing = list((r - g).elements())
    extra = list((g - r).elements())

    def summary(rows):
        c = Counter(op_text(x) for x in rows)
        return ", ".join(f"{n} x {t}" if n > 1 else t for t, n in c.most_common(4))

    parts = []
    if missing:
        parts.append(f"missing {summary(missing)}")
    if extra:
        parts.append(f"unexpected {summary(extra)}")
    return f"{name}: wrong block composition: " + "; ".join(parts)


def _forms_match(got, ref, atol=ATOL) -> tuple[bool, float]:
    """Some call form (t / c layout) where both ran and agree within atol; and the smallest difference."""
    g, r = arr(got), arr(ref)
    if g is None or r is None or g.shape[1:] != r.shape[1:]:
        return False, float("inf")
    # Every form carries the same data, so any form the reference ran is the expected output of every form.
    expected = next((row for row in r if np.all(np.isfinite(row))), None)
    best = float("inf")
    if expected is None:
        return False, best
    for row in g:
        if np.all(np.isfinite(row)):
            best = min(best, float(np.abs(row - expected).max()))
    return best <= atol, best


def _scalar_int(value) -> int:
    return int(np.asarray(value).reshape(-1)[0])


def _first_finite(value):
    a = arr(value)
    if a is None:
        return None
    for row in a:
        if np.all(np.isfinite(row)):
            return row
    return None


class ModuleView:
    """The own and rebound call groups of one module probe, against the reference's."""

    def __init__(self, sub, ref, name: str):
        self.name = name
        self.probe = name
        self.k = P.group_size(name)
        self.res = results(sub, name)
        self.ref = ref.outputs(name)
        self.reference = ref
        self.groups = [0] + ([self.k] if len(self.res) > self.k else [])

    def value(self, g: int, offset: int):
        return self.res[g + offset][0]

    def error(self, g: int, offset: int):
        return self.res[g + offset][1]

    def ran(self, g: int) -> bool:
        return self.res[g + P.OUT_EVAL][1] is None

    def first_error(self) -> str:
        for g in self.groups:
            for off in range(self.k):
                if self.error(g, off):
                    return self.error(g, off)
        return f"{self.name} could not be run"

    def diag_group(self) -> int:
        """The group whose failures are most telling: rebound (own blocks replaced) if it ran."""
        if len(self.groups) > 1 and self.ran(self.groups[1]):
            return self.groups[1]
        return 0

    # -- shape
    def shape_problem(self, g: int) -> str | None:
        offsets = [P.OUT_EVAL] + ([P.OUT_D4] if self.name in P.UNETS else [])
        for off in offsets:
            if self.error(g, off):
                return self.error(g, off)
            got, exp = _first_finite(self.value(g, off)), _first_finite(self.ref[off])
            if got is None:
                return f"{self.name} returned NaN or infinite values"
            if got.shape != exp.shape:
                args, shape, _, _ = P.MODULES[self.name]
                d = f" with D = {4 if off == P.OUT_D4 else args[-1]}" if self.name in P.UNETS else ""
                cause = ""
                if got.ndim < exp.ndim and got.size == exp.size:
                    cause = (
                        f"; likely cause: size-1 dimensions were dropped (flatten(), view(N, -1) or squeeze()): "
                        f"keep the shape {tuple(exp.shape)}"
                    )
                return (
                    f"{self.name}{d} returned shape {tuple(got.shape)} for an input of shape {tuple(shape)}; "
                    f"expected {tuple(exp.shape)}{cause}"
                )
        return None

    def check_runs(self) -> None:
        problems = [self.shape_problem(g) for g in self.groups]
        if any(p is None for p in problems):
            return
        problem = problems[0]
        hint = self.structure_problem(self.diag_group(), quiet=True)
        raise Fail(problem + (f" ({hint.split(': ', 1)[-1]})" if hint else ""))

    # -- structure
    def structure_problem(self, g: int, quiet: bool = False) -> str | None:
        if self.error(g, P.TRACE):
            return None if quiet else self.error(g, P.TRACE)
        got, exp = self.value(g, P.TRACE), self.ref[P.TRACE]
        if self.name in P.UNETS:
            return unet_structure_problem(self.name, got, exp)
        return block_structure_problem(self.name, got, exp)

    def params_problem(self, g: int) -> str | None:
        offsets = [P.PARAMS] + ([P.PARAMS_16] if self.name in P.UNETS else [])
        for off in offsets:
            if self.error(g, off):
                return self.error(g, off)
            got, exp = _scalar_int(self.value(g, off)), _scalar_int(self.ref[off])
            if got != exp:
                args = P.MODULES[self.name][0]
                what = (
                    f"with D = {16 if off == P.PARAMS_16 else args[-1]}"
                    if self.name in P.UNETS
                    else f"as {self.name}({', '.join(map(str, args))})"
                )
                return f"{self.name} has {got} parameters {what}; the reference has {exp}"
        return None

    def check_structure(self) -> None:
        for g in self.groups:
            if self.structure_problem(g) is None and self.params_problem(g) is None:
                return
        g = self.diag_group()
        raise Fail(self.structure_problem(g) or self.params_problem(g))

    # -- outputs
    def outputs_match(self, g: int) -> tuple[bool, float]:
        ok_e, d_e = _forms_match(self.value(g, P.OUT_EVAL), self.ref[P.OUT_EVAL])
        ok_t, d_t = _forms_match(self.value(g, P.OUT_TRAIN), self.ref[P.OUT_TRAIN])
        return ok_e and ok_t, max(d_e, d_t)

    def check_outputs(self) -> None:
        diffs = []
        for g in self.groups:
            if not self.ran(g):
                diffs.append(float("inf"))
                continue
            ok, d = self.outputs_match(g)
            if ok:
                return
            diffs.append(d)
        if not any(self.ran(g) for g in self.groups):
            raise Fail(self.first_error())
        shapes = [self.shape_problem(g) for g in self.groups if self.ran(g)]
        if shapes and all(shapes):  # no output of the right shape to compare: say so, not "differs by inf"
            raise Fail(shapes[0])
        # a catalogued wiring mistake?
        for v in self.reference.variants_for(self.probe):
            if v.accepted:
                continue
            outs = self.reference.outputs(self.probe, v.id)
            for g in self.groups:
                if self.ran(g) and g + P.OUT_EVAL in outs:
                    ok, _ = _forms_match(self.value(g, P.OUT_EVAL), outs[g + P.OUT_EVAL])
                    if ok:
                        raise Fail(f"{self.name}: {v.message}")
        g = self.diag_group()
        problem = self.structure_problem(g, quiet=True) or self.params_problem(g)
        if problem:
            raise Fail(problem)
        best = min(diffs)
        raise Fail(
            f"{self.name}: with the reference weights loaded, the output differs from the reference's by up to "
            f"{best:.3g}: the layers are right but they are wired differently (order of operations, skip "
            f"connections, where the conditioning is applied)"
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


def judge_sampler(sub, ref, probe, got, calls, fallback, t_calls, labels=None, hint=None, update=None):
    """Exact match (reference or accepted reading), else a catalogued mistake, else the landing fallback.

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
    steps = steps_problem(probe, t_calls) if t_calls is not None else None
    if steps:
        raise Fail(steps)
    problem = sampler_step_problem(probe, *update) if update else None
    if problem:
        raise Fail(problem)
    own, (other_probe, other_call) = fallback
    candidates = [got.get(own)]
    if not lands(candidates[0], labels):
        value, message = results(sub, other_probe)[call_index(sub.probes[other_probe][1], other_call)]
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


# ---- training ----------------------------------------------------------------------------------------


class TrainRun:
    """One run of a student's training loop on the tiny recording net, read back from the stash."""

    def __init__(self, sub, probe: str, kind: str):
        self.name, self.kind = probe, kind
        keys = P.TRAIN_KEYS if kind == "denoiser" else P.TRAIN_KEYS[: P.TRAIN_COMMON]
        res = results(sub, probe)
        if res[0][1] is not None:
            raise Fail(res[0][1])
        self.losses = arr(res[0][0])
        self.losses = np.zeros(0) if self.losses is None else self.losses.reshape(-1)
        d = {k: res[1 + j][0] for j, k in enumerate(keys)}
        self.lrs = arr(d["lrs"]).reshape(-1)
        self.adam = arr(d["adam"]).reshape(-1)
        self.covers = arr(d["covers"]).reshape(-1)
        self.changed = float(np.asarray(d["changed"]).reshape(-1)[0])
        self.n_fwd = _scalar_int(d["n_fwd"])
        self.nb = _scalar_int(d["n_batches"])
        self.ret_none = bool(_scalar_int(d["ret_none"]))
        self.epochs = P.TRAIN_EPOCHS
        self.lr = P.TRAIN_LR
        self.fwd = {k: arr(d.get(k)) for k in ("fwd_x", "fwd_out", "clean")}
        self.step = {k: arr(d.get(k)) for k in P.STEP_KEYS}

    def runs_problem(self) -> str | None:
        expected = self.epochs * self.nb
        n = len(self.losses)
        if self.ret_none:
            return f"{self.name} returns None; return the list of per-iteration losses"
        if n == 0:
            return f"{self.name} returns no losses; return the list of per-iteration losses"
        if n != expected:
            per = " one per epoch" if n == self.epochs else ""
            return (
                f"{self.name} returns {n} losses{per} for {self.epochs} epochs of {self.nb} batches; "
                f"expected one per iteration ({expected})"
            )
        if not np.all(np.isfinite(self.losses)):
            return f"{self.name} reports NaN or infinite losses"
        return None

    def optimizer_problem(self, scheduled: bool) -> str | None:
        steps = len(self.lrs)
        expected = self.epochs * self.nb
        if steps == 0:
            return f"{self.name} never calls optimizer.step()"
        if not self.covers.all():
            return f"{self.name}: the optimizer does not hold the model's parameters (pass unet.parameters())"
        if not self.adam.all():
            return f"{self.name} does not use torch.optim.Adam"
        if steps != expected:
            return (
                f"{self.name} takes {steps} optimizer steps for {self.epochs} epochs of {self.nb} batches; "
                f"expected one per batch ({expected})"
            )
        if not scheduled:
            if abs(self.lrs[0] - self.lr) > 1e-9 * max(1.0, self.lr) + 1e-12:
                return f"{self.name}: Adam runs with lr = {self.lrs[0]:g}; the lr argument was {self.lr:g}"
            if not np.allclose(self.lrs, self.lr, rtol=1e-6, atol=0):  # lrs come as float32
                moved = int(np.flatnonzero(np.abs(self.lrs - self.lr) > 1e-6 * self.lr)[0])
                per = " at every step" if moved == 1 else f" from step {moved + 1}"
                return (
                    f"{self.name}: the learning rate changes during training{per} ({self.lrs[0]:g} -> "
                    f"{self.lrs[-1]:g}); this loop trains with the constant lr it is given (no scheduler)"
                )
            return None
        gamma = 0.1 ** (1 / self.epochs)
        epoch = np.arange(steps) // self.nb
        expect = self.lr * gamma**epoch
        if np.allclose(self.lrs, expect, rtol=1e-6, atol=0):
            return None
        if abs(self.lrs[0] - self.lr) > 1e-9:
            if abs(self.lrs[0] - self.lr * gamma) < 1e-9:
                return (
                    f"{self.name}: the first epoch already runs with a decayed learning rate: call "
                    f"scheduler.step() after each epoch, not before"
                )
            return f"{self.name}: Adam starts with lr = {self.lrs[0]:g}; the lr argument was {self.lr:g}"
        if np.allclose(self.lrs, self.lr, rtol=1e-9, atol=0):
            return (
                f"{self.name}: the learning rate never decays: use ExponentialLR(optimizer, "
                f"gamma=0.1 ** (1 / num_epochs)) and step it once per epoch"
            )
        ratio = self.lrs[1] / self.lrs[0]
        if ratio < 1 - 1e-9 and np.allclose(self.lrs, self.lr * ratio ** np.arange(steps), rtol=1e-6):
            return (
                f"{self.name}: the learning-rate scheduler is stepped every iteration; step it once per epoch "
                f"(ExponentialLR, gamma = 0.1 ** (1 / num_epochs))"
            )
        per_epoch = self.lrs[self.nb] / self.lrs[0]
        return (
            f"{self.name}: the learning rate decays by a factor {per_epoch:.4g} per epoch; expected "
            f"ExponentialLR gamma = 0.1 ** (1 / num_epochs) = {gamma:.4g}"
        )

    def step_problem(self) -> str | None:
        """Is every recorded optimizer step Adam's, with PyTorch's default settings, on fresh gradients?"""
        return adam_step_problem(self.name, self.step, self.lrs, self.nb)

    def learns_problem(self) -> str | None:
        if self.changed <= 0:
            return (
                f"{self.name}: the model's weights never change (loss.backward() and optimizer.step() on the "
                f"model's parameters?)"
            )
        if len(self.losses) >= 2 * self.nb:
            first, last = self.losses[: self.nb].mean(), self.losses[-self.nb :].mean()
            if not last < first:
                return f"{self.name}: the loss does not fall over {self.epochs} epochs ({first:.4g} -> {last:.4g})"
        return None

    def target_problem(self, sigma: float) -> str | None:
        z, out, clean = self.fwd["fwd_x"], self.fwd["fwd_out"], self.fwd["clean"]
        if z is None or out is None or clean is None:
            return f"{self.name} never calls the model on a training batch with gradients enabled"
        k = min(len(z), len(self.losses))
        z, out, clean = z[:k].reshape(k, -1), out[:k].reshape(k, -1), clean[:k].reshape(k, -1)
        noise = z - clean
        if np.abs(noise).max() < 1e-6:
            return f"{self.name}: the model is given the clean images: noise each batch with add_noise(x, sigma)"
        std = float(noise.std())
        if abs(std / sigma - 1) > 0.1:
            if abs(std - 0.5) < 0.05:
                return f"{self.name}: the noise has std 0.5 although sigma = {sigma:g}: the sigma argument is ignored"
            return f"{self.name}: the noise added to the batches has std {std:.3g}; expected sigma = {sigma:g}"
        losses = self.losses[:k]

        def match(target):  # the mean, or a sum over pixels or over the batch: all are the L2 loss
            sq = (out - target) ** 2
            n = len(clean[0]) // (28 * 28) or 1
            return any(np.allclose(losses, v, rtol=1e-4, atol=1e-7) for v in (sq.mean(1), sq.sum(1), sq.sum(1) / n))

        if match(clean):
            return None
        if match(z):
            return f"{self.name}: the loss compares the output with the noisy input; the target is the clean image"
        if match(noise):
            return (
                f"{self.name}: the loss targets the noise; the single-step denoiser is trained to output the "
                f"clean image (L2 to x)"
            )
        return f"{self.name}: the reported losses are not the L2 (MSE) between the model output and the clean image"


# ---- the optimisation step -------------------------------------------------------------------------------

#: PyTorch's Adam defaults, which the spec's optimizer uses: beta1, beta2, weight_decay, eps, amsgrad, maximize.
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


def adam_step_problem(name: str, step: dict, lrs, nb: int) -> str | None:
    """A sentence naming what is wrong with the first optimizer steps a training loop took, or None.

    ``step`` holds the recorder's arrays (see harness ``_StepRecorder``): parameters before and after each
    step, the gradients it stepped with, the fresh gradients of the backward() calls since the previous
    step, and the optimizer's settings.
    """
    before, after, grads, fresh, hyper, live, sizes = (step.get(k) for k in P.STEP_KEYS)
    if before is None or after is None or before.ndim != 2 or len(after) == 0:
        return None  # no step recorded: optimizer_problem says so
    n = len(after)
    before, grads, fresh, hyper = before[:n], grads[:n], fresh[:n], hyper[:n]
    if live is None or sizes is None or live.ndim != 2 or int(np.sum(sizes)) != before.shape[1]:
        live = sizes = None
    else:
        live = live[:n]
        sizes = np.asarray(sizes).reshape(-1).astype(np.int64)
    lrs = np.asarray(lrs, dtype=np.float64)[:n]
    # 1. the optimizer's settings
    b1, b2, wd, eps, amsgrad, maximize = hyper[0]
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
    # 2. the gradients it steps with: those of the latest backward(), once
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
