"""What the proj5a checks run in the worker: calls on seeded fixture inputs.

A probe is a list of calls; a call's arguments may name fixture inputs
(``Input(...)``), prompt embeddings (``Provided("prompt_embeds_dict", item=prompt)``) or earlier
results (``result(name)``). ``Support("reference_forward")`` is the grader's forward process, used where a caller must not pay for a wrong ``forward``. The same
probes produce the reference outputs at ``grader fixtures build``.
"""

from grader.probing import Input, Provided, Support, call, probe, result

TS = list(range(990, -1, -30))
REF_FORWARD = Support("reference_forward")


def _embed(prompt):
    return Provided("prompt_embeds_dict", item=prompt)


PHOTO = _embed("a high quality photo")
NULL = _embed("")
ROCKET = _embed("a rocket ship")
OLD_MAN = _embed("an oil painting of an old man")
CAMPFIRE = _embed("an oil painting of people around a campfire")
SKULL = _embed("a lithograph of a skull")
WATERFALL = _embed("a lithograph of waterfalls")
IM = Input("test_image")
IM2 = Input("test_image_2")
NOISE = Input("noise")
REF = {"forward": REF_FORWARD}


PROBES = {
    "forward": probe(
        "forward",
        *[call("forward", IM, t, seed=10 + t, name=f"t{t}") for t in (250, 500, 750)],
        call("forward", IM2, 990, seed=11, name="image2_t990"),
    ),
    "blur_denoise": probe(
        "blur_denoise",
        call(REF_FORWARD, IM, 500, seed=20, name="noised"),
        call("blur_denoise", result("noised"), 5, 2.0, name="kernel5_sigma2"),
        call("blur_denoise", result("noised"), 9, 1.0, name="kernel9_sigma1"),
    ),
    "one_step_denoise": probe(
        "one_step_denoise",
        call(REF_FORWARD, IM, 250, seed=30, name="noised_t250"),
        call("one_step_denoise", result("noised_t250"), 250, PHOTO, name="t250"),
        call(REF_FORWARD, IM2, 750, seed=31, name="noised_t750"),
        call("one_step_denoise", result("noised_t750"), 750, ROCKET, name="t750"),
    ),
    "strided_timesteps": probe("strided_timesteps", call("strided_timesteps", name="value")),
    "iterative_denoise": probe(
        "iterative_denoise",
        call(REF_FORWARD, IM, TS[10], seed=40, name="noised"),
        call("iterative_denoise", result("noised"), 10, PHOTO, TS, seed=40, name="from10"),
        # another input: the output must depend on it (judge.Reference.contrasts)
        call(REF_FORWARD, IM2, TS[20], seed=41, name="noised_2"),
        call("iterative_denoise", result("noised_2"), 20, PHOTO, TS, seed=41, name="from20"),
    ),
    "iterative_denoise_cfg": probe(
        "iterative_denoise_cfg",
        call("iterative_denoise_cfg", NOISE, 0, ROCKET, NULL, TS, scale=3, seed=50, name="from_noise_scale3"),
        call(REF_FORWARD, IM, TS[5], seed=51, name="noised"),
        call("iterative_denoise_cfg", result("noised"), 5, PHOTO, NULL, TS, seed=51, name="from5_default_scale"),
    ),
    "sdedit": probe(
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
    ),
    "inpaint": probe(
        "inpaint",
        call("inpaint", IM, Input("mask"), PHOTO, NULL, TS, scale=7, seed=70, rebind=REF, name="top"),
        call("inpaint", IM, Input("mask_2"), ROCKET, NULL, TS, seed=71, rebind=REF, name="right_half"),
    ),
    "visual_anagrams": probe(
        "visual_anagrams",
        call("visual_anagrams", NOISE, 0, OLD_MAN, CAMPFIRE, NULL, TS, scale=7, seed=80, name="old_man_campfire"),
        call(REF_FORWARD, IM, TS[20], seed=81, name="noised"),
        call("visual_anagrams", result("noised"), 20, OLD_MAN, CAMPFIRE, NULL, TS, scale=7, seed=81, name="from20"),
    ),
    "make_hybrids": probe(
        "make_hybrids",
        call("make_hybrids", NOISE, 0, SKULL, WATERFALL, NULL, TS, scale=7, seed=90, name="skull_waterfall"),
        call(REF_FORWARD, IM2, TS[20], seed=91, name="noised"),
        call("make_hybrids", result("noised"), 20, SKULL, WATERFALL, NULL, TS, scale=7, seed=91, name="from20"),
    ),
}
