"""Stand-ins carry the attributes real student code reads off the models it is given (issue 12)."""

import pytest
import torch

from grader.fixtures import load_inputs


@pytest.fixture(scope="module")
def proj5a():
    from grader.course.proj5a.sealed import standins

    return standins.build(load_inputs("proj5a"))


def test_stage_1_looks_like_deepfloyd_if(proj5a):
    stage_1 = proj5a["stage_1"]
    unet = stage_1.unet
    assert unet.config.in_channels == unet.config["in_channels"] == unet.in_channels == 3
    assert unet.config.out_channels == 6 and unet.config.sample_size == 64
    assert next(unet.parameters()).dtype == torch.float16 and unet.device == torch.device("cpu")
    assert stage_1.device == torch.device("cpu") and stage_1.dtype == torch.float16
    assert stage_1.scheduler.alphas_cumprod.shape == (1000,) and stage_1.text_encoder is None
    assert set(stage_1.components) >= {"unet", "scheduler", "text_encoder", "tokenizer"}
    cond, uncond = stage_1.encode_prompt("a rocket ship")
    assert torch.equal(cond, proj5a["prompt_embeds_dict"]["a rocket ship"])
    assert torch.equal(uncond, proj5a["prompt_embeds_dict"][""])
    with pytest.raises(AttributeError):
        unet.no_such_attribute


def test_the_unet_still_answers_like_before(proj5a):
    """The added parameter and attributes change nothing the UNet computes."""
    unet = proj5a["stage_1"].unet
    x = torch.zeros(1, 3, 64, 64)
    out = unet(x, 500, encoder_hidden_states=proj5a["prompt_embeds_dict"]["a rocket ship"], return_dict=False)[0]
    assert out.shape == (1, 6, 64, 64) and torch.isfinite(out).all()


def test_part_b_models_look_like_the_course_unets():
    from grader.course.proj5b.sealed import harness, standins

    standins.build(load_inputs("proj5b"))
    den = standins.make_denoiser(standins.INPUTS, torch.linspace(0.99, 0.01, 300), conditional=True)
    models = [
        standins.ProbeUNet(),
        standins.ProbeClassUNet(),
        den,
        harness._RecordingClassDenoiser(den),
        harness._TinyTimeNet(),
        harness._TinyClassNet(),
    ]
    for m in models:
        assert m.in_channels == 1 and m.num_classes == 10, type(m).__name__
        assert m.device == torch.device("cpu") and m.dtype == torch.float32
        assert next(m.parameters()).device == torch.device("cpu")


@pytest.mark.parametrize(
    "mask",
    [
        torch.tensor([1.0, 0.0, 1.0]),
        torch.tensor([[1.0], [0.0], [1.0]]),
        torch.tensor([[0.0, 1.0] + [0.0] * 8, [0.0] * 10, [1.0] * 10]),
        torch.tensor([True, False, True]),
    ],
)
def test_a_mask_in_any_accepted_shape_reads_the_same(mask):
    from grader.course.proj5b.sealed.standins import per_sample_mask

    assert per_sample_mask(mask, 3).tolist() == [1.0, 0.0, 1.0]
