"""Generate the proj5b submission corpus: correct, single-mistake and bad notebooks.

Run from anywhere:  python tests/corpus/proj5b/make_corpus.py
It (re)writes every ``*.ipynb`` listed in ``manifest.json`` next to this file,
and the manifest itself.

The reference cells below are a frozen copy of ``solutions/proj5b.ipynb`` split
into named blocks, so that the corpus does not drift when the solution is edited.
A mistake notebook is that copy with exactly one graded block rewritten (a
textual replacement that must apply exactly once). The correct notebooks are
written from scratch, each in its own style.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from tools.nbtools import cells_from_layout, make_notebook  # noqa: E402

sys.path.insert(0, str(HERE))
from student_styles import student_styles  # noqa: E402
from styles import interface_styles  # noqa: E402

ASSIGNMENT = "proj5b"

# --------------------------------------------------------------------------------------
# The reference solution, as named blocks
# --------------------------------------------------------------------------------------

B = {}

B["imports"] = '''
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
'''

B["data"] = '''
train_dataset = datasets.MNIST(root='data', train=True, download=True, transform=transforms.ToTensor())
test_dataset = datasets.MNIST(root='data', train=False, download=True, transform=transforms.ToTensor())
print(len(train_dataset), len(test_dataset))
'''

B["show_grid"] = '''
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

B["ops"] = '''
class Conv(nn.Module):
    """3x3 conv that keeps the resolution: Conv2d(k3, s1, p1), BN, GELU."""

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
    """Halves the resolution: Conv2d(k4, s2, p1), BN, GELU."""

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
    """Doubles the resolution: ConvTranspose2d(k4, s2, p1), BN, GELU."""

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
    """7x7 -> 1x1: AvgPool2d(7), GELU."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.AvgPool2d(kernel_size=7), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Unflatten(nn.Module):
    """1x1 -> 7x7: ConvTranspose2d(k7, s7, p0), BN, GELU (channels unchanged)."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_channels, in_channels, kernel_size=7, stride=7, padding=0),
            nn.BatchNorm2d(in_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
'''

B["blocks"] = '''
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
'''

B["unet"] = '''
class UnconditionalUNet(nn.Module):
    """Figure 1: 28 -> 14 -> 7 -> 1 -> 7 -> 14 -> 28, skip connections by channel concat."""

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
'''

B["add_noise"] = '''
def add_noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x + sigma * torch.randn_like(x)
'''

B["noise_demo"] = '''
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
'''

B["train_denoiser"] = '''
def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    """Single-step denoiser: L2 between unet(x + sigma * eps) and x. Returns per-iteration losses."""
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
'''

B["show_denoised"] = '''
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
'''

B["denoiser_run"] = '''
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
'''

B["ood"] = '''
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
'''

B["fcblock"] = '''
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
'''

B["time_unet"] = '''
def _as_column(t, x):
    """A conditioning scalar per sample as an (N, 1) tensor on x's device and dtype."""
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
        """x: (N, C, 28, 28); t: (N,) or (N, 1), normalised to [0, 1]."""
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
'''

B["ddpm_schedule"] = '''
def ddpm_schedule(beta1: float, beta2: float, num_ts: int) -> dict:
    """betas linear from beta1 to beta2 (num_ts values), alphas = 1 - betas, alpha_bars = cumprod(alphas)."""
    assert beta1 < beta2 < 1.0, "Expect beta1 < beta2 < 1.0."
    betas = torch.linspace(beta1, beta2, num_ts)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    return {"betas": betas, "alphas": alphas, "alpha_bars": alpha_bars}
'''

B["ddpm_forward"] = '''
def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    """One training loss (Algorithm B.1): random t, noised x_t, MSE between eps and unet(x_t, t / T)."""
    unet.train()
    n = x_0.shape[0]
    alpha_bars = ddpm_schedule["alpha_bars"].to(x_0.device)
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = alpha_bars[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    eps_hat = unet(x_t, (t.float() / num_ts).view(n, 1))
    return F.mse_loss(eps_hat, eps)
'''

B["ddpm_sample"] = '''
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    """Mean of p(x_{t-1} | x_t) from the clean estimate, plus sqrt(beta_t) noise except at the last step."""
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    """Algorithm B.2: ancestral sampling from pure noise. Returns (num_samples, 1, H, W)."""
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
'''

B["train_time"] = '''
def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    """Adam + ExponentialLR(0.1 ** (1 / num_epochs)) stepped once per epoch. Returns per-iteration losses."""
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
'''

B["time_run"] = '''
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
'''

B["class_unet"] = '''
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
        """x: (N, C, 28, 28); c: (N,) int64 labels; t: (N,) or (N, 1) in [0, 1]; mask: (N,), 0 drops the class."""
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
'''

B["ddpm_forward_class"] = '''
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    """Algorithm B.3's loss: as ddpm_forward, with the class dropped (mask = 0) with probability p_uncond."""
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
'''

B["ddpm_sample_class"] = '''
@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    """Algorithm B.4: CFG sampling, eps = eps_u + g (eps_c - eps_u); one sample per label in c."""
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
'''

B["train_class"] = '''
def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    """As train_time_conditioned, with labels and class dropout. Returns per-iteration losses."""
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
'''

B["class_run"] = '''
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
'''

#: The reference notebook's layout: markdown text, or a list of block names joined in one code cell.
LAYOUT = [
    ("md", "# Project 5B: Diffusion models from scratch on MNIST"),
    ("code", ["imports"]),
    ("code", ["data"]),
    ("code", ["show_grid"]),
    ("md", "## Part 1.1: The UNet"),
    ("code", ["ops"]),
    ("code", ["blocks"]),
    ("code", ["unet"]),
    ("md", "## Part 1.2: Training a single-step denoiser"),
    ("code", ["add_noise"]),
    ("code", ["noise_demo"]),
    ("code", ["train_denoiser"]),
    ("code", ["show_denoised"]),
    ("code", ["denoiser_run"]),
    ("code", ["ood"]),
    ("md", "## Part 2.1: Time-conditioned UNet"),
    ("code", ["fcblock"]),
    ("code", ["time_unet"]),
    ("md", "## Part 2.2: DDPM"),
    ("code", ["ddpm_schedule"]),
    ("code", ["ddpm_forward"]),
    ("code", ["ddpm_sample"]),
    ("code", ["train_time"]),
    ("code", ["time_run"]),
    ("md", "## Part 2.4: Class-conditioned UNet"),
    ("code", ["class_unet"]),
    ("code", ["ddpm_forward_class"]),
    ("code", ["ddpm_sample_class"]),
    ("code", ["train_class"]),
    ("code", ["class_run"]),
]


def reference_cells(override: dict | None = None, drop: tuple = ()):
    """The reference notebook's cells with some blocks replaced (override) or removed (drop)."""
    return cells_from_layout(LAYOUT, B, override, drop)


# --------------------------------------------------------------------------------------
# Correct notebooks, each in its own style
# --------------------------------------------------------------------------------------

CORRECT = {}

# 1. explicit layers, odd attribute names and registration order, cat([h, skip]), 1-based t ----------
CORRECT["correct_explicit_onebased"] = [
    ("md", "# CS180 Project 5B\nStudent: (redacted)\n\nI count timesteps from 1 like the paper."),
    ("code", '''
import math
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
import matplotlib.pyplot as plt

device = "cuda"
'''),
    ("code", '''
mnist_train = datasets.MNIST("./data", train=True, download=True, transform=transforms.ToTensor())
loader = DataLoader(mnist_train, batch_size=256, shuffle=True)
'''),
    ("code", '''
class Conv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class DownConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.act = nn.GELU()
        self.bn = nn.BatchNorm2d(out_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, 4, 2, 1)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class UpConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.gelu(self.norm(self.deconv(x)))


class Flatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(7)

    def forward(self, x):
        return F.gelu(self.pool(x))


class Unflatten(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels, kernel_size=7, stride=7, padding=0)
        self.bn = nn.BatchNorm2d(in_channels)

    def forward(self, x):
        return F.gelu(self.bn(self.up(x)))


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.first = Conv(in_channels, out_channels)
        self.second = Conv(out_channels, out_channels)

    def forward(self, x):
        return self.second(self.first(x))


class DownBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.down = DownConv(in_channels, out_channels)
        self.block = ConvBlock(out_channels, out_channels)

    def forward(self, x):
        return self.block(self.down(x))


class UpBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = UpConv(in_channels, out_channels)
        self.block = ConvBlock(out_channels, out_channels)

    def forward(self, x):
        return self.block(self.up(x))


class FCBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.fc1 = nn.Linear(in_channels, out_channels)
        self.fc2 = nn.Linear(out_channels, out_channels)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))
'''),
    ("code", '''
class UnconditionalUNet(nn.Module):
    def __init__(self, in_channels, num_hiddens):
        super().__init__()
        D = num_hiddens
        # decoder first, then encoder (order of registration does not matter)
        self.out_conv = nn.Conv2d(D, in_channels, 3, padding=1)
        self.dec_block = ConvBlock(2 * D, D)
        self.up_b = UpBlock(2 * D, D)
        self.up_a = UpBlock(4 * D, D)
        self.unflat = Unflatten(2 * D)
        self.flat = Flatten()
        self.down_b = DownBlock(D, 2 * D)
        self.down_a = DownBlock(D, D)
        self.enc_block = ConvBlock(in_channels, D)

    def forward(self, x):
        s1 = self.enc_block(x)
        s2 = self.down_a(s1)
        s3 = self.down_b(s2)
        h = self.unflat(self.flat(s3))
        h = self.up_a(torch.cat([h, s3], dim=1))
        h = self.up_b(torch.cat([h, s2], dim=1))
        h = self.dec_block(torch.cat([h, s1], dim=1))
        return self.out_conv(h)
'''),
    ("code", '''
def add_noise(x, sigma):
    noise = torch.randn(x.shape, device=x.device)
    return x + sigma * noise


def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    unet = unet.to(device)
    opt = optim.Adam(unet.parameters(), lr=lr)
    history = []
    for epoch in range(num_epochs):
        unet.train()
        for images, _labels in train_loader:
            images = images.to(device)
            noisy = add_noise(images, sigma)
            pred = unet(noisy)
            loss = ((pred - images) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(float(loss))
        print(f"epoch {epoch}: {np.mean(history[-len(train_loader):]):.4f}")
    return history
'''),
    ("code", '''
model = UnconditionalUNet(1, 128).to(device)
losses = train_denoiser(model, loader, num_epochs=5, device=device)
plt.plot(losses); plt.yscale("log"); plt.show()
'''),
    ("code", '''
class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.t_embed_1 = FCBlock(1, 2 * D)
        self.t_embed_2 = FCBlock(1, D)
        self.out_conv = nn.Conv2d(D, in_channels, 3, padding=1)
        self.dec_block = ConvBlock(2 * D, D)
        self.up_b = UpBlock(2 * D, D)
        self.up_a = UpBlock(4 * D, D)
        self.unflat = Unflatten(2 * D)
        self.flat = Flatten()
        self.down_b = DownBlock(D, 2 * D)
        self.down_a = DownBlock(D, D)
        self.enc_block = ConvBlock(in_channels, D)

    def forward(self, x, t):
        t = t.view(-1, 1).float()
        s1 = self.enc_block(x)
        s2 = self.down_a(s1)
        s3 = self.down_b(s2)
        h = self.unflat(self.flat(s3)) + self.t_embed_1(t).view(-1, s3.shape[1], 1, 1)
        h = self.up_a(torch.cat([h, s3], dim=1)) + self.t_embed_2(t).view(-1, s2.shape[1], 1, 1)
        h = self.up_b(torch.cat([h, s2], dim=1))
        h = self.dec_block(torch.cat([h, s1], dim=1))
        return self.out_conv(h)


class ClassConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.n_cls = num_classes
        self.c_embed_1 = FCBlock(num_classes, 2 * D)
        self.c_embed_2 = FCBlock(num_classes, D)
        self.t_embed_1 = FCBlock(1, 2 * D)
        self.t_embed_2 = FCBlock(1, D)
        self.out_conv = nn.Conv2d(D, in_channels, 3, padding=1)
        self.dec_block = ConvBlock(2 * D, D)
        self.up_b = UpBlock(2 * D, D)
        self.up_a = UpBlock(4 * D, D)
        self.unflat = Unflatten(2 * D)
        self.flat = Flatten()
        self.down_b = DownBlock(D, 2 * D)
        self.down_a = DownBlock(D, D)
        self.enc_block = ConvBlock(in_channels, D)

    def forward(self, x, c, t, mask=None):
        t = t.view(-1, 1).float()
        onehot = F.one_hot(c.long(), self.n_cls).float()
        if mask is not None:
            onehot = onehot * mask.view(-1, 1).float()
        s1 = self.enc_block(x)
        s2 = self.down_a(s1)
        s3 = self.down_b(s2)
        c1 = self.c_embed_1(onehot)[:, :, None, None]
        c2 = self.c_embed_2(onehot)[:, :, None, None]
        t1 = self.t_embed_1(t)[:, :, None, None]
        t2 = self.t_embed_2(t)[:, :, None, None]
        h = c1 * self.unflat(self.flat(s3)) + t1
        h = c2 * self.up_a(torch.cat([h, s3], dim=1)) + t2
        h = self.up_b(torch.cat([h, s2], dim=1))
        h = self.dec_block(torch.cat([h, s1], dim=1))
        return self.out_conv(h)
'''),
    ("md", "Timesteps are 1..T; `alpha_bars[t - 1]` is the noise level of step t."),
    ("code", '''
def ddpm_schedule(beta1, beta2, num_ts):
    betas = torch.linspace(beta1, beta2, num_ts)
    alphas = 1.0 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    return dict(betas=betas, alphas=alphas, alpha_bars=alpha_bars)


def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    N = x_0.shape[0]
    t = torch.randint(1, num_ts + 1, (N,), device=x_0.device)
    abar = ddpm_schedule["alpha_bars"].to(x_0.device)[t - 1].reshape(N, 1, 1, 1)
    eps = torch.randn_like(x_0)
    x_t = torch.sqrt(abar) * x_0 + torch.sqrt(1 - abar) * eps
    eps_hat = unet(x_t, t.float() / num_ts)
    return F.mse_loss(eps, eps_hat)


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = ddpm_schedule["betas"], ddpm_schedule["alphas"], ddpm_schedule["alpha_bars"]
    W, H = img_wh
    x = torch.randn(num_samples, 1, H, W)
    for t in range(num_ts, 0, -1):
        eps = unet(x, torch.full((num_samples,), t / num_ts))
        abar = alpha_bars[t - 1]
        abar_prev = alpha_bars[t - 2] if t > 1 else torch.tensor(1.0)
        beta, alpha = betas[t - 1], alphas[t - 1]
        x0 = (x - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)
        z = torch.randn_like(x) if t > 1 else torch.zeros_like(x)
        x = (torch.sqrt(abar_prev) * beta / (1 - abar)) * x0 + (torch.sqrt(alpha) * (1 - abar_prev) / (1 - abar)) * x \\
            + torch.sqrt(beta) * z
    return x


def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    unet = unet.to(device)
    opt = optim.Adam(unet.parameters(), lr=lr)
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.1 ** (1.0 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        unet.train()
        for x, _ in train_loader:
            loss = ddpm_forward(unet, ddpm_schedule, x.to(device), num_ts)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
    return losses
'''),
    ("code", '''
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    N = x_0.shape[0]
    keep = torch.bernoulli(torch.full((N,), 1.0 - p_uncond, device=x_0.device))
    t = torch.randint(1, num_ts + 1, (N,), device=x_0.device)
    abar = ddpm_schedule["alpha_bars"].to(x_0.device)[t - 1].reshape(N, 1, 1, 1)
    eps = torch.randn_like(x_0)
    x_t = torch.sqrt(abar) * x_0 + torch.sqrt(1 - abar) * eps
    eps_hat = unet(x_t, c, t.float() / num_ts, keep)
    return F.mse_loss(eps, eps_hat)


@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = ddpm_schedule["betas"], ddpm_schedule["alphas"], ddpm_schedule["alpha_bars"]
    N = len(c)
    W, H = img_wh
    x = torch.randn(N, 1, H, W)
    ones, zeros = torch.ones(N), torch.zeros(N)
    for t in range(num_ts, 0, -1):
        tt = torch.full((N,), t / num_ts)
        eps_cond = unet(x, c, tt, ones)
        eps_uncond = unet(x, c, tt, zeros)
        eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
        abar = alpha_bars[t - 1]
        abar_prev = alpha_bars[t - 2] if t > 1 else torch.tensor(1.0)
        beta, alpha = betas[t - 1], alphas[t - 1]
        x0 = (x - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)
        z = torch.randn_like(x) if t > 1 else torch.zeros_like(x)
        x = (torch.sqrt(abar_prev) * beta / (1 - abar)) * x0 + (torch.sqrt(alpha) * (1 - abar_prev) / (1 - abar)) * x \\
            + torch.sqrt(beta) * z
    return x


def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    unet = unet.to(device)
    opt = optim.Adam(unet.parameters(), lr=lr)
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.1 ** (1.0 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, c in train_loader:
            loss = ddpm_forward_class(unet, ddpm_schedule, x.to(device), c.to(device), p_uncond, num_ts)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
    return losses
'''),
    ("code", '''
schedule = ddpm_schedule(1e-4, 0.02, 300)
cunet = ClassConditionalUNet(1, 10, 64).to(device)
closses = train_class_conditioned(cunet, schedule, DataLoader(mnist_train, batch_size=128, shuffle=True))
samples = ddpm_sample_class(cunet, schedule, torch.arange(10).repeat(4), (28, 28), 300)
'''),
]

# 2. nn.Sequential with other names, AdaptiveAvgPool2d, numpy schedule and noise, eps-form sampler ----
CORRECT["correct_numpy_eps_form"] = [
    ("md", "## Project 5B -- numpy where I could"),
    ("code", '''
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import datasets, transforms
from torch.utils.data import DataLoader
'''),
    ("code", '''
def conv_bn_gelu(conv, channels):
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.GELU())


class Conv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.layers = conv_bn_gelu(nn.Conv2d(in_channels, out_channels, (3, 3), (1, 1), (1, 1)), out_channels)

    def forward(self, x):
        return self.layers(x)


class DownConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.layers = conv_bn_gelu(nn.Conv2d(in_channels, out_channels, (4, 4), (2, 2), (1, 1)), out_channels)

    def forward(self, x):
        return self.layers(x)


class UpConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.layers = conv_bn_gelu(nn.ConvTranspose2d(in_channels, out_channels, (4, 4), (2, 2), (1, 1)), out_channels)

    def forward(self, x):
        return self.layers(x)


class Flatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.GELU())

    def forward(self, x):
        return self.layers(x)


class Unflatten(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.layers = conv_bn_gelu(nn.ConvTranspose2d(in_channels, in_channels, 7, 7, 0), in_channels)

    def forward(self, x):
        return self.layers(x)


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(Conv(in_channels, out_channels), Conv(out_channels, out_channels))


class DownBlock(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class UpBlock(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class FCBlock(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Linear(in_channels, out_channels), nn.GELU(), nn.Linear(out_channels, out_channels))


class UnconditionalUNet(nn.Module):
    def __init__(self, in_channels, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.encoder = nn.ModuleList([ConvBlock(in_channels, D), DownBlock(D, D), DownBlock(D, 2 * D)])
        self.bottleneck = nn.Sequential(Flatten(), Unflatten(2 * D))
        self.decoder = nn.ModuleList([UpBlock(4 * D, D), UpBlock(2 * D, D), ConvBlock(2 * D, D)])
        self.head = nn.Conv2d(D, in_channels, 3, 1, 1)

    def forward(self, x):
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        x = self.bottleneck(x)
        for layer in self.decoder:
            x = layer(torch.cat((skips.pop(), x), 1))
        return self.head(x)
'''),
    ("code", '''
def add_noise(x, sigma):
    return x + torch.normal(0.0, sigma, size=x.shape)


def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    optimizer = torch.optim.Adam(unet.parameters(), lr)
    criterion = nn.MSELoss()
    losses = []
    for _ in range(num_epochs):
        for batch in train_loader:
            x = batch[0]
            loss = criterion(unet(add_noise(x, sigma)), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().cpu().numpy().item())
    return losses
'''),
    ("code", '''
class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.encoder = nn.ModuleList([ConvBlock(in_channels, D), DownBlock(D, D), DownBlock(D, 2 * D)])
        self.flatten, self.unflatten = Flatten(), Unflatten(2 * D)
        self.decoder = nn.ModuleList([UpBlock(4 * D, D), UpBlock(2 * D, D), ConvBlock(2 * D, D)])
        self.head = nn.Conv2d(D, in_channels, 3, 1, 1)
        self.temb = nn.ModuleList([FCBlock(1, 2 * D), FCBlock(1, D)])

    def forward(self, x, t):
        # t arrives as (N, 1)
        e1 = self.encoder[0](x)
        e2 = self.encoder[1](e1)
        e3 = self.encoder[2](e2)
        h = self.unflatten(self.flatten(e3)) + self.temb[0](t).unsqueeze(-1).unsqueeze(-1)
        h = self.decoder[0](torch.cat((e3, h), 1)) + self.temb[1](t).unsqueeze(-1).unsqueeze(-1)
        h = self.decoder[1](torch.cat((e2, h), 1))
        h = self.decoder[2](torch.cat((e1, h), 1))
        return self.head(h)


class ClassConditionalUNet(TimeConditionalUNet):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__(in_channels, num_classes, num_hiddens)
        self.num_classes = num_classes
        self.cemb = nn.ModuleList([FCBlock(num_classes, 2 * num_hiddens), FCBlock(num_classes, num_hiddens)])

    def forward(self, x, c, t, mask=None):
        c = torch.eye(self.num_classes)[c]
        if mask is not None:
            c = c * mask[:, None]
        e1 = self.encoder[0](x)
        e2 = self.encoder[1](e1)
        e3 = self.encoder[2](e2)
        h = self.unflatten(self.flatten(e3))
        h = self.cemb[0](c)[..., None, None] * h + self.temb[0](t)[..., None, None]
        h = self.decoder[0](torch.cat((e3, h), 1))
        h = self.cemb[1](c)[..., None, None] * h + self.temb[1](t)[..., None, None]
        h = self.decoder[1](torch.cat((e2, h), 1))
        h = self.decoder[2](torch.cat((e1, h), 1))
        return self.head(h)
'''),
    ("code", '''
def ddpm_schedule(beta1, beta2, num_ts):
    assert beta1 < beta2 < 1.0
    betas = np.linspace(beta1, beta2, num_ts)
    alphas = 1 - betas
    alpha_bars = np.cumprod(alphas)
    return {name: torch.from_numpy(v).float() for name, v in
            (("betas", betas), ("alphas", alphas), ("alpha_bars", alpha_bars))}


def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    n = x_0.shape[0]
    t = torch.from_numpy(np.random.randint(0, num_ts, size=n))
    noise = torch.randn_like(x_0)
    ab = ddpm_schedule["alpha_bars"][t][:, None, None, None]
    x_t = ab.sqrt() * x_0 + (1 - ab).sqrt() * noise
    pred = unet(x_t, (t.float() / num_ts)[:, None])
    return ((pred - noise) ** 2).mean()


def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    np.random.seed(seed)
    betas, alphas, abars = ddpm_schedule["betas"], ddpm_schedule["alphas"], ddpm_schedule["alpha_bars"]
    x = torch.from_numpy(np.random.randn(num_samples, 1, img_wh[1], img_wh[0])).float()
    with torch.no_grad():
        for t in reversed(range(num_ts)):
            eps = unet(x, torch.full((num_samples, 1), t / num_ts))
            mean = (x - betas[t] / torch.sqrt(1 - abars[t]) * eps) / torch.sqrt(alphas[t])
            if t > 0:
                x = mean + torch.sqrt(betas[t]) * torch.from_numpy(np.random.randn(*x.shape)).float()
            else:
                x = mean
    return x


def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.1 ** (1 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, _ in train_loader:
            optimizer.zero_grad()
            loss = ddpm_forward(unet, ddpm_schedule, x, num_ts)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses


def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    n = x_0.shape[0]
    mask = torch.from_numpy((np.random.rand(n) > p_uncond).astype(np.float32))
    t = torch.from_numpy(np.random.randint(0, num_ts, size=n))
    noise = torch.randn_like(x_0)
    ab = ddpm_schedule["alpha_bars"][t][:, None, None, None]
    x_t = ab.sqrt() * x_0 + (1 - ab).sqrt() * noise
    pred = unet(x_t, c, (t.float() / num_ts)[:, None], mask)
    return ((pred - noise) ** 2).mean()


def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    betas, alphas, abars = ddpm_schedule["betas"], ddpm_schedule["alphas"], ddpm_schedule["alpha_bars"]
    n = len(c)
    x = torch.from_numpy(np.random.randn(n, 1, img_wh[1], img_wh[0])).float()
    with torch.no_grad():
        for t in reversed(range(num_ts)):
            tt = torch.full((n, 1), t / num_ts)
            e_c = unet(x, c, tt, torch.ones(n))
            e_u = unet(x, c, tt, torch.zeros(n))
            eps = e_u + guidance_scale * (e_c - e_u)
            mean = (x - betas[t] / torch.sqrt(1 - abars[t]) * eps) / torch.sqrt(alphas[t])
            x = mean + torch.sqrt(betas[t]) * torch.from_numpy(np.random.randn(*x.shape)).float() if t > 0 else mean
    return x


def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.1 ** (1 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, c in train_loader:
            optimizer.zero_grad()
            loss = ddpm_forward_class(unet, ddpm_schedule, x, c, p_uncond, num_ts)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
'''),
]

# 3. nn.Sequential subclasses, inline functional UNets, one-hot classes built outside the UNet --------
CORRECT["correct_inline_onehot"] = [
    ("code", '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.datasets import MNIST
from torchvision.transforms import ToTensor
from torch.utils.data import DataLoader
from torch.optim import Adam
from torch.optim.lr_scheduler import ExponentialLR
'''),
    ("code", '''
class Conv(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Conv2d(i, o, 3, 1, 1), nn.BatchNorm2d(o), nn.GELU())


class DownConv(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Conv2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.GELU())


class UpConv(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.GELU())


class Flatten(nn.Module):
    def forward(self, x):
        return F.gelu(F.avg_pool2d(x, 7))


class Unflatten(nn.Sequential):
    def __init__(self, i):
        super().__init__(nn.ConvTranspose2d(i, i, 7, 7), nn.BatchNorm2d(i), nn.GELU())


class ConvBlock(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(Conv(i, o), Conv(o, o))


class DownBlock(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(DownConv(i, o), Conv(o, o), Conv(o, o))


class UpBlock(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(UpConv(i, o), ConvBlock(o, o))


class FCBlock(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.a = nn.Linear(i, o)
        self.b = nn.Linear(o, o)

    def forward(self, v):
        return self.b(F.gelu(self.a(v)))
'''),
    ("code", '''
def cbg(i, o, k=3, s=1, p=1, transpose=False):
    conv = nn.ConvTranspose2d(i, o, k, s, p) if transpose else nn.Conv2d(i, o, k, s, p)
    return nn.Sequential(conv, nn.BatchNorm2d(o), nn.GELU())


class UnconditionalUNet(nn.Module):
    def __init__(self, in_channels, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.e1 = nn.Sequential(cbg(in_channels, D), cbg(D, D))
        self.e2 = nn.Sequential(cbg(D, D, 4, 2, 1), cbg(D, D), cbg(D, D))
        self.e3 = nn.Sequential(cbg(D, 2 * D, 4, 2, 1), cbg(2 * D, 2 * D), cbg(2 * D, 2 * D))
        self.mid = cbg(2 * D, 2 * D, 7, 7, 0, transpose=True)
        self.d1 = nn.Sequential(cbg(4 * D, D, 4, 2, 1, transpose=True), cbg(D, D), cbg(D, D))
        self.d2 = nn.Sequential(cbg(2 * D, D, 4, 2, 1, transpose=True), cbg(D, D), cbg(D, D))
        self.d3 = nn.Sequential(cbg(2 * D, D), cbg(D, D))
        self.out = nn.Conv2d(D, in_channels, 3, 1, 1)

    def encode(self, x):
        a = self.e1(x)
        b = self.e2(a)
        c = self.e3(b)
        return a, b, c, self.mid(F.gelu(F.adaptive_avg_pool2d(c, 1)))

    def forward(self, x):
        a, b, c, h = self.encode(x)
        h = self.d1(torch.cat([c, h], 1))
        h = self.d2(torch.cat([b, h], 1))
        return self.out(self.d3(torch.cat([a, h], 1)))


class TimeConditionalUNet(UnconditionalUNet):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__(in_channels, num_hiddens)
        self.ft1 = FCBlock(1, 2 * num_hiddens)
        self.ft2 = FCBlock(1, num_hiddens)

    def forward(self, x, t):
        t = t.reshape(-1, 1)
        a, b, c, h = self.encode(x)
        h = h + self.ft1(t)[:, :, None, None]
        h = self.d1(torch.cat([c, h], 1)) + self.ft2(t)[:, :, None, None]
        h = self.d2(torch.cat([b, h], 1))
        return self.out(self.d3(torch.cat([a, h], 1)))


class ClassConditionalUNet(UnconditionalUNet):
    """Takes the class as a one-hot (N, num_classes) float vector (all zeros = no class)."""

    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__(in_channels, num_hiddens)
        self.ft1 = FCBlock(1, 2 * num_hiddens)
        self.ft2 = FCBlock(1, num_hiddens)
        self.fc1 = FCBlock(num_classes, 2 * num_hiddens)
        self.fc2 = FCBlock(num_classes, num_hiddens)

    def forward(self, x, c, t, mask=None):
        t = t.reshape(-1, 1)
        if mask is not None:
            c = c * mask.reshape(-1, 1)
        a, b, cc, h = self.encode(x)
        h = self.fc1(c)[:, :, None, None] * h + self.ft1(t)[:, :, None, None]
        h = self.d1(torch.cat([cc, h], 1))
        h = self.fc2(c)[:, :, None, None] * h + self.ft2(t)[:, :, None, None]
        h = self.d2(torch.cat([b, h], 1))
        return self.out(self.d3(torch.cat([a, h], 1)))
'''),
    ("code", '''
def add_noise(x, sigma):
    return torch.randn_like(x).mul(sigma).add(x)


def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    opt = Adam(unet.parameters(), lr=lr)
    out = []
    for _ in range(num_epochs):
        for x, _ in train_loader:
            loss = F.mse_loss(unet(add_noise(x, sigma)), x)
            opt.zero_grad(); loss.backward(); opt.step()
            out.append(loss.item())
    return out


def ddpm_schedule(beta1, beta2, num_ts):
    betas = torch.tensor([beta1 + (beta2 - beta1) * i / (num_ts - 1) for i in range(num_ts)])
    alphas = 1 - betas
    alpha_bars = torch.tensor([torch.prod(alphas[: i + 1]).item() for i in range(num_ts)])
    return {"betas": betas, "alphas": alphas, "alpha_bars": alpha_bars, "num_ts": num_ts}


def noisy(x0, abar, eps):
    abar = abar.view(-1, 1, 1, 1)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    t = torch.randint(0, num_ts, (x_0.shape[0],))
    eps = torch.randn_like(x_0)
    x_t = noisy(x_0, ddpm_schedule["alpha_bars"][t], eps)
    return F.mse_loss(unet(x_t, t / num_ts), eps)


def step(x, eps, t, sched, z):
    b, a, ab = sched["betas"][t], sched["alphas"][t], sched["alpha_bars"][t]
    ab_prev = sched["alpha_bars"][t - 1] if t > 0 else torch.ones(())
    x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
    mean = ab_prev.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - ab_prev) / (1 - ab) * x
    return mean + b.sqrt() * z if t > 0 else mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    x = torch.randn(num_samples, 1, *img_wh)
    for t in range(num_ts - 1, -1, -1):
        z = torch.randn_like(x) if t > 0 else None
        x = step(x, unet(x, torch.full((num_samples,), t / num_ts)), t, ddpm_schedule, z)
    return x


def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    opt = Adam(unet.parameters(), lr=lr)
    sch = ExponentialLR(opt, gamma=0.1 ** (1 / num_epochs))
    out = []
    for _ in range(num_epochs):
        for x, _ in train_loader:
            loss = ddpm_forward(unet, ddpm_schedule, x, num_ts)
            opt.zero_grad(); loss.backward(); opt.step()
            out.append(loss.item())
        sch.step()
    return out


def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    onehot = F.one_hot(c, 10).float()
    onehot[torch.rand(len(c)) < p_uncond] = 0.0   # dropped class: an all-zero vector
    t = torch.randint(0, num_ts, (x_0.shape[0],))
    eps = torch.randn_like(x_0)
    x_t = noisy(x_0, ddpm_schedule["alpha_bars"][t], eps)
    return F.mse_loss(unet(x_t, onehot, t / num_ts), eps)


@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    onehot = F.one_hot(torch.as_tensor(c), 10).float()
    x = torch.randn(len(onehot), 1, *img_wh)
    for t in range(num_ts - 1, -1, -1):
        z = torch.randn_like(x) if t > 0 else None
        tt = torch.full((len(onehot),), t / num_ts)
        e_c = unet(x, onehot, tt)
        e_u = unet(x, torch.zeros_like(onehot), tt)
        x = step(x, e_u + guidance_scale * (e_c - e_u), t, ddpm_schedule, z)
    return x


def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    opt = Adam(unet.parameters(), lr=lr)
    sch = ExponentialLR(opt, gamma=0.1 ** (1 / num_epochs))
    out = []
    for _ in range(num_epochs):
        for x, c in train_loader:
            loss = ddpm_forward_class(unet, ddpm_schedule, x, c, p_uncond, num_ts)
            opt.zero_grad(); loss.backward(); opt.step()
            out.append(loss.item())
        sch.step()
    return out
'''),
]

# 4. a messy Colab notebook: Drive, pip, tqdm, guarded checkpoints, redefinitions, batched CFG ------------
CORRECT["correct_colab_mess"] = [
    ("code", '''
!pip install -q tqdm
from google.colab import drive
drive.mount('/content/drive')
%cd /content/drive/MyDrive/cs180/proj5b
'''),
    ("code", '''
%matplotlib inline
import os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from tqdm import tqdm
from torchvision import datasets, transforms
from torch.utils.data import DataLoader
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
CKPT = '/content/drive/MyDrive/cs180/proj5b/ckpt'
T = 300
'''),
    ("code", '''
train_set = datasets.MNIST('data', train=True, download=True, transform=transforms.ToTensor())
test_set = datasets.MNIST('data', train=False, download=True, transform=transforms.ToTensor())
train_loader = DataLoader(train_set, batch_size=256, shuffle=True)
x, y = next(iter(train_loader)); x.shape
'''),
    ("code", '''
def show(imgs, title=''):
    imgs = torch.as_tensor(imgs).detach().cpu()
    fig, axs = plt.subplots(1, len(imgs), figsize=(len(imgs), 1.3))
    for a, im in zip(np.atleast_1d(axs), imgs):
        a.imshow(im[0].clamp(0, 1), cmap='gray'); a.axis('off')
    plt.suptitle(title); plt.show()
'''),
    ("md", "### UNet pieces (first try had the wrong padding, fixed below)"),
    ("code", '''
class Conv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3), nn.BatchNorm2d(out_channels), nn.GELU())
    def forward(self, x):
        return self.c(x)

Conv(1, 4)(torch.zeros(1, 1, 28, 28)).shape   # 26x26 ?!
'''),
    ("code", '''
class Conv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.GELU())
    def forward(self, x):
        return self.c(x)

class DownConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(nn.Conv2d(in_channels, out_channels, 4, 2, 1), nn.BatchNorm2d(out_channels), nn.GELU())
    def forward(self, x):
        return self.c(x)

class UpConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), nn.BatchNorm2d(out_channels), nn.GELU())
    def forward(self, x):
        return self.c(x)

class Flatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Sequential(nn.AvgPool2d(kernel_size=7), nn.GELU())
    def forward(self, x):
        return self.c(x)

class Unflatten(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.c = nn.Sequential(nn.ConvTranspose2d(in_channels, in_channels, 7, 7, 0), nn.BatchNorm2d(in_channels), nn.GELU())
    def forward(self, x):
        return self.c(x)

class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(Conv(in_channels, out_channels), Conv(out_channels, out_channels))
    def forward(self, x):
        return self.c(x)

class DownBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))
    def forward(self, x):
        return self.c(x)

class UpBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.c = nn.Sequential(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))
    def forward(self, x):
        return self.c(x)
'''),
    ("code", '''
class UnconditionalUNet(nn.Module):
    def __init__(self, in_channels: int, num_hiddens: int):
        super().__init__()
        D = num_hiddens
        self.c0 = ConvBlock(in_channels, D)
        self.d1 = DownBlock(D, D)
        self.d2 = DownBlock(D, 2*D)
        self.fl = Flatten()
        self.ufl = Unflatten(2*D)
        self.u1 = UpBlock(4*D, D)
        self.u2 = UpBlock(2*D, D)
        self.c1 = ConvBlock(2*D, D)
        self.last = nn.Conv2d(D, in_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (28, 28), "Expect input shape to be (28, 28)."
        x = x.to(device)
        x0 = self.c0(x)
        x1 = self.d1(x0)
        x2 = self.d2(x1)
        u = self.ufl(self.fl(x2))
        u = self.u1(torch.cat([x2, u], dim=1))
        u = self.u2(torch.cat([x1, u], dim=1))
        u = self.c1(torch.cat([x0, u], dim=1))
        return self.last(u)

print(UnconditionalUNet(1, 128)(torch.randn(2, 1, 28, 28)).shape)
'''),
    ("code", '''
def add_noise(x, sigma):
    return x + sigma * torch.randn_like(x)

fig, axs = plt.subplots(1, 7)
for a, s in zip(axs, [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0]):
    a.imshow(add_noise(x[:1], s)[0, 0], cmap='gray')
'''),
    ("code", '''
def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device=device):
  unet = unet.to(device)
  optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
  losses = []
  for epoch in range(num_epochs):
    unet.train()
    pbar = tqdm(train_loader, desc=f'epoch {epoch+1}/{num_epochs}')
    for x, _ in pbar:
      x = x.to(device)
      noisy = add_noise(x, sigma).to(device)
      out = unet(noisy)
      loss = F.mse_loss(out, x)
      optimizer.zero_grad()
      loss.backward()
      optimizer.step()
      losses.append(loss.item())
      pbar.set_postfix(loss=loss.item())
    if os.path.isdir(CKPT):
      torch.save({'model': unet.state_dict(), 'opt': optimizer.state_dict()}, os.path.join(CKPT, f'denoiser_{epoch}.pt'))
    unet.eval()
    with torch.no_grad():
      show(unet(add_noise(x[:4], sigma)), f'epoch {epoch+1}')
  return losses
'''),
    ("code", '''
unet = UnconditionalUNet(1, 128).to(device)
losses = train_denoiser(unet, train_loader)
plt.semilogy(losses)
'''),
    ("md", "## Part 2"),
    ("code", '''
class FCBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.l1 = nn.Linear(in_channels, out_channels)
        self.g = nn.GELU()
        self.l2 = nn.Linear(out_channels, out_channels)
    def forward(self, x):
        return self.l2(self.g(self.l1(x)))

class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.c0 = ConvBlock(in_channels, D)
        self.d1 = DownBlock(D, D)
        self.d2 = DownBlock(D, 2*D)
        self.fl = Flatten()
        self.ufl = Unflatten(2*D)
        self.u1 = UpBlock(4*D, D)
        self.u2 = UpBlock(2*D, D)
        self.c1 = ConvBlock(2*D, D)
        self.last = nn.Conv2d(D, in_channels, 3, 1, 1)
        self.fc1_t = FCBlock(1, 2*D)
        self.fc2_t = FCBlock(1, D)

    def forward(self, x, t):
        if t.dim() == 1:
            t = t[:, None]
        x0 = self.c0(x)
        x1 = self.d1(x0)
        x2 = self.d2(x1)
        u = self.ufl(self.fl(x2)) + self.fc1_t(t)[:, :, None, None]
        u = self.u1(torch.cat([x2, u], dim=1)) + self.fc2_t(t)[:, :, None, None]
        u = self.u2(torch.cat([x1, u], dim=1))
        u = self.c1(torch.cat([x0, u], dim=1))
        return self.last(u)
'''),
    ("code", '''
def ddpm_schedule(beta1, beta2, num_ts):
    betas = torch.linspace(beta1, beta2, num_ts).to(device)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, 0)
    return {'betas': betas, 'alphas': alphas, 'alpha_bars': alpha_bars,
            'sqrt_alpha_bars': alpha_bars.sqrt(), 'sqrt_one_minus_alpha_bars': (1 - alpha_bars).sqrt()}

sched = ddpm_schedule(1e-4, 0.02, T)
'''),
    ("code", '''
def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    unet.train()
    x_0 = x_0.to(device)
    t = torch.randint(0, num_ts, (x_0.shape[0],), device=device)
    eps = torch.randn_like(x_0)
    ab = ddpm_schedule['alpha_bars'][t][:, None, None, None]
    x_t = ab.sqrt() * x_0 + (1 - ab).sqrt() * eps
    return F.mse_loss(unet(x_t, t[:, None] / num_ts), eps)

@torch.inference_mode()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    unet.eval()
    torch.manual_seed(seed)
    b, a, ab = ddpm_schedule['betas'], ddpm_schedule['alphas'], ddpm_schedule['alpha_bars']
    x = torch.randn(num_samples, 1, img_wh[0], img_wh[1], device=device)
    for t in tqdm(range(num_ts - 1, -1, -1), leave=False):
        eps = unet(x, torch.full((num_samples, 1), t / num_ts, device=device))
        ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, device=device)
        x0 = (x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()
        x = ab_prev.sqrt() * b[t] / (1 - ab[t]) * x0 + a[t].sqrt() * (1 - ab_prev) / (1 - ab[t]) * x
        if t > 0:
            x += b[t].sqrt() * torch.randn_like(x)
    return x
'''),
    ("code", '''
def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device=device):
  unet.to(device)
  opt = torch.optim.Adam(unet.parameters(), lr=lr)
  gamma = 0.1 ** (1 / num_epochs)
  sch = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
  losses = []
  for epoch in range(num_epochs):
    for x, _ in tqdm(train_loader):
      loss = ddpm_forward(unet, ddpm_schedule, x, num_ts)
      opt.zero_grad()
      loss.backward()
      opt.step()
      losses.append(loss.item())
    sch.step()
    print(epoch, np.mean(losses[-len(train_loader):]), sch.get_last_lr())
    if epoch == num_epochs - 1:
      show(ddpm_sample(unet, ddpm_schedule, (28, 28), num_ts, num_samples=4), f'epoch {epoch+1}')
  return losses
'''),
    ("code", '''
tunet = TimeConditionalUNet(1, 10, 64).to(device)
tl = train_time_conditioned(tunet, sched, DataLoader(train_set, batch_size=128, shuffle=True))
'''),
    ("code", '''
class ClassConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.num_classes = num_classes
        self.c0 = ConvBlock(in_channels, D)
        self.d1 = DownBlock(D, D)
        self.d2 = DownBlock(D, 2*D)
        self.fl = Flatten()
        self.ufl = Unflatten(2*D)
        self.u1 = UpBlock(4*D, D)
        self.u2 = UpBlock(2*D, D)
        self.c1 = ConvBlock(2*D, D)
        self.last = nn.Conv2d(D, in_channels, 3, 1, 1)
        self.fc1_t = FCBlock(1, 2*D)
        self.fc2_t = FCBlock(1, D)
        self.fc1_c = FCBlock(num_classes, 2*D)
        self.fc2_c = FCBlock(num_classes, D)

    def forward(self, x, c, t, mask=None):
        if t.dim() == 1:
            t = t[:, None]
        c = F.one_hot(c, num_classes=self.num_classes).float()
        if mask is not None:
            c = c * mask[:, None].float()
        x0 = self.c0(x)
        x1 = self.d1(x0)
        x2 = self.d2(x1)
        u = self.ufl(self.fl(x2))
        u = self.fc1_c(c)[:, :, None, None] * u + self.fc1_t(t)[:, :, None, None]
        u = self.u1(torch.cat([x2, u], dim=1))
        u = self.fc2_c(c)[:, :, None, None] * u + self.fc2_t(t)[:, :, None, None]
        u = self.u2(torch.cat([x1, u], dim=1))
        u = self.c1(torch.cat([x0, u], dim=1))
        return self.last(u)
'''),
    ("code", '''
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    x_0, c = x_0.to(device), c.to(device)
    mask = (torch.rand(x_0.shape[0], device=device) > p_uncond).float()
    t = torch.randint(0, num_ts, (x_0.shape[0],), device=device)
    eps = torch.randn_like(x_0)
    ab = ddpm_schedule['alpha_bars'][t][:, None, None, None]
    x_t = ab.sqrt() * x_0 + (1 - ab).sqrt() * eps
    return F.mse_loss(unet(x_t, c, t[:, None] / num_ts, mask), eps)

@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    unet.eval()
    b, a, ab = ddpm_schedule['betas'], ddpm_schedule['alphas'], ddpm_schedule['alpha_bars']
    c = c.to(device)
    n = len(c)
    x = torch.randn(n, 1, *img_wh, device=device)
    both = torch.cat([torch.ones(n), torch.zeros(n)]).to(device)   # conditional and unconditional in one batch
    for t in range(num_ts - 1, -1, -1):
        tt = torch.full((2 * n, 1), t / num_ts, device=device)
        eps_c, eps_u = unet(torch.cat([x, x]), torch.cat([c, c]), tt, both).chunk(2)
        eps = eps_u + guidance_scale * (eps_c - eps_u)
        ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, device=device)
        x0 = (x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()
        x = ab_prev.sqrt() * b[t] / (1 - ab[t]) * x0 + a[t].sqrt() * (1 - ab_prev) / (1 - ab[t]) * x
        if t > 0:
            x = x + b[t].sqrt() * torch.randn_like(x)
    return x

def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3, device=device):
  unet.to(device)
  opt = torch.optim.Adam(unet.parameters(), lr=lr)
  sch = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1 ** (1 / num_epochs))
  losses = []
  for epoch in range(num_epochs):
    for x, c in tqdm(train_loader):
      loss = ddpm_forward_class(unet, ddpm_schedule, x, c, p_uncond, num_ts)
      opt.zero_grad(); loss.backward(); opt.step()
      losses.append(loss.item())
    sch.step()
    if os.path.isdir(CKPT):
      torch.save(unet.state_dict(), f'{CKPT}/class_{epoch}.pt')
  return losses
'''),
    ("code", '''
cunet = ClassConditionalUNet(1, 10, 64).to(device)
cl = train_class_conditioned(cunet, sched, DataLoader(train_set, batch_size=128, shuffle=True))
show(ddpm_sample_class(cunet, sched, torch.arange(10), (28, 28), T), 'cfg')
'''),
]

# 5. the reference's own layout, with the readings the spec leaves open taken the other way -------------
ALT = dict(B)
ALT["ddpm_forward"] = B["ddpm_forward"].replace(
    "t = torch.randint(0, num_ts, (n,), device=x_0.device)", "t = torch.randint(0, num_ts, (n, 1), device=x_0.device)"
).replace("abar = alpha_bars[t].view(n, 1, 1, 1)", "abar = alpha_bars[t.squeeze(1)].view(n, 1, 1, 1)").replace(
    "eps_hat = unet(x_t, (t.float() / num_ts).view(n, 1))", "eps_hat = unet(x_t, t.float() / num_ts)").replace(
    "return F.mse_loss(eps_hat, eps)", "return ((eps_hat - eps) ** 2).mean()")
ALT["ddpm_sample"] = B["ddpm_sample"].replace(
    "return mean + betas[t].sqrt() * torch.randn_like(x_t)",
    "beta_tilde = (1 - abar_prev) / (1 - abar_t) * betas[t]  # the posterior variance\n"
    "        return mean + beta_tilde.sqrt() * torch.randn_like(x_t)")
ALT["train_time"] = B["train_time"].replace("losses.append(loss.item())", "losses.append(loss.detach().cpu().item())")
ALT["ddpm_sample_class"] = B["ddpm_sample_class"].replace(
    "        eps_c = unet(x_t, c, t_norm, cond)\n        eps_u = unet(x_t, c, t_norm, uncond)\n",
    "        eps_u = unet(x_t, c, t_norm, mask=uncond)\n        eps_c = unet(x_t, c, t_norm, mask=cond)\n")
CORRECT["correct_alt_readings"] = [(kind, content if kind == "md" else "\n\n\n".join(
    ALT[name].strip("\n") for name in content)) for kind, content in LAYOUT]


# --------------------------------------------------------------------------------------
# Single-mistake notebooks: the reference with one graded block rewritten
# --------------------------------------------------------------------------------------

#: (file stem, api, block, [(old, new), ...], a word the failed check's message must contain)
MISTAKES = [
    ("mistake_conv_padding0", "Conv", "ops",
     [("nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)",
       "nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=0)")], "padding"),
    # (k3 s2 p1, the course figure's values, is correct: see student_styles.py; k2 s2 p0 also halves, but is neither)
    ("mistake_downconv_kernel2", "DownConv", "ops",
     [("nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)",
       "nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2, padding=0)")], "kernel_size"),
    ("mistake_upconv_relu", "UpConv", "ops",
     [("nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),\n"
       "            nn.BatchNorm2d(out_channels),\n            nn.GELU(),",
       "nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),\n"
       "            nn.BatchNorm2d(out_channels),\n            nn.ReLU(),")], "GELU"),
    ("mistake_flatten_maxpool", "Flatten", "ops",
     [("nn.AvgPool2d(kernel_size=7)", "nn.MaxPool2d(kernel_size=7)")], "AvgPool2d"),
    # (k7 s1 equals k7 s7 on the 1x1 map, and is correct: see student_styles.py)
    ("mistake_unflatten_no_batchnorm", "Unflatten", "ops",
     [("nn.ConvTranspose2d(in_channels, in_channels, kernel_size=7, stride=7, padding=0),\n"
       "            nn.BatchNorm2d(in_channels),\n",
       "nn.ConvTranspose2d(in_channels, in_channels, kernel_size=7, stride=7, padding=0),\n")], "BatchNorm2d"),
    ("mistake_convblock_single_conv", "ConvBlock", "blocks",
     [("self.net = nn.Sequential(Conv(in_channels, out_channels), Conv(out_channels, out_channels))",
       "self.net = nn.Sequential(Conv(in_channels, out_channels))")], "convolution"),
    ("mistake_downblock_order", "DownBlock", "blocks",
     [("nn.Sequential(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))",
       "nn.Sequential(ConvBlock(in_channels, out_channels), DownConv(out_channels, out_channels))")], "order"),
    ("mistake_upblock_no_convblock", "UpBlock", "blocks",
     [("nn.Sequential(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))",
       "nn.Sequential(UpConv(in_channels, out_channels))")], "convolution"),
    ("mistake_fcblock_no_gelu", "FCBlock", "fcblock",
     [("            nn.GELU(),\n", "")], "GELU"),
    ("mistake_unet_missing_skip", "UnconditionalUNet", "unet",
     [("self.up2 = UpBlock(2 * D, D)", "self.up2 = UpBlock(D, D)"),
      ("h = self.up2(torch.cat([e2, h], dim=1))", "h = self.up2(h)")], "skip connection"),
    ("mistake_time_t2_on_up2", "TimeConditionalUNet", "time_unet",
     [("up1 = up1 + t2\n        up2 = self.up2(torch.cat([e2, up1], dim=1))",
       "up2 = self.up2(torch.cat([e2, up1], dim=1)) + t2")], "t2"),
    ("mistake_class_mask_inverted", "ClassConditionalUNet", "class_unet",
     [("c_vec = c_vec * _as_column(mask, x)", "c_vec = c_vec * (1 - _as_column(mask, x))")], "inverted"),
    ("mistake_class_c_added", "ClassConditionalUNet", "class_unet",
     [("unflatten = c1 * unflatten + t1", "unflatten = c1 + unflatten + t1"),
      ("up1 = c2 * up1 + t2", "up1 = c2 + up1 + t2")], "scale"),
    ("mistake_add_noise_sigma_squared", "add_noise", "add_noise",
     [("x + sigma * torch.randn_like(x)", "x + sigma ** 2 * torch.randn_like(x)")], "sigma ** 2"),
    ("mistake_train_denoiser_noisy_target", "train_denoiser", "train_denoiser",
     [("loss = F.mse_loss(unet(z), x)", "loss = F.mse_loss(unet(z), z)")], "noisy input"),
    ("mistake_train_denoiser_no_step", "train_denoiser", "train_denoiser",
     [("            optimizer.step()\n", "")], "optimizer.step()"),
    ("mistake_schedule_no_cumprod", "ddpm_schedule", "ddpm_schedule",
     [("alpha_bars = torch.cumprod(alphas, dim=0)", "alpha_bars = alphas")], "cumulative product"),
    ("mistake_forward_unnormalised_t", "ddpm_forward", "ddpm_forward",
     [("eps_hat = unet(x_t, (t.float() / num_ts).view(n, 1))", "eps_hat = unet(x_t, t.float().view(n, 1))")],
     "not normalised"),
    ("mistake_forward_alphas", "ddpm_forward", "ddpm_forward",
     [('alpha_bars = ddpm_schedule["alpha_bars"].to(x_0.device)', 'alpha_bars = ddpm_schedule["alphas"].to(x_0.device)')],
     "uses alphas"),
    ("mistake_forward_loss_x0", "ddpm_forward", "ddpm_forward",
     [("return F.mse_loss(eps_hat, eps)", "return F.mse_loss(eps_hat, x_0)")], "the target is the noise"),
    ("mistake_sample_noise_last_step", "ddpm_sample", "ddpm_sample",
     [("        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)\n",
       "        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)\n"
       "        if t == 0:\n            x_t = x_t + betas[t].sqrt() * torch.randn_like(x_t)\n")], "last step"),
    ("mistake_sample_skips_t0", "ddpm_sample", "ddpm_sample",
     [("for t in range(num_ts - 1, -1, -1):", "for t in range(num_ts - 1, 0, -1):")], "t = 0"),
    ("mistake_sample_unnormalised_t", "ddpm_sample", "ddpm_sample",
     [("t_norm = torch.full((num_samples, 1), t / num_ts, device=device)",
       "t_norm = torch.full((num_samples, 1), float(t), device=device)")], "normalised"),
    ("mistake_train_time_scheduler_every_iteration", "train_time_conditioned", "train_time",
     [("            losses.append(loss.item())\n        scheduler.step()",
       "            losses.append(loss.item())\n            scheduler.step()")], "every iteration"),
    ("mistake_train_time_gamma", "train_time_conditioned", "train_time",
     [("gamma=0.1 ** (1.0 / num_epochs)", "gamma=0.1")], "gamma"),
    ("mistake_forward_class_no_dropout", "ddpm_forward_class", "ddpm_forward_class",
     [("mask = (torch.rand(n, device=x_0.device) >= p_uncond).to(x_0.dtype)", "mask = torch.ones(n, device=x_0.device)")],
     "never drops"),
    ("mistake_forward_class_mask_inverted", "ddpm_forward_class", "ddpm_forward_class",
     [("(torch.rand(n, device=x_0.device) >= p_uncond)", "(torch.rand(n, device=x_0.device) < p_uncond)")],
     "inverted"),
    ("mistake_sample_class_cfg_reversed", "ddpm_sample_class", "ddpm_sample_class",
     [("eps_hat = eps_u + guidance_scale * (eps_c - eps_u)", "eps_hat = eps_c + guidance_scale * (eps_u - eps_c)")],
     "reversed"),
    ("mistake_sample_class_scale_ignored", "ddpm_sample_class", "ddpm_sample_class",
     [("eps_hat = eps_u + guidance_scale * (eps_c - eps_u)", "eps_hat = eps_u + 5.0 * (eps_c - eps_u)")],
     "guidance_scale"),
    ("mistake_train_class_sgd", "train_class_conditioned", "train_class",
     [("optimizer = torch.optim.Adam(unet.parameters(), lr=lr)", "optimizer = torch.optim.SGD(unet.parameters(), lr=lr)")],
     "Adam"),
    # ---- mistakes in the optimisation step and in the sampler's update (issue 12): these scored full marks
    # when the checks looked only at the losses, the lr and whether the weights moved, and at where samples land
    ("mistake_train_denoiser_adam_betas", "train_denoiser", "train_denoiser",
     [("optimizer = torch.optim.Adam(unet.parameters(), lr=lr)",
       "optimizer = torch.optim.Adam(unet.parameters(), lr=lr, betas=(0.5, 0.999))  # faster warm-up")], "betas"),
    ("mistake_train_denoiser_scheduler_per_batch", "train_denoiser", "train_denoiser",
     [("optimizer = torch.optim.Adam(unet.parameters(), lr=lr)\n",
       "optimizer = torch.optim.Adam(unet.parameters(), lr=lr)\n"
       "    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.99)\n"),
      ("            optimizer.step()\n", "            optimizer.step()\n            scheduler.step()\n")],
     "learning rate changes"),
    ("mistake_train_time_weight_decay", "train_time_conditioned", "train_time",
     [("optimizer = torch.optim.Adam(unet.parameters(), lr=lr)",
       "optimizer = torch.optim.Adam(unet.parameters(), lr=lr, weight_decay=1e-4)")], "weight_decay"),
    ("mistake_train_class_no_zero_grad", "train_class_conditioned", "train_class",
     [("            optimizer.zero_grad()\n", "")], "zero_grad"),
    ("mistake_sample_inv_sqrt_abar", "ddpm_sample", "ddpm_sample",
     [("        abar_t = alpha_bars[t]\n        x0_hat = (x_t - (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()\n"
       "        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)\n",
       "        abar_t = alpha_bars[t]\n"
       "        z = torch.randn_like(x_t) if t > 0 else torch.zeros_like(x_t)\n"
       "        x_t = (x_t - betas[t] / (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt() + betas[t].sqrt() * z\n")],
     "1/sqrt(alpha_bar_t)"),
    ("mistake_sample_eps_coefficient", "ddpm_sample", "ddpm_sample",
     [("        abar_t = alpha_bars[t]\n        x0_hat = (x_t - (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()\n"
       "        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)\n",
       "        abar_t = alpha_bars[t]\n"
       "        z = torch.randn_like(x_t) if t > 0 else torch.zeros_like(x_t)\n"
       "        x_t = x_t / alphas[t].sqrt() - betas[t] / (1 - abar_t).sqrt() * eps_hat + betas[t].sqrt() * z\n")],
     "coefficient of the noise estimate"),
    ("mistake_sample_class_xt_coefficient", "ddpm_sample_class", "ddpm_sample_class",
     [("        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)\n",
       "        abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)\n"
       "        mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\\n"
       "            + (alpha_bars[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t\n"
       "        x_t = mean + betas[t].sqrt() * torch.randn_like(x_t) if t > 0 else mean\n")],
     "x_t is multiplied by"),
    ("mistake_flatten_returns_nc", "Flatten", "ops",
     [("        self.net = nn.Sequential(nn.AvgPool2d(kernel_size=7), nn.GELU())\n",
       "        self.net = nn.Sequential(nn.AvgPool2d(kernel_size=7), nn.GELU(), nn.Flatten())\n")],
     "returned shape"),
]


def mistake_cells(block: str, edits) -> list:
    source = B[block]
    for old, new in edits:
        if source.count(old) != 1:
            raise ValueError(f"{block}: {old!r} occurs {source.count(old)} times")
        source = source.replace(old, new)
    return reference_cells({block: source})


# --------------------------------------------------------------------------------------
# Notebooks that earn nothing: the handed-out skeleton, and one that defines nothing graded
# --------------------------------------------------------------------------------------


#: Definitions that the stubbed notebook keeps whole (the provided helpers).
STARTER = {"show_grid"}


def _stub_cell(source: str) -> str:
    """Every function and method body (docstring kept) becomes ``raise NotImplementedError``."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics): not a definition cell
        return source
    lines = source.splitlines()
    edits = []  # (first line, last line, replacement), 0-based inclusive

    def stub(node, label):
        body = node.body
        has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str)
        if has_doc and len(body) == 1:
            return
        first = body[1] if has_doc else body[0]
        indent = " " * first.col_offset
        edits.append((first.lineno - 1, node.end_lineno - 1,
                      [f"{indent}# TODO: implement {label} (see the assignment text)",
                       f'{indent}raise NotImplementedError("{label}")']))

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name not in STARTER:
            methods = [m for m in node.body if isinstance(m, ast.FunctionDef)]
            for m in methods:
                stub(m, node.name if m.name == "__init__" else f"{node.name}.{m.name}")
            if not methods:
                stub(node, node.name)
        elif isinstance(node, ast.FunctionDef) and node.name not in STARTER:
            stub(node, node.name)
    for start, end, new in sorted(edits, reverse=True):
        lines[start : end + 1] = new
    return "\n".join(lines)


def skeleton_cells() -> list:
    """A student who stubbed every definition with ``raise NotImplementedError``."""
    return [(kind, content if kind == "md" else _stub_cell(content)) for kind, content in reference_cells()]


BAD = {
    "empty_functions": skeleton_cells,
    "imports_only": lambda: [("md", "# Project 5B\n\nI ran out of time."), ("code", B["imports"]),
                             ("code", B["data"])],
}


def main() -> None:
    manifest = []

    def write(stem, cells, kind, api=None, mistake=None, keyword=None, note=None):
        nb = make_notebook(cells, assignment=ASSIGNMENT)
        nbformat.write(nb, str(HERE / f"{stem}.ipynb"))
        manifest.append({"file": f"{stem}.ipynb", "kind": kind, "api": api, "mistake": mistake,
                         "expect_in_message": keyword, **({"expect_note": note} if note else {})})

    for stem, cells in CORRECT.items():
        write(stem, cells, "correct")
    # written the way real students write it (issue 12): interfaces the grader adapts to, each named in the notes
    styles = {**interface_styles(B, reference_cells), **student_styles(B, reference_cells)}
    for stem, (kind, api, keyword, note, cells) in styles.items():
        write(stem, cells, kind, api, stem[len("mistake_"):] if kind == "mistake" else None, keyword, note)
    for stem, api, block, edits, keyword in MISTAKES:
        write(stem, mistake_cells(block, edits), "mistake", api, stem[len("mistake_"):], keyword)
    for stem, make in BAD.items():
        write(stem, make(), "bad")
    for old in HERE.glob("*.ipynb"):
        if old.name not in {e["file"] for e in manifest}:
            old.unlink()
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest)} notebooks to {HERE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
