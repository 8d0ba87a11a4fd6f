"""Checks for 2.4-2.5: the class-conditioned objective, CFG sampling and training loop."""

import numpy as np
import pytest

from grader.course.proj5b import judging as A
from grader.course.proj5b import probes as P
from grader.judging.judge import Fail, degenerate_problem, fail_if, shape_problem

# ---- ddpm_forward_class ------------------------------------------------------------------------


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
    run, ic, im, il, icalls = P.CLASS_DROP[p]
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


@pytest.mark.visible
@pytest.mark.api("ddpm_sample_class")
@pytest.mark.points(1)
def test_ddpm_sample_class_runs(sub, ref):
    """ddpm_sample_class returns one finite (1, 28, 28) sample per label, the result of its recorded steps"""
    got = sub.outputs("ddpm_sample_class", ["samples"], optional=["traj", "steps"])
    out, expected = got["samples"], ref.like("ddpm_sample_class", "samples")
    fail_if(shape_problem(out, expected, "ddpm_sample_class") or degenerate_problem(out, expected, "ddpm_sample_class"))
    # (no exact-match shortcut in a visible check: the student kit ships no reference samples to match)
    fail_if(A.step_records_problem("ddpm_sample_class", got.get("steps"), out, guidance=5.0, labels=P.CLASS_LABELS[0]))


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
        labels=P.CLASS_LABELS[0],
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
        labels=P.CLASS_LABELS[1],
        hint=_cfg_problem(got),
        update=(got.get("steps_scale2"), got.get("draws_scale2"), 300, 2.0),
    )


# ---- train_class_conditioned -------------------------------------------------------------------


def _train(sub):
    return A.TrainRun(sub, "train_class_conditioned", "class")


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
