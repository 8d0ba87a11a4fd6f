"""Checks for 1.1-1.4: forward process, classical and one-step denoising, strided timesteps."""

import numpy as np
import pytest

from grader.judging.judge import Fail


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


@pytest.mark.visible
@pytest.mark.api("blur_denoise")
@pytest.mark.points(5)
def test_blur_denoise(sub, ref):
    """blur_denoise applies a Gaussian blur with the given kernel size and sigma"""
    calls = ["kernel5_sigma2", "kernel9_sigma1"]
    ref.judge("blur_denoise", sub.outputs("blur_denoise", calls), calls)


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
