"""Part B's support parts in the student kit, where they replace ``support.py``: nothing here answers a
graded name.

The full grader binds the reference blocks, ``add_noise`` and the DDPM objectives in place of a student's
own while another name is checked, and gives its helpers the reference schedule. The kit's visible checks
need only what those parts make possible, not the parts themselves:

* the blocks are shape stand-ins: the output shape of each block (which the assignment states), made
  with other layers (1x1 convolutions, max pooling, nearest upsampling), so a UNet built from them runs
  while its own blocks are being fixed;
* ``ref_add_noise`` and the two objectives are stand-ins that let a training loop run (a finite,
  differentiable loss from one call of the model), not the assignment's formulas;
* the schedule is replayed from stored arrays (outputs of the grader's schedule for the seeded
  ``num_ts`` the probes use), kept in the kit's fixture inputs under ``kit|reference_schedule|...``.

``STORED_CALLS`` says which calls of the full grader's ``support.py`` the kit builder stores.
"""

import torch
from torch import nn

#: definition -> the graded name it stands in for (never sent with a probe of that name)
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

#: support function -> the keyword arguments of each call whose output the kit stores
STORED_CALLS = {"reference_schedule": [{"num_ts": 300}, {"num_ts": 50}]}


def stored_key(name, kwargs, part):
    return "kit|" + name + "|" + ",".join(f"{k}={kwargs[k]!r}" for k in sorted(kwargs)) + "|" + part


def reference_schedule(num_ts=300):
    from grader.course.proj5b.sealed.standins import _KIT_STORED

    keys = {
        part: stored_key("reference_schedule", {"num_ts": num_ts}, part) for part in ("betas", "alphas", "alpha_bars")
    }
    if any(k not in _KIT_STORED for k in keys.values()):
        raise RuntimeError(f"the student kit stores no schedule for num_ts = {num_ts}")
    return {part: torch.from_numpy(_KIT_STORED[k].copy()) for part, k in keys.items()}


class _Shape(nn.Module):
    """A stand-in block: one layer that gives the block's output shape."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


class RefConv(_Shape):  # same resolution
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Conv2d(in_channels, out_channels, 1))


class RefConvBlock(_Shape):  # each stand-in on its own: a probe of Conv carries no RefConv
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Conv2d(in_channels, out_channels, 1))


class RefDownConv(_Shape):  # half the resolution
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Conv2d(in_channels, out_channels, 1, stride=2))


class RefDownBlock(_Shape):
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Conv2d(in_channels, out_channels, 1, stride=2))


class RefUpConv(_Shape):  # twice the resolution
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(in_channels, out_channels, 1)))


class RefUpBlock(_Shape):
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(in_channels, out_channels, 1)))


class RefFlatten(_Shape):  # 7x7 -> 1x1
    def __init__(self):
        super().__init__(nn.MaxPool2d(7))


class RefUnflatten(_Shape):  # 1x1 -> 7x7
    def __init__(self, in_channels):
        super().__init__(nn.Upsample(scale_factor=7))


class RefFCBlock(_Shape):
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Linear(in_channels, out_channels))


def ref_add_noise(x, sigma):
    return x.clone()


def ref_ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    t = torch.zeros(x_0.shape[0], 1, device=x_0.device)
    return unet(x_0, t).square().mean()


def ref_ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    t = torch.zeros(len(x_0), 1, device=x_0.device)
    return unet(x_0, c, t, torch.ones(len(x_0), device=x_0.device)).square().mean()
