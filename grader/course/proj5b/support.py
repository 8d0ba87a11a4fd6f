"""Reference parts of Part B, grading side: sent with a probe as source, never imported by a worker.

Each definition is bound in place of a student's own while another name is checked (a wrong
``Conv`` is charged to ``Conv``, not to every block built from it), or gives the grader's
helpers the reference schedule. ``ANSWERS`` says which graded name each definition would
answer: :mod:`grader.judging.support` leaves it out of every probe of that name.
"""

import torch
import torch.nn.functional as F
from torch import nn

#: definition -> the graded name it answers
ANSWERS = {
    "RefConv": "Conv",
    "RefDownConv": "DownConv",
    "RefUpConv": "UpConv",
    "RefFlatten": "Flatten",
    "RefUnflatten": "Unflatten",
    "RefConvBlock": "ConvBlock",
    "RefDownBlock": "DownBlock",
    "RefUpBlock": "UpBlock",
    "RefFCBlock": "FCBlock",
    "ref_add_noise": "add_noise",
    "ref_ddpm_forward": "ddpm_forward",
    "ref_ddpm_forward_class": "ddpm_forward_class",
    "reference_schedule": "ddpm_schedule",
}


def reference_schedule(beta1=1e-4, beta2=0.02, num_ts=300):
    betas = torch.linspace(beta1, beta2, num_ts)
    alphas = 1 - betas
    return {"betas": betas, "alphas": alphas, "alpha_bars": torch.cumprod(alphas, dim=0)}


def _cbg(layer: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(layer, nn.BatchNorm2d(channels), nn.GELU())


class RefConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = _cbg(nn.Conv2d(in_channels, out_channels, 3, 1, 1), out_channels)

    def forward(self, x):
        return self.net(x)


class RefDownConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = _cbg(nn.Conv2d(in_channels, out_channels, 4, 2, 1), out_channels)

    def forward(self, x):
        return self.net(x)


class RefUpConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = _cbg(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), out_channels)

    def forward(self, x):
        return self.net(x)


class RefFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.AvgPool2d(7), nn.GELU())

    def forward(self, x):
        return self.net(x)


class RefUnflatten(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.net = _cbg(nn.ConvTranspose2d(in_channels, in_channels, 7, 7, 0), in_channels)

    def forward(self, x):
        return self.net(x)


class RefConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = nn.Sequential(RefConv(in_channels, out_channels), RefConv(out_channels, out_channels))

    def forward(self, x):
        return self.net(x)


class RefDownBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = nn.Sequential(RefDownConv(in_channels, out_channels), RefConvBlock(out_channels, out_channels))

    def forward(self, x):
        return self.net(x)


class RefUpBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = nn.Sequential(RefUpConv(in_channels, out_channels), RefConvBlock(out_channels, out_channels))

    def forward(self, x):
        return self.net(x)


class RefFCBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels, out_channels), nn.GELU(), nn.Linear(out_channels, out_channels))

    def forward(self, x):
        return self.net(x)


def ref_add_noise(x, sigma):
    return x + sigma * torch.randn_like(x)


def _abar_of(schedule) -> torch.Tensor:
    return torch.as_tensor(schedule["alpha_bars"])


def ref_ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    n = x_0.shape[0]
    abar_all = _abar_of(ddpm_schedule).to(x_0.device)
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = abar_all[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    return F.mse_loss(unet(x_t, (t.float() / num_ts).view(n, 1)), eps)


def ref_ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    n = x_0.shape[0]
    abar_all = _abar_of(ddpm_schedule).to(x_0.device)
    mask = (torch.rand(n, device=x_0.device) >= p_uncond).to(x_0.dtype)
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = abar_all[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    return F.mse_loss(unet(x_t, c, (t.float() / num_ts).view(n, 1), mask), eps)
