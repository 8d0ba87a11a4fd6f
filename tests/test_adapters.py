"""Accepted interface variants (grader.worker.adapters): which definition and argument layout a check uses."""

import pytest

from grader.worker import adapters
from grader.worker.adapters import Definitions, Interface, NoFit, choose, pack, rename


def _defs(*entries):
    """(name, cell, function, stub) entries in notebook order -> (namespace, Definitions)."""
    ns, defs = {}, Definitions()
    for name, cell, fn, stub in entries:
        defs.add(name, cell, fn, stub)
        ns[name] = fn
    return ns, defs


def time_forward(unet, ddpm_schedule, x_0, num_ts):
    return "time"


def class_forward(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    return "class"


def test_redefinition_each_check_gets_the_definition_that_fits():
    ns, defs = _defs(("ddpm_forward", 10, time_forward, False), ("ddpm_forward", 20, class_forward, False))
    iface = Interface(aliases=("ddpm_forward",))
    c = choose("ddpm_forward", (1, 2, 3, 300), {}, ns, defs, Interface(earlier_definitions=True))
    assert c.fn is time_forward and "cell 10" in c.notes[0]
    # undeclared: the definition in force is graded (and fails on its own terms)
    c = choose("ddpm_forward", (1, 2, 3, 300), {}, ns, defs, None)
    assert c.fn is class_forward and not c.fitted
    c = choose("ddpm_forward_class", (1, 2, 3, 4, 0.1, 300), {}, ns, defs, iface)
    assert c.fn is class_forward and c.notes == ["graded ddpm_forward (cell 20) as ddpm_forward_class"]


def test_alias_that_does_not_take_the_arguments_is_not_used():
    ns, defs = _defs(("ddpm_forward", 10, time_forward, False))
    with pytest.raises(NoFit, match="ddpm_forward is, but it does not take"):
        choose("ddpm_forward_class", (1, 2, 3, 4, 0.1, 300), {}, ns, defs, Interface(aliases=("ddpm_forward",)))


def test_contract_definition_needs_no_note_and_a_stub_defers_to_an_alias():
    def visual_anagrams(image, i_start, p1, p2, uncond, timesteps, scale=7, display=True):
        return "contract"

    def make_flip_illusion(image, i_start, prompt_embeds, uncond, timesteps, scale=7, display=True):
        return prompt_embeds

    iface = Interface(aliases=("make_flip_illusion",), forms=(pack(2, ("p1", "p2")),))
    args, kwargs = ("x", 0, "a", "b", "u", [990, 0]), {"scale": 7}
    ns, defs = _defs(("visual_anagrams", 3, visual_anagrams, False))
    c = choose("visual_anagrams", args, kwargs, ns, defs, iface)
    assert c.fn is visual_anagrams and c.notes == []
    ns, defs = _defs(
        ("visual_anagrams", 3, visual_anagrams, True), ("make_flip_illusion", 4, make_flip_illusion, False)
    )
    c = choose("visual_anagrams", args, kwargs, ns, defs, iface)
    assert c.fn is make_flip_illusion and c.fn(*c.args, **c.kwargs) == ["a", "b"]
    assert "as visual_anagrams" in c.notes[0] and "as one list" in c.notes[1]


def test_missing_and_stub_names_are_told_apart():
    def stub(x): ...

    ns, defs = _defs(("forward", 2, stub, True))
    with pytest.raises(LookupError):
        choose("forward", (1,), {}, ns, defs, None)
    with pytest.raises(KeyError):
        choose("inpaint", (1,), {}, ns, defs, None)


def test_renamed_keyword_and_no_fit_falls_back_to_the_name_itself():
    def ddpm_sample(unet, schedule, img_wh, num_ts, seed=0, n_samples=1):
        return n_samples

    def no_count(unet, schedule, img_wh, num_ts, seed=0):
        return 1

    iface = Interface(forms=tuple(rename("num_samples", ("n_samples",))))
    ns, defs = _defs(("ddpm_sample", 5, ddpm_sample, False))
    c = choose("ddpm_sample", (1, 2, (28, 28), 300), {"seed": 0, "num_samples": 4}, ns, defs, iface)
    assert c.fn(*c.args, **c.kwargs) == 4 and "n_samples" in c.notes[0]
    ns, defs = _defs(("ddpm_sample", 5, no_count, False))
    c = choose("ddpm_sample", (1, 2, (28, 28), 300), {"seed": 0, "num_samples": 4}, ns, defs, iface)
    assert c.fn is no_count and not c.fitted  # called as is: its own TypeError is the message


def test_a_probe_binding_comes_first():
    """A catalogued variant (fixture building) or a probe's rebind replaces the notebook's definition."""
    ns, defs = _defs(("ddpm_forward", 10, time_forward, False))

    def variant(unet, ddpm_schedule, x_0, num_ts):
        return "variant"

    ns["ddpm_forward"] = variant
    assert choose("ddpm_forward", (1, 2, 3, 300), {}, ns, defs, None).fn is variant


def test_tuple_results_only_where_declared():
    import numpy as np

    adapters.NOTES.clear()
    image = np.zeros((1, 3, 8, 8))
    assert adapters.first_of_tuple("inpaint", (image, [image]), Interface(tuple_result=True)) is image
    assert adapters.NOTES == ["inpaint returns a tuple: its first element was graded"]
    pair = (image, image)
    assert adapters.first_of_tuple("forward", pair, None) is pair
    assert adapters.first_of_tuple("inpaint", (1.0, 2.0), Interface(tuple_result=True)) == (1.0, 2.0)
    adapters.NOTES.clear()


def test_a_sampler_without_num_samples_gets_the_rows_a_batch_would_get():
    """Called once per sample (or with its own larger batch), a sampler draws exactly the rows that the
    reference's batch of n draws, so a correct one matches the reference sample for sample."""
    import torch

    from grader.course.proj5b.sealed.interfaces import _RowNoise
    from grader.worker.environment import NOISE

    NOISE.reset(41)
    batch = [NOISE.draw((4, 1, 28, 28)) for _ in range(3)]
    for j in range(4):
        with _RowNoise(4, j):
            rows = [NOISE.draw((1, 1, 28, 28)) for _ in range(3)]
        assert all(torch.equal(r[0], b[j]) for r, b in zip(rows, batch))
    with _RowNoise(4, 0):
        wide = NOISE.draw((6, 1, 28, 28))
    assert torch.equal(wide[:4], batch[0]) and wide.shape == (6, 1, 28, 28)
    assert NOISE.draw.__self__ is NOISE  # restored


def test_a_pair_of_unconditional_embeddings_is_tried_when_the_contract_call_raises():
    """Issue 20: uncond_prompt_embeds=(u1, u2) has the contract's parameters, so only the error tells it apart."""

    def pair_anagram(image, i_start, p1, p2, uncond, timesteps, scale=7):
        return (p1, uncond[0]), (p2, uncond[1])

    def single_anagram(image, i_start, p1, p2, uncond, timesteps, scale=7):
        return uncond

    def broken_anagram(image, i_start, p1, p2, uncond, timesteps, scale=7):
        raise IndexError("its own mistake")

    iface = Interface(forms=(adapters.pair_arg(4, "uncond", "the unconditional embedding"),))
    args = ("x", 0, "a", "b", "u", [990, 0])  # a string of length 1: "u"[1] raises IndexError, like a batch of one
    adapters.NOTES.clear()
    ns, defs = _defs(("visual_anagrams", 3, pair_anagram, False))
    c = choose("visual_anagrams", args, {}, ns, defs, iface)
    assert c.fn(*c.args, **c.kwargs) == (("a", "u"), ("b", "u"))
    assert adapters.NOTES == [
        "your visual_anagrams takes the unconditional embedding as a pair, one per prompt: "
        "the checks passed the same one twice"
    ]
    adapters.NOTES.clear()
    ns, defs = _defs(("visual_anagrams", 3, single_anagram, False))
    c = choose("visual_anagrams", args, {}, ns, defs, iface)
    assert c.fn(*c.args, **c.kwargs) == "u" and adapters.NOTES == []  # the contract's call runs: nothing adapted
    ns, defs = _defs(("visual_anagrams", 3, broken_anagram, False))
    c = choose("visual_anagrams", args, {}, ns, defs, iface)
    with pytest.raises(IndexError, match="its own mistake"):  # the pair does not help: its own error is shown
        c.fn(*c.args, **c.kwargs)
    assert adapters.NOTES == []


def test_a_whole_trajectory_is_graded_by_its_last_element():
    import torch

    frames = [torch.full((4, 1, 28, 28), float(i)) for i in range(301)]
    iface = Interface(tuple_result=True)
    assert adapters.first_of_tuple("ddpm_sample", frames, iface) is frames[-1]
    # a batch held as a list of single images, or (samples, frames), is not a trajectory
    singles = [torch.zeros(1, 28, 28) for _ in range(4)]
    assert not adapters.is_trajectory(singles)
    pair = (frames[-1], frames[:10])
    assert adapters.first_of_tuple("ddpm_sample", pair, iface) is frames[-1]
