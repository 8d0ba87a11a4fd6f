"""What several topics of Part A share: the probes' inputs and prompts, the sampling timesteps, messages.

A call's arguments may name fixture inputs (``Input(...)``), prompt embeddings
(``Provided("prompt_embeds_dict", item=prompt)``) or earlier results (``result(name)``).
``Support("reference_forward")`` is the grader's forward process, used where a caller must not pay for a
wrong ``forward``.
"""

from grader.probing import Input, Provided, Support

TS = list(range(990, -1, -30))
REF_FORWARD = Support("reference_forward")
#: Rebinds ``forward`` to the grader's in the calls of a caller (``sdedit``, ``inpaint``).
REF = {"forward": REF_FORWARD}


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

NO_VARIANCE = (
    "never calls add_variance: each step needs the predicted variance noise added (the update is deterministic)"
)
