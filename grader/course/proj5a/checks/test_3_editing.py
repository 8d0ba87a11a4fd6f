"""Checks for 1.7-1.9: SDEdit, inpainting, visual anagrams and hybrid images.

SDEdit and inpainting are run with the grader's own forward process, and SDEdit
is also accepted when it equals the student's own iterative_denoise_cfg applied
to the noised image, so a mistake is charged once, to the function that has it;
that own helper counts only where its own checks hold (its outputs depend on the
input and are right, or a mistake its own check names).
"""

import pytest

from grader.judging.judge import Fail


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
