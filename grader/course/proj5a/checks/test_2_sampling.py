"""Checks for 1.4-1.6: iterative denoising and classifier-free guidance."""

import pytest


@pytest.mark.visible
@pytest.mark.api("iterative_denoise")
@pytest.mark.points(3)
def test_iterative_denoise_runs(sub, ref):
    """iterative_denoise returns a finite (1, 3, 64, 64) image"""
    ref.expect_like(
        "iterative_denoise", sub.outputs("iterative_denoise", ref.evidence("iterative_denoise", ["from10"])), "from10"
    )


@pytest.mark.api("iterative_denoise")
@pytest.mark.points(12)
def test_iterative_denoise_matches_reference(sub, ref):
    """iterative_denoise from i_start = 10 matches the reference DDPM steps with add_variance"""
    ref.judge("iterative_denoise", sub.outputs("iterative_denoise", ["from10"]), ["from10"])


@pytest.mark.visible
@pytest.mark.api("iterative_denoise_cfg")
@pytest.mark.points(3)
def test_iterative_denoise_cfg_runs(sub, ref):
    """iterative_denoise_cfg returns a finite (1, 3, 64, 64) image"""
    calls = ref.evidence("iterative_denoise_cfg", ["from_noise_scale3"])
    ref.expect_like("iterative_denoise_cfg", sub.outputs("iterative_denoise_cfg", calls), "from_noise_scale3")


@pytest.mark.api("iterative_denoise_cfg")
@pytest.mark.points(6)
def test_cfg_from_pure_noise(sub, ref):
    """iterative_denoise_cfg from pure noise with scale 3 matches the reference"""
    calls = ["from_noise_scale3"]
    ref.judge("iterative_denoise_cfg", sub.outputs("iterative_denoise_cfg", calls), calls)


@pytest.mark.api("iterative_denoise_cfg")
@pytest.mark.points(6)
def test_cfg_default_scale(sub, ref):
    """iterative_denoise_cfg from i_start = 5 with the default scale (7) matches the reference"""
    calls = ["from5_default_scale"]
    ref.judge("iterative_denoise_cfg", sub.outputs("iterative_denoise_cfg", calls), calls)
