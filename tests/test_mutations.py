"""The search of single edits of the reference (grader.judging.mutations) and how the judge names one; no worker needed."""

import json

import numpy as np
import pytest

from grader.judging import fingerprints
from grader.judging import mutations as M
from grader.judging.judge import Fail, Reference
from grader.probing import call, probe

STEP = """
def step(x_t, x0, t, t_prev):
    # a comment line is not counted
    abar_t = alphas_cumprod[t]
    abar_prev = alphas_cumprod[t_prev]
    alpha = abar_t / abar_prev
    return abar_prev.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * x_t
"""

LOOP = """
def loop(image, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    with torch.no_grad():
        for i in range(i_start, len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            eps = cfg(image, t, prompt_embeds, uncond_prompt_embeds, scale)
            image = add_variance(eps, t, step(image, eps, t, t_prev))
            image = image * 0.5
    return image
"""

GLOBALS = {"alphas_cumprod"}


def _edits(source, name):
    return {(m.old, m.new) for m in M.mutants(name, source, GLOBALS)}


def test_coefficients_get_their_neighbours_square_roots_and_complements():
    edits = _edits(STEP, "step")
    assert ("abar_prev.sqrt()", "abar_prev") in edits  # a square root dropped
    assert ("alpha", "abar_t") in edits and ("abar_t", "abar_prev") in edits  # a coefficient for its neighbour
    assert ("alpha", "alpha.sqrt()") in edits and ("alpha", "1 - alpha") in edits
    assert ("t_prev", "t") in edits and ("t", "t_prev") in edits  # t for t'
    assert ("alphas_cumprod[t]", "alphas_cumprod[t - 1]") in edits  # an index one step off
    assert ("abar_t / abar_prev", "abar_t * abar_prev") in edits  # an operator
    assert not any(new.endswith("/ x0") or new.endswith("/ x_t") for _, new in edits)  # nobody divides by an image


def test_loops_arguments_and_statements():
    edits = _edits(LOOP, "loop")
    assert ("range(i_start, len(timesteps) - 1)", "range(i_start, len(timesteps) - 2)") in edits  # one step short
    assert ("timesteps[i + 1]", "timesteps[i]") in edits
    assert ("scale", "7") in edits  # an argument ignored: its default used
    assert ("prompt_embeds", "uncond_prompt_embeds") in edits  # a parameter for one of its kind
    assert ("image", "timesteps") not in edits and ("prompt_embeds", "image") not in edits  # not of a kind
    assert ("add_variance(eps, t, step(image, eps, t, t_prev))", "step(image, eps, t, t_prev)") in edits  # left out
    assert ("image = image * 0.5", "") in edits  # a re-assignment left out
    assert ("image", "image.clamp(-1, 1)") in edits  # a clamp added to the result


def test_the_same_source_gives_the_same_edits_in_the_same_order():
    one = [m.describe() for m in M.mutants("loop", LOOP, GLOBALS)]
    assert one == [m.describe() for m in M.mutants("loop", LOOP, GLOBALS)] and len(one) == len(set(one))


def test_a_message_says_the_edit_and_the_line_without_comment_lines():
    m = next(m for m in M.mutants("step", STEP, GLOBALS) if (m.old, m.new) == ("abar_prev.sqrt()", "abar_prev"))
    assert m.line == 5 and m.describe().startswith("the reference with `abar_prev.sqrt()` replaced by `abar_prev`")
    assert "in line 5 of step" in m.describe()
    twice = [m for m in M.mutants("loop", LOOP, GLOBALS) if (m.old, m.new) == ("t", "t_prev") and m.line == 6]
    assert sorted(m.which for m in twice) == [" (occurrence 1 of 2)", " (occurrence 2 of 2)"]


def test_helpers_are_searched_with_the_first_graded_name_that_reaches_them():
    chunks = [{"kind": "def", "source": LOOP}, {"kind": "def", "source": STEP}]
    done = set()
    first = M.candidates("loop", chunks, {"loop"}, GLOBALS, done)
    assert {m.func for m in first} == {"loop", "step"}
    again = M.candidates("loop", chunks, {"loop"}, GLOBALS, done)
    assert {m.func for m in again} == {"loop"}


# ---- the judge names a searched edit from its fingerprint -------------------------------------------------

RNG = np.random.default_rng(3)
REF_OUT = RNG.normal(size=(1, 3, 16, 16)).astype(np.float32)
EDIT_A = (REF_OUT * 0.7).astype(np.float32)
EDIT_B = (REF_OUT + 0.3).astype(np.float32)


def _reference(search=True):
    arrays = {
        "p|reference|0": REF_OUT,
        "p|search|0": np.stack([fingerprints.fingerprint(EDIT_A, REF_OUT), fingerprints.fingerprint(EDIT_B, REF_OUT)]),
        "p|search-edits|0": np.frombuffer(json.dumps(["edit A", "edit B"]).encode(), dtype=np.uint8),
    }
    return Reference(arrays, [], {"p": probe("f", call("f"))}, search=search)


def test_an_output_that_equals_one_edit_is_named_by_it():
    with pytest.raises(Fail, match="differs from the reference by up to .* and equals edit B"):
        _reference().judge("p", {0: EDIT_B + 1e-4}, [0])


def test_grader_check_names_no_edit_as_the_student_kit_holds_none():
    with pytest.raises(Fail) as e:
        _reference(search=False).judge("p", {0: EDIT_B}, [0])
    assert "edit B" not in str(e.value)


def test_an_output_no_edit_explains_gets_the_plain_description():
    with pytest.raises(Fail) as e:
        _reference().judge("p", {0: REF_OUT + RNG.normal(size=REF_OUT.shape).astype(np.float32)}, [0])
    assert "edit" not in str(e.value) and "likely cause" in str(e.value)


def test_the_reference_itself_passes():
    assert _reference().judge("p", {0: REF_OUT.copy()}, [0]) == "reference"


def test_noise_drawn_without_the_batch_dimension_is_the_batched_draw():
    torch = pytest.importorskip("torch")
    from grader.worker.environment import Noise, draw_key

    assert draw_key((3, 64, 64)) == draw_key((1, 3, 64, 64)) == (1, 3, 64, 64)
    assert draw_key((2, 1, 28, 28)) == (2, 1, 28, 28)  # a 4-d shape keeps its own key
    a, b = Noise(5), Noise(5)
    assert torch.equal(a.draw((1, 3, 8, 8))[0], b.draw((3, 8, 8)))
    assert torch.equal(a.draw((1, 3, 8, 8))[0], b.draw((3, 8, 8)))  # the second draw too: one count for both


def test_the_fixtures_hold_the_searched_edits_of_every_searched_name():
    from grader import course, fixtures

    a = course.get("proj5a")
    expected = fixtures.load_expected("proj5a")
    ref = Reference(expected, [], a.probes)
    for api in a.searched:
        probes = [name for name, p in a.probes.items() if p.api == api]
        assert any(ref.edits(p) for p in probes), api
        for p in probes:
            rows = [v for k, v in expected.items() if k.startswith(f"{p}|search|")]
            assert all(r.shape[0] == len(ref.edits(p)) and r.dtype == np.float16 for r in rows)


def test_a_small_difference_is_named_only_by_the_edit_that_makes_it():
    """An edit that moves the output by 0.006 is told apart from one that moves it by 0.012 (both within the
    0.02 in which a catalogued mistake is named): the match must be within a tenth of the distance, or the
    checks' tolerance."""
    small, other = REF_OUT + 0.006, REF_OUT + 0.012
    arrays = {
        "p|reference|0": REF_OUT,
        "p|search|0": np.stack([fingerprints.fingerprint(other, REF_OUT), fingerprints.fingerprint(small, REF_OUT)]),
        "p|search-edits|0": np.frombuffer(json.dumps(["edit other", "edit small"]).encode(), dtype=np.uint8),
    }
    ref = Reference(arrays, [], {"p": probe("f", call("f"))})
    with pytest.raises(Fail, match="equals edit small"):
        ref.judge("p", {0: small.copy()}, [0])
    with pytest.raises(Fail) as e:
        ref.judge("p", {0: REF_OUT + 0.009}, [0])  # between the two: neither is named
    assert "equals edit" not in str(e.value)
