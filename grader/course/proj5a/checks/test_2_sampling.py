"""1.4-1.6: iterative denoising and classifier-free guidance.

A topic module: each graded name's probe (what the worker runs), its catalogue entries (accepted
readings and known mistakes, as edits of the reference) and its checks, side by side.
"""

import pytest

from grader.course.proj5a.shared import IM, IM2, NO_VARIANCE, NOISE, NULL, PHOTO, REF_FORWARD, ROCKET, TS
from grader.judging.catalogue import Variant
from grader.probing import call, probe, result

PROBES = {}  # probe name -> Probe, filled name by name below
VARIANTS = []

CFG_LINE = "eps_u + scale * (eps_c - eps_u), var_c"
STEP = "image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))"
VARIANCE_PREV_T = (
    "add_variance is called with t' (the next timestep); it takes the current t, the step's own "
    "timestep, like the UNet call"
)
VARIANCE_CLAMPED = (
    "the predicted variance is clamped before add_variance: pass the UNet's variance channels (out[:, 3:]) unchanged"
)

# ---- iterative_denoise -----------------------------------------------------------------------

PROBES["iterative_denoise"] = probe(
    "iterative_denoise",
    call(REF_FORWARD, IM, TS[10], seed=40, name="noised"),
    call("iterative_denoise", result("noised"), 10, PHOTO, TS, seed=40, name="from10"),
    # another input: the output must depend on it (judge.Reference.contrasts)
    call(REF_FORWARD, IM2, TS[20], seed=41, name="noised_2"),
    call("iterative_denoise", result("noised_2"), 20, PHOTO, TS, seed=41, name="from20"),
)
VARIANTS += [
    Variant(
        "iterative_denoise",
        "off-by-one-timesteps",
        "calls the UNet and add_variance at the next timestep (t') instead of the current t (off-by-one)",
        (
            (
                "iterative_denoise",
                "eps, predicted_variance = get_eps(image, t, prompt_embeds)",
                "eps, predicted_variance = get_eps(image, t_prev, prompt_embeds)",
            ),
            ("iterative_denoise", "add_variance(predicted_variance, t, ", "add_variance(predicted_variance, t_prev, "),
        ),
    ),
    Variant(
        "iterative_denoise",
        "missing-add-variance",
        NO_VARIANCE,
        (
            (
                "iterative_denoise",
                "image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))",
                "image = ddpm_step(image, x0, t, t_prev)",
            ),
        ),
    ),
    Variant(
        "iterative_denoise",
        "abar-for-alpha",
        "uses abar_t where the step needs alpha_t = abar_t / abar_t' (bars matter)",
        (("ddpm_step", "alpha = abar_t / abar_prev", "alpha = abar_t"),),
    ),
    Variant(
        "iterative_denoise",
        "coefficients-swapped",
        "the x0 and x_t coefficients of the DDPM step are swapped",
        (
            (
                "ddpm_step",
                "return (abar_prev.sqrt() * beta / (1 - abar_t)) * x0 + (alpha.sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t",
                "return (abar_prev.sqrt() * beta / (1 - abar_t)) * x_t + (alpha.sqrt() * (1 - abar_prev) / (1 - abar_t)) * x0",
            ),
        ),
    ),
    Variant(
        "iterative_denoise",
        "add-variance-prev-t",
        VARIANCE_PREV_T,
        (("iterative_denoise", "add_variance(predicted_variance, t, ", "add_variance(predicted_variance, t_prev, "),),
    ),
    Variant(
        "iterative_denoise",
        "variance-clamped",
        VARIANCE_CLAMPED,
        (
            (
                "iterative_denoise",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance.clamp(0, 1), t, ",
            ),
        ),
    ),
]


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


# ---- iterative_denoise_cfg -------------------------------------------------------------------

PROBES["iterative_denoise_cfg"] = probe(
    "iterative_denoise_cfg",
    call("iterative_denoise_cfg", NOISE, 0, ROCKET, NULL, TS, scale=3, seed=50, name="from_noise_scale3"),
    call(REF_FORWARD, IM, TS[5], seed=51, name="noised"),
    call("iterative_denoise_cfg", result("noised"), 5, PHOTO, NULL, TS, seed=51, name="from5_default_scale"),
    cost_ms=250,
)
VARIANTS += [
    Variant(
        "iterative_denoise_cfg",
        "cfg-reversed",
        "CFG is reversed: it should be eps_u + scale * (eps_c - eps_u)",
        (("cfg_eps", CFG_LINE, "eps_c + scale * (eps_u - eps_c), var_c"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "cfg-scale-ignored",
        "the scale argument is ignored (a fixed scale of 7 is used)",
        (("iterative_denoise_cfg", "uncond_prompt_embeds, scale)", "uncond_prompt_embeds, 7)"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "cfg-conditional-only",
        "the CFG scale has no effect: only the conditional noise estimate is used",
        (("cfg_eps", CFG_LINE, "eps_c, var_c"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "cfg-unconditional-variance",
        "passes the unconditional pass's variance to add_variance; use the conditional one",
        (
            (
                "cfg_eps",
                "eps_u, _ = get_eps(x, t, uncond_prompt_embeds)",
                "eps_u, var_c = get_eps(x, t, uncond_prompt_embeds)",
            ),
        ),
    ),
    Variant(
        "iterative_denoise_cfg",
        "missing-add-variance",
        NO_VARIANCE,
        (("iterative_denoise_cfg", STEP, "image = ddpm_step(image, x0, t, t_prev)"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "off-by-one-timesteps",
        "calls the UNet and add_variance at the next timestep (t') instead of the current t (off-by-one)",
        (
            ("iterative_denoise_cfg", "cfg_eps(image, t, ", "cfg_eps(image, t_prev, "),
            (
                "iterative_denoise_cfg",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance, t_prev, ",
            ),
        ),
    ),
    Variant(
        "iterative_denoise_cfg",
        "add-variance-prev-t",
        VARIANCE_PREV_T,
        (
            (
                "iterative_denoise_cfg",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance, t_prev, ",
            ),
        ),
    ),
    Variant(
        "iterative_denoise_cfg",
        "variance-clamped",
        VARIANCE_CLAMPED,
        (
            (
                "iterative_denoise_cfg",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance.clamp(0, 1), t, ",
            ),
        ),
    ),
]


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
