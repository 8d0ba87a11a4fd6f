"""The worker's torch function mode (grader.worker.environment.GraderMode): devices and half precision become
CPU fp32 and Gaussian draws are keyed, while every other op passes straight through unchanged."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from grader.worker import environment as runtime  # noqa: E402


@pytest.fixture
def mode():
    runtime.NOISE.reset(7)
    with runtime.GraderMode():
        yield


def test_devices_and_half_precision_become_cpu_fp32(mode):
    x = torch.ones(2, 3)
    assert x.cuda() is x and x.cpu() is x
    assert x.half().dtype == torch.float32 and x.bfloat16().dtype == torch.float32
    assert x.to("cuda").device.type == "cpu" and x.to(torch.float16).dtype == torch.float32
    assert x.to("cuda:0", torch.float16).dtype == torch.float32
    z = torch.zeros(2, device="cuda", dtype=torch.float16)
    assert z.device.type == "cpu" and z.dtype == torch.float32
    assert torch.empty(3, pin_memory=True).shape == (3,)
    assert torch.tensor([1.0], dtype=torch.bfloat16).dtype == torch.float32


def test_draws_are_keyed_whatever_the_api(mode):
    a = torch.randn(2, 3)
    runtime.NOISE.reset(7)
    b = torch.randn_like(torch.empty(2, 3))
    runtime.NOISE.reset(7)
    c = torch.empty(2, 3).normal_()
    runtime.NOISE.reset(7)
    d = torch.normal(0.0, 1.0, size=(2, 3))
    for other in (b, c, d):
        assert torch.equal(a, other)
    runtime.NOISE.reset(8)
    assert not torch.equal(a, torch.randn(2, 3))


def test_other_ops_pass_through_unchanged(mode):
    x = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(x + 1, torch.arange(1.0, 7.0).reshape(2, 3))
    assert torch.equal(torch.nn.functional.relu(x - 2), torch.clamp(x - 2, min=0))
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.double().dtype == torch.float64  # only low precision is changed
    assert torch.ones(2, dtype=torch.float64).dtype == torch.float64


def test_the_stand_in_denoiser_answers_fp32_for_half_precision_input():
    from grader.course.proj5b.sealed.standins import AnalyticDenoiser

    rng = np.random.default_rng(0)
    den = AnalyticDenoiser(rng.random((5, 1, 28, 28)), np.arange(5), np.linspace(0.99, 0.01, 300))
    x = torch.randn(2, 1, 28, 28)
    with runtime.GraderMode():
        out = den(x.type(torch.float16), torch.tensor([0.5, 0.5]))
        again = den(x, torch.tensor([0.5, 0.5]))
    assert out.dtype == torch.float32 and again.dtype == torch.float32 and out.shape == x.shape
