"""2.2-2.3: the DDPM schedule, training objective, sampler and training loop.

ddpm_forward gets a recording probe UNet and the reference schedule (T = 300,
and T = 50 to catch a hard-coded 300); what the UNet receives is checked for
consistency: t normalised, x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps for that t
(0- or 1-based), the loss against that eps. ddpm_sample runs with the analytic
MNIST denoiser: it must match the reference under the same keyed noise (or an
accepted reading), or else take exact DDPM steps (checked on recorded early, middle,
late and last steps against the grader's own noise draws) and land on stored digits.
The training loops' optimizer steps are replayed grading side: Adam with the default
settings, on the gradients of each batch's backward().
"""

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
from grader.judging.judge import Fail, degenerate_problem, fail_if, shape_problem
from grader.probing import Standin, Support, call, probe

PROBES = {}  # probe name -> Probe, filled name by name below
VARIANTS = []

# ---- ddpm_schedule ----------------------------------------------------------------------------

PROBES["ddpm_schedule"] = probe(
    "ddpm_schedule",
    call(Standin("run_schedule"), ns("ddpm_schedule"), 1e-4, 0.02, 300, label="ddpm_schedule"),
    call(Standin("run_schedule"), ns("ddpm_schedule"), 1e-3, 0.05, 50, label="ddpm_schedule"),
)


@pytest.mark.visible
@pytest.mark.api("ddpm_schedule")
@pytest.mark.points(5)
def test_ddpm_schedule(sub):
    """ddpm_schedule gives betas = linspace(beta1, beta2, T), alphas = 1 - betas, alpha_bars = cumprod(alphas)"""
    got = sub.outputs("ddpm_schedule", [0, 1])
    first = A.schedule_problem(got[0], 1e-4, 0.02, 300)
    fail_if(first)
    second = A.schedule_problem(got[1], 1e-3, 0.05, 50)
    if second:
        raise Fail(second + " (right for (1e-4, 0.02, 300): are the arguments hard-coded?)")


# ---- ddpm_forward -----------------------------------------------------------------------------

PROBES["ddpm_forward"] = probe(
    "ddpm_forward",
    *forward_run("ddpm_forward", "run_ddpm_forward", 21, n=32, num_ts=300)
    + forward_run("ddpm_forward", "run_ddpm_forward", 22, n=16, num_ts=50),
)
#: num_ts -> the index of its run's call (what it recorded, FORWARD_KEYS, follows it)
FORWARD_RUNS = {300: 0, 50: 1 + len(FORWARD_KEYS)}


def _forward(sub, num_ts):
    return A.ForwardRun(sub, "ddpm_forward", FORWARD_RUNS[num_ts], num_ts, "ddpm_forward")


@pytest.mark.visible
@pytest.mark.api("ddpm_forward")
@pytest.mark.points(1)
def test_ddpm_forward_runs(sub):
    """ddpm_forward returns a scalar loss after calling the UNet on the batch with t"""
    fail_if(_forward(sub, 300).runs_problem())


@pytest.mark.api("ddpm_forward")
@pytest.mark.points(2)
def test_ddpm_forward_normalises_t(sub):
    """ddpm_forward gives the UNet t / num_ts in [0, 1] (T = 300 and T = 50)"""
    for T in (300, 50):
        run = _forward(sub, T)
        fail_if(run.runs_problem() or run.t_problem())
    t = _forward(sub, 300).t
    if np.unique(t).size == 1 and t[0] == 0:
        raise Fail("ddpm_forward: t is always 0: draw a random timestep for each image")


@pytest.mark.api("ddpm_forward")
@pytest.mark.points(2)
def test_ddpm_forward_noises_with_alpha_bars(sub):
    """ddpm_forward builds x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for the t it passes"""
    run = _forward(sub, 300)
    fail_if(run.runs_problem() or run.t_problem() or run.xt_problem())
    small = _forward(sub, 50)
    problem = small.runs_problem() or small.t_problem() or small.xt_problem()
    if problem:
        raise Fail(problem + " (with num_ts = 50: is T = 300 hard-coded?)")


@pytest.mark.api("ddpm_forward")
@pytest.mark.points(2)
def test_ddpm_forward_loss(sub):
    """ddpm_forward returns the MSE between the UNet's output and the noise eps in x_t"""
    run = _forward(sub, 300)
    fail_if(run.runs_problem() or run.loss_problem())


# ---- ddpm_sample ------------------------------------------------------------------------------

PROBES["ddpm_sample"] = probe(
    "ddpm_sample",
    call(Standin("run_sample"), ns("ddpm_sample"), n=4, offset=0, seed=41, label="ddpm_sample", name="samples"),
    *[stash(k, "ddpm_sample", name=k) for k in SAMPLE_KEYS[:3]],
    *step_stash("ddpm_sample"),
    cost_ms=200,
)
#: Asked for only when the exact comparison fails (noise drawn in another order): the 1-based denoiser's samples.
PROBES["ddpm_sample_fallback"] = probe(
    "ddpm_sample",
    call(Standin("run_sample"), ns("ddpm_sample"), n=4, offset=-1, seed=41, label="ddpm_sample", name="samples"),
    on_demand=True,
)
VARIANTS += sampler_variants("ddpm_sample", "num_samples")


@pytest.mark.visible
@pytest.mark.api("ddpm_sample")
@pytest.mark.points(1)
def test_ddpm_sample_runs(sub, ref):
    """ddpm_sample returns finite samples of shape (num_samples, 1, 28, 28), the result of its recorded steps"""
    got = sub.outputs("ddpm_sample", ["samples"], optional=["traj", "steps"])
    out, expected = got["samples"], ref.like("ddpm_sample", "samples")
    fail_if(shape_problem(out, expected, "ddpm_sample") or degenerate_problem(out, expected, "ddpm_sample"))
    # (no exact-match shortcut in a visible check: the student kit ships no reference samples to match)
    fail_if(A.step_records_problem("ddpm_sample", got.get("steps"), out))


@pytest.mark.api("ddpm_sample")
@pytest.mark.points(2)
def test_ddpm_sample_steps(sub, ref):
    """ddpm_sample calls the UNet on x_t at every one of the T steps with t normalised to [0, 1]"""
    got = sub.outputs("ddpm_sample", ["samples", "t_calls"], optional=["traj", "steps"])
    fail_if(A.steps_problem("ddpm_sample", got["t_calls"]))
    if not A.matches_exactly(ref, "ddpm_sample", got, ["samples", "traj"] if "traj" in got else ["samples"]):
        fail_if(A.step_records_problem("ddpm_sample", got.get("steps"), got["samples"]))


@pytest.mark.api("ddpm_sample")
@pytest.mark.points(6)
def test_ddpm_sample_matches_reference(sub, ref):
    """ddpm_sample from pure noise matches the reference (same noise), or takes exact DDPM steps and lands on digits"""
    got = sub.outputs("ddpm_sample", ["samples", "traj"], optional=["t_calls", "steps", "draws"])
    A.judge_sampler(
        sub,
        ref,
        "ddpm_sample",
        got,
        ["samples", "traj"],
        fallback=("samples", ("ddpm_sample_fallback", "samples")),
        t_calls=got.get("t_calls"),
        update=(got.get("steps"), got.get("draws"), 300, None),
    )


# ---- train_time_conditioned --------------------------------------------------------------------

PROBES["train_time_conditioned"] = train_probe(
    "train_time_conditioned", "time", 71, {"ddpm_forward": Support("ref_ddpm_forward")}
)


def _train(sub):
    return A.TrainRun.of(sub, "train_time_conditioned", "time")


@pytest.mark.visible
@pytest.mark.api("train_time_conditioned")
@pytest.mark.points(1)
def test_train_time_conditioned_returns_losses(sub):
    """train_time_conditioned runs and returns one finite loss per iteration"""
    fail_if(_train(sub).runs_problem())


@pytest.mark.api("train_time_conditioned")
@pytest.mark.points(3)
def test_train_time_conditioned_schedule(sub):
    """train_time_conditioned steps Adam (default settings) on fresh gradients, with ExponentialLR(0.1 ** (1 / num_epochs)) per epoch"""
    run = _train(sub)
    fail_if(run.optimizer_problem(scheduled=True) or run.step_problem())


@pytest.mark.api("train_time_conditioned")
@pytest.mark.points(1)
def test_train_time_conditioned_learns(sub):
    """train_time_conditioned minimises the DDPM objective (the noise's MSE at t / num_ts), changes the weights and the loss falls"""
    run = _train(sub)
    fail_if(run.objective_problem() or run.learns_problem())
