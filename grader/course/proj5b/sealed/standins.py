"""Stand-ins for Part B (a diffusion model on MNIST), plus the instruments its checks use.

What ``build`` provides to a notebook:

* ``device = "cpu"``.
* An offline ``torchvision.datasets.MNIST``: the fixture digits served like the
  real dataset (PIL images of mode "L" through ``transform`` and
  ``target_transform``, ``.data`` uint8 ``(N, 28, 28)``, ``.targets`` int64).
  ``train=True`` gives the fixture's training digits, ``train=False`` its test
  digits; ``root`` and ``download`` are accepted and ignored. torchvision is
  not imported here (it costs ~2 s): the class is swapped in when the notebook
  imports ``torchvision.datasets``, or at once if it is already imported.

Instruments for the checks (plain classes and functions, built in the worker):

* ``AnalyticDenoiser(images, labels, alpha_bars)``: ``forward(x, t)``; and
  ``AnalyticClassDenoiser(...)``: ``forward(x, c, t, mask=None)``. The exact
  posterior-mean noise estimate when x0 is uniform over the stored digits (of
  class ``c`` where ``mask != 0``; all of them where ``mask == 0``, ``mask`` is
  None or ``c`` is an all-zero one-hot row). DDPM sampling with it lands on a
  stored digit, so samplers have an outcome that can be checked.
* ``ProbeUNet()`` (``forward(x, t=None)``) and ``ProbeClassUNet()``
  (``forward(x, c, t, mask=None)``): record every call and return the fixed
  map ``0.5 * x + 0.1``. ``probe.data()`` gives the records as plain tensors.

Timestep convention of the analytic denoisers (the reference notebook's): an
integer step ``k`` in ``0 .. T-1`` has noise level ``alpha_bars[k]`` and reaches
the network as ``k / T``. The denoiser recovers ``k = round(t * T)`` and uses
``alpha_bars[k + index_offset]`` (clamped to ``0 .. T-1``). ``index_offset=0``
matches the 0-based reading (train on ``randint(0, T)``, sample ``k = T-1 .. 0``
indexing ``alpha_bars[k]``); ``index_offset=-1`` matches the 1-based reading
(``t`` in ``1 .. T``, ``alpha_bars[t - 1]``, network given ``t / T``). Both
readings are allowed by the contract; a check can try both.
"""

from __future__ import annotations

import importlib.abc
import sys

import numpy as np
import torch
from torch import nn

#: The reference notebook's schedule (the spec's recipe).
BETA1, BETA2, NUM_TS = 1e-4, 0.02, 300
INDEX_OFFSETS = {"0-based": 0, "1-based": -1}


# ---- the schedule and the denoiser bank ------------------------------------------


def _as_images(images) -> torch.Tensor:
    """uint8 (0-255) or float ([0, 1]) digits, (K, 28, 28) or (K, 1, 28, 28) -> float64 (K, 1, 28, 28)."""
    t = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    t = t.detach().cpu()
    t = t.double() / 255.0 if t.dtype == torch.uint8 else t.double()
    if t.dim() == 3:
        t = t[:, None]
    return t


def make_denoiser(
    inputs: dict, alpha_bars, conditional: bool = False, bank: str = "bank", num_ts: int = NUM_TS, index_offset: int = 0
) -> nn.Module:
    """An analytic denoiser over the fixture's ``bank`` (or ``train``/``test``) digits and a schedule's alpha_bars."""
    images, labels = inputs[f"{bank}_images"], inputs[f"{bank}_labels"]
    cls = AnalyticClassDenoiser if conditional else AnalyticDenoiser
    return cls(images, labels, alpha_bars, num_ts=num_ts, index_offset=index_offset).eval()


# ---- what student code reads off a model -------------------------------------------


class LooksLikeUNet:
    """Attributes student code reads off the model it is given, as the course's UNets have them:
    ``in_channels``, ``num_classes``, ``device``, ``dtype`` (and, on nn.Modules with a parameter,
    ``next(unet.parameters())``)."""

    in_channels = 1
    out_channels = 1
    num_classes = 10
    img_size = 28

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32


def per_sample_mask(mask, n: int, fill: float = 1.0) -> torch.Tensor:
    """(n,) float: 0 where a sample's class is dropped. A mask may come as (N,), (N, 1), (N, 1, 1, 1), or shaped
    like the one-hot (N, 10) (a row of zeros drops the class); a single value applies to every sample."""
    if mask is None:
        return torch.full((n,), fill)
    m = torch.as_tensor(mask).detach().cpu()
    if m.dim() >= 2 and m.shape[0] == n:
        rows = m.reshape(n, -1).float()
        return rows[:, 0].clone() if rows.shape[1] == 1 else (rows != 0).any(1).float()
    m = m.reshape(-1).float()
    if m.numel() == 1 and n > 1:
        m = m.expand(n)
    if m.numel() != n:
        raise ValueError(f"mask has {m.numel()} values for a batch of {n}")
    return m.clone()


# ---- the analytic (posterior-mean) denoisers -------------------------------------


class AnalyticDenoiser(LooksLikeUNet, nn.Module):
    """Exact E[eps | x_t] when x0 is uniform over stored digits; ``forward(x, t)`` with t = k / num_ts."""

    def __init__(self, images, labels, schedule_alpha_bars, num_ts: int | None = None, index_offset: int = 0):
        super().__init__()
        bank = _as_images(images)
        self.register_buffer("bank", bank.reshape(bank.shape[0], -1))  # (K, P) float64
        self.register_buffer("bank_sq", (self.bank**2).sum(1))
        self.register_buffer("labels", torch.as_tensor(np.asarray(labels)).reshape(-1).long())
        self.register_buffer("alpha_bars", torch.as_tensor(schedule_alpha_bars).detach().double().reshape(-1))
        self.image_shape = tuple(bank.shape[1:])
        self.num_ts = int(num_ts if num_ts is not None else self.alpha_bars.numel())
        self.index_offset = int(index_offset)
        self.num_classes = 10
        # One (frozen) parameter so ``next(unet.parameters())`` works in student code.
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)
        if self.labels.numel() != self.bank.shape[0]:
            raise ValueError("AnalyticDenoiser: images and labels differ in length")

    # -- helpers
    def steps(self, t, n: int) -> torch.Tensor:
        """Integer schedule index per sample from the normalised timestep t."""
        t = torch.as_tensor(t).detach().cpu().double().reshape(-1)
        if t.numel() == 1 and n > 1:
            t = t.expand(n)
        if t.numel() != n:
            raise ValueError(f"t has {t.numel()} values for a batch of {n}")
        k = torch.round(t * self.num_ts).long() + self.index_offset
        return k.clamp(0, self.alpha_bars.numel() - 1)

    def posterior_mean(self, x: torch.Tensor, abar: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """E[x0 | x_t] (N, P) for flattened x (N, P) float64, abar (N,), allowed (N, K) bool or None."""
        s = abar.sqrt()[:, None]
        d2 = (x * x).sum(1, keepdim=True) - 2 * s * (x @ self.bank.T) + abar[:, None] * self.bank_sq[None]
        logits = -d2 / (2 * (1 - abar))[:, None]
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        return torch.softmax(logits, dim=1) @ self.bank

    def estimate(self, x, t, allowed=None) -> torch.Tensor:
        x_in = torch.as_tensor(x)
        n = x_in.shape[0]
        flat = x_in.detach().cpu().double().reshape(n, -1)
        if flat.shape[1] != self.bank.shape[1]:
            raise ValueError(
                f"expected images of shape (N, {', '.join(map(str, self.image_shape))}), got {tuple(x_in.shape)}"
            )
        abar = self.alpha_bars[self.steps(t, n)]
        x0 = self.posterior_mean(flat, abar, allowed)
        eps = (flat - abar.sqrt()[:, None] * x0) / (1 - abar).sqrt()[:, None]
        dtype = torch.float64 if x_in.dtype == torch.float64 else torch.float32  # no half precision, as in GraderMode
        return eps.reshape(x_in.shape).to(dtype)

    def forward(self, x, t):
        return self.estimate(x, t)


class AnalyticClassDenoiser(AnalyticDenoiser):
    """As AnalyticDenoiser, conditioned on the class: ``forward(x, c, t, mask=None)``."""

    def class_rows(self, c, mask, n: int) -> torch.Tensor:
        """(N, K) bool: which stored digits each sample's posterior ranges over."""
        c = torch.as_tensor(c).detach().cpu()
        if c.dim() == 2 and c.shape[0] == n and c.shape[1] > 1:  # a one-hot row (zeros: no class)
            keep = c.abs().sum(1) > 0
            c = c.argmax(1)
        else:
            c = c.reshape(-1).long()
            if c.numel() == 1 and n > 1:
                c = c.expand(n)
            keep = torch.ones(n, dtype=torch.bool)
        if c.numel() != n:
            raise ValueError(f"c has {c.numel()} labels for a batch of {n}")
        if mask is not None:
            keep = keep & (per_sample_mask(mask, n) != 0)
        allowed = self.labels[None, :] == c.long()[:, None]
        # A class without stored digits, or a dropped class: the whole bank.
        keep = keep & allowed.any(1)
        return torch.where(keep[:, None], allowed, torch.ones_like(allowed))

    def forward(self, x, c, t, mask=None):
        n = torch.as_tensor(x).shape[0]
        return self.estimate(x, t, self.class_rows(c, mask, n))


# ---- recording probes ------------------------------------------------------------


class ProbeUNet(LooksLikeUNet, nn.Module):
    """Records each call's (x, t) and returns ``0.5 * x + 0.1`` (fixed: its one parameter gets zero gradient).

    ``forward(x, t=None)`` serves both the single-step denoiser (``unet(x)``)
    and the time-conditioned UNet (``unet(x_t, t)``).
    """

    SCALE, SHIFT = 0.5, 0.1

    def __init__(self, keep_x: bool = True):
        super().__init__()
        self.keep_x = keep_x
        # A parameter so optimisers can be built on it; it never changes the output.
        self.weight = nn.Parameter(torch.zeros(()))
        self.calls: list[dict] = []

    def respond(self, x: torch.Tensor) -> torch.Tensor:
        return self.SCALE * x + self.SHIFT + 0.0 * self.weight

    def _record(self, x, t=None, c=None, mask=None, out=None) -> None:
        x = torch.as_tensor(x)
        n = x.shape[0]
        rec = {"n": n, "training": bool(self.training), "grad": bool(torch.is_grad_enabled())}
        if self.keep_x:
            rec["x"] = x.detach().cpu().float().clone()
            rec["out"] = out.detach().cpu().float().clone()
        rec["t_raw_shape"] = tuple(torch.as_tensor(t).shape) if t is not None else ()
        rec["t"] = _per_sample(t, n, torch.float64, float("nan")).float()
        rec["c"] = _labels(c, n)
        try:
            rec["mask"] = per_sample_mask(mask, n)
        except ValueError:  # an odd shape: recorded as given, the first n values
            rec["mask"] = _per_sample(mask, n, torch.float32, 1.0)
        self.calls.append(rec)

    def forward(self, x, t=None):
        out = self.respond(x)
        self._record(x, t=t, out=out)
        return out

    # -- read-out as data
    def num_calls(self) -> int:
        return len(self.calls)

    def data(self) -> dict:
        """Every call concatenated along the batch: x, out (if kept), t (NaN when absent), c (-1 when absent), mask, call, batch."""
        if not self.calls:
            return {"batch": torch.zeros(0, dtype=torch.int64)}
        out = {
            "t": torch.cat([r["t"] for r in self.calls]),
            "c": torch.cat([r["c"] for r in self.calls]),
            "mask": torch.cat([r["mask"] for r in self.calls]),
            "call": torch.cat([torch.full((r["n"],), i, dtype=torch.int64) for i, r in enumerate(self.calls)]),
            "batch": torch.tensor([r["n"] for r in self.calls], dtype=torch.int64),
            "training": torch.tensor([r["training"] for r in self.calls], dtype=torch.bool),
            "t_ndim": torch.tensor([len(r["t_raw_shape"]) for r in self.calls], dtype=torch.int64),
        }
        if self.keep_x:
            out["x"] = torch.cat([r["x"] for r in self.calls])
            out["out"] = torch.cat([r["out"] for r in self.calls])
        return out

    def call(self, i: int) -> dict:
        """One call's record as tensors."""
        r = self.calls[i]
        return {k: v for k, v in r.items() if isinstance(v, torch.Tensor)}


class ProbeClassUNet(ProbeUNet):
    """ProbeUNet for the class-conditioned signature ``forward(x, c, t, mask=None)``."""

    def forward(self, x, c, t, mask=None):
        out = self.respond(x)
        self._record(x, t=t, c=c, mask=mask, out=out)
        return out


def _per_sample(v, n: int, dtype, fill) -> torch.Tensor:
    if v is None:
        return torch.full((n,), fill, dtype=dtype)
    v = torch.as_tensor(v).detach().cpu().to(dtype).reshape(-1)
    if v.numel() == 1 and n > 1:
        v = v.expand(n)
    if v.numel() != n:  # an odd shape: keep the first n values, pad with the fill value
        v = torch.cat([v[:n], torch.full((max(0, n - v.numel()),), fill, dtype=dtype)])
    return v.clone()


def _labels(c, n: int) -> torch.Tensor:
    if c is None:
        return torch.full((n,), -1, dtype=torch.int64)
    c = torch.as_tensor(c).detach().cpu()
    if c.dim() == 2 and c.shape[0] == n and c.shape[1] > 1:  # one-hot given: its argmax, -1 for zero rows
        return torch.where(c.abs().sum(1) > 0, c.argmax(1), torch.full((n,), -1)).long()
    return _per_sample(c, n, torch.int64, -1)


# ---- the offline MNIST ----------------------------------------------------------


class FixtureMNIST(torch.utils.data.Dataset):
    """``torchvision.datasets.MNIST`` with the fixture digits; no files, no network."""

    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]
    splits: dict = {}

    def __init__(
        self, root="data", train: bool = True, transform=None, target_transform=None, download: bool = False, **_ignored
    ):
        if not self.splits:
            raise RuntimeError("the grader's MNIST stand-in has no digits (install_mnist was not called)")
        self.root = root
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        images, labels = self.splits["train" if self.train else "test"]
        self.data = images.clone()
        self.targets = labels.clone()

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    @property
    def train_data(self):
        return self.data

    @property
    def test_data(self):
        return self.data

    @property
    def train_labels(self):
        return self.targets

    @property
    def test_labels(self):
        return self.targets

    def download(self) -> None:
        return None

    def _check_exists(self) -> bool:
        return True

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index):
        from PIL import Image

        img = Image.fromarray(self.data[index].numpy())  # uint8 (28, 28) -> mode "L"
        target = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return (
            f"Dataset MNIST (grader stand-in)\n    Number of datapoints: {len(self)}\n"
            f"    Root location: {self.root}\n    Split: {split}"
        )


_PATCHED = ("torchvision.datasets", "torchvision.datasets.mnist")
_originals: dict = {}


def _patch_torchvision() -> None:
    for name in _PATCHED:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "MNIST", None) is not FixtureMNIST:
            _originals.setdefault(name, getattr(module, "MNIST", None))
            module.MNIST = FixtureMNIST


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then swaps MNIST in."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch_torchvision()

    def __getattr__(self, name):
        if name == "_loader":
            raise AttributeError(name)
        return getattr(self._loader, name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds ``torchvision.datasets`` through the other finders and wraps its loader."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "torchvision.datasets":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


_FINDER = _PatchOnImport()


def install_mnist(train_images, train_labels, test_images, test_labels) -> None:
    """Serve these digits as ``torchvision.datasets.MNIST`` (now, or when torchvision is imported)."""

    def split(images, labels):
        im = torch.as_tensor(np.asarray(images, dtype=np.uint8)).reshape(-1, 28, 28).clone()
        lab = torch.as_tensor(np.asarray(labels)).reshape(-1).long().clone()
        return im, lab

    FixtureMNIST.splits = {"train": split(train_images, train_labels), "test": split(test_images, test_labels)}
    if "torchvision.datasets" in sys.modules:
        _patch_torchvision()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def restore_mnist() -> None:
    """Undo install_mnist (for tests in one process)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name, original in list(_originals.items()):
        module = sys.modules.get(name)
        if module is not None and original is not None:
            module.MNIST = original
    _originals.clear()
    FixtureMNIST.splits = {}


#: The fixture inputs (numpy), kept by ``build`` for the check helpers below.
INPUTS: dict = {}


def build(inputs: dict) -> dict:
    """The provided globals for proj5b, built from the fixture inputs (numpy arrays)."""
    install_mnist(inputs["train_images"], inputs["train_labels"], inputs["test_images"], inputs["test_labels"])
    INPUTS.clear()
    INPUTS.update(inputs)
    return {"device": "cpu"}
