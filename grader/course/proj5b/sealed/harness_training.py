"""Part B instruments for training (worker side): a tiny trainable recording net, the loader it sees,
the optimizer-step recorder and run_train."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from grader.course.proj5b.sealed.harness_common import (
    _STASH,
    _digits,
    _seed_all,
    reference_schedule,
)
from grader.course.proj5b.sealed.standins import (
    LooksLikeUNet,
    per_sample_mask,
)

# ---- training with a tiny recording net -------------------------------------------------------


class _TinyNet(LooksLikeUNet, nn.Module):
    """A small trainable net that records what each forward pass is given."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 1, 3, padding=1)
        self.fc_t = nn.Linear(1, 8)
        self.fc_c = nn.Linear(10, 8)
        self.records: list[dict] = []

    def _run(self, x, t=None, c=None, mask=None):
        x = torch.as_tensor(x)
        h = self.conv1(x)
        n = x.shape[0]
        if t is not None:
            tc = torch.as_tensor(t, dtype=x.dtype).reshape(n, -1)[:, :1]
            h = h + self.fc_t(tc)[:, :, None, None]
        if c is not None:
            c = torch.as_tensor(c)
            onehot = (
                c.to(x.dtype).reshape(n, -1)
                if c.dim() == 2 and c.shape[-1] == 10
                else F.one_hot(c.long().reshape(-1), 10).to(x.dtype)
            )
            if mask is not None:
                onehot = onehot * per_sample_mask(mask, n).to(x.dtype).reshape(n, 1)
            h = h + self.fc_c(onehot)[:, :, None, None]
        out = self.conv2(F.gelu(h))
        batches = getattr(self, "batches", None)
        self.records.append(
            {
                "clean": None if batches is None or batches.current is None else batches.current.clone(),
                "x": x.detach().float().cpu().clone(),
                "t": None if t is None else torch.as_tensor(t).detach().float().reshape(n, -1)[:, 0].clone(),
                "out": out.detach().float().cpu().clone(),
                "grad": bool(torch.is_grad_enabled()),
                "training": bool(self.training),
            }
        )
        return out


class _TinyDenoiser(_TinyNet):
    def forward(self, x):
        return self._run(x)


class _TinyTimeNet(_TinyNet):
    def forward(self, x, t):
        return self._run(x, t)


class _TinyClassNet(_TinyNet):
    def forward(self, x, c, t, mask=None):
        return self._run(x, t, c, mask)


TRAIN_DIGITS, TRAIN_BATCH = 128, 32


class _BatchesSeen(DataLoader):
    """The training runs' loader; it keeps the clean images of the batch it handed out last, which a
    training forward is computed from, however the loop takes its batches (in order, ``next(iter(...))``)."""

    current = None

    def __iter__(self):
        for batch in super().__iter__():
            self.current = batch[0]
            yield batch


#: Optimizer steps whose parameters, gradients and settings are recorded (the first ones).
STEPS_RECORDED = 6


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().double().reshape(-1) for t in tensors])


class _StepRecorder:
    """What each of the first optimizer steps on the net does, as plain data for the grading side.

    Per step: the parameters before and after ``optimizer.step()``, the gradients it steps with
    (``p.grad``, 0 where None; ``step_live``: which parameters had a .grad), the fresh gradients of the ``backward()`` calls since the previous
    step (from hooks on the parameters, before they are accumulated into ``.grad``), and the
    optimizer's settings ``[beta1, beta2, weight_decay, eps, amsgrad, maximize]`` (NaN where the
    optimizer has none); ``step_sizes``: each parameter's number of elements. The grading side replays
    Adam on these and compares.
    """

    def __init__(self, net: nn.Module, limit: int = STEPS_RECORDED):
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        self.params = [p for p in net.parameters()]
        self.limit = limit
        self.fresh = [torch.zeros_like(p, dtype=torch.float64) for p in self.params]
        self.rows: dict[str, list] = {
            "step_before": [],
            "step_after": [],
            "step_grad": [],
            "step_fresh": [],
            "step_hyper": [],
            "step_live": [],
        }
        self.sizes = np.array([p.numel() for p in self.params], dtype=np.int64)
        self.handles = [p.register_hook(self._grad_hook(i)) for i, p in enumerate(self.params)]
        self.handles.append(register_optimizer_step_pre_hook(self._pre))
        self.handles.append(register_optimizer_step_post_hook(self._post))
        self.pending = False

    def _grad_hook(self, i):
        def hook(grad):
            with torch._C.DisableTorchFunction():
                self.fresh[i] += grad.detach().double()

        return hook

    def _mine(self, optimizer) -> bool:
        ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
        return any(id(p) in ids for p in self.params)

    def _pre(self, optimizer, args, kwargs):
        if len(self.rows["step_before"]) >= self.limit or not self._mine(optimizer):
            return
        with torch._C.DisableTorchFunction():
            group = optimizer.param_groups[0]
            betas = group.get("betas", (float("nan"), float("nan")))
            self.rows["step_hyper"].append(
                torch.tensor(
                    [
                        float(betas[0]),
                        float(betas[1]),
                        float(group.get("weight_decay", float("nan"))),
                        float(group.get("eps", float("nan"))),
                        float(bool(group.get("amsgrad", False))),
                        float(bool(group.get("maximize", False))),
                    ],
                    dtype=torch.float64,
                )
            )
            self.rows["step_before"].append(_flat(self.params))
            self.rows["step_grad"].append(
                _flat([p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params])
            )
            self.rows["step_fresh"].append(_flat(self.fresh))
            self.rows["step_live"].append(
                torch.tensor([float(p.grad is not None) for p in self.params], dtype=torch.float64)
            )
            for f in self.fresh:
                f.zero_()
        self.pending = True

    def _post(self, optimizer, args, kwargs):
        if self.pending:
            with torch._C.DisableTorchFunction():
                self.rows["step_after"].append(_flat(self.params))
            self.pending = False

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def data(self) -> dict:
        """The records as float64 numpy arrays (tensors would be sent as float32)."""
        n = len(self.rows["step_after"])
        with torch._C.DisableTorchFunction():
            out = {k: (torch.stack(v[:n]).numpy() if n else np.zeros((0, 0))) for k, v in self.rows.items()}
        out["step_sizes"] = self.sizes
        return out


def _loss_list(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().reshape(-1).tolist()
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    return [float(x) for x in v.detach().reshape(-1).tolist()]
                v = v.detach().item()
            out.append(float(v))
        return out
    return None


def run_train(fn, kind, num_epochs=3, lr=1e-2, sigma=0.5, p_uncond=0.1, num_ts=300, seed=0):
    """Train a tiny recording net with the student's loop; return the losses it reports.

    Stashed: ``lrs`` (the learning rate at every optimizer step), ``adam`` (1 where
    that step was Adam's), ``covers`` (1 where the optimizer holds the net's
    parameters), ``changed`` (largest parameter change), ``fwd_x`` / ``fwd_out`` /
    ``clean`` (the first training forwards and their clean batches), ``fwd_t`` (the t they were given), ``n_fwd``,
    ``ret_none``, ``loop`` (whether ``fn`` is a top-level loop, and the epochs it declares).
    """
    from torch.optim.optimizer import register_optimizer_step_pre_hook
    from torch.utils.data import TensorDataset

    _seed_all(seed)
    net = {"denoiser": _TinyDenoiser, "time": _TinyTimeNet, "class": _TinyClassNet}[kind]()
    x, y = _digits(TRAIN_DIGITS)
    loader = _BatchesSeen(TensorDataset(x, y), batch_size=TRAIN_BATCH, shuffle=False)
    net.batches = loader
    params = {id(p) for p in net.parameters()}
    before = [p.detach().clone() for p in net.parameters()]
    steps: list[tuple[float, int, int]] = []

    def hook(optimizer, args, kwargs):
        ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
        steps.append(
            (
                float(optimizer.param_groups[0]["lr"]),
                int(isinstance(optimizer, torch.optim.Adam)),
                int(bool(ids & params)),
            )
        )

    handle = register_optimizer_step_pre_hook(hook)
    step = _StepRecorder(net)
    _STASH.clear()
    is_loop = bool(getattr(fn, "is_training_loop", False))  # a top-level loop in place of the function (loops.py)
    try:
        if is_loop:
            losses = fn.run(net, loader, num_epochs)
        elif kind == "denoiser":
            losses = fn(net, loader, sigma=sigma, num_epochs=num_epochs, lr=lr)
        elif kind == "time":
            losses = fn(net, reference_schedule(num_ts), loader, num_ts=num_ts, num_epochs=num_epochs, lr=lr)
        else:
            losses = fn(
                net, reference_schedule(num_ts), loader, num_ts=num_ts, p_uncond=p_uncond, num_epochs=num_epochs, lr=lr
            )
    finally:
        handle.remove()
        step.remove()
    changed = max(float((p.detach() - b).abs().max()) for p, b in zip(net.parameters(), before))
    fwd = [r for r in net.records if r["grad"]]
    nb = len(loader)
    keep = fwd[:2]
    _STASH.update(
        {
            "lrs": torch.tensor([s[0] for s in steps], dtype=torch.float64),
            "adam": torch.tensor([s[1] for s in steps]),
            "covers": torch.tensor([s[2] for s in steps]),
            "changed": torch.tensor(changed),
            "n_fwd": torch.tensor(len(fwd)),
            "n_batches": torch.tensor(nb),
            "ret_none": torch.tensor(int(losses is None)),
            # a top-level loop: 1, and how many epochs its own epoch loop declares (0: unknown)
            "loop": torch.tensor([int(is_loop), int(getattr(fn, "declared_epochs", None) or 0)]),
            **step.data(),
        }
    )
    if keep and all(r["x"].shape == keep[0]["x"].shape for r in keep):
        _STASH["fwd_x"] = torch.stack([r["x"] for r in keep])
        _STASH["fwd_out"] = torch.stack([r["out"] for r in keep])
        if all(r["t"] is not None for r in keep):
            _STASH["fwd_t"] = torch.stack([r["t"] for r in keep])
        _STASH["clean"] = torch.stack(
            [
                r["clean"] if r["clean"] is not None else x[(i % nb) * TRAIN_BATCH : (i % nb + 1) * TRAIN_BATCH]
                for i, r in enumerate(keep)
            ]
        )
    values = _loss_list(losses)
    return np.asarray(values if values is not None else [], dtype=np.float64)
