"""Worker-side adaptations of Part B to styles real students write (issue 20), without a worker."""

from __future__ import annotations

import torch
from torch import nn

from grader.course.proj5b.sealed import harness, interfaces
from grader.worker import adapters
from grader.worker.environment import NoDisplay, bind_no_display


class Unflatten(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 7, 1, 0)

    def forward(self, x):
        return self.up(x)


class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_hiddens):
        super().__init__()
        self.final = nn.Conv2d(num_hiddens, in_channels, 3, 1, 1)

    def forward(self, x, t):
        raise AssertionError("the stand-in computes, never the student's forward")


def setup_function():
    adapters.NOTES.clear()


def test_constructors_in_other_layouts_are_built_and_named():
    assert interfaces.constructor_args(Unflatten, [6]) == [6, 6]
    assert interfaces.constructor_args(TimeConditionalUNet, [1, 10, 8]) == [1, 8]
    assert any("Unflatten(C, C)" in n for n in adapters.NOTES)
    assert any("without num_classes" in n for n in adapters.NOTES)
    adapters.NOTES.clear()
    assert interfaces.constructor_args(nn.Linear, [3, 5]) == [3, 5] and not adapters.NOTES  # fits as given


def test_unit_stride_transpose_conv_on_a_1x1_map_is_the_contracts_stride_7():
    module = harness._build(Unflatten, [6])
    x = torch.randn(4, 6, 1, 1)
    out = module(x)
    assert out.shape == (4, 6, 7, 7) and module.up.stride == (7, 7)
    rows = harness.module_trace(Unflatten, [6], [4, 6, 1, 1])
    assert [list(r) for r in rows] == [[2, 6, 6, 7, 7, 0]]
    # on a larger map a unit stride is left alone (it is not equivalent there)
    other = harness._build(Unflatten, [6])
    assert other(torch.randn(1, 6, 2, 2)).shape == (1, 6, 8, 8) and other.up.stride == (1, 1)


def test_a_stand_in_wears_the_students_own_module_tree():
    probe = harness.ProbeUNet()

    def sampler(unet):
        unet.eval()
        return unet(torch.zeros(2, unet.final.out_channels, 28, 28), torch.zeros(2, 1))

    shell = harness.wear_student_model(sampler, probe, "time")
    assert isinstance(shell, TimeConditionalUNet)
    out = sampler(shell)
    assert torch.equal(out, torch.full((2, 1, 28, 28), 0.1)) and probe.num_calls() == 1
    assert probe.calls[0]["training"] is False  # the student's .eval() reaches the stand-in


def test_with_student_model_retries_only_on_an_attribute_the_stand_in_lacks():
    made = []

    def make():
        made.append(harness.ProbeUNet())
        return made[-1]

    def reads(unet, probe):
        return unet.final.out_channels

    assert harness.with_student_model(reads, "time", make, reads) == 1 and len(made) == 2
    assert any("module tree" in n for n in adapters.NOTES)
    made.clear()
    assert harness.with_student_model(reads, "time", make, lambda m, p: 7) == 7 and len(made) == 1


def test_no_display_binds_only_what_is_missing_and_does_nothing():
    ns = {"plt": "mine"}
    bind_no_display(ns, ("plt", "media", "show_image"))
    assert ns["plt"] == "mine" and isinstance(ns["media"], NoDisplay)
    fig, ax = ns["media"].subplots(1, 2)
    with ns["show_image"]("x") as shown:
        shown.anything[3].more(1)
    assert not ns["media"].show_image(torch.zeros(3))
    assert any("media.show_image(...) did nothing" in n for n in adapters.NOTES)
