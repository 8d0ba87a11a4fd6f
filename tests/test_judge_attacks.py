"""Attacks on the judgement: a notebook that implements nothing earns nothing, whatever evidence it fakes.

The corpus (tests/corpus/judge_attacks, written by its make_corpus.py) holds notebooks that try
to earn points from the grading side's judgement rather than by breaking the sandbox: samplers
that call the UNet on NaN and land on a stored digit in one jump, training records fabricated by
a load-time patch of the harness, one fixed stripe pattern returned by every function. Each
must score nothing on every graded name it does not implement.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from grader.judging.judge import Fail, Reference
from grader.probing import Support, call, probe
from grader.runner import grade

CORPUS = Path(__file__).resolve().parent / "corpus" / "judge_attacks"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


@pytest.fixture(scope="module")
def graded():
    return {e["file"]: grade(CORPUS / e["file"], e["assignment"]) for e in MANIFEST}


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"][:-6])
def test_attack_earns_nothing_it_does_not_implement(graded, entry):
    g = graded[entry["file"]]
    earned = {c.name: c.points for c in g.checks if c.passed and c.api not in entry["implements"]}
    assert earned == {}, [(c.name, c.message) for c in g.checks if c.name in earned]
    if not entry["implements"]:
        assert g.score == 0 and g.max_score == 100
    for c in g.checks:
        assert "\n" not in c.message and len(c.message) < 400, c.message


def test_the_corpus_is_what_its_generator_writes(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("judge_attacks_corpus", CORPUS / "make_corpus.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "HERE", tmp_path)
    gen.main()
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), path.name
    assert {p.name for p in tmp_path.iterdir()} == {e["file"] for e in MANIFEST} | {"manifest.json"}


# ---- the engine's rules, on made-up outputs ------------------------------------------------------


def _reference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1, 3, 4, 4)), rng.normal(size=(1, 3, 4, 4))
    probes = {"f": probe("f", call("f", name="one"), call(Support("g"), name="aux"), call("f", name="two"))}
    arrays = {"f|reference|0": a, "f|reference|1": a, "f|reference|2": b}
    return Reference(arrays, [], probes), a, b


def test_outputs_must_depend_on_the_input_whatever_their_pattern():
    ref, a, b = _reference()
    assert ref.contrasts("f", "one") == [2]  # the same function on another input; a support call is not one
    assert ref.evidence("f", ["one"]) == ["one", 2]
    stripes = np.zeros_like(a)
    stripes[..., ::2, :] = 0.5
    with pytest.raises(Fail, match="same output for two different inputs"):
        ref.expect_like("f", {"one": stripes, "two": stripes + 1e-4}, "one")
    with pytest.raises(Fail, match="no usable output for a second input"):
        ref.expect_like("f", {"one": stripes}, "one")  # the evidence is missing: fail, never skip
    ref.expect_like("f", {"one": a + 0.3, "two": b - 0.2}, "one")  # wrong but input-dependent: it runs


def test_an_own_helper_alternative_must_depend_on_the_input():
    ref, a, b = _reference()
    stripes = np.full_like(a, 0.25)
    stripes[..., ::2] = -0.25
    same = {"one": stripes, "two": stripes}
    with pytest.raises(Fail):
        ref.judge("f", same, ["one", "two"], alternatives=[same])
    varied = {"one": a + 1, "two": b + 1}
    assert ref.judge("f", varied, ["one", "two"], alternatives=[varied]) == "alternative"
    assert ref.helper_problem("f", {"one": a, "two": b}, ["one", "two"]) is None
    assert ref.helper_problem("f", same, ["one", "two"]) is not None


@pytest.mark.parametrize("kind", ["denoiser", "time", "class"])
def test_the_grading_side_net_is_the_harness_net(kind):
    """Training records are checked against tinynet, the harness's recording net recomputed with numpy: its
    outputs, and the output layer's gradients of a squared error (up to the loss's scale)."""
    import torch

    from grader.course.proj5b.judging import tinynet as N
    from grader.course.proj5b.sealed import harness as H

    torch.manual_seed(0)
    net = {"denoiser": H._TinyDenoiser, "time": H._TinyTimeNet, "class": H._TinyClassNet}[kind]()
    assert tuple(p.numel() for p in net.parameters()) == N.SIZES
    flat = torch.cat([p.detach().double().reshape(-1) for p in net.parameters()]).numpy()
    x, t = torch.rand(5, 1, 28, 28), torch.rand(5)
    c, mask = torch.tensor([1, 2, 3, 4, 5]), torch.tensor([1.0, 0, 1, 1, 0])
    out = net(*{"denoiser": (x,), "time": (x, t), "class": (x, c, t, mask)}[kind])
    assert N.forward_problem(flat, x.numpy(), t.numpy(), out.detach().numpy(), kind) is None
    assert N.forward_problem(flat, x.numpy(), t.numpy(), out.detach().numpy() + 1e-2, kind) is not None
    target = torch.randn_like(out)
    ((out - target) ** 2).mean().backward()
    grads = torch.cat([p.grad.double().reshape(-1) for p in net.parameters() if p.grad is not None])
    got = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).double().reshape(-1) for p in net.parameters()]
    ).numpy()[N.OUTPUT_LAYER]
    features = N.output_layer_input(flat, x.numpy(), t.numpy(), out.detach().numpy(), kind)
    want = N.output_layer_gradient(features, out.detach().numpy(), target.numpy())
    assert grads.numel() and np.allclose(got, 2 / out.numel() * want, rtol=1e-4, atol=1e-8)
