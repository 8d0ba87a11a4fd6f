"""Write solutions/proj5b.ipynb, the reference solution and otter-assign master of Part B.

    python tools/author_proj5b_solution.py && grader assign --assignment proj5b

The master is a notebook as a student hands it in (imports, dataset and DataLoader, the graded
definitions, top-level training runs at the spec's full budgets with their plots) plus otter's
markup: an ASSIGNMENT CONFIG cell, one question per graded name with the points of our hidden
Part B checks, solution blocks, and the public checks of ``tools/proj5b_public_tests.py``.
The grader keeps only imports and definitions (plus cheap constant assignments), so the
training cells never run there.

The graded definitions are written exactly as before the master existed: the catalogue's
variants (``grader/catalog/proj5b.py``) edit them textually, and the fixtures are built from
them. Inside a class or function, the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION``
become ``...`` in the student notebook; ``# BEGIN SOLUTION NO PROMPT`` blocks (the reference's
private helpers) disappear.

Timestep convention (also the analytic denoiser's, see grader/standins/proj5b.py): an integer
step k in 0..T-1 has noise level alpha_bars[k] and reaches the UNet as k / T; training draws k
uniformly from 0..T-1; sampling runs k = T-1 .. 0 with alpha_bar_{-1} = 1 and no noise added at
k = 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import nbformat  # noqa: E402
from nbtools import write_notebook  # noqa: E402
from proj5b_public_tests import BLOCKS, block_test, function_tests, unet_tests  # noqa: E402

OUT = ROOT / "solutions" / "proj5b.ipynb"

#: Points per question: the sums of the hidden checks' points per name (grader/checks/proj5b).
POINTS = {
    "Conv": 3, "DownConv": 3, "UpConv": 3, "Flatten": 2, "Unflatten": 3, "ConvBlock": 3, "DownBlock": 3,
    "UpBlock": 3, "FCBlock": 3, "UnconditionalUNet": 7, "add_noise": 3, "train_denoiser": 5,
    "TimeConditionalUNet": 7, "ddpm_schedule": 5, "ddpm_forward": 7, "ddpm_sample": 9, "train_time_conditioned": 5,
    "ClassConditionalUNet": 7, "ddpm_forward_class": 6, "ddpm_sample_class": 8, "train_class_conditioned": 5,
}

CONFIG = """
# ASSIGNMENT CONFIG
name: proj5b
init_cell: true
check_all_cell: false
export_cell: false
generate: false
run_tests: false
tests:
    files: false
    ok_format: false
"""

INTRO = """
# Project 5B: Diffusion models from scratch on MNIST

Part 1 trains a single-step denoising UNet; Part 2 turns it into a DDPM with time conditioning,
then class conditioning with classifier-free guidance. Images are `(N, 1, 28, 28)` tensors in
[0, 1] (`ToTensor()`, no normalisation). `D` stands for `num_hiddens`.

**How to work through it**

* Run the cells from the top. The first one starts the notebook checks (otter); keep this file
  named `proj5b.ipynb`, because the checks are stored inside it.
* Each question asks for one class or function. Replace every `...` in its cell with your code and
  run the cell, then run the check cell under it, e.g. `grader.check("Conv")`. A check takes well
  under a second on a laptop CPU: it builds your class with tiny sizes, or runs your function with a
  stand-in model whose right answer is known, and says what it expected, what came back and the
  likely cause.
* The training cells use the full budgets of the assignment; run them on a GPU once the checks above
  them pass.
* The checks are quick sanity checks, not your grade. Before you submit, save the notebook and run
  `grader check proj5b.ipynb` in a terminal: it runs the visible checks of the real grader. More
  checks (hidden until grades are published) run when you submit.
"""

MASTER_NOTE = """
# IGNORE
**Master notebook (reference solution).** This is the otter-assign source of `assignments/proj5b.ipynb`,
written by `tools/author_proj5b_solution.py` (edit that script, not this file). The raw cells are otter's
markup (assignment config, questions with points, solution and test blocks). After a change run
`python tools/author_proj5b_solution.py && grader assign --assignment proj5b` and commit both notebooks.
The definitions below are also what `grader fixtures build --assignment proj5b` runs to make the hidden
checks' expected outputs. This cell is not copied to the student notebook.
"""

IMPORTS = """
%matplotlib inline
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import make_grid

device = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.manual_seed(180)
"""

DATA = """
train_dataset = datasets.MNIST(root='data', train=True, download=True, transform=transforms.ToTensor())
test_dataset = datasets.MNIST(root='data', train=False, download=True, transform=transforms.ToTensor())
print(len(train_dataset), len(test_dataset))
"""

SHOW_GRID = '''
def show_grid(images, nrow=8, title=None, ax=None):
    """Show a batch (N, 1, H, W) of [0, 1] images as one grid."""
    images = torch.as_tensor(images).detach().float().cpu().clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow, max(1, len(images) // nrow)))
    ax.imshow(grid[0].numpy(), cmap='gray')
    ax.axis('off')
    if title:
        ax.set_title(title)
    return ax
'''


def _simple_block(name: str, doc: str, init_args: str, layers: str) -> str:
    """A block that is one nn.Sequential; the layer list is the solution."""
    return f'''
class {name}(nn.Module):
    """{doc}"""

    def __init__(self, {init_args}):
        super().__init__()
        # BEGIN SOLUTION
        self.net = {layers}
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return self.net(x)
        # END SOLUTION
'''


SEQ = "nn.Sequential(\n            {},\n        )"

SOLUTIONS = {
    "Conv": _simple_block("Conv", "3x3 conv that keeps the resolution: Conv2d(k3, s1, p1), BN, GELU.",
                          "in_channels: int, out_channels: int",
                          SEQ.format("nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1),\n"
                                     "            nn.BatchNorm2d(out_channels),\n            nn.GELU()")),
    "DownConv": _simple_block("DownConv", "Halves the resolution: Conv2d(k4, s2, p1), BN, GELU.",
                              "in_channels: int, out_channels: int",
                              SEQ.format("nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),\n"
                                         "            nn.BatchNorm2d(out_channels),\n            nn.GELU()")),
    "UpConv": _simple_block("UpConv", "Doubles the resolution: ConvTranspose2d(k4, s2, p1), BN, GELU.",
                            "in_channels: int, out_channels: int",
                            SEQ.format("nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),\n"
                                       "            nn.BatchNorm2d(out_channels),\n            nn.GELU()")),
    "Flatten": _simple_block("Flatten", "7x7 -> 1x1: AvgPool2d(7), GELU.", "", "nn.Sequential(nn.AvgPool2d(kernel_size=7), nn.GELU())")
    .replace("def __init__(self, ):", "def __init__(self):"),
    "Unflatten": _simple_block("Unflatten", "1x1 -> 7x7: ConvTranspose2d(k7, s7, p0), BN, GELU (channels unchanged).",
                               "in_channels: int",
                               SEQ.format("nn.ConvTranspose2d(in_channels, in_channels, kernel_size=7, stride=7, padding=0),\n"
                                          "            nn.BatchNorm2d(in_channels),\n            nn.GELU()")),
    "ConvBlock": _simple_block("ConvBlock", "Two Convs: in_channels -> out_channels -> out_channels, same resolution.",
                               "in_channels: int, out_channels: int",
                               "nn.Sequential(Conv(in_channels, out_channels), Conv(out_channels, out_channels))"),
    "DownBlock": _simple_block("DownBlock", "DownConv (halves the resolution), then ConvBlock.",
                               "in_channels: int, out_channels: int",
                               "nn.Sequential(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))"),
    "UpBlock": _simple_block("UpBlock", "UpConv (doubles the resolution), then ConvBlock.",
                             "in_channels: int, out_channels: int",
                             "nn.Sequential(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))"),
    "FCBlock": _simple_block("FCBlock", "Linear(in, out), GELU, Linear(out, out): embeds a conditioning vector.",
                             "in_channels: int, out_channels: int",
                             SEQ.format("nn.Linear(in_channels, out_channels),\n            nn.GELU(),\n"
                                        "            nn.Linear(out_channels, out_channels)")),
}

SOLUTIONS["UnconditionalUNet"] = '''
class UnconditionalUNet(nn.Module):
    """Figure 1: 28 -> 14 -> 7 -> 1 -> 7 -> 14 -> 28, skip connections by channel concat."""

    def __init__(self, in_channels: int, num_hiddens: int):
        super().__init__()
        # BEGIN SOLUTION
        D = num_hiddens
        self.conv_in = ConvBlock(in_channels, D)      # D x 28 x 28
        self.down1 = DownBlock(D, D)                  # D x 14 x 14
        self.down2 = DownBlock(D, 2 * D)              # 2D x 7 x 7
        self.flatten = Flatten()                      # 2D x 1 x 1
        self.unflatten = Unflatten(2 * D)             # 2D x 7 x 7
        self.up1 = UpBlock(4 * D, D)                  # [2D skip, 2D] -> D x 14 x 14
        self.up2 = UpBlock(2 * D, D)                  # [D skip, D] -> D x 28 x 28
        self.conv_out = ConvBlock(2 * D, D)           # [D skip, D] -> D x 28 x 28
        self.final = nn.Conv2d(D, in_channels, kernel_size=3, stride=1, padding=1)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
        # BEGIN SOLUTION
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        h = self.unflatten(self.flatten(e3))
        h = self.up1(torch.cat([e3, h], dim=1))
        h = self.up2(torch.cat([e2, h], dim=1))
        h = self.conv_out(torch.cat([e1, h], dim=1))
        return self.final(h)
        # END SOLUTION
'''

SOLUTIONS["add_noise"] = '''
def add_noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x + sigma * torch.randn_like(x)  # SOLUTION
'''

SOLUTIONS["train_denoiser"] = '''
def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    """Single-step denoiser: L2 between unet(x + sigma * eps) and x. Returns per-iteration losses."""
    # BEGIN SOLUTION
    unet.to(device)
    unet.train()
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    losses = []
    for epoch in range(num_epochs):
        for x, _ in train_loader:
            x = x.to(device)
            z = add_noise(x, sigma)
            loss = F.mse_loss(unet(z), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
    # END SOLUTION
'''

SOLUTIONS["TimeConditionalUNet"] = '''
# BEGIN SOLUTION NO PROMPT
def _as_column(t, x):
    """A conditioning scalar per sample as an (N, 1) tensor on x's device and dtype."""
    t = torch.as_tensor(t, device=x.device).to(x.dtype).reshape(-1, 1)
    if t.shape[0] == 1 and x.shape[0] > 1:
        t = t.expand(x.shape[0], 1)
    return t
# END SOLUTION


class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, num_hiddens: int):
        super().__init__()
        # BEGIN SOLUTION
        D = num_hiddens
        self.conv_in = ConvBlock(in_channels, D)
        self.down1 = DownBlock(D, D)
        self.down2 = DownBlock(D, 2 * D)
        self.flatten = Flatten()
        self.unflatten = Unflatten(2 * D)
        self.up1 = UpBlock(4 * D, D)
        self.up2 = UpBlock(2 * D, D)
        self.conv_out = ConvBlock(2 * D, D)
        self.final = nn.Conv2d(D, in_channels, kernel_size=3, stride=1, padding=1)
        self.fc1_t = FCBlock(1, 2 * D)
        self.fc2_t = FCBlock(1, D)
        # END SOLUTION

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x: (N, C, 28, 28); t: (N,) or (N, 1), normalised to [0, 1]."""
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
        # BEGIN SOLUTION
        t = _as_column(t, x)
        t1 = self.fc1_t(t)[:, :, None, None]
        t2 = self.fc2_t(t)[:, :, None, None]
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        unflatten = self.unflatten(self.flatten(e3))
        unflatten = unflatten + t1
        up1 = self.up1(torch.cat([e3, unflatten], dim=1))
        up1 = up1 + t2
        up2 = self.up2(torch.cat([e2, up1], dim=1))
        h = self.conv_out(torch.cat([e1, up2], dim=1))
        return self.final(h)
        # END SOLUTION
'''

SOLUTIONS["ddpm_schedule"] = '''
def ddpm_schedule(beta1: float, beta2: float, num_ts: int) -> dict:
    """betas linear from beta1 to beta2 (num_ts values), alphas = 1 - betas, alpha_bars = cumprod(alphas)."""
    assert beta1 < beta2 < 1.0, "Expect beta1 < beta2 < 1.0."
    # BEGIN SOLUTION
    betas = torch.linspace(beta1, beta2, num_ts)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    return {"betas": betas, "alphas": alphas, "alpha_bars": alpha_bars}
    # END SOLUTION
'''

SOLUTIONS["ddpm_forward"] = '''
def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    """One training loss (Algorithm B.1): random t, noised x_t, MSE between eps and unet(x_t, t / T)."""
    # BEGIN SOLUTION
    unet.train()
    n = x_0.shape[0]
    alpha_bars = ddpm_schedule["alpha_bars"].to(x_0.device)
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = alpha_bars[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    eps_hat = unet(x_t, (t.float() / num_ts).view(n, 1))
    return F.mse_loss(eps_hat, eps)
    # END SOLUTION
'''

SOLUTIONS["ddpm_sample"] = '''
# BEGIN SOLUTION NO PROMPT
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    """Mean of p(x_{t-1} | x_t) from the clean estimate, plus sqrt(beta_t) noise except at the last step."""
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean
# END SOLUTION


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    """Algorithm B.2: ancestral sampling from pure noise. Returns (num_samples, 1, H, W)."""
    # BEGIN SOLUTION
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(num_samples, 1, h, w, device=device)
    for t in range(num_ts - 1, -1, -1):
        t_norm = torch.full((num_samples, 1), t / num_ts, device=device)
        eps_hat = unet(x_t, t_norm)
        abar_t = alpha_bars[t]
        x0_hat = (x_t - (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
    return x_t
    # END SOLUTION
'''

SOLUTIONS["train_time_conditioned"] = '''
def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    """Adam + ExponentialLR(0.1 ** (1 / num_epochs)) stepped once per epoch. Returns per-iteration losses."""
    # BEGIN SOLUTION
    unet.to(device)
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, _ in train_loader:
            x = x.to(device)
            loss = ddpm_forward(unet, ddpm_schedule, x, num_ts)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
    # END SOLUTION
'''

SOLUTIONS["ClassConditionalUNet"] = '''
class ClassConditionalUNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, num_hiddens: int):
        super().__init__()
        # BEGIN SOLUTION
        D = num_hiddens
        self.num_classes = num_classes
        self.conv_in = ConvBlock(in_channels, D)
        self.down1 = DownBlock(D, D)
        self.down2 = DownBlock(D, 2 * D)
        self.flatten = Flatten()
        self.unflatten = Unflatten(2 * D)
        self.up1 = UpBlock(4 * D, D)
        self.up2 = UpBlock(2 * D, D)
        self.conv_out = ConvBlock(2 * D, D)
        self.final = nn.Conv2d(D, in_channels, kernel_size=3, stride=1, padding=1)
        self.fc1_t = FCBlock(1, 2 * D)
        self.fc2_t = FCBlock(1, D)
        self.fc1_c = FCBlock(num_classes, 2 * D)
        self.fc2_c = FCBlock(num_classes, D)
        # END SOLUTION

    def forward(self, x: torch.Tensor, c: torch.Tensor, t: torch.Tensor, mask=None) -> torch.Tensor:
        """x: (N, C, 28, 28); c: (N,) int64 labels; t: (N,) or (N, 1) in [0, 1]; mask: (N,), 0 drops the class."""
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
        # BEGIN SOLUTION
        c = torch.as_tensor(c, device=x.device).long().reshape(-1)
        c_vec = F.one_hot(c, self.num_classes).to(x.dtype)
        if mask is not None:
            c_vec = c_vec * _as_column(mask, x)
        t = _as_column(t, x)
        c1 = self.fc1_c(c_vec)[:, :, None, None]
        c2 = self.fc2_c(c_vec)[:, :, None, None]
        t1 = self.fc1_t(t)[:, :, None, None]
        t2 = self.fc2_t(t)[:, :, None, None]
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        unflatten = self.unflatten(self.flatten(e3))
        unflatten = c1 * unflatten + t1
        up1 = self.up1(torch.cat([e3, unflatten], dim=1))
        up1 = c2 * up1 + t2
        up2 = self.up2(torch.cat([e2, up1], dim=1))
        h = self.conv_out(torch.cat([e1, up2], dim=1))
        return self.final(h)
        # END SOLUTION
'''

SOLUTIONS["ddpm_forward_class"] = '''
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    """Algorithm B.3's loss: as ddpm_forward, with the class dropped (mask = 0) with probability p_uncond."""
    # BEGIN SOLUTION
    unet.train()
    n = x_0.shape[0]
    alpha_bars = ddpm_schedule["alpha_bars"].to(x_0.device)
    c = c.to(x_0.device)
    mask = (torch.rand(n, device=x_0.device) >= p_uncond).to(x_0.dtype)
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = alpha_bars[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    eps_hat = unet(x_t, c, (t.float() / num_ts).view(n, 1), mask)
    return F.mse_loss(eps_hat, eps)
    # END SOLUTION
'''

SOLUTIONS["ddpm_sample_class"] = '''
@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    """Algorithm B.4: CFG sampling, eps = eps_u + g (eps_c - eps_u); one sample per label in c."""
    # BEGIN SOLUTION
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    c = torch.as_tensor(c, device=device).long().reshape(-1)
    n = c.shape[0]
    cond, uncond = torch.ones(n, device=device), torch.zeros(n, device=device)
    w, h = img_wh
    x_t = torch.randn(n, 1, h, w, device=device)
    for t in range(num_ts - 1, -1, -1):
        t_norm = torch.full((n, 1), t / num_ts, device=device)
        eps_c = unet(x_t, c, t_norm, cond)
        eps_u = unet(x_t, c, t_norm, uncond)
        eps_hat = eps_u + guidance_scale * (eps_c - eps_u)
        abar_t = alpha_bars[t]
        x0_hat = (x_t - (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
    return x_t
    # END SOLUTION
'''

SOLUTIONS["train_class_conditioned"] = '''
def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    """As train_time_conditioned, with labels and class dropout. Returns per-iteration losses."""
    # BEGIN SOLUTION
    unet.to(device)
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, c in train_loader:
            x, c = x.to(device), c.to(device)
            loss = ddpm_forward_class(unet, ddpm_schedule, x, c, p_uncond, num_ts)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
    # END SOLUTION
'''

#: What each question asks, in the student's words.
PROMPTS = {
    "Conv": "`Conv(in_channels, out_channels)`: a 3x3 convolution (stride 1, padding 1) that keeps the resolution, then `BatchNorm2d`, then `GELU`.",
    "DownConv": "`DownConv(in_channels, out_channels)`: a 4x4 convolution with stride 2 and padding 1 (halves the resolution), `BatchNorm2d`, `GELU`.",
    "UpConv": "`UpConv(in_channels, out_channels)`: a 4x4 `ConvTranspose2d` with stride 2 and padding 1 (doubles the resolution), `BatchNorm2d`, `GELU`.",
    "Flatten": "`Flatten()`: `AvgPool2d(7)` (7x7 to 1x1), then `GELU`.",
    "Unflatten": "`Unflatten(in_channels)`: a 7x7 `ConvTranspose2d` with stride 7 and no padding (1x1 to 7x7, same channels), `BatchNorm2d`, `GELU`.",
    "ConvBlock": "`ConvBlock(in_channels, out_channels)`: two `Conv`s in a row; the second maps `out_channels` to `out_channels`.",
    "DownBlock": "`DownBlock(in_channels, out_channels)`: a `DownConv`, then a `ConvBlock`.",
    "UpBlock": "`UpBlock(in_channels, out_channels)`: an `UpConv`, then a `ConvBlock`.",
    "FCBlock": "`FCBlock(in_channels, out_channels)`: `Linear(in, out)`, `GELU`, `Linear(out, out)`. It embeds a conditioning vector (used in Part 2).",
    "UnconditionalUNet": "`UnconditionalUNet(in_channels, num_hiddens)`: the UNet of the figure, 28 -> 14 -> 7 -> 1 -> 7 -> 14 -> 28, with skip connections joined by channel concatenation (`torch.cat(..., dim=1)`) and a final 3x3 convolution back to `in_channels`.",
    "add_noise": "`add_noise(x, sigma)`: return `x + sigma * eps` with `eps` standard Gaussian noise of `x`'s shape (no clamping).",
    "train_denoiser": "`train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device=\"cpu\")`: train with Adam on the L2 loss between `unet(add_noise(x, sigma))` and the clean `x`, with fresh noise for every batch. Return the list of per-iteration losses (floats).",
    "TimeConditionalUNet": "`TimeConditionalUNet(in_channels, num_classes, num_hiddens)`, `forward(x, t)`: `t` has shape `(N,)` or `(N, 1)` and lies in [0, 1]. Embed it with `FCBlock(1, 2D)` and `FCBlock(1, D)` and add the results to the unflattened bottleneck and to the output of the first `UpBlock`. `num_classes` may be unused.",
    "ddpm_schedule": "`ddpm_schedule(beta1, beta2, num_ts)`: a dict with `betas` (evenly spaced from `beta1` to `beta2`, `num_ts` values), `alphas = 1 - betas` and `alpha_bars`, the running product of `alphas`.",
    "ddpm_forward": "`ddpm_forward(unet, ddpm_schedule, x_0, num_ts)`: draw a random timestep per image, noise `x_0` to `x_t`, and return the MSE between the noise and `unet(x_t, t / num_ts)` (a scalar tensor).",
    "ddpm_sample": "`ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1)`: start from pure noise and take `num_ts` DDPM steps down to the clean image, adding no noise at the last step. Return `(num_samples, 1, H, W)`.",
    "train_time_conditioned": "`train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device=\"cpu\")`: Adam with an exponential learning-rate decay, `gamma = 0.1 ** (1 / num_epochs)`, stepped once per epoch. Return the per-iteration losses.",
    "ClassConditionalUNet": "`ClassConditionalUNet(in_channels, num_classes, num_hiddens)`, `forward(x, c, t, mask=None)`: `c` holds integer labels, one-hot encoded inside the model; where `mask == 0` the one-hot vector is zeroed (the unconditional case). The class embeddings scale and the time embeddings shift: `c1 * unflatten + t1`, `c2 * up1 + t2`.",
    "ddpm_forward_class": "`ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts)`: as `ddpm_forward`, and each image's class is dropped (mask 0) with probability `p_uncond`.",
    "ddpm_sample_class": "`ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0)`: DDPM sampling with classifier-free guidance, `eps_u + guidance_scale * (eps_c - eps_u)`; one sample per label in `c`.",
    "train_class_conditioned": "`train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3, device=\"cpu\")`: as `train_time_conditioned`, with the batch's labels and class dropout. Return the per-iteration losses.",
}

# ---- cells that are not questions (kept in the student notebook as they are) -------------------------

NOISE_DEMO = """
sigmas = [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0]
x_vis = torch.stack([train_dataset[i][0] for i in range(4)])
fig, axes = plt.subplots(len(x_vis), len(sigmas), figsize=(1.5 * len(sigmas), 1.5 * len(x_vis)))
for row, x in enumerate(x_vis):
    for col, sigma in enumerate(sigmas):
        axes[row, col].imshow(add_noise(x[None], sigma)[0, 0].clamp(0, 1), cmap='gray')
        axes[row, col].axis('off')
        if row == 0:
            axes[row, col].set_title(f'sigma={sigma}')
plt.show()
"""

SHOW_DENOISED = """
def show_denoised(unet, images, sigma=0.5, title=''):
    unet.eval()
    with torch.no_grad():
        noisy = add_noise(images.to(device), sigma)
        denoised = unet(noisy)
    fig, axes = plt.subplots(3, 1, figsize=(len(images), 4))
    show_grid(images, nrow=len(images), title=f'{title} input', ax=axes[0])
    show_grid(noisy, nrow=len(images), title=f'noisy (sigma={sigma})', ax=axes[1])
    show_grid(denoised, nrow=len(images), title='denoised', ax=axes[2])
    plt.show()
"""

TRAIN_DENOISER = """
train_loader = DataLoader(train_dataset, batch_size=256, shuffle=True)
test_images = torch.stack([test_dataset[i][0] for i in range(8)])

denoiser = UnconditionalUNet(in_channels=1, num_hiddens=128).to(device)
denoiser_losses = train_denoiser(denoiser, train_loader, sigma=0.5, num_epochs=1, lr=1e-4, device=device)
show_denoised(denoiser, test_images, title='after epoch 1:')
denoiser_losses += train_denoiser(denoiser, train_loader, sigma=0.5, num_epochs=4, lr=1e-4, device=device)
show_denoised(denoiser, test_images, title='after epoch 5:')
torch.save(denoiser.state_dict(), 'denoiser_epoch5.pt')

plt.figure(figsize=(6, 4))
plt.semilogy(denoiser_losses)
plt.xlabel('iteration')
plt.ylabel('L2 loss')
plt.title('Single-step denoiser training loss')
plt.show()
"""

OOD = """
# Out-of-distribution noise levels: same test digit, varying sigma.
x = test_images[:1].to(device)
denoiser.eval()
fig, axes = plt.subplots(2, len(sigmas), figsize=(1.5 * len(sigmas), 3.2))
with torch.no_grad():
    for col, sigma in enumerate(sigmas):
        noisy = add_noise(x, sigma)
        axes[0, col].imshow(noisy[0, 0].cpu().clamp(0, 1), cmap='gray')
        axes[0, col].set_title(f'sigma={sigma}')
        axes[1, col].imshow(denoiser(noisy)[0, 0].cpu().clamp(0, 1), cmap='gray')
        for ax in axes[:, col]:
            ax.axis('off')
plt.show()
"""

TRAIN_TIME = """
num_ts = 300
schedule = ddpm_schedule(1e-4, 0.02, num_ts)
train_loader = DataLoader(train_dataset, batch_size=128, shuffle=True)

time_losses = {}
time_unets = {}
for epochs in (5, 20):
    torch.manual_seed(180)
    time_unets[epochs] = TimeConditionalUNet(in_channels=1, num_classes=10, num_hiddens=64).to(device)
    time_losses[epochs] = train_time_conditioned(
        time_unets[epochs], schedule, train_loader, num_ts=num_ts, num_epochs=epochs, lr=1e-3, device=device)
    torch.save(time_unets[epochs].state_dict(), f'time_unet_epoch{epochs}.pt')

plt.figure(figsize=(6, 4))
plt.semilogy(time_losses[20])
plt.xlabel('iteration')
plt.ylabel('MSE loss')
plt.title('Time-conditioned UNet training loss')
plt.show()

for epochs, unet in time_unets.items():
    samples = ddpm_sample(unet, schedule, (28, 28), num_ts, seed=0, num_samples=40)
    show_grid(samples, nrow=10, title=f'time-conditioned samples, epoch {epochs}')
    plt.show()
"""

TRAIN_CLASS = """
class_losses = {}
class_unets = {}
for epochs in (5, 20):
    torch.manual_seed(180)
    class_unets[epochs] = ClassConditionalUNet(in_channels=1, num_classes=10, num_hiddens=64).to(device)
    class_losses[epochs] = train_class_conditioned(
        class_unets[epochs], schedule, train_loader, num_ts=num_ts, p_uncond=0.1, num_epochs=epochs, lr=1e-3,
        device=device)
    torch.save(class_unets[epochs].state_dict(), f'class_unet_epoch{epochs}.pt')

plt.figure(figsize=(6, 4))
plt.semilogy(class_losses[20])
plt.xlabel('iteration')
plt.ylabel('MSE loss')
plt.title('Class-conditioned UNet training loss')
plt.show()

labels = torch.arange(10).repeat(4)
for epochs, unet in class_unets.items():
    samples = ddpm_sample_class(unet, schedule, labels, (28, 28), num_ts, guidance_scale=5.0, seed=0)
    show_grid(samples, nrow=10, title=f'class-conditioned samples (4 per digit), epoch {epochs}')
    plt.show()
"""

#: The notebook, in order: ("md" | "code", text) cells, and ("q", name) for a question.
LAYOUT = [
    ("md", MASTER_NOTE), ("raw", CONFIG), ("md", INTRO), ("code", IMPORTS), ("code", DATA),
    ("md", "The helper below is provided; use it as it is."), ("code", SHOW_GRID),
    ("md", "## Part 1.1: The UNet\n\nFirst the standard operations, then the blocks composed of them, then the UNet."),
    *[("q", name) for name in BLOCKS], ("q", "UnconditionalUNet"),
    ("md", "## Part 1.2: Training a single-step denoiser"),
    ("q", "add_noise"), ("md", "The noising process at several noise levels:"), ("code", NOISE_DEMO),
    ("q", "train_denoiser"), ("code", SHOW_DENOISED),
    ("md", "Train the denoiser (5 epochs, batch size 256, sigma 0.5), then try noise levels it was not trained on."),
    ("code", TRAIN_DENOISER), ("code", OOD),
    ("md", "## Part 2.1: Time-conditioned UNet"), ("q", "TimeConditionalUNet"),
    ("md", "## Part 2.2: DDPM schedule, training objective and sampling\n\n"
           "Timesteps: an integer step `t` in `0 .. T-1` has noise level `alpha_bars[t]` and reaches the UNet as "
           "`t / T`. (Counting from 1 to `T` instead is also fine, if used consistently.)"),
    ("q", "ddpm_schedule"), ("q", "ddpm_forward"), ("q", "ddpm_sample"), ("q", "train_time_conditioned"),
    ("md", "Train for 5 and for 20 epochs (batch size 128), then sample from both."), ("code", TRAIN_TIME),
    ("md", "## Part 2.4: Class-conditioned UNet"),
    ("q", "ClassConditionalUNet"), ("q", "ddpm_forward_class"), ("q", "ddpm_sample_class"), ("q", "train_class_conditioned"),
    ("md", "Train for 5 and for 20 epochs, then sample 4 images of every digit with guidance scale 5."), ("code", TRAIN_CLASS),
]


def reference_params() -> dict:
    """Parameter counts of the reference modules at the sizes the public checks build them."""
    import torch  # noqa: F401 - the solution cells need it

    ns: dict = {}
    exec("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\ndevice = 'cpu'", ns)
    for name in [*BLOCKS, "UnconditionalUNet", "TimeConditionalUNet", "ClassConditionalUNet"]:
        exec(SOLUTIONS[name], ns)
    sizes = {**{name: BLOCKS[name][0] for name in BLOCKS}, "UnconditionalUNet": (1, 4),
             "TimeConditionalUNet": (1, 10, 4), "ClassConditionalUNet": (1, 10, 4)}
    return {name: sum(p.numel() for p in ns[name](*args).parameters()) for name, args in sizes.items()}


def tests() -> dict:
    params = reference_params()
    out = {name: block_test(name, params[name]) for name in BLOCKS}
    out.update(unet_tests(params))
    out.update(function_tests())
    return out


def cells() -> list:
    public = tests()
    assert set(public) == set(POINTS) == set(SOLUTIONS) == set(PROMPTS), "one question per graded name"
    out = []
    for kind, content in LAYOUT:
        if kind != "q":
            out.append((kind, content))
            continue
        name = content
        out += [
            ("raw", f"# BEGIN QUESTION\nname: {name}\npoints: {POINTS[name]}"),
            ("md", f"### {name}\n\n{PROMPTS[name]}"),
            ("raw", "# BEGIN SOLUTION"), ("code", SOLUTIONS[name]), ("raw", "# END SOLUTION"),
            ("raw", "# BEGIN TESTS"), ("code", public[name]), ("raw", "# END TESTS"),
            ("raw", "# END QUESTION"),
        ]
    return out


def main() -> None:
    path = write_notebook(OUT, cells(), assignment="proj5b")
    # Stable cell ids, so that re-running this script rewrites the same file.
    nb = nbformat.read(str(path), as_version=4)
    for index, cell in enumerate(nb.cells):
        cell.id = f"proj5b-{index:03d}"
    nbformat.write(nb, str(path))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"wrote {shown} ({len(nb.cells)} cells, {len(POINTS)} questions, "
          f"{sum(POINTS.values())} points)")


if __name__ == "__main__":
    main()
