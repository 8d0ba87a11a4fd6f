"""Write solutions/proj5b.ipynb, the reference solution of Part B (a diffusion model on MNIST).

    python tools/author_proj5b_solution.py

The notebook is written the way a student hands it in: imports, dataset and
DataLoader creation, the graded definitions, and top-level training runs with
the spec's full budgets and plots. The grader keeps only imports and
definitions (plus cheap constant assignments), so the heavy cells never run
there.

Timestep convention (also the analytic denoiser's, see grader/standins/proj5b.py):
an integer step k in 0..T-1 has noise level alpha_bars[k] and reaches the UNet as
k / T; training draws k uniformly from 0..T-1; sampling runs k = T-1 .. 0 with
alpha_bar_{-1} = 1 and no noise added at k = 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import nbformat  # noqa: E402
from nbtools import write_notebook  # noqa: E402

OUT = ROOT / "solutions" / "proj5b.ipynb"

CELLS = [
    ("md", """
# Project 5B: Diffusion models from scratch on MNIST (reference solution)

Part 1 trains a single-step denoising UNet; Part 2 turns it into a DDPM with time
conditioning and then class conditioning with classifier-free guidance.
Images are `(N, 1, 28, 28)` tensors in [0, 1] (`ToTensor()`, no normalisation).
"""),
    ("code", """
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
"""),
    ("code", """
train_dataset = datasets.MNIST(root='data', train=True, download=True, transform=transforms.ToTensor())
test_dataset = datasets.MNIST(root='data', train=False, download=True, transform=transforms.ToTensor())
print(len(train_dataset), len(test_dataset))
"""),
    ("code", """
def show_grid(images, nrow=8, title=None, ax=None):
    \"\"\"Show a batch (N, 1, H, W) of [0, 1] images as one grid.\"\"\"
    images = torch.as_tensor(images).detach().float().cpu().clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow, max(1, len(images) // nrow)))
    ax.imshow(grid[0].numpy(), cmap='gray')
    ax.axis('off')
    if title:
        ax.set_title(title)
    return ax
"""),
    ("md", """
## Part 1.1: The UNet

The standard operations (Figure 2) and the composed blocks. `D` is `num_hiddens`.
"""),
    ("code", """
class Conv(nn.Module):
    \"\"\"3x3 conv that keeps the resolution: Conv2d(k3, s1, p1), BN, GELU.\"\"\"

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DownConv(nn.Module):
    \"\"\"Halves the resolution: Conv2d(k4, s2, p1), BN, GELU.\"\"\"

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UpConv(nn.Module):
    \"\"\"Doubles the resolution: ConvTranspose2d(k4, s2, p1), BN, GELU.\"\"\"

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Flatten(nn.Module):
    \"\"\"7x7 -> 1x1: AvgPool2d(7), GELU.\"\"\"

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.AvgPool2d(kernel_size=7), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Unflatten(nn.Module):
    \"\"\"1x1 -> 7x7: ConvTranspose2d(k7, s7, p0), BN, GELU (channels unchanged).\"\"\"

    def __init__(self, in_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_channels, in_channels, kernel_size=7, stride=7, padding=0),
            nn.BatchNorm2d(in_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
"""),
    ("code", """
class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(Conv(in_channels, out_channels), Conv(out_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DownBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
"""),
    ("code", """
class UnconditionalUNet(nn.Module):
    \"\"\"Figure 1: 28 -> 14 -> 7 -> 1 -> 7 -> 14 -> 28, skip connections by channel concat.\"\"\"

    def __init__(self, in_channels: int, num_hiddens: int):
        super().__init__()
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        h = self.unflatten(self.flatten(e3))
        h = self.up1(torch.cat([e3, h], dim=1))
        h = self.up2(torch.cat([e2, h], dim=1))
        h = self.conv_out(torch.cat([e1, h], dim=1))
        return self.final(h)
"""),
    ("md", """
## Part 1.2: Training a single-step denoiser

Noise is drawn per batch as it comes out of the loader: `z = x + sigma * eps`.
"""),
    ("code", """
def add_noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x + sigma * torch.randn_like(x)
"""),
    ("code", """
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
"""),
    ("code", """
def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    \"\"\"Single-step denoiser: L2 between unet(x + sigma * eps) and x. Returns per-iteration losses.\"\"\"
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
"""),
    ("code", """
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
"""),
    ("code", """
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
"""),
    ("code", """
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
"""),
    ("md", """
## Part 2.1: Time-conditioned UNet

`t` arrives normalised to [0, 1], shape `(N,)` or `(N, 1)`. It is embedded with two
FCBlocks and added to the unflattened bottleneck (2D channels) and to the output of
the first UpBlock (D channels).
"""),
    ("code", """
class FCBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_channels, out_channels),
            nn.GELU(),
            nn.Linear(out_channels, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
"""),
    ("code", """
def _as_column(t, x):
    \"\"\"A conditioning scalar per sample as an (N, 1) tensor on x's device and dtype.\"\"\"
    t = torch.as_tensor(t, device=x.device).to(x.dtype).reshape(-1, 1)
    if t.shape[0] == 1 and x.shape[0] > 1:
        t = t.expand(x.shape[0], 1)
    return t


class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, num_hiddens: int):
        super().__init__()
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

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        \"\"\"x: (N, C, 28, 28); t: (N,) or (N, 1), normalised to [0, 1].\"\"\"
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
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
"""),
    ("md", """
## Part 2.2: DDPM schedule, training objective and sampling

Indexing: an integer step `t` in `0 .. T-1` has noise level `alpha_bars[t]` and is given
to the UNet as `t / T`. Training draws `t` uniformly from `0 .. T-1`. Sampling walks
`t = T-1, ..., 0`, uses `alpha_bar_prev = 1` at `t = 0` and adds no noise at the last step.
"""),
    ("code", """
def ddpm_schedule(beta1: float, beta2: float, num_ts: int) -> dict:
    \"\"\"betas linear from beta1 to beta2 (num_ts values), alphas = 1 - betas, alpha_bars = cumprod(alphas).\"\"\"
    assert beta1 < beta2 < 1.0, "Expect beta1 < beta2 < 1.0."
    betas = torch.linspace(beta1, beta2, num_ts)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    return {"betas": betas, "alphas": alphas, "alpha_bars": alpha_bars}
"""),
    ("code", """
def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    \"\"\"One training loss (Algorithm B.1): random t, noised x_t, MSE between eps and unet(x_t, t / T).\"\"\"
    unet.train()
    n = x_0.shape[0]
    alpha_bars = ddpm_schedule["alpha_bars"].to(x_0.device)
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = alpha_bars[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    eps_hat = unet(x_t, (t.float() / num_ts).view(n, 1))
    return F.mse_loss(eps_hat, eps)
"""),
    ("code", """
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    \"\"\"Mean of p(x_{t-1} | x_t) from the clean estimate, plus sqrt(beta_t) noise except at the last step.\"\"\"
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    \"\"\"Algorithm B.2: ancestral sampling from pure noise. Returns (num_samples, 1, H, W).\"\"\"
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
"""),
    ("code", """
def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    \"\"\"Adam + ExponentialLR(0.1 ** (1 / num_epochs)) stepped once per epoch. Returns per-iteration losses.\"\"\"
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
"""),
    ("code", """
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
"""),
    ("md", """
## Part 2.4: Class-conditioned UNet

The class `c` (int labels) is one-hot encoded inside the model; `mask` (N,) zeroes it where
`mask == 0` (the unconditional case). `unflatten = c1 * unflatten + t1`, `up1 = c2 * up1 + t2`.
"""),
    ("code", """
class ClassConditionalUNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, num_hiddens: int):
        super().__init__()
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

    def forward(self, x: torch.Tensor, c: torch.Tensor, t: torch.Tensor, mask=None) -> torch.Tensor:
        \"\"\"x: (N, C, 28, 28); c: (N,) int64 labels; t: (N,) or (N, 1) in [0, 1]; mask: (N,), 0 drops the class.\"\"\"
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
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
"""),
    ("code", """
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    \"\"\"Algorithm B.3's loss: as ddpm_forward, with the class dropped (mask = 0) with probability p_uncond.\"\"\"
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
"""),
    ("code", """
@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    \"\"\"Algorithm B.4: CFG sampling, eps = eps_u + g (eps_c - eps_u); one sample per label in c.\"\"\"
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
"""),
    ("code", """
def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    \"\"\"As train_time_conditioned, with labels and class dropout. Returns per-iteration losses.\"\"\"
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
"""),
    ("code", """
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
"""),
]


def main() -> None:
    path = write_notebook(OUT, CELLS, assignment="proj5b")
    # Stable cell ids, so that re-running this script rewrites the same file.
    nb = nbformat.read(str(path), as_version=4)
    for index, cell in enumerate(nb.cells):
        cell.id = f"proj5b-{index:02d}"
    nbformat.write(nb, str(path))
    print(f"wrote {path.relative_to(ROOT)} ({len(CELLS)} cells)")


if __name__ == "__main__":
    main()
