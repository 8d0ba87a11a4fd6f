"""1.2: add_noise and the single-step denoiser's training loop.

train_denoiser trains a tiny grader-side recording net (not the student's UNet)
with the reference add_noise bound in place of the student's, on a fixed
unshuffled loader of fixture digits, for 3 epochs with lr = 1e-2 and sigma = 0.3. Its
first optimizer steps are recorded (parameters, gradients, settings) and replayed
grading side: Adam with the default settings, on each batch's fresh gradients.
"""

import pytest

from grader.course.proj5b.judging import TrainRun
from grader.course.proj5b.shared import train_probe
from grader.judging.catalogue import Variant
from grader.judging.judge import fail_if
from grader.probing import Input, Support, call, probe

PROBES = {}  # probe name -> Probe, filled name by name below
VARIANTS = []

# ---- add_noise ---------------------------------------------------------------------------------

PX = Input("probe_x")
PROBES["add_noise"] = probe(
    "add_noise",
    call("add_noise", PX, 0.5, seed=11, name="sigma0.5"),
    call("add_noise", PX, 0.2, seed=12, name="sigma0.2"),
)
VARIANTS += [
    Variant(
        "add_noise",
        "sigma-squared",
        "scales the noise by sigma ** 2; z = x + sigma * eps",
        (("add_noise", "x + sigma * torch.randn_like(x)", "x + sigma ** 2 * torch.randn_like(x)"),),
    ),
    Variant(
        "add_noise",
        "noise-unscaled",
        "adds unit noise: scale it by sigma (z = x + sigma * eps)",
        (("add_noise", "x + sigma * torch.randn_like(x)", "x + torch.randn_like(x)"),),
    ),
    Variant(
        "add_noise",
        "sigma-ignored",
        "ignores the sigma argument (a fixed sigma of 0.5 is used)",
        (("add_noise", "x + sigma * torch.randn_like(x)", "x + 0.5 * torch.randn_like(x)"),),
    ),
    Variant(
        "add_noise",
        "clamped",
        "clamps the noisy image to [0, 1]; z = x + sigma * eps is not clamped",
        (("add_noise", "x + sigma * torch.randn_like(x)", "(x + sigma * torch.randn_like(x)).clamp(0, 1)"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("add_noise")
@pytest.mark.points(3)
def test_add_noise(sub, ref):
    """add_noise(x, sigma) returns x + sigma * eps for sigma = 0.5 and 0.2"""
    calls = ["sigma0.5", "sigma0.2"]
    ref.judge("add_noise", sub.outputs("add_noise", calls), calls)


# ---- train_denoiser ----------------------------------------------------------------------------

TRAIN_SIGMA = 0.3
PROBES["train_denoiser"] = train_probe(
    "train_denoiser", "denoiser", 61, {"add_noise": Support("ref_add_noise")}, sigma=TRAIN_SIGMA
)


def _run(sub):
    return TrainRun.of(sub, "train_denoiser", "denoiser")


@pytest.mark.visible
@pytest.mark.api("train_denoiser")
@pytest.mark.points(1)
def test_train_denoiser_returns_losses(sub):
    """train_denoiser runs and returns one finite loss per iteration"""
    fail_if(_run(sub).runs_problem())


@pytest.mark.api("train_denoiser")
@pytest.mark.points(2)
def test_train_denoiser_optimises(sub):
    """train_denoiser steps Adam (default settings, constant lr) once per batch on fresh gradients; the loss falls"""
    run = _run(sub)
    fail_if(run.optimizer_problem(scheduled=False) or run.step_problem() or run.learns_problem())


@pytest.mark.api("train_denoiser")
@pytest.mark.points(2)
def test_train_denoiser_targets_clean_image(sub):
    """train_denoiser noises each batch with sigma and minimises the L2 loss to the clean image"""
    fail_if(_run(sub).target_problem(TRAIN_SIGMA))
