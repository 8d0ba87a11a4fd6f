"""Diagnosis helpers that need no worker: fallback causes, pairs of mistakes, Adam's step, a sampler's step.

Each one is checked on the case it must name and on a case where naming it would be a wrong guess.
"""

import numpy as np
import pytest
import torch

from grader.course.proj5b import judging as J
from grader.judging.catalogue import PAIR_PREFIX, Variant, pairs, with_pairs
from grader.judging.judge import UNKNOWN_CAUSE, likely_cause

RNG = np.random.default_rng(0)
REF = RNG.normal(size=(1, 3, 16, 16))


# ---- fallback causes: only what the numbers show ---------------------------------------------------


def test_scaled_copy_is_called_a_scale_factor():
    assert "multiplied by 1.7" in likely_cause(1.7 * REF, REF)


def test_negated_copy_is_called_a_sign_flip():
    assert "sign flipped" in likely_cause(-REF, REF)


def test_constant_shift_is_named():
    assert "shifted by 0.25" in likely_cause(REF + 0.25, REF)


@pytest.mark.parametrize(
    "other",
    [
        REF + RNG.normal(size=REF.shape),  # unrelated error as large as the signal
        1.6 * REF + 0.8 * RNG.normal(size=REF.shape),  # varies more, but not a copy
        -0.5 * REF + 0.5 * RNG.normal(size=REF.shape),
    ],
)  # anti-correlated, not -1 times
def test_no_cause_is_guessed_when_the_evidence_does_not_show_one(other):
    assert likely_cause(other, REF) == UNKNOWN_CAUSE


# ---- pairs of mistakes ------------------------------------------------------------------------------


def test_pairs_combine_mistakes_of_one_name_only():
    vs = [
        Variant("f", "a", "A", (("f", "x", "y"),)),
        Variant("f", "b", "B", (("f", "p", "q"),)),
        Variant("f", "ok", "reading", (("f", "x", "z"),), accepted=True),
        Variant("g", "c", "C", (("g", "x", "y"),)),
    ]
    got = pairs(vs)
    assert [p.id for p in got] == ["a+b"]
    assert got[0].parts == ("a", "b") and got[0].edits == vs[0].edits + vs[1].edits
    assert got[0].message.startswith(PAIR_PREFIX) and "A" in got[0].message and "B" in got[0].message
    assert with_pairs(vs)[: len(vs)] == vs  # singles first: a single mistake is named before a pair


# ---- Adam's step --------------------------------------------------------------------------------------


def _torch_steps(opt_kwargs, grads, p0, lrs, zero=True):
    p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    opt = torch.optim.Adam([p], **opt_kwargs)
    out = []
    for g, lr in zip(grads, lrs):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().clone().numpy())
    return np.asarray(out)


def _record(grads, after, before0, hyper=(0.9, 0.999, 0.0, 1e-8, 0.0, 0.0), fresh=None):
    before = np.vstack([before0[None], after[:-1]])
    return {
        "step_before": before,
        "step_after": after,
        "step_grad": grads,
        "step_fresh": grads if fresh is None else fresh,
        "step_hyper": np.tile(hyper, (len(grads), 1)),
        "step_sizes": np.array([before.shape[1]]),
    }


def test_adam_replay_is_pytorchs_adam():
    grads = RNG.normal(size=(6, 20)) * np.array([1e-3] * 10 + [1.0] * 10)
    grads[:, 0] = 0  # a parameter that never gets a gradient stays put
    p0, lrs = RNG.normal(size=20), [1e-2] * 6
    want = _torch_steps({"lr": 1e-2}, grads, p0, lrs)
    assert np.allclose(J.adam_replay(p0[None], grads, lrs), want, atol=1e-12)
    assert J.adam_step_problem("train", _record(grads, want, p0), lrs, nb=4) is None


def test_adam_step_names_betas_weight_decay_and_missing_zero_grad():
    grads, p0, lrs = RNG.normal(size=(6, 20)), RNG.normal(size=20), [1e-2] * 6
    after = _torch_steps({"lr": 1e-2, "betas": (0.5, 0.999)}, grads, p0, lrs)
    assert "betas = (0.5, 0.999)" in J.adam_step_problem(
        "train", _record(grads, after, p0, (0.5, 0.999, 0, 1e-8, 0, 0)), lrs, 4
    )
    after = _torch_steps({"lr": 1e-2, "weight_decay": 1e-4}, grads, p0, lrs)
    assert "weight_decay = 0.0001" in J.adam_step_problem(
        "train", _record(grads, after, p0, (0.9, 0.999, 1e-4, 1e-8, 0, 0)), lrs, 4
    )
    summed = np.cumsum(grads, axis=0)  # .grad never zeroed: each step sees the sum so far
    after = _torch_steps({"lr": 1e-2}, summed, p0, lrs)
    assert "never zeroes the gradients" in J.adam_step_problem("train", _record(summed, after, p0, fresh=grads), lrs, 4)


def test_optimizer_made_anew_every_epoch_is_named():
    grads, p0, lrs = RNG.normal(size=(6, 20)), RNG.normal(size=20), [1e-2] * 6
    after = np.vstack([_torch_steps({"lr": 1e-2}, grads[:4], p0, lrs[:4])[None].reshape(4, -1)])
    after = np.vstack([after, _torch_steps({"lr": 1e-2}, grads[4:], after[-1], lrs[4:])])
    assert "created anew every epoch" in J.adam_step_problem("train", _record(grads, after, p0), lrs, nb=4)


# ---- one update step of a sampler ---------------------------------------------------------------------


def _sampler_record(step_fn, guidance=None, n=4, T=300, positions=(299, 150, 29, 1, 0), noise_order=0):
    """Steps and draws as the harness stashes them, for an update rule step_fn(x, eps, k, z)."""
    s = J.schedule(T)
    rng = np.random.default_rng(1)
    steps = np.full((len(positions), 5, n, 784), np.nan)
    draws = np.full((len(positions), 5, n, 784), np.nan)
    for j, k in enumerate(positions):
        x = rng.normal(size=(n, 784))
        ec = 0.8 * x + 0.3 * rng.normal(size=(n, 784))
        eu = 0.7 * x + 0.3 * rng.normal(size=(n, 784))
        window = rng.normal(size=(5, n, 784))
        eps = ec if guidance is None else eu + guidance * (ec - eu)
        z = window[2 + noise_order] if noise_order is not None else rng.normal(size=(n, 784))
        steps[j, 0], steps[j, 1], steps[j, 3], steps[j, 4] = x, ec, step_fn(x, eps, k, z, s), k / T
        if guidance is not None:
            steps[j, 2] = eu
        draws[j] = window
    return steps, draws


def _ddpm(x, eps, k, z, s, a_of=None, b_of=None):
    b, a, ab = s["betas"][k], s["alphas"][k], s["alpha_bars"][k]
    xa = (a_of or (lambda: 1 / np.sqrt(a)))()
    eb = (b_of or (lambda: -b / (np.sqrt(a) * np.sqrt(1 - ab))))()
    return xa * x + eb * eps + (np.sqrt(b) * z if k > 0 else 0)


@pytest.mark.parametrize("noise_order", [0, 1, None])  # the draw expected, the next one, noise not handed out
def test_a_right_sampler_step_passes(noise_order):
    steps, draws = _sampler_record(_ddpm, noise_order=noise_order)
    assert J.sampler_step_problem("ddpm_sample", steps, draws) is None
    steps, draws = _sampler_record(_ddpm, guidance=5.0, noise_order=noise_order)
    assert J.sampler_step_problem("ddpm_sample_class", steps, draws, guidance=5.0) is None


def test_a_wrong_coefficient_is_named_even_when_it_is_small():
    def no_alpha_on_eps(x, eps, k, z, s):  # eps term not divided by sqrt(alpha_t): a 1% change at most
        b, ab = s["betas"][k], s["alpha_bars"][k]
        return _ddpm(x, eps, k, z, s, b_of=lambda: -b / np.sqrt(1 - ab))

    steps, draws = _sampler_record(no_alpha_on_eps)
    msg = J.sampler_step_problem("ddpm_sample", steps, draws)
    assert msg and "coefficient of the noise estimate" in msg and "not divided by sqrt(alpha_t)" in msg

    def inv_sqrt_abar(x, eps, k, z, s):
        return _ddpm(x, eps, k, z, s, a_of=lambda: 1 / np.sqrt(s["alpha_bars"][k]))

    steps, draws = _sampler_record(inv_sqrt_abar)
    assert "= 1/sqrt(alpha_bar_t)" in J.sampler_step_problem("ddpm_sample", steps, draws)


def test_wrong_guidance_is_named():
    steps, draws = _sampler_record(_ddpm, guidance=3.0)  # the update guides with 3 where 5 was asked for
    msg = J.sampler_step_problem("ddpm_sample_class", steps, draws, guidance=5.0)
    assert msg and "guided noise estimate is 3 eps_c -2 eps_u" in msg


def test_adam_replay_steps_whole_tensors_like_pytorch():
    """An element whose gradient is 0 at first still counts the steps of its tensor (bias correction)."""
    grads = RNG.normal(size=(6, 20))
    grads[0, :5] = 0  # e.g. the weights of classes absent from the first batch
    p0, lrs = RNG.normal(size=20), [1e-2] * 6
    want = _torch_steps({"lr": 1e-2}, grads, p0, lrs)
    rec = _record(grads, want, p0)
    rec["step_live"], rec["step_sizes"] = np.ones((6, 1)), np.array([20])
    assert np.allclose(
        J.adam_replay(p0[None], grads, lrs, live=rec["step_live"], sizes=rec["step_sizes"]), want, atol=1e-12
    )
    assert J.adam_step_problem("train", rec, lrs, nb=4) is None


def test_the_one_based_reading_of_t_is_accepted():
    """t runs T..1 and alpha_bars[t - 1] is used: the records then carry t = (k + 1) / T for step index k."""
    steps, draws = _sampler_record(_ddpm)
    steps[:, 4] += 1 / 300  # the same updates, reported one step later
    assert J.sampler_step_problem("ddpm_sample", steps, draws) is None
