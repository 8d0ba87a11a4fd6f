"""1.1-1.4: the forward process, classical and one-step denoising, strided timesteps.

A topic module: each graded name's probe (what the worker runs), its catalogue entries (accepted
readings and known mistakes, as edits of the reference) and its checks, side by side.
"""

import numpy as np
import pytest

from grader.course.proj5a.shared import IM, IM2, PHOTO, REF_FORWARD, ROCKET
from grader.judging.catalogue import Variant
from grader.judging.judge import Fail
from grader.probing import call, probe, result

PROBES = {}  # probe name -> Probe, filled name by name below
VARIANTS = []

# ---- forward ---------------------------------------------------------------------------------

PROBES["forward"] = probe(
    "forward",
    *[call("forward", IM, t, seed=10 + t, name=f"t{t}") for t in (250, 500, 750)],
    call("forward", IM2, 990, seed=11, name="image2_t990"),
)
VARIANTS += [
    Variant(
        "forward",
        "alphas-for-alphas_cumprod",
        "uses alphas (1 - beta_t) where the forward process needs alphas_cumprod (abar_t): "
        "the image is barely noised at large t",
        (("forward", "abar = alphas_cumprod[t]", "abar = stage_1.scheduler.alphas[t]"),),
    ),
    Variant(
        "forward",
        "missing-sqrt",
        "missing sqrt: scales by abar_t and (1 - abar_t) instead of sqrt(abar_t) and sqrt(1 - abar_t)",
        (("forward", "abar.sqrt() * im + (1 - abar).sqrt() * noise", "abar * im + (1 - abar) * noise"),),
    ),
    Variant(
        "forward",
        "noise-unscaled",
        "adds the noise without scaling it by sqrt(1 - abar_t) (wrong noise scale)",
        (("forward", "(1 - abar).sqrt() * noise", "noise"),),
    ),
    Variant(
        "forward",
        "image-unscaled",
        "does not scale the image by sqrt(abar_t): the forward process scales as well as adds noise",
        (("forward", "abar.sqrt() * im", "im"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("forward")
@pytest.mark.points(2)
def test_forward_runs(sub, ref):
    """forward(im, t) returns a finite (1, 3, 64, 64) image"""
    ref.expect_like("forward", sub.outputs("forward", ref.evidence("forward", ["t250"])), "t250")


@pytest.mark.api("forward")
@pytest.mark.points(8)
def test_forward_matches_reference(sub, ref):
    """forward at t = 250, 500, 750 and 990 matches sqrt(abar) im + sqrt(1 - abar) eps"""
    calls = ["t250", "t500", "t750", "image2_t990"]
    ref.judge("forward", sub.outputs("forward", calls), calls)


# ---- blur_denoise ----------------------------------------------------------------------------

PROBES["blur_denoise"] = probe(
    "blur_denoise",
    call(REF_FORWARD, IM, 500, seed=20, name="noised"),
    call("blur_denoise", result("noised"), 5, 2.0, name="kernel5_sigma2"),
    call("blur_denoise", result("noised"), 9, 1.0, name="kernel9_sigma1"),
)
VARIANTS += [
    Variant(
        "blur_denoise",
        "kernel-sigma-swapped",
        "kernel_size and sigma look swapped in the gaussian_blur call",
        (
            (
                "blur_denoise",
                "kernel_size=kernel_size, sigma=sigma",
                "kernel_size=int(sigma) * 2 + 1, sigma=kernel_size",
            ),
        ),
    ),
]


@pytest.mark.visible
@pytest.mark.api("blur_denoise")
@pytest.mark.points(5)
def test_blur_denoise(sub, ref):
    """blur_denoise applies a Gaussian blur with the given kernel size and sigma"""
    calls = ["kernel5_sigma2", "kernel9_sigma1"]
    ref.judge("blur_denoise", sub.outputs("blur_denoise", calls), calls)


# ---- one_step_denoise ------------------------------------------------------------------------

PROBES["one_step_denoise"] = probe(
    "one_step_denoise",
    call(REF_FORWARD, IM, 250, seed=30, name="noised_t250"),
    call("one_step_denoise", result("noised_t250"), 250, PHOTO, name="t250"),
    call(REF_FORWARD, IM2, 750, seed=31, name="noised_t750"),
    call("one_step_denoise", result("noised_t750"), 750, ROCKET, name="t750"),
)
VARIANTS += [
    Variant(
        "one_step_denoise",
        "missing-sqrt",
        "missing sqrt: divides by abar_t and scales the noise by (1 - abar_t) instead of sqrt(abar_t) and sqrt(1 - abar_t)",
        (
            (
                "one_step_denoise",
                "(im_noisy - (1 - abar).sqrt() * eps) / abar.sqrt()",
                "(im_noisy - (1 - abar) * eps) / abar",
            ),
        ),
    ),
    Variant(
        "one_step_denoise",
        "noise-subtracted-unscaled",
        "subtracts the noise estimate without the sqrt(1 - abar_t) and 1/sqrt(abar_t) scaling",
        (("one_step_denoise", "(im_noisy - (1 - abar).sqrt() * eps) / abar.sqrt()", "im_noisy - eps"),),
    ),
    Variant(
        "one_step_denoise",
        "alphas-for-alphas_cumprod",
        "uses alphas (1 - beta_t) where the clean estimate needs alphas_cumprod (abar_t)",
        (("one_step_denoise", "abar = alphas_cumprod[t]", "abar = stage_1.scheduler.alphas[t]"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("one_step_denoise")
@pytest.mark.points(2)
def test_one_step_denoise_runs(sub, ref):
    """one_step_denoise returns a finite (1, 3, 64, 64) image"""
    ref.expect_like(
        "one_step_denoise", sub.outputs("one_step_denoise", ref.evidence("one_step_denoise", ["t250"])), "t250"
    )


@pytest.mark.api("one_step_denoise")
@pytest.mark.points(8)
def test_one_step_denoise_matches_reference(sub, ref):
    """one_step_denoise recovers (x_t - sqrt(1 - abar) eps) / sqrt(abar) at t = 250 and 750"""
    calls = ["t250", "t750"]
    ref.judge("one_step_denoise", sub.outputs("one_step_denoise", calls), calls)


# ---- strided_timesteps -----------------------------------------------------------------------

PROBES["strided_timesteps"] = probe("strided_timesteps", call("strided_timesteps", name="value"))


@pytest.mark.visible
@pytest.mark.api("strided_timesteps")
@pytest.mark.points(5)
def test_strided_timesteps(sub):
    """strided_timesteps runs from 990 down to 0 in steps of 30"""
    value = sub.outputs("strided_timesteps", ["value"])["value"]
    if value is None:
        raise Fail("strided_timesteps is None: it has not been set yet; expected a list of 34 integers, 990 down to 0")
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise Fail(
            f"strided_timesteps is a {type(value).__name__}; expected a list of integers (990 down to 0)"
        ) from None
    expected = np.arange(990, -1, -30)
    if arr.shape == expected.shape and np.array_equal(arr, expected):
        return
    if arr.size == 0:
        raise Fail(
            "strided_timesteps is empty; expected 34 values 990, 960, ..., 30, 0; "
            "likely cause: a range() that counts up (it must count down: a negative step)"
        )
    hints = []
    if arr[0] != 990:
        hints.append(
            f"it starts at {arr[0]:g}, not 990" + (" (ascending? it must decrease)" if arr[0] < arr[-1] else "")
        )
    if arr[-1] != 0:
        hints.append(
            f"it ends at {arr[-1]:g}, not 0 (it must include the clean timestep 0; range() leaves out its stop value)"
        )
    steps = np.unique(np.diff(arr))
    if steps.size and not np.array_equal(steps, [-30]):
        hints.append(f"its steps are {', '.join(f'{s:g}' for s in steps[:3])}, not -30")
    raise Fail(
        f"strided_timesteps has {arr.size} values; expected 34 (990 down to 0 by 30); likely cause: "
        + "; ".join(hints or ["some values differ"])
    )
