"""What the proj5a checks run in the worker: calls on seeded fixture inputs.

A probe is a list of calls; a call's arguments may name fixture inputs
(``{"$input": ...}``), prompt embeddings (``{"$provided": "prompt_embeds_dict",
"item": prompt}``) or earlier results (``{"$result": i}``). ``$support:reference_forward``
is the grader's forward process, used where a caller must not pay for a wrong ``forward``. The same
probes produce the reference outputs at ``grader fixtures build``.
"""

TS = list(range(990, -1, -30))
REF_FORWARD = "$support:reference_forward"


def _embed(prompt):
    return {"$provided": "prompt_embeds_dict", "item": prompt}


PHOTO = _embed("a high quality photo")
NULL = _embed("")
ROCKET = _embed("a rocket ship")
OLD_MAN = _embed("an oil painting of an old man")
CAMPFIRE = _embed("an oil painting of people around a campfire")
SKULL = _embed("a lithograph of a skull")
WATERFALL = _embed("a lithograph of waterfalls")
IM = {"$input": "test_image"}
IM2 = {"$input": "test_image_2"}
NOISE = {"$input": "noise"}
REF = {"forward": REF_FORWARD}


def call(func, *args, seed=0, rebind=None, **kwargs):
    return {"func": func, "args": list(args), "kwargs": kwargs, "seed": seed, "rebind": rebind or {}, "quiet": True}


def r(i):
    return {"$result": i}


PROBES = {
    "forward": ("forward", [call("forward", IM, t, seed=10 + t) for t in (250, 500, 750)]
                + [call("forward", IM2, 990, seed=11)]),
    "blur_denoise": ("blur_denoise", [call(REF_FORWARD, IM, 500, seed=20),
                                      call("blur_denoise", r(0), 5, 2.0),
                                      call("blur_denoise", r(0), 9, 1.0)]),
    "one_step_denoise": ("one_step_denoise", [call(REF_FORWARD, IM, 250, seed=30),
                                              call("one_step_denoise", r(0), 250, PHOTO),
                                              call(REF_FORWARD, IM2, 750, seed=31),
                                              call("one_step_denoise", r(2), 750, ROCKET)]),
    "strided_timesteps": ("strided_timesteps", [call("strided_timesteps")]),
    "iterative_denoise": ("iterative_denoise", [call(REF_FORWARD, IM, TS[10], seed=40),
                                                call("iterative_denoise", r(0), 10, PHOTO, TS, seed=40)]),
    "iterative_denoise_cfg": ("iterative_denoise_cfg", [
        call("iterative_denoise_cfg", NOISE, 0, ROCKET, NULL, TS, scale=3, seed=50),
        call(REF_FORWARD, IM, TS[5], seed=51),
        call("iterative_denoise_cfg", r(1), 5, PHOTO, NULL, TS, seed=51)]),
    "sdedit": ("sdedit", [
        call("sdedit", IM, 5, ROCKET, NULL, TS, scale=5, seed=60, rebind=REF),
        call(REF_FORWARD, IM, TS[5], seed=60),
        call("iterative_denoise_cfg", r(1), 5, ROCKET, NULL, TS, scale=5, seed=60),
        call("sdedit", IM2, 20, PHOTO, NULL, TS, seed=61, rebind=REF),
        call(REF_FORWARD, IM2, TS[20], seed=61),
        call("iterative_denoise_cfg", r(4), 20, PHOTO, NULL, TS, seed=61)]),
    "inpaint": ("inpaint", [call("inpaint", IM, {"$input": "mask"}, PHOTO, NULL, TS, scale=7, seed=70, rebind=REF),
                            call("inpaint", IM, {"$input": "mask_2"}, ROCKET, NULL, TS, seed=71, rebind=REF)]),
    "visual_anagrams": ("visual_anagrams", [
        call("visual_anagrams", NOISE, 0, OLD_MAN, CAMPFIRE, NULL, TS, scale=7, seed=80)]),
    "make_hybrids": ("make_hybrids", [
        call("make_hybrids", NOISE, 0, SKULL, WATERFALL, NULL, TS, scale=7, seed=90)]),
}
