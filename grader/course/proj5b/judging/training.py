"""Part B judging, training: losses, the optimizer and its schedule, and each optimizer step replayed (numpy only)."""

from __future__ import annotations

import numpy as np

from grader.course.proj5b import shared as P
from grader.course.proj5b.judging import tinynet
from grader.course.proj5b.judging.common import (
    _scalar_int,
    arr,
    results,
    schedule,
)
from grader.course.proj5b.judging.optimizer import adam_replay, adam_step_problem  # noqa: F401 - used by TrainRun
from grader.course.proj5b.judging.training_evidence import forwards_evidence_problem, steps_evidence_problem
from grader.judging.judge import Fail

# ---- training ----------------------------------------------------------------------------------------


class TrainRun:
    """One run of a student's training loop on the tiny recording net, read back from the stash."""

    def __init__(self, sub, probe: str, kind: str):
        self.name, self.kind = probe, kind
        keys = P.TRAIN_KEYS[: P.TRAIN_COMMON] if kind == "denoiser" else P.TRAIN_KEYS
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
        loop = arr(d["loop"]).reshape(-1)
        #: a top-level loop ran in place of the function: its own lr, epoch count and sigma are the ones to hold
        self.is_loop = bool(loop[0])
        self.declared_epochs = int(loop[1]) if self.is_loop and loop[1] > 0 else self.epochs
        if self.is_loop and len(self.lrs):
            self.lr = float(self.lrs[0])
        self.fwd = {k: arr(d.get(k)) for k in ("fwd_x", "fwd_out", "clean", "fwd_t")}
        self.step = {k: arr(d.get(k)) for k in P.STEP_KEYS}

    @classmethod
    def of(cls, sub, probe: str, kind: str) -> TrainRun:
        """The run read back once per submission: its checks share it (and what it has judged of itself)."""
        key = (cls.__name__, probe, kind)
        if key not in sub.memo:
            sub.memo[key] = cls(sub, probe, kind)
        return sub.memo[key]

    def evidence_problem(self) -> str | None:
        """What every training check needs besides the losses, or what is wrong with it: the records of the
        first optimizer steps (parameters, gradients, settings) and of the first training forwards (input,
        output, clean batch), complete and finite. They are measured in the student's own process, so a
        check never passes without them. Judged once per run."""
        if not hasattr(self, "_evidence"):
            self._evidence = (
                steps_evidence_problem(self.name, self.step, len(self.lrs))
                or forwards_evidence_problem(self.name, self.fwd, self.kind)
                or self.forwards_agree_problem()
            )
        return self._evidence

    def forwards_agree_problem(self) -> str | None:
        """Each recorded training forward must be the net's output for its recorded input (and t) under the
        parameters before one of the first optimizer steps (the net is the grader's: see ``tinynet``)."""
        before = self.step["step_before"]
        x, out, t = self.fwd["fwd_x"], self.fwd["fwd_out"], self.fwd.get("fwd_t")
        for i in range(len(x)):
            if x[i].size % 784 or x[i].size != out[i].size:
                return f"{self.name}: the model's input in training is not a batch of 28x28 images"
            ti = None if t is None else t[i]
            # the parameters before step i first: the forward of step i is usually that step's own
            if all(tinynet.forward_problem(p, x[i], ti, out[i], self.kind) for p in before[i::-1]):
                return (
                    f"{self.name}: the recorded training outputs are not the model's outputs for its recorded inputs "
                    f"and parameters, so its training cannot be checked"
                )
        return None

    def gradient_problem(self, targets) -> str | None:
        """The first optimizer step's gradients of the output layer must be those of a squared error between
        the first training forward and one of ``targets`` (a loss the objective check accepted). Checked when
        the run took one training forward per optimizer step."""
        if self.n_fwd != len(self.lrs):
            return None  # more forwards than steps: which ones the first step's gradients come from is unknown
        before, fresh = self.step["step_before"], self.step["step_fresh"]
        g = fresh[0][tinynet.OUTPUT_LAYER]
        x, out, t = self.fwd["fwd_x"][0], self.fwd["fwd_out"][0], self.fwd.get("fwd_t")
        features = tinynet.output_layer_input(before[0], x, None if t is None else t[0], out, self.kind)
        for target in targets:
            if np.asarray(target).size != out.size:
                continue
            mine = tinynet.output_layer_gradient(features, out, target)
            scale = float(g @ mine) / max(float(mine @ mine), 1e-300)
            if scale > 0 and np.abs(g - scale * mine).max() <= 1e-3 * np.abs(g).max() + 1e-12:
                return None
        return (
            f"{self.name}: the gradients of its first optimizer step are not those of its loss on the recorded "
            f"training forward, so its training cannot be checked"
        )

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
        return self.evidence_problem()

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
        gamma = 0.1 ** (1 / self.declared_epochs)
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
        """Is every recorded optimizer step Adam's, with PyTorch's default settings, on fresh gradients, and
        are the first step's gradients those of a squared error on the first training forward?"""
        return (
            self.evidence_problem()
            or adam_step_problem(self.name, self.step, self.lrs, self.nb)
            or self.gradient_problem(self.candidate_targets())
        )

    def candidate_targets(self) -> list[np.ndarray]:
        """What the first training forward's loss may compare its output with, right or wrong (the objective
        and target checks say which is right): the clean batch, the input, and the noise in the input under
        every reading of its t (normalised by any T or not at all, 0- or 1-based, alpha_bars or alphas)."""
        z, clean = self.fwd["fwd_x"][0], self.fwd["clean"][0]
        n = len(clean)
        z, clean = z.reshape(n, -1), clean.reshape(n, -1)
        out = [clean, z, z - clean]
        t = self.fwd.get("fwd_t")
        if self.kind == "denoiser" or t is None or z.shape != clean.shape:
            return out
        t = np.asarray(t[0], dtype=np.float64).reshape(-1)[:n]
        grids = {T: t * T for T in {300, _grid(t) or 300}}
        grids[300 if t.max() > 1 else 0] = t  # t not normalised: the timestep itself
        for T, k in grids.items():
            if not T:
                continue
            sched = schedule(T)
            for key in ("alpha_bars", "alphas"):
                for j in _readings(k, T):
                    a = sched[key][j][:, None]
                    out.append((z - np.sqrt(a) * clean) / np.sqrt(1 - a))
        return out

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
        if self.is_loop:
            sigma = P.LOOP_SIGMA  # a loop has no sigma argument: it trains at the spec's
        problem = self.evidence_problem()
        if problem:
            return problem
        z, out, clean = self.fwd["fwd_x"], self.fwd["fwd_out"], self.fwd["clean"]
        k = min(len(z), len(self.losses))
        if k < len(z):
            return f"{self.name} returns fewer losses than it runs training forwards"
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
            return self.gradient_problem([clean[0]])
        if match(z):
            return f"{self.name}: the loss compares the output with the noisy input; the target is the clean image"
        if match(noise):
            return (
                f"{self.name}: the loss targets the noise; the single-step denoiser is trained to output the "
                f"clean image (L2 to x)"
            )
        return f"{self.name}: the reported losses are not the L2 (MSE) between the model output and the clean image"

    def objective_problem(self) -> str | None:
        """The DDPM objective of the first training forwards (time- and class-conditioned runs): the UNet gets
        x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps and t / T in [0, 1], and the loss is the MSE between its
        output and eps. A run that calls the grader's ddpm_forward passes; this judges an objective written
        inline, in a training function or a top-level loop."""
        problem = self.evidence_problem()
        if problem:
            return problem
        z, out, clean, t = (self.fwd.get(k) for k in ("fwd_x", "fwd_out", "clean", "fwd_t"))
        k = min(len(z), len(clean), len(t))
        if len(self.losses) < k:
            return f"{self.name} returns fewer losses than it runs training forwards"
        n = clean.shape[1]
        z, out, clean, t = z[:k].reshape(k, n, -1), out[:k].reshape(k, n, -1), clean[:k].reshape(k, n, -1), t[:k]
        if z.shape[2] != clean.shape[2] or out.shape != z.shape:
            return (
                f"{self.name}: the UNet's input or output in training is not shaped like the batch of clean images "
                f"({tuple(z.shape[1:])} and {tuple(out.shape[1:])} for {tuple(clean.shape[1:])}), so the objective "
                f"cannot be checked"
            )
        if t.max() > 1 + 1e-6 or t.min() < -1e-6:
            return (
                f"{self.name}: the UNet is given t up to {t.max():g}; the training objective passes t / num_ts "
                f"(values in [0, 1])"
            )
        T = _grid(t)
        if T is None:
            return f"{self.name}: the t given to the UNet are not timesteps k / num_ts"
        sched = schedule(T)
        losses = self.losses
        targets = []  # the noises the first forward's loss is the MSE to
        for i in range(k):
            x0, xt, pred = clean[i], z[i], out[i]
            noises = _noises(xt, x0, sched["alpha_bars"], t[i] * T, T)
            if not noises:
                if _noises(xt, x0, sched["alphas"], t[i] * T, T):
                    return (
                        f"{self.name}: x_t is made with alphas (1 - beta_t) where alpha_bars (their cumulative "
                        f"product) belong: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps"
                    )
                return (
                    f"{self.name}: the UNet's input is not x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps for the "
                    f"t it is given (alpha_bars = cumprod(1 - betas) of ddpm_schedule(1e-4, 0.02, {T}))"
                )

            def near(value, loss=float(losses[i])):
                return abs(float(value) - loss) <= 1e-4 * max(abs(loss), 1e-6) + 1e-7

            matched = [
                eps for eps in noises if near(((pred - eps) ** 2).mean()) or near(((pred - eps) ** 2).sum(1).mean())
            ]
            if matched:
                targets += matched if i == 0 else []
                continue
            if near(((pred - x0) ** 2).mean()):
                return f"{self.name}: the loss compares the UNet's output with x_0; the DDPM objective predicts eps"
            return f"{self.name}: the loss is not the MSE between the UNet's output and the noise eps"
        return self.gradient_problem(targets)


def _grid(t: np.ndarray) -> int | None:
    """The smallest T (up to 2000) for which every t is a multiple of 1 / T, else None."""
    flat = np.asarray(t, dtype=np.float64).reshape(-1)
    for T in (300, *range(1, 2001)):
        k = flat * T
        if np.all(np.abs(k - np.round(k)) < 1e-3):
            return T
    return None


def _noises(xt, x0, abar, k, T) -> list[np.ndarray]:
    """The eps, under each reading of t, for which xt = sqrt(abar) x0 + sqrt(1 - abar) eps looks like N(0, I)."""
    found = []
    for j in _readings(k, T):
        a = abar[j][:, None]
        eps = (xt - np.sqrt(a) * x0) / np.sqrt(1 - a)
        if abs(eps.std() - 1) < 0.05 and abs(eps.mean()) < 0.05 and np.all(np.abs(eps.std(1) - 1) < 0.25):
            found.append(eps)
    return found


def _readings(k: np.ndarray, T: int) -> list[np.ndarray]:
    """Schedule indices for t = k / T, 0- or 1-based."""
    k = np.round(k)
    return [np.clip(k, 0, T - 1).astype(int), np.clip(k - 1, 0, T - 1).astype(int)]


# ---- the evidence a training check needs ------------------------------------------------------------------
