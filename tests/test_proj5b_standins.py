"""Part B foundations: the MNIST fixture, the offline MNIST, the analytic denoisers and the probes.

The reference solution's functions are taken from solutions/proj5b.ipynb by
executing only its imports and def/class statements (filtered with ast), so
nothing here trains a real model or touches the network.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.course.proj5b import support
from grader.course.proj5b.inputs import BANK_PER_CLASS, NUM_CLASSES, TEST_PER_CLASS, TRAIN_PER_CLASS, build_inputs
from grader.course.proj5b.sealed import standins
from grader.fixtures import load_npz, save_npz

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "proj5b.ipynb"


# ---- shared set-up ---------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small tensors, as in the worker: one thread (two threads on two busy cores are ~10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def inputs():
    return build_inputs()


@pytest.fixture(scope="module")
def sol():
    """The reference notebook's imports and definitions, executed in a fresh namespace."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import nbformat

    nb = nbformat.read(str(SOLUTION), as_version=4)
    ns = {"__name__": "proj5b_solution", "device": "cpu"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!")))
        tree = ast.parse(source)
        keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
        exec(compile(ast.Module(body=keep, type_ignores=[]), f"<{SOLUTION.name}>", "exec"), ns)
    ns["device"] = "cpu"
    return ns


@pytest.fixture
def mnist_standin(inputs):
    """install the offline MNIST for one test, then put the real class back."""
    provided = standins.build(inputs)
    yield provided
    standins.restore_mnist()


def _sample(unet, sched, n, seed=0, one_based=False, c=None, scale=5.0):
    """A plain DDPM ancestral sampler, 0-based (k = T-1..0) or 1-based (t = T..1, alpha_bars[t-1])."""
    betas, alphas, abars = sched["betas"], sched["alphas"], sched["alpha_bars"]
    T = len(betas)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g)
    for s in range(T, 0, -1) if one_based else range(T - 1, -1, -1):
        i = s - 1 if one_based else s
        t = torch.full((n,), s / T)
        if c is None:
            eps = unet(x, t)
        else:
            eps_c, eps_u = unet(x, c, t, torch.ones(n)), unet(x, c, t, torch.zeros(n))
            eps = eps_u + scale * (eps_c - eps_u)
        abar, abar_prev = abars[i], (abars[i - 1] if i > 0 else torch.tensor(1.0))
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        x = (abar_prev.sqrt() * betas[i] / (1 - abar)) * x0 + (alphas[i].sqrt() * (1 - abar_prev) / (1 - abar)) * x
        if i > 0:
            x = x + betas[i].sqrt() * torch.randn(x.shape, generator=g)
    return x


def _nearest(x, images, labels):
    """Per sample: MSE to the nearest stored digit and that digit's label."""
    bank = torch.as_tensor(images).double().reshape(len(images), -1) / 255.0
    d = ((x.double().reshape(len(x), -1)[:, None] - bank[None]) ** 2).mean(-1)
    mse, idx = d.min(1)
    return mse, torch.as_tensor(labels)[idx]


# ---- the fixture -----------------------------------------------------------------


def test_fixture_is_deterministic_balanced_and_small(inputs, tmp_path):
    again = build_inputs()
    assert sorted(again) == sorted(inputs)
    for key in inputs:
        assert inputs[key].dtype == again[key].dtype and np.array_equal(inputs[key], again[key]), key

    assert inputs["train_images"].shape == (NUM_CLASSES * TRAIN_PER_CLASS, 1, 28, 28)
    assert inputs["test_images"].shape == (NUM_CLASSES * TEST_PER_CLASS, 1, 28, 28)
    assert inputs["train_images"].dtype == np.uint8 and inputs["train_labels"].dtype == np.int64
    assert np.bincount(inputs["train_labels"], minlength=10).tolist() == [TRAIN_PER_CLASS] * 10
    assert np.bincount(inputs["test_labels"], minlength=10).tolist() == [TEST_PER_CLASS] * 10
    assert np.bincount(inputs["bank_labels"], minlength=10).tolist() == [BANK_PER_CLASS] * 10
    assert inputs["train_images"].max() > 200  # real digits on a 0-255 scale

    train = {im.tobytes() for im in inputs["train_images"]}
    test = {im.tobytes() for im in inputs["test_images"]}
    assert len(train) == len(inputs["train_images"]) and not train & test  # distinct and disjoint
    assert {im.tobytes() for im in inputs["bank_images"]} <= train

    assert inputs["probe_x"].shape == (8, 1, 28, 28) and inputs["probe_x"].dtype == np.float32
    assert 0.0 <= inputs["probe_x"].min() and inputs["probe_x"].max() <= 1.0
    assert inputs["probe_c"].tolist() == list(range(8))
    for d in range(8):
        first = inputs["test_images"][inputs["test_labels"] == d][0]
        np.testing.assert_array_equal(inputs["probe_x"][d], first.astype(np.float32) / np.float32(255))
    assert sum(v.nbytes for v in inputs.values()) < 1_000_000

    path = tmp_path / "inputs.npz"
    save_npz(path, inputs)
    loaded = load_npz(path)
    assert all(np.array_equal(loaded[k], inputs[k]) for k in inputs)


# ---- the offline MNIST -----------------------------------------------------------


def test_mnist_standin_through_torchvision(mnist_standin, inputs, tmp_path):
    import torchvision
    from torchvision import transforms
    from torchvision.datasets import MNIST

    assert mnist_standin == {"device": "cpu"}
    assert MNIST is standins.FixtureMNIST and torchvision.datasets.mnist.MNIST is standins.FixtureMNIST

    train = torchvision.datasets.MNIST(root=str(tmp_path), train=True, download=True, transform=transforms.ToTensor())
    test = torchvision.datasets.MNIST(
        str(tmp_path), train=False, download=True, transform=transforms.ToTensor(), target_transform=lambda y: y + 100
    )
    assert len(train) == len(inputs["train_images"]) and len(test) == len(inputs["test_images"])
    assert not any(tmp_path.iterdir())  # nothing written, nothing downloaded
    assert train.data.dtype == torch.uint8 and tuple(train.data.shape) == (len(train), 28, 28)
    assert train.targets.dtype == torch.int64
    np.testing.assert_array_equal(train.targets.numpy(), inputs["train_labels"])

    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    x, y = next(iter(loader))
    assert tuple(x.shape) == (64, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.max()) > 0.9
    assert y.dtype == torch.int64 and tuple(y.shape) == (64,)

    im, label = test[3]
    np.testing.assert_allclose(im.numpy(), inputs["test_images"][3] / 255.0, atol=1e-7)
    assert label == int(inputs["test_labels"][3]) + 100
    raw = torchvision.datasets.MNIST("data", train=True)[0][0]
    assert raw.mode == "L" and raw.size == (28, 28)


def test_mnist_standin_is_installed_lazily(inputs):
    """build() does not import torchvision.datasets; importing it afterwards brings the stand-in."""
    import importlib

    import torchvision

    real = sys.modules.pop("torchvision.datasets")
    try:
        standins.build(inputs)
        assert "torchvision.datasets" not in sys.modules
        datasets = importlib.import_module("torchvision.datasets")  # re-runs the package through the hook
        assert datasets is not real and datasets.MNIST is standins.FixtureMNIST
        assert sys.modules["torchvision.datasets.mnist"].MNIST is standins.FixtureMNIST
        assert len(datasets.MNIST(root="data", train=False, download=True)) == len(inputs["test_images"])
    finally:
        standins.restore_mnist()
        sys.modules["torchvision.datasets"] = real
        torchvision.datasets = real
    assert torchvision.datasets.MNIST is not standins.FixtureMNIST
    assert sys.modules["torchvision.datasets.mnist"].MNIST is not standins.FixtureMNIST


# ---- the analytic denoisers ------------------------------------------------------


def test_analytic_denoiser_recovers_the_noise_of_a_stored_digit(inputs):
    sched = support.reference_schedule()
    den = standins.make_denoiser(inputs, sched["alpha_bars"])
    x0 = torch.as_tensor(inputs["bank_images"][:4]).float() / 255
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    k = torch.tensor([0, 5, 20, 60])
    abar = sched["alpha_bars"][k].view(-1, 1, 1, 1)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    for t in (k / 300, (k / 300)[:, None]):  # (N,) and (N, 1)
        eps_hat = den(x_t, t)
        assert eps_hat.shape == x_t.shape and eps_hat.dtype == torch.float32
        torch.testing.assert_close(eps_hat, eps, atol=1e-3, rtol=0)
    # The 1-based reading: the same x_t reaches the network as (k + 1) / T.
    den_1 = standins.make_denoiser(inputs, sched["alpha_bars"], index_offset=-1)
    torch.testing.assert_close(den_1(x_t, (k + 1) / 300), eps, atol=1e-3, rtol=0)


@pytest.mark.parametrize("one_based", [False, True])
def test_ddpm_sampling_with_the_analytic_denoiser_lands_on_a_digit(inputs, one_based):
    sched = support.reference_schedule(1e-4, 0.2, 50)  # a tiny schedule that still ends near pure noise
    assert float(sched["alpha_bars"][-1]) < 0.01
    den = standins.make_denoiser(inputs, sched["alpha_bars"], num_ts=50, index_offset=-1 if one_based else 0)
    x = _sample(den, sched, 8, seed=3, one_based=one_based)
    mse, _ = _nearest(x, inputs["bank_images"], inputs["bank_labels"])
    assert float(mse.max()) < 0.01


def test_class_denoiser_with_cfg_lands_on_the_requested_class(inputs):
    sched = support.reference_schedule(1e-4, 0.2, 50)
    den = standins.make_denoiser(inputs, sched["alpha_bars"], conditional=True, num_ts=50)
    c = torch.arange(10)
    x = _sample(den, sched, 10, seed=4, c=c, scale=5.0)
    mse, labels = _nearest(x, inputs["bank_images"], inputs["bank_labels"])
    assert float(mse.max()) < 0.01
    assert labels.tolist() == c.tolist()
    # Dropped class (mask 0) and no mask at all: the posterior ranges over every digit.
    x_t = torch.as_tensor(inputs["probe_x"]) * 0.7 + 0.3
    t = torch.full((8,), 0.5)
    uncond = standins.make_denoiser(inputs, sched["alpha_bars"], num_ts=50)
    torch.testing.assert_close(den(x_t, torch.zeros(8, dtype=torch.long), t, torch.zeros(8)), uncond(x_t, t))
    torch.testing.assert_close(den(x_t, torch.arange(8), t, torch.ones(8)), den(x_t, torch.arange(8), t))
    assert not torch.allclose(den(x_t, torch.arange(8), t), uncond(x_t, t))


def test_reference_samplers_land_on_digits(sol, inputs):
    sched = sol["ddpm_schedule"](1e-4, 0.02, 300)
    for key in ("betas", "alphas", "alpha_bars"):
        torch.testing.assert_close(sched[key], support.reference_schedule()[key])
    den = standins.make_denoiser(inputs, sched["alpha_bars"])
    x = sol["ddpm_sample"](den, sched, (28, 28), 300, seed=0, num_samples=4)
    assert tuple(x.shape) == (4, 1, 28, 28)
    mse, _ = _nearest(x, inputs["bank_images"], inputs["bank_labels"])
    assert float(mse.max()) < 1e-4  # the reference indexing is the denoiser's default one

    cden = standins.make_denoiser(inputs, sched["alpha_bars"], conditional=True)
    c = torch.tensor([7, 3, 0, 9])
    x = sol["ddpm_sample_class"](cden, sched, c, (28, 28), 300, guidance_scale=5.0, seed=0)
    mse, labels = _nearest(x, inputs["bank_images"], inputs["bank_labels"])
    assert float(mse.max()) < 1e-4 and labels.tolist() == c.tolist()


# ---- the probes ------------------------------------------------------------------


def test_probe_records_ddpm_forward(sol, inputs):
    sched = sol["ddpm_schedule"](1e-4, 0.02, 300)
    x0 = torch.as_tensor(inputs["probe_x"])
    probe = standins.ProbeUNet()
    loss = sol["ddpm_forward"](probe, sched, x0, 300)
    rec = probe.data()
    assert probe.num_calls() == 1 and rec["batch"].tolist() == [8]
    k = torch.round(rec["t"].double() * 300).long()
    assert torch.allclose(rec["t"].double(), k.double() / 300, atol=1e-6) and int(k.min()) >= 0 and int(k.max()) < 300
    abar = sched["alpha_bars"][k].view(-1, 1, 1, 1)
    eps = (rec["x"] - abar.sqrt() * x0) / (1 - abar).sqrt()
    torch.testing.assert_close(rec["out"], 0.5 * rec["x"] + 0.1)
    assert abs(float(loss.detach()) - float(((rec["out"] - eps) ** 2).mean())) < 1e-4
    assert rec["c"].tolist() == [-1] * 8 and rec["mask"].tolist() == [1.0] * 8

    cprobe = standins.ProbeClassUNet()
    c = torch.as_tensor(inputs["probe_c"])
    sol["ddpm_forward_class"](cprobe, sched, x0, c, 0.5, 300)
    crec = cprobe.data()
    assert crec["c"].tolist() == c.tolist()
    assert set(crec["mask"].tolist()) <= {0.0, 1.0}
    assert bool(crec["training"].all())


def test_probe_parameters_stay_fixed_under_training(sol, inputs):
    probe = standins.ProbeUNet()
    images = torch.as_tensor(inputs["train_images"][:32]).float() / 255
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.zeros(32)), batch_size=16)
    losses = sol["train_denoiser"](probe, loader, sigma=0.5, num_epochs=1, lr=1e-1)
    assert len(losses) == 2 and all(isinstance(v, float) for v in losses)
    assert float(probe.weight.detach()) == 0.0
    rec = probe.data()
    assert torch.isnan(rec["t"]).all() and rec["batch"].tolist() == [16, 16]


# ---- the reference models --------------------------------------------------------


def test_reference_unets_shapes_and_conditioning(sol, inputs):
    torch.manual_seed(0)
    x = torch.as_tensor(inputs["probe_x"])
    t = torch.as_tensor(inputs["probe_t"])
    un = sol["UnconditionalUNet"](1, 8).eval()
    assert tuple(un(x).shape) == (8, 1, 28, 28)
    tc = sol["TimeConditionalUNet"](1, 10, 8).eval()
    torch.testing.assert_close(tc(x, t), tc(x, t[:, None]))
    cc = sol["ClassConditionalUNet"](1, 10, 8).eval()
    c = torch.as_tensor(inputs["probe_c"])
    mask = torch.as_tensor(inputs["probe_mask"])
    out = cc(x, c, t, mask)
    dropped = mask == 0
    # Where the class is dropped, the label does not matter.
    torch.testing.assert_close(out[dropped], cc(x, (c + 1) % 10, t, mask)[dropped])
    torch.testing.assert_close(cc(x, c, t), cc(x, c, t, torch.ones(8)))
    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    fc_block = lambda i, o: (i * o + o) + (o * o + o)  # noqa: E731  Linear(i, o), GELU, Linear(o, o)
    assert n_params(tc) - n_params(un) == fc_block(1, 16) + fc_block(1, 8)  # FCBlock(1, 2D), FCBlock(1, D)
    assert n_params(cc) - n_params(tc) == fc_block(10, 16) + fc_block(10, 8)


def test_reference_training_runs_one_step(sol, inputs):
    torch.manual_seed(0)
    images = torch.as_tensor(inputs["train_images"][:64]).float() / 255
    labels = torch.as_tensor(inputs["train_labels"][:64])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=64)
    sched = sol["ddpm_schedule"](1e-4, 0.02, 300)
    losses = sol["train_time_conditioned"](
        sol["TimeConditionalUNet"](1, 10, 8), sched, loader, num_ts=300, num_epochs=1
    )
    assert len(losses) == 1 and isinstance(losses[0], float) and np.isfinite(losses[0])
    losses = sol["train_class_conditioned"](
        sol["ClassConditionalUNet"](1, 10, 8), sched, loader, num_ts=300, num_epochs=1
    )
    assert len(losses) == 1 and isinstance(losses[0], float) and np.isfinite(losses[0])
