"""Checks for 1.4-1.6: iterative denoising and classifier-free guidance."""

import pytest

from grader.judge import Fail, shape_problem


@pytest.mark.visible
@pytest.mark.api("iterative_denoise")
@pytest.mark.points(3)
def test_iterative_denoise_runs(sub, ref):
    """iterative_denoise returns a finite (1, 3, 64, 64) image"""
    out = sub.outputs("iterative_denoise", [1])
    problem = shape_problem(out[1], ref.outputs("iterative_denoise")[1], "iterative_denoise")
    if problem:
        raise Fail(problem)


@pytest.mark.api("iterative_denoise")
@pytest.mark.points(12)
def test_iterative_denoise_matches_reference(sub, ref):
    """iterative_denoise from i_start = 10 matches the reference DDPM steps with add_variance"""
    ref.judge("iterative_denoise", sub.outputs("iterative_denoise", [1]), [1])


@pytest.mark.visible
@pytest.mark.api("iterative_denoise_cfg")
@pytest.mark.points(3)
def test_iterative_denoise_cfg_runs(sub, ref):
    """iterative_denoise_cfg returns a finite (1, 3, 64, 64) image"""
    out = sub.outputs("iterative_denoise_cfg", [0])
    problem = shape_problem(out[0], ref.outputs("iterative_denoise_cfg")[0], "iterative_denoise_cfg")
    if problem:
        raise Fail(problem)


@pytest.mark.api("iterative_denoise_cfg")
@pytest.mark.points(6)
def test_cfg_from_pure_noise(sub, ref):
    """iterative_denoise_cfg from pure noise with scale 3 matches the reference"""
    ref.judge("iterative_denoise_cfg", sub.outputs("iterative_denoise_cfg", [0]), [0])


@pytest.mark.api("iterative_denoise_cfg")
@pytest.mark.points(6)
def test_cfg_default_scale(sub, ref):
    """iterative_denoise_cfg from i_start = 5 with the default scale (7) matches the reference"""
    ref.judge("iterative_denoise_cfg", sub.outputs("iterative_denoise_cfg", [2]), [2])
