"""2.4-2.5: the class-conditioned objective, CFG sampling and training loop."""

import numpy as np
import pytest

from grader.course.proj5b import judging as A
from grader.course.proj5b.shared import (
    FORWARD_KEYS,
    SAMPLE_KEYS,
    forward_run,
    ns,
    sampler_variants,
    stash,
    step_stash,
    train_probe,
)
from grader.judging.catalogue import Variant
from grader.judging.judge import Fail, degenerate_problem, fail_if, shape_problem
from grader.probing import Standin, Support, call, probe

PROBES = {}  # probe name -> Probe, filled name by name below
VARIANTS = []

# ---- ddpm_forward_class ------------------------------------------------------------------------

CLASS_KEYS = ("c", "mask", "labels", "calls")


def _dropout_run(seed, p):
    return [
        call(
            Standin("run_ddpm_forward_class"),
            ns("ddpm_forward_class"),
            seed=seed,
            no_grad=False,
            label="ddpm_forward_class",
            n=200,
            p_uncond=p,
            num_ts=300,
        )
    ] + [stash(k, "ddpm_forward_class") for k in CLASS_KEYS]


PROBES["ddpm_forward_class"] = probe(
    "ddpm_forward_class",
    *forward_run("ddpm_forward_class", "run_ddpm_forward_class", 31, n=32, p_uncond=0.2, num_ts=300)
    + _dropout_run(32, 0.2)
    + _dropout_run(33, 0.5),
)
# 0 objective run (n = 32), then per dropout run: run, c, mask, labels, calls
_D0 = 1 + len(FORWARD_KEYS)
CLASS_DROP = {0.2: tuple(range(_D0, _D0 + 5)), 0.5: tuple(range(_D0 + 5, _D0 + 10))}


def _forward(sub):
    return A.ForwardRun(sub, "ddpm_forward_class", 0, 300, "ddpm_forward_class")


@pytest.mark.visible
@pytest.mark.api("ddpm_forward_class")
@pytest.mark.points(1)
def test_ddpm_forward_class_runs(sub):
    """ddpm_forward_class returns a scalar loss after calling the UNet on the batch with c and t"""
    fail_if(_forward(sub).runs_problem())


@pytest.mark.api("ddpm_forward_class")
@pytest.mark.points(2)
def test_ddpm_forward_class_objective(sub):
    """ddpm_forward_class normalises t, noises x_0 with alpha_bars and returns the MSE to eps"""
    run = _forward(sub)
    fail_if(run.runs_problem() or run.t_problem() or run.xt_problem() or run.loss_problem())


def _drops(sub, p):
    run, ic, im, il, icalls = CLASS_DROP[p]
    got = A.need(sub, "ddpm_forward_class", [run, ic, im, il, icalls])
    c, mask, labels = (np.asarray(got[i]).reshape(-1) for i in (ic, im, il))
    n = len(labels)
    c, mask = c[:n], mask[:n]
    dropped = (mask == 0) | (c == -1)
    return c, mask, labels, dropped


@pytest.mark.api("ddpm_forward_class")
@pytest.mark.points(1)
def test_ddpm_forward_class_passes_labels(sub):
    """ddpm_forward_class passes the batch's labels c to the UNet (labels or one-hot)"""
    c, mask, labels, dropped = _drops(sub, 0.2)
    wrong = (~dropped) & (c != labels)
    if wrong.any():
        raise Fail(
            f"ddpm_forward_class: the UNet receives class labels that differ from c for {int(wrong.sum())} of "
            f"{len(c)} images; drop a class with mask = 0 (or an all-zero one-hot row), keep the labels"
        )


@pytest.mark.api("ddpm_forward_class")
@pytest.mark.points(2)
def test_ddpm_forward_class_drops_classes(sub):
    """ddpm_forward_class drops the class (mask = 0) with probability p_uncond (0.2 and 0.5)"""
    fractions = {}
    for p in (0.2, 0.5):
        *_, dropped = _drops(sub, p)
        fractions[p] = float(dropped.mean())
    for p, frac in fractions.items():
        n = len(_drops(sub, p)[2])
        sigma = (p * (1 - p) / n) ** 0.5
        if abs(frac - p) <= 4 * sigma:
            continue
        if all(f == 0 for f in fractions.values()):
            raise Fail(
                "ddpm_forward_class never drops the class: set mask = 0 with probability p_uncond "
                "(classifier-free guidance needs the unconditional case)"
            )
        if all(f == 1 for f in fractions.values()):
            raise Fail(
                "ddpm_forward_class drops the class for every image: mask must be 1 except with probability p_uncond"
            )
        if abs(fractions[0.2] - 0.8) <= 4 * sigma:
            raise Fail(
                "ddpm_forward_class: the mask is inverted: the class is dropped with probability 1 - p_uncond "
                "(mask should be 0 with probability p_uncond)"
            )
        if abs(fractions[0.2] - fractions[0.5]) < 0.1:
            raise Fail(
                f"ddpm_forward_class ignores p_uncond: the class is dropped for {fractions[0.2]:.0%} of images "
                f"with p_uncond = 0.2 and {fractions[0.5]:.0%} with p_uncond = 0.5"
            )
        raise Fail(f"ddpm_forward_class drops the class for {frac:.0%} of images with p_uncond = {p}")


# ---- ddpm_sample_class -------------------------------------------------------------------------

CLASS_LABELS = ([7, 3, 0, 9], [1, 5, 2, 8])


def _class_samples(labels, guidance_scale, seed, name, **reading):
    """ddpm_sample_class with the analytic class denoiser (``reading``: ``offset=-1`` for the 1-based one)."""
    return call(
        Standin("run_sample_class"),
        ns("ddpm_sample_class"),
        labels,
        guidance_scale,
        **reading,
        seed=seed,
        label="ddpm_sample_class",
        name=name,
    )


PROBES["ddpm_sample_class"] = probe(
    "ddpm_sample_class",
    _class_samples(CLASS_LABELS[0], None, 51, "samples"),
    *[stash(k, "ddpm_sample_class", name=k) for k in SAMPLE_KEYS],
    *step_stash("ddpm_sample_class"),
    _class_samples(CLASS_LABELS[1], 2.0, 52, "samples_scale2"),
    stash("traj", "ddpm_sample_class", name="traj_scale2"),
    *step_stash("ddpm_sample_class", "_scale2"),
    cost_ms=500,  # two 300-step samplers with guidance
)
PROBES["ddpm_sample_class_fallback"] = probe(
    "ddpm_sample_class",
    _class_samples(CLASS_LABELS[0], None, 51, "samples", offset=-1),
    _class_samples(CLASS_LABELS[1], 2.0, 52, "samples_scale2", offset=-1),
    on_demand=True,
)
CFG = "eps_hat = eps_u + guidance_scale * (eps_c - eps_u)"
VARIANTS += sampler_variants("ddpm_sample_class", "n") + [
    Variant(
        "ddpm_sample_class",
        "cfg-reversed",
        "CFG is reversed (or the conditional and unconditional passes are swapped): eps_u + g * (eps_c - eps_u)",
        (("ddpm_sample_class", CFG, "eps_hat = eps_c + guidance_scale * (eps_u - eps_c)"),),
    ),
    Variant(
        "ddpm_sample_class",
        "cfg-scale-ignored",
        "the guidance_scale argument is ignored (a fixed scale of 5 is used)",
        (("ddpm_sample_class", CFG, "eps_hat = eps_u + 5.0 * (eps_c - eps_u)"),),
    ),
    Variant(
        "ddpm_sample_class",
        "cfg-conditional-only",
        "no classifier-free guidance: only the conditional noise estimate is used (eps_u + g * (eps_c - eps_u))",
        (("ddpm_sample_class", CFG, "eps_hat = eps_c"),),
    ),
    Variant(
        "ddpm_sample_class",
        "cfg-unconditional-only",
        "only the unconditional estimate is used: the class is dropped in both passes",
        (("ddpm_sample_class", CFG, "eps_hat = eps_u"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("ddpm_sample_class")
@pytest.mark.points(1)
def test_ddpm_sample_class_runs(sub, ref):
    """ddpm_sample_class returns one finite (1, 28, 28) sample per label, the result of its recorded steps"""
    got = sub.outputs("ddpm_sample_class", ["samples"], optional=["traj", "steps"])
    out, expected = got["samples"], ref.like("ddpm_sample_class", "samples")
    fail_if(shape_problem(out, expected, "ddpm_sample_class") or degenerate_problem(out, expected, "ddpm_sample_class"))
    # (no exact-match shortcut in a visible check: the student kit ships no reference samples to match)
    fail_if(A.step_records_problem("ddpm_sample_class", got.get("steps"), out, guidance=5.0, labels=CLASS_LABELS[0]))


def _cfg_problem(got) -> str | None:
    t_calls, dropped = A.arr(got.get("t_calls")), A.arr(got.get("dropped_calls"))
    if t_calls is None or dropped is None or t_calls.size == 0:
        return None
    if not (dropped > 0).any():
        return (
            "ddpm_sample_class never calls the UNet with the class dropped (mask = 0): classifier-free "
            "guidance needs an unconditional estimate at every step"
        )
    return None


@pytest.mark.api("ddpm_sample_class")
@pytest.mark.points(5)
def test_ddpm_sample_class_matches_reference(sub, ref):
    """ddpm_sample_class with guidance 5 matches the reference and produces the requested digits"""
    got = sub.outputs(
        "ddpm_sample_class", ["samples", "traj"], optional=["t_calls", "batch_calls", "dropped_calls", "steps", "draws"]
    )
    A.judge_sampler(
        sub,
        ref,
        "ddpm_sample_class",
        got,
        ["samples", "traj"],
        fallback=("samples", ("ddpm_sample_class_fallback", "samples")),
        t_calls=got.get("t_calls"),
        labels=CLASS_LABELS[0],
        hint=_cfg_problem(got),
        update=(got.get("steps"), got.get("draws"), 300, 5.0),
    )


@pytest.mark.api("ddpm_sample_class")
@pytest.mark.points(2)
def test_ddpm_sample_class_guidance_scale(sub, ref):
    """ddpm_sample_class follows eps_u + g (eps_c - eps_u) for guidance_scale = 2"""
    got = sub.outputs(
        "ddpm_sample_class",
        ["samples_scale2", "traj_scale2"],
        optional=["t_calls", "dropped_calls", "steps_scale2", "draws_scale2"],
    )
    A.judge_sampler(
        sub,
        ref,
        "ddpm_sample_class",
        got,
        ["samples_scale2", "traj_scale2"],
        fallback=("samples_scale2", ("ddpm_sample_class_fallback", "samples_scale2")),
        t_calls=got.get("t_calls"),
        labels=CLASS_LABELS[1],
        hint=_cfg_problem(got),
        update=(got.get("steps_scale2"), got.get("draws_scale2"), 300, 2.0),
    )


# ---- train_class_conditioned -------------------------------------------------------------------

# ddpm_forward too: a notebook may define its class-conditioned objective again under that name (interfaces.py)
PROBES["train_class_conditioned"] = train_probe(
    "train_class_conditioned",
    "class",
    81,
    {"ddpm_forward_class": Support("ref_ddpm_forward_class"), "ddpm_forward": Support("ref_ddpm_forward_class")},
    p_uncond=0.1,
)


def _train(sub):
    return A.TrainRun.of(sub, "train_class_conditioned", "class")


@pytest.mark.visible
@pytest.mark.api("train_class_conditioned")
@pytest.mark.points(1)
def test_train_class_conditioned_returns_losses(sub):
    """train_class_conditioned runs and returns one finite loss per iteration"""
    fail_if(_train(sub).runs_problem())


@pytest.mark.api("train_class_conditioned")
@pytest.mark.points(3)
def test_train_class_conditioned_schedule(sub):
    """train_class_conditioned steps Adam (default settings) on fresh gradients, with ExponentialLR(0.1 ** (1 / num_epochs)) per epoch"""
    run = _train(sub)
    fail_if(run.optimizer_problem(scheduled=True) or run.step_problem())


@pytest.mark.api("train_class_conditioned")
@pytest.mark.points(1)
def test_train_class_conditioned_learns(sub):
    """train_class_conditioned minimises the DDPM objective (the noise's MSE at t / num_ts), changes the weights and the loss falls"""
    run = _train(sub)
    fail_if(run.objective_problem() or run.learns_problem())
