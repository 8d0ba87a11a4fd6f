"""1.7-1.9: SDEdit, inpainting, visual anagrams and hybrid images.

SDEdit and inpainting are run with the grader's own forward process, and SDEdit
is also accepted when it equals the student's own iterative_denoise_cfg applied
to the noised image, so a mistake is charged once, to the function that has it;
that own helper counts only where its own checks hold (its outputs depend on the
input and are right, or a mistake its own check names).
"""

import pytest

from grader.course.proj5a.shared import (
    CAMPFIRE,
    IM,
    IM2,
    NO_VARIANCE,
    NOISE,
    NULL,
    OLD_MAN,
    PHOTO,
    REF,
    REF_FORWARD,
    ROCKET,
    SKULL,
    TS,
    WATERFALL,
)
from grader.judging.catalogue import Variant
from grader.judging.judge import Fail
from grader.probing import Input, call, probe, result

PROBES = {}  # probe name -> Probe, filled name by name below
VARIANTS = []

# ---- sdedit ----------------------------------------------------------------------------------

PROBES["sdedit"] = probe(
    "sdedit",
    call("sdedit", IM, 5, ROCKET, NULL, TS, scale=5, seed=60, rebind=REF, name="rocket"),
    call(REF_FORWARD, IM, TS[5], seed=60, name="noised_rocket"),
    call(
        "iterative_denoise_cfg",
        result("noised_rocket"),
        5,
        ROCKET,
        NULL,
        TS,
        scale=5,
        seed=60,
        name="own_cfg_rocket",
    ),
    call("sdedit", IM2, 20, PHOTO, NULL, TS, seed=61, rebind=REF, name="photo"),
    call(REF_FORWARD, IM2, TS[20], seed=61, name="noised_photo"),
    call("iterative_denoise_cfg", result("noised_photo"), 20, PHOTO, NULL, TS, seed=61, name="own_cfg_photo"),
    cost_ms=250,
)
VARIANTS += [
    Variant(
        "sdedit",
        "index-as-timestep",
        "noises the image to t = i_start instead of t = timesteps[i_start]",
        (("sdedit", "forward(im, timesteps[i_start])", "forward(im, i_start)"),),
    ),
    Variant(
        "sdedit",
        "not-noised",
        "starts denoising from the clean image: noise it first with forward(im, timesteps[i_start])",
        (("sdedit", "noisy = forward(im, timesteps[i_start])", "noisy = im"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("sdedit")
@pytest.mark.points(2)
def test_sdedit_runs(sub, ref):
    """sdedit returns a finite (1, 3, 64, 64) image"""
    ref.expect_like("sdedit", sub.outputs("sdedit", ref.evidence("sdedit", ["rocket"])), "rocket")


#: The calls of iterative_denoise_cfg's own checks: sdedit may be judged against the student's own
#: iterative_denoise_cfg only where these hold (its outputs right, or a mistake its own checks name).
CFG_CALLS = ["from_noise_scale3", "from5_default_scale"]


def _own_cfg_holds(sub, ref) -> bool:
    try:
        got = sub.outputs("iterative_denoise_cfg", ref.evidence("iterative_denoise_cfg", CFG_CALLS))
    except Fail:
        return False
    return ref.helper_problem("iterative_denoise_cfg", got, CFG_CALLS) is None


@pytest.mark.api("sdedit")
@pytest.mark.points(8)
def test_sdedit_matches_reference(sub, ref, request):
    """sdedit noises the image to timesteps[i_start], then denoises with CFG from i_start"""
    got = sub.outputs("sdedit", ["rocket", "photo"], optional=["own_cfg_rocket", "own_cfg_photo"])
    own = (
        {"rocket": got["own_cfg_rocket"], "photo": got["own_cfg_photo"]}
        if "own_cfg_rocket" in got and "own_cfg_photo" in got and _own_cfg_holds(sub, ref)
        else None
    )
    if ref.judge("sdedit", got, ["rocket", "photo"], alternatives=[own] if own else []) == "alternative":
        request.node.user_properties.append(("judged_with", "iterative_denoise_cfg"))


# ---- inpaint ---------------------------------------------------------------------------------

PROBES["inpaint"] = probe(
    "inpaint",
    call("inpaint", IM, Input("mask"), PHOTO, NULL, TS, scale=7, seed=70, rebind=REF, name="top"),
    call("inpaint", IM, Input("mask_2"), ROCKET, NULL, TS, seed=71, rebind=REF, name="right_half"),
    cost_ms=200,
)
VARIANTS += [
    Variant(
        "inpaint",
        "renoise-before-step",
        "accepted: the original is re-noised to t before each step",
        (
            (
                "inpaint",
                """            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)""",
                """            image = mask * image + (1 - mask) * forward(original_image, t)
            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)""",
            ),
            ("inpaint", "            image = mask * image + (1 - mask) * forward(original_image, t_prev)\n", ""),
        ),
        accepted=True,
    ),
    Variant(
        "inpaint",
        "inverted-mask",
        "the mask is inverted: new content must go where mask == 1 and the original stay where mask == 0",
        (("inpaint", "mask * image + (1 - mask) * forward", "(1 - mask) * image + mask * forward"),),
    ),
    Variant(
        "inpaint",
        "clean-paste",
        "pastes the clean original: it must be noised to the current timestep with forward()",
        (("inpaint", "forward(original_image, t_prev)", "original_image"),),
    ),
    # Different from the accepted reading above: there the original is re-noised to t *before* the step, which
    # then takes the whole image to t'; here the step has already taken the image to t' when the original,
    # noised to t, is pasted in: the two regions end each step at different noise levels.
    Variant(
        "inpaint",
        "renoise-to-t-after-step",
        "after each step the original is re-noised to the current t, but the image is then at t': "
        "paste forward(original_image, t') (the next timestep), or re-noise to t before the step",
        (("inpaint", "forward(original_image, t_prev)", "forward(original_image, t)"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("inpaint")
@pytest.mark.points(2)
def test_inpaint_runs(sub, ref):
    """inpaint returns a finite (1, 3, 64, 64) image"""
    ref.expect_like("inpaint", sub.outputs("inpaint", ref.evidence("inpaint", ["top"])), "top")


@pytest.mark.api("inpaint")
@pytest.mark.points(8)
def test_inpaint_matches_reference(sub, ref):
    """inpaint keeps new content where mask == 1 and the noised original elsewhere, at every step"""
    calls = ["top", "right_half"]
    ref.judge("inpaint", sub.outputs("inpaint", calls), calls)


# ---- visual_anagrams -------------------------------------------------------------------------

PROBES["visual_anagrams"] = probe(
    "visual_anagrams",
    call("visual_anagrams", NOISE, 0, OLD_MAN, CAMPFIRE, NULL, TS, scale=7, seed=80, name="old_man_campfire"),
    call(REF_FORWARD, IM, TS[20], seed=81, name="noised"),
    call("visual_anagrams", result("noised"), 20, OLD_MAN, CAMPFIRE, NULL, TS, scale=7, seed=81, name="from20"),
    cost_ms=300,
)
VARIANTS += [
    Variant(
        "visual_anagrams",
        "variance-prompt-2",
        "accepted: the variance of prompt 2 flipped back",
        (
            ("visual_anagrams", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            ("visual_anagrams", "add_variance(var_1, t,", "add_variance(torch.flip(var_2, dims=[-2]), t,"),
        ),
        accepted=True,
    ),
    Variant(
        "visual_anagrams",
        "variance-average",
        "accepted: the average of both variances",
        (
            ("visual_anagrams", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            (
                "visual_anagrams",
                "add_variance(var_1, t,",
                "add_variance((var_1 + torch.flip(var_2, dims=[-2])) / 2, t,",
            ),
        ),
        accepted=True,
    ),
    Variant(
        "visual_anagrams",
        "horizontal-flip",
        "flips horizontally (left-right); an anagram flips upside down (dims=[-2])",
        (
            ("visual_anagrams", "torch.flip(x, dims=[-2])", "torch.flip(x, dims=[-1])"),
            ("visual_anagrams", "torch.flip(eps_2, dims=[-2])", "torch.flip(eps_2, dims=[-1])"),
        ),
    ),
    Variant(
        "visual_anagrams",
        "eps-not-flipped-back",
        "the second noise estimate is not flipped back before averaging",
        (("visual_anagrams", "torch.flip(eps_2, dims=[-2])", "eps_2"),),
    ),
    Variant(
        "visual_anagrams",
        "input-not-flipped",
        "the second prompt sees the image right side up: flip x before the second UNet call",
        (("visual_anagrams", "cfg_eps(torch.flip(x, dims=[-2]), t,", "cfg_eps(x, t,"),),
    ),
    Variant(
        "visual_anagrams",
        "missing-add-variance",
        NO_VARIANCE,
        (
            (
                "visual_anagrams",
                "x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))",
                "x = ddpm_step(x, x0, t, t_prev)",
            ),
        ),
    ),
    Variant(
        "visual_anagrams",
        "unequal-weights",
        "the two estimates are weighted unequally (operator precedence?): average them with equal weights, "
        "(eps_1 + flip(eps_2)) / 2",
        (
            (
                "visual_anagrams",
                "eps = (eps_1 + torch.flip(eps_2, dims=[-2])) / 2",
                "eps = eps_1 + torch.flip(eps_2, dims=[-2]) / 2",
            ),
        ),
    ),
    Variant(
        "visual_anagrams",
        "summed-not-averaged",
        "the two estimates are added, not averaged: divide their sum by 2",
        (
            (
                "visual_anagrams",
                "eps = (eps_1 + torch.flip(eps_2, dims=[-2])) / 2",
                "eps = eps_1 + torch.flip(eps_2, dims=[-2])",
            ),
        ),
    ),
]


@pytest.mark.visible
@pytest.mark.api("visual_anagrams")
@pytest.mark.points(2)
def test_visual_anagrams_runs(sub, ref):
    """visual_anagrams returns a finite (1, 3, 64, 64) image"""
    ref.expect_like(
        "visual_anagrams",
        sub.outputs("visual_anagrams", ref.evidence("visual_anagrams", ["old_man_campfire"])),
        "old_man_campfire",
    )


@pytest.mark.api("visual_anagrams")
@pytest.mark.points(8)
def test_visual_anagrams_matches_reference(sub, ref):
    """visual_anagrams averages eps_1(x) with the upside-down prompt-2 estimate flipped back"""
    calls = ["old_man_campfire"]
    ref.judge("visual_anagrams", sub.outputs("visual_anagrams", calls), calls)


# ---- make_hybrids ----------------------------------------------------------------------------

PROBES["make_hybrids"] = probe(
    "make_hybrids",
    call("make_hybrids", NOISE, 0, SKULL, WATERFALL, NULL, TS, scale=7, seed=90, name="skull_waterfall"),
    call(REF_FORWARD, IM2, TS[20], seed=91, name="noised"),
    call("make_hybrids", result("noised"), 20, SKULL, WATERFALL, NULL, TS, scale=7, seed=91, name="from20"),
    cost_ms=500,
)
VARIANTS += [
    Variant(
        "make_hybrids",
        "variance-prompt-2",
        "accepted: the variance of prompt 2",
        (
            ("make_hybrids", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            ("make_hybrids", "add_variance(var_1, t,", "add_variance(var_2, t,"),
        ),
        accepted=True,
    ),
    Variant(
        "make_hybrids",
        "variance-average",
        "accepted: the average of both variances",
        (
            ("make_hybrids", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            ("make_hybrids", "add_variance(var_1, t,", "add_variance((var_1 + var_2) / 2, t,"),
        ),
        accepted=True,
    ),
    Variant(
        "make_hybrids",
        "low-high-swapped",
        "low and high frequencies are swapped: low-pass prompt 1, high-pass prompt 2",
        (
            ("make_hybrids", "low = TF.gaussian_blur(eps_1,", "low = TF.gaussian_blur(eps_2,"),
            ("make_hybrids", "high = eps_2 - TF.gaussian_blur(eps_2,", "high = eps_1 - TF.gaussian_blur(eps_1,"),
        ),
    ),
    Variant(
        "make_hybrids",
        "highpass-not-subtracted",
        "the high-pass is not the estimate minus its blur",
        (("make_hybrids", "high = eps_2 - TF.gaussian_blur(eps_2, kernel_size=33, sigma=2)", "high = eps_2"),),
    ),
    Variant(
        "make_hybrids",
        "missing-add-variance",
        NO_VARIANCE,
        (
            (
                "make_hybrids",
                "x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))",
                "x = ddpm_step(x, x0, t, t_prev)",
            ),
        ),
    ),
    Variant(
        "make_hybrids",
        "unequal-weights",
        "the two estimates are weighted unequally: the noise estimate is lowpass(eps_1) + highpass(eps_2), "
        "both with weight 1",
        (("make_hybrids", "eps = low + high", "eps = low + 0.5 * high"),),
    ),
    Variant(
        "make_hybrids",
        "averaged",
        "the low- and high-pass estimates are averaged; the noise estimate is their sum, lowpass(eps_1) + "
        "highpass(eps_2)",
        (("make_hybrids", "eps = low + high", "eps = (low + high) / 2"),),
    ),
]


@pytest.mark.visible
@pytest.mark.api("make_hybrids")
@pytest.mark.points(2)
def test_make_hybrids_runs(sub, ref):
    """make_hybrids returns a finite (1, 3, 64, 64) image"""
    ref.expect_like(
        "make_hybrids",
        sub.outputs("make_hybrids", ref.evidence("make_hybrids", ["skull_waterfall"])),
        "skull_waterfall",
    )


@pytest.mark.api("make_hybrids")
@pytest.mark.points(8)
def test_make_hybrids_matches_reference(sub, ref):
    """make_hybrids combines the low frequencies of prompt 1 with the high frequencies of prompt 2"""
    calls = ["skull_waterfall"]
    ref.judge("make_hybrids", sub.outputs("make_hybrids", calls), calls)
