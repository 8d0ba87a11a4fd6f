"""Grader-side instruments for the proj5b checks, run inside the worker.

Probes reach these as ``"$standin:NAME"`` (the worker looks them up in the
assignment's worker-side modules, ``Spec.worker_modules``). They take
student objects (``{"$ns": "UpBlock"}``), run them on fixed inputs and return
plain data (arrays and numbers), never the objects themselves.

Modules
    ``module_output`` / ``module_trace`` / ``module_params`` build the student's
    class with given arguments. Before a forward pass every parameter is set
    from a generator keyed by its *signature*: (layer type, parameter name,
    shape), e.g. ("Conv2d", "weight", (8, 4, 3, 3)). Equal architectures
    therefore get equal weights whatever the attributes are called, whatever
    order they were registered in, and whether nn.Sequential or explicit layers
    were used. A conv that reads a channel concatenation of equal parts gets
    weights that repeat over those parts, so ``cat([skip, h])`` and
    ``cat([h, skip])`` give the same output (both orders are correct). The
    fixture builder runs the same helpers on the reference notebook, so the
    student's output is compared with the reference's "after loading the
    reference weights".

    ``module_trace`` records the layers a forward pass runs, in order, as rows
    ``[op, in, out, kernel, stride, padding]`` (codes in :mod:`grader.course.proj5b.opcodes`); functional calls
    (``F.gelu``, ``torch.cat``) count as well as modules.

Functions
    ``run_*`` helpers call a student function on grader-made arguments (the
    reference schedule, a recording probe UNet, the analytic denoisers, a tiny
    trainable recording net and loader), keep what they observed in a per-probe
    stash and return the function's own result. ``stash_get(key)`` returns an
    observation as data in a later call of the same probe.

Reference parts (``RefConv`` ... ``RefFCBlock``, ``ref_add_noise``, ``ref_ddpm_forward``,
``reference_schedule``) are not here: they live grading-side in ``support.py`` and reach a
probe only as ``$support:NAME`` (see :mod:`grader.support`), never in a probe of the name
they would answer.
"""

from __future__ import annotations

import math
import random
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader

from grader.course.proj5b import interfaces
from grader.course.proj5b.opcodes import CODES
from grader.course.proj5b.standins import (
    INPUTS,
    NUM_TS,
    LooksLikeUNet,
    ProbeClassUNet,
    ProbeUNet,
    make_denoiser,
    per_sample_mask,
)
from grader.worker import adapters
from grader.worker import environment as runtime

_STASH: dict = {}


def stash_get(key: str):
    """An observation kept by an earlier call of the same probe."""
    if key not in _STASH:
        raise KeyError(f"nothing recorded under {key!r} (the call that records it failed)")
    return _STASH[key]


def _seed_all(seed: int) -> None:
    """Seed the generators that keyed noise does not cover (randint, rand, numpy's, python's)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def _crc(key) -> int:
    return zlib.crc32(repr(key).encode()) & 0x7FFFFFFF


def reference_schedule(num_ts: int = NUM_TS) -> dict:
    """The reference schedule, from the grading side's support code sent with this probe."""
    try:
        return runtime.SUPPORT["reference_schedule"](num_ts=num_ts)
    except KeyError:
        raise RuntimeError("this probe carries no reference schedule (grader bug: a probe of ddpm_schedule?)") from None


# ---- what a forward pass runs --------------------------------------------------------------


#: Row codes of a trace: [op, in, out, kernel, stride, padding].
def _arg(args, kwargs, i, key, default=None):
    if len(args) > i:
        return args[i]
    return kwargs.get(key, default)


def _int(v, kernel: int | None = None) -> int:
    if isinstance(v, str):
        return (kernel - 1) // 2 if v == "same" and kernel else 0
    if isinstance(v, (tuple, list, torch.Size)):
        v = v[0] if len(v) else 0
    try:
        return int(v)
    except (TypeError, ValueError):
        return -1


def _channels(x) -> int:
    return int(x.shape[1]) if isinstance(x, torch.Tensor) and x.dim() >= 2 else 0


class OpTracer(TorchFunctionMode):
    """Records layer-like operations in execution order, and convs that read a channel concat."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[int]] = []
        self.cats: dict[int, list[int]] = {}
        self.keep: list = []  # cat outputs, alive so that their ids stay unique
        self.sym: dict[int, tuple[int, list[int]]] = {}  # id(weight) -> (dim of input channels, part sizes)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        code = CODES.get(getattr(func, "__name__", ""))
        if code is not None:
            try:
                self._record(code, args, kwargs, out)
            except Exception:  # a trace is a diagnosis aid; never break the student's forward
                pass
        return out

    def _record(self, code, args, kwargs, out):
        inp = _arg(args, kwargs, 0, "input")
        c = _channels(inp)
        if code in (1, 2):
            w = _arg(args, kwargs, 1, "weight")
            groups = _int(_arg(args, kwargs, 6, "groups", 1))
            k = int(w.shape[-1])
            s = _int(_arg(args, kwargs, 3, "stride", 1))
            p = _int(_arg(args, kwargs, 4, "padding", 0), k)
            if code == 1:
                row = [1, int(w.shape[1]) * groups, int(w.shape[0]), k, s, p]
                dim = 1
            else:
                row = [2, int(w.shape[0]), int(w.shape[1]) * groups, k, s, p]
                dim = 0
            if id(inp) in self.cats:
                self.sym[id(w)] = (dim, self.cats[id(inp)])
        elif code in (5, 15):
            k = _int(_arg(args, kwargs, 1, "kernel_size"))
            s = _arg(args, kwargs, 2, "stride", None)
            s = k if s is None or (isinstance(s, (list, tuple)) and not s) else _int(s)
            row = [code, c, c, k, s, _int(_arg(args, kwargs, 3, "padding", 0))]
        elif code == 14:
            size = _int(_arg(args, kwargs, 1, "output_size"))
            if size == 1 and isinstance(inp, torch.Tensor) and inp.dim() == 4 and inp.shape[-1] == inp.shape[-2]:
                k = int(inp.shape[-1])  # a global average pool: the same as AvgPool2d(H)
                row = [5, c, c, k, k, 0]
            else:
                row = [14, c, c, size, 0, 0]
        elif code == 6:
            w = _arg(args, kwargs, 1, "weight")
            row = [6, int(w.shape[1]), int(w.shape[0]), 0, 0, 0]
        elif code == 7:
            tensors = list(_arg(args, kwargs, 0, "tensors"))
            dim = _arg(args, kwargs, 1, "dim", kwargs.get("axis", 0))
            dim = int(dim) + (out.dim() if int(dim) < 0 else 0)
            row = [7, int(out.shape[dim]), len(tensors), dim, 0, 0]
            if dim == 1:
                self.cats[id(out)] = [int(t.shape[1]) for t in tensors]
                self.keep.append(out)
        else:
            row = [code, c, c, 0, 0, 0]
        self.rows.append(row)


# ---- deterministic weights by signature ---------------------------------------------------


def _layer_type(m: nn.Module) -> str:
    for k in type(m).__mro__:
        if k.__module__.startswith("torch.nn.modules"):
            return k.__name__
    return "Module"


def init_by_signature(module: nn.Module, sym: dict | None = None) -> None:
    """Set every parameter from a generator keyed by (layer type, name, shape); see the module docstring."""
    sym = sym or {}
    seen: set[int] = set()
    with torch.no_grad(), torch._C.DisableTorchFunction():
        for mod in module.modules():
            ltype = _layer_type(mod)
            for pname, p in mod.named_parameters(recurse=False):
                if id(p) in seen:
                    continue
                seen.add(id(p))
                shape = tuple(int(s) for s in p.shape)
                gen = torch.Generator().manual_seed(_crc((ltype, pname, shape)))
                u = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
                if ltype.startswith("BatchNorm") or ltype.endswith("Norm"):
                    vals = 1 + 0.25 * u if pname == "weight" else 0.2 * u
                elif pname == "weight" and len(shape) >= 2:
                    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
                    if ltype.startswith("ConvTranspose"):
                        stride = getattr(mod, "stride", (1,))
                        stride = stride[0] if isinstance(stride, (tuple, list)) else stride
                        fan_in = shape[0] * receptive / max(1, int(stride)) ** 2
                    else:
                        fan_in = shape[1] * receptive
                    vals = u * math.sqrt(6.0 / max(fan_in, 1.0))
                elif pname == "bias":
                    vals = 0.2 * u
                else:
                    vals = 0.5 * u
                if id(p) in sym:
                    dim, parts = sym[id(p)]
                    if len(set(parts)) == 1 and len(parts) > 1 and shape[dim] == sum(parts):
                        m = parts[0]
                        first = vals.narrow(dim, 0, m)
                        vals = torch.cat([first] * len(parts), dim=dim)
                p.copy_(vals.to(p.dtype))


# ---- module helpers ------------------------------------------------------------------------

T_VALUES = (0.0, 1 / 3, 0.6, 1.0, 0.1, 0.9)
C_VALUES = (3, 7, 0, 9, 5, 1)
MASK_VALUES = (1.0, 0.0, 1.0, 1.0, 0.0, 1.0)


def _x(shape) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    if shape[1:] == (1, 28, 28) and "probe_x" in INPUTS and shape[0] <= len(INPUTS["probe_x"]):
        return torch.as_tensor(np.asarray(INPUTS["probe_x"][: shape[0]])).float().clone()
    gen = torch.Generator().manual_seed(_crc(("x", shape)))
    with torch._C.DisableTorchFunction():
        return torch.rand(shape, generator=gen) * 2 - 1


def _forms(shape, cond):
    """Every accepted way to call the module on one batch: t (N, 1) or (N,), c labels or one-hot, float or bool mask."""
    x = _x(shape)
    n = x.shape[0]
    t = torch.tensor(T_VALUES[:n], dtype=torch.float32)
    if cond is None:
        return [(x,)]
    if cond == "time":
        return [(x, t[:, None].clone()), (x, t.clone())]
    if cond == "class":
        c = torch.tensor(C_VALUES[:n], dtype=torch.int64)
        mask = torch.tensor(MASK_VALUES[:n], dtype=torch.float32)
        onehot = F.one_hot(c, 10).float()
        keep = mask.bool()
        return [
            (x, c.clone(), t[:, None].clone(), mask.clone()),
            (x, c.clone(), t.clone(), mask.clone()),
            (x, onehot.clone(), t[:, None].clone(), mask.clone()),
            (x, onehot.clone(), t.clone(), mask.clone()),
            (x, c.clone(), t[:, None].clone(), keep.clone()),
            (x, c.clone(), t.clone(), keep.clone()),
        ]
    if cond == "class+":  # tried only when none of the forms above runs: a mask (N, 1), or shaped like the one-hot
        c = torch.tensor(C_VALUES[:n], dtype=torch.int64)
        mask = torch.tensor(MASK_VALUES[:n], dtype=torch.float32)
        onehot = F.one_hot(c, 10).float()
        column = mask[:, None].clone()
        return [
            (x, c.clone(), t[:, None].clone(), column.clone()),
            (x, onehot.clone(), t[:, None].clone(), column.clone()),
            (x, onehot.clone(), t[:, None].clone(), column.expand(n, 10).clone()),
        ]
    raise ValueError(f"unknown conditioning {cond!r}")


def _build(cls, args):
    if not isinstance(cls, type):
        raise TypeError(f"expected a class, got {type(cls).__name__}")
    module = cls(*interfaces.constructor_args(cls, list(args)))
    if not isinstance(module, nn.Module):
        raise TypeError(f"{cls.__name__}(...) is not an nn.Module")
    _unit_stride_on_1x1(module)
    return module.float().cpu()


def _unit_stride_on_1x1(module: nn.Module) -> None:
    """A ``ConvTranspose2d(k, stride=s, padding=0)`` with s != k gives on a 1x1 input exactly what ``stride=k`` gives
    (the output is the kernel times the input, k x k): there it becomes ``stride=k``, so that the trace, the weights
    keyed by signature and the outputs are those of the contract's ``ConvTranspose2d(k7, s7)``."""
    for mod in module.modules():
        if type(mod) is not nn.ConvTranspose2d or mod.stride == mod.kernel_size:
            continue
        if any(mod.padding) or any(mod.output_padding) or mod.dilation != (1, 1) or mod.groups != 1:
            continue

        def hook(m, inputs):
            x = inputs[0] if inputs else None
            if isinstance(x, torch.Tensor) and x.dim() >= 3 and tuple(x.shape[-2:]) == (1, 1):
                m.stride = tuple(m.kernel_size)
                adapters.note(
                    f"ConvTranspose2d(k{m.kernel_size[0]}, stride 1) on the 1x1 map equals ConvTranspose2d"
                    f"(k{m.kernel_size[0]}, stride {m.kernel_size[0]}): graded as the latter"
                )

        mod.register_forward_pre_hook(hook)


def _namespace_of(obj) -> dict | None:
    """The notebook namespace a student class or function was defined in (a graded function handed over as
    ``adapters.Adapted`` carries it)."""
    ns = getattr(obj, "ns", None)
    if isinstance(ns, dict):
        return ns
    for fn in (obj, getattr(obj, "forward", None), getattr(obj, "__init__", None)):
        ns = getattr(fn, "__globals__", None)
        if isinstance(ns, dict) and "__builtins__" in ns:
            return ns
    return None


def _flat_consumed(cls) -> bool:
    """Whether the notebook's own UnconditionalUNet (with its own Flatten) runs: then a Flatten returning (N, C) is
    consumed consistently."""
    ns = _namespace_of(cls)
    unet = ns.get("UnconditionalUNet") if ns else None
    if not isinstance(unet, type):
        return False
    try:
        with torch.no_grad():
            module = _build(unet, [1, 4]).eval()
            out = _as_tensor_out(module(_x((2, 1, 28, 28))))
    except Exception:  # noqa: BLE001 - the UNet does not run with this Flatten
        return False
    return tuple(out.shape) == (2, 1, 28, 28)


def _as_map(cls, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Flatten's ``(N, C)`` as the contract's ``(N, C, 1, 1)`` where the student's UNet consumes it so (noted)."""
    if (
        getattr(cls, "__name__", "") == "Flatten"
        and out.dim() == 2
        and x.dim() == 4
        and tuple(out.shape) == tuple(x.shape[:2])
        and _flat_consumed(cls)
    ):
        adapters.note("your Flatten returns (N, C) and your UnconditionalUNet consumes it so: graded as (N, C, 1, 1)")
        return out[:, :, None, None]
    return out


def _as_tensor_out(out) -> torch.Tensor:
    if isinstance(out, (tuple, list)) and len(out) == 1:
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"forward returned a {type(out).__name__}; expected a tensor")
    return out.detach().float().cpu()


def _run_forms(cls, args, shape, cond, mode: str, trace_only: bool = False):
    """(outputs per form (None where a form fails), trace of the first form that runs)."""
    outs, trace, first_error = [], None, None
    forms = _forms(shape, cond)
    for form in forms + (_forms(shape, "class+") if cond == "class" else []):
        if len(outs) == len(forms) and any(o is not None for o in outs):
            break  # a standard form ran: the later ones are not needed (the reference never needs them)
        try:
            torch.manual_seed(0)
            module = _build(cls, args)
            module.eval()
            tracer = OpTracer()
            with torch.no_grad(), tracer:
                _as_tensor_out(module(*[a.clone() for a in form]))
            if trace is None:
                trace = tracer.rows
            if trace_only:
                return [], trace
            init_by_signature(module, tracer.sym)
            module.train(mode == "train")
            with torch.no_grad():
                outs.append(_as_map(cls, _as_tensor_out(module(*[a.clone() for a in form])), form[0]))
        except Exception as e:  # noqa: BLE001 - one accepted form failing is not a failure
            first_error = first_error or e
            outs.append(None)
    if all(o is None for o in outs):
        raise first_error
    if cond == "class" and not trace_only:
        interfaces.note_class_forms(getattr(cls, "__name__", "ClassConditionalUNet"), [o is not None for o in outs])
    return outs, trace


def module_output(cls, args, shape, cond=None, mode="eval"):
    """Outputs (forms, *out_shape) with deterministic weights; a form that fails or disagrees in shape is NaN."""
    outs, _ = _run_forms(cls, args, shape, cond, mode)
    good = next(o for o in outs if o is not None)
    rows = [o if o is not None and o.shape == good.shape else torch.full_like(good, float("nan")) for o in outs]
    return torch.stack(rows)


def module_trace(cls, args, shape, cond=None):
    """The layers one forward pass runs, as int rows [op, in, out, kernel, stride, padding]."""
    _, trace = _run_forms(cls, args, shape, cond, "eval", trace_only=True)
    return np.asarray(trace or np.zeros((0, 6)), dtype=np.int64).reshape(-1, 6)


def module_params(cls, args):
    """Number of trainable parameters (shared ones counted once)."""
    module = _build(cls, args)
    seen, total = set(), 0
    for p in module.parameters():
        if id(p) not in seen and p.requires_grad:
            seen.add(id(p))
            total += p.numel()
    return int(total)


# ---- schedule ---------------------------------------------------------------------------------

_KEYS = {
    "betas": ("betas", "beta", "beta_t", "betas_t"),
    "alphas": ("alphas", "alpha", "alpha_t", "alphas_t"),
    "alpha_bars": (
        "alpha_bars",
        "alpha_bar",
        "alphas_bar",
        "alphas_cumprod",
        "alpha_cumprod",
        "abar",
        "abars",
        "alpha_bar_t",
        "alphas_bars",
        "bar_alphas",
        "alpha_hat",
        "alphas_hat",
    ),
}


def schedule_entries(schedule) -> list:
    """[betas, alphas, alpha_bars] from a dict (known spellings) or a 3-sequence."""
    if isinstance(schedule, dict):
        lower = {str(k).lower(): v for k, v in schedule.items()}
        out = []
        for key, names in _KEYS.items():
            found = next((lower[n] for n in names if n in lower), None)
            if found is None:
                raise KeyError(f"the returned dict has no {key!r} entry (keys: {', '.join(map(str, schedule))})")
            out.append(found)
        return out
    if isinstance(schedule, (list, tuple)) and len(schedule) == 3:
        return list(schedule)
    raise TypeError(f"returned a {type(schedule).__name__}; expected a dict with betas, alphas and alpha_bars")


def run_schedule(fn, beta1, beta2, num_ts):
    """(3, L) float64: betas, alphas, alpha_bars (NaN-padded to the longest)."""
    entries = [
        np.asarray(
            torch.as_tensor(np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)),
            dtype=np.float64,
        ).reshape(-1)
        for v in schedule_entries(fn(beta1, beta2, num_ts))
    ]
    n = max(len(e) for e in entries)
    out = np.full((3, n), np.nan)
    for i, e in enumerate(entries):
        out[i, : len(e)] = e
    return out


# ---- ddpm_forward and ddpm_forward_class with a recording probe --------------------------------


def _digits(n: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = INPUTS[f"{split}_images"], INPUTS[f"{split}_labels"]
    idx = (np.arange(n) * (len(images) // n)) % len(images)
    x = torch.as_tensor(images[idx].astype(np.float32) / np.float32(255.0))
    return x.reshape(n, 1, 28, 28).clone(), torch.as_tensor(labels[idx]).long().clone()


def _scalar(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu()
    return torch.as_tensor(np.asarray(value, dtype=np.float64)).float()


def _record_forward(probe: ProbeUNet, x0, labels=None) -> None:
    rec = probe.data()
    _STASH.clear()
    _STASH.update(
        {
            "x0": x0,
            "eps0": runtime.NOISE.at(("draw", 0), tuple(x0.shape)),
            "calls": torch.tensor(probe.num_calls()),
            "batch": rec.get("batch"),
        }
    )
    if probe.num_calls():
        _STASH.update(
            {
                "t": rec["t"],
                "x": rec["x"],
                "out": rec["out"],
                "c": rec["c"],
                "mask": rec["mask"],
                "training": rec["training"],
            }
        )
    if labels is not None:
        _STASH["labels"] = labels


#: The student class whose module tree a stand-in model wears when the student's code reads attributes off its
#: model, and the arguments it is built with (small: only its attributes are read, never its computation).
WEARS = {
    "time": ("TimeConditionalUNet", [1, 10, 4]),
    "class": ("ClassConditionalUNet", [1, 10, 4]),
}


def wear_student_model(fn, stand_in: nn.Module, kind: str):
    """The student's own model class (defined in the notebook of ``fn``), built small, with its forward routed to the
    grader's ``stand_in``: attribute reads such as ``unet.fc1_c.net[0].in_features`` see the student's module tree,
    and every call computes and records what the stand-in does. None where the class is missing or fails to build."""
    name, args = WEARS[kind]
    ns = _namespace_of(fn)
    cls = ns.get(name) if ns else None
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        return None
    try:
        torch.manual_seed(0)
        with torch.no_grad():
            shell = _build(cls, args)
    except Exception:  # noqa: BLE001 - the student's class cannot be built: the plain stand-in stays
        return None

    def forward(*a, **k):
        stand_in.train(shell.training)
        return stand_in(*a, **k)

    shell.forward = forward
    return shell


def with_student_model(fn, kind: str, make_stand_in, attempt):
    """``attempt(model, stand_in)`` with a fresh stand-in; where the student's code reads an attribute the stand-in
    lacks (AttributeError), again with the stand-in wearing the student's own model (noted)."""
    stand_in = make_stand_in()
    try:
        return attempt(stand_in, stand_in)
    except AttributeError as first:
        stand_in = make_stand_in()
        shell = wear_student_model(fn, stand_in, kind)
        if shell is None:
            raise first from None
        out = attempt(shell, stand_in)
        adapters.note(
            f"your {getattr(fn, '__name__', 'function')} reads attributes of your {WEARS[kind][0]} "
            f"({_one_line(first)}): the checks gave it your class's module tree, computing with the grader's model"
        )
        return out


def _one_line(e: BaseException) -> str:
    return str(e).splitlines()[0][:120] if str(e) else type(e).__name__


def run_ddpm_forward(fn, n=32, num_ts=300, seed=0):
    """The loss ddpm_forward returns with a recording probe UNet; stashes what the UNet was given."""
    x0, _ = _digits(n)
    probes: list = []

    def make():
        probes.append(ProbeUNet())
        return probes[-1]

    def attempt(model, probe):
        _seed_all(seed)
        runtime.NOISE.reset(runtime.NOISE.seed)
        _STASH.clear()
        return fn(model, reference_schedule(num_ts), x0.clone(), num_ts)

    loss = with_student_model(fn, "time", make, attempt)
    _record_forward(probes[-1], x0)
    return _scalar(loss)


def run_ddpm_forward_class(fn, n=200, p_uncond=0.2, num_ts=300, seed=0):
    """As run_ddpm_forward for ddpm_forward_class; also stashes the labels given."""
    x0, labels = _digits(n)
    probes: list = []

    def make():
        probes.append(ProbeClassUNet())
        return probes[-1]

    def attempt(c):
        def once(model, probe):
            _seed_all(seed)
            runtime.NOISE.reset(runtime.NOISE.seed)
            _STASH.clear()
            return fn(model, reference_schedule(num_ts), x0.clone(), c, p_uncond, num_ts)

        return with_student_model(fn, "class", make, once)

    loss = interfaces.labels_or_one_hot("ddpm_forward_class", attempt, labels)
    _record_forward(probes[-1], x0, labels)
    return _scalar(loss)


# ---- samplers with the analytic denoisers ---------------------------------------------------

TRAJ_STEPS = (299, 200, 100, 20)


class _Recorder(LooksLikeUNet, nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.records: list[tuple[float, int, torch.Tensor, float]] = []
        self.calls: list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]] = []  # t, x, out, dropped rows

    def _keep(self, x, t, mask=None, c=None, out=None):
        x = torch.as_tensor(x)
        t = torch.as_tensor(t).detach().double().reshape(-1)
        n = int(x.shape[0])
        rows = _dropped_rows(c, mask, n)
        dropped = float(rows.double().mean()) if (mask is not None or c is not None) else 0.0
        t0 = float(t[0]) if t.numel() else float("nan")
        self.records.append((t0, n, x.detach().float().cpu()[: self.n].clone(), dropped))
        if out is not None:
            with torch._C.DisableTorchFunction():
                self.calls.append(
                    (t0, x.detach().double().cpu().clone(), torch.as_tensor(out).detach().double().cpu().clone(), rows)
                )


def _dropped_rows(c, mask, n: int) -> torch.Tensor:
    """(n,) bool: the rows of a class-conditioned call whose class is dropped (mask 0 or an all-zero one-hot)."""
    rows = torch.zeros(n, dtype=torch.bool)
    if c is not None:
        c = torch.as_tensor(c).detach().cpu()
        if c.dim() == 2 and c.shape[0] == n and c.shape[1] > 1:
            rows |= c.abs().sum(1) == 0
    if mask is not None:  # (N,), (N, 1), a scalar, or shaped like the one-hot: one value per row
        try:
            rows |= per_sample_mask(mask, n).detach().cpu().reshape(-1) == 0
        except ValueError:  # a mask that fits no sample count: the student's call fails on its own
            pass
    return rows


class _RecordingDenoiser(_Recorder):
    def forward(self, x, t):
        out = self.inner(x, t)
        self._keep(x, t, out=out)
        return out


class _RecordingClassDenoiser(_Recorder):
    def forward(self, x, c, t, mask=None):
        out = self.inner(x, c, t, mask)
        self._keep(x, t, mask, c, out=out)
        return out


#: Which denoising steps (by position, from the first) the sampler-step check sees, counted from the end
#: where negative: early, middle and late steps, and the last two.
STEP_POSITIONS = (0, 150, -30, -2, -1)


def _sampler_steps(rec: _Recorder, final) -> torch.Tensor:
    """(len(STEP_POSITIONS), 5, n, 784) float32: per chosen step, [x_t, eps_c, eps_u, x_next, t] (eps_u NaN
    when no call of that step dropped the class; the t row holds t in every entry).

    A step is a run of consecutive UNet calls with the same t; x_next is the input of the next step
    (the sampler's result after the last step). From these the grading side checks the update's
    coefficients: x_next - (a x_t + b eps) must be noise of the right size, uncorrelated with x_t
    and eps.
    """
    n = rec.n
    steps: list[list] = []
    for call in rec.calls:
        if steps and steps[-1][0][0] == call[0]:
            steps[-1].append(call)
        else:
            steps.append([call])
    out = torch.full((len(STEP_POSITIONS), 5, n, 784), float("nan"))
    if not steps:
        return out
    final = torch.as_tensor(final).detach().double().cpu().reshape(-1, 784) if final is not None else None
    for j, pos in enumerate(STEP_POSITIONS):
        k = pos if pos >= 0 else len(steps) + pos
        if not 0 <= k < len(steps):
            continue
        group = steps[k]
        xs = torch.cat([g[1].reshape(g[1].shape[0], -1) for g in group])
        outs = torch.cat([g[2].reshape(g[2].shape[0], -1) for g in group])
        dropped = torch.cat([g[3] for g in group])
        if xs.shape[1] != 784 or outs.shape[1] != 784:
            continue
        cond, uncond = outs[~dropped], outs[dropped]
        if len(xs) < n or len(cond) < n:
            continue
        out[j, 0] = xs[:n].float()
        out[j, 1] = cond[:n].float()
        if len(uncond) >= n:
            out[j, 2] = uncond[:n].float()
        if k + 1 < len(steps):
            nxt = steps[k + 1][0][1].reshape(steps[k + 1][0][1].shape[0], -1)
        else:
            nxt = final
        if nxt is not None and nxt.shape[0] >= n and nxt.shape[1] == 784:
            out[j, 3] = nxt[:n].float()
        out[j, 4] = float(group[0][0])
    return out


#: Keyed noise draws kept per chosen step: those numbered position - 1 .. position + DRAW_WINDOW - 2.
DRAW_WINDOW = 5


def _nearby_draws(n: int, num_steps: int) -> torch.Tensor:
    """(len(STEP_POSITIONS), DRAW_WINDOW, n, 784): the keyed draws of shape (n, 1, 28, 28) that a sampler
    drawing one per step (after its x_T) would have used near each chosen step (NaN beyond those drawn).

    They are what the grader handed out in this very call, not a reference answer: the grading side
    finds which of them, if any, a step added as its noise, and so checks the step's other terms exactly
    whatever order the noise was drawn in.
    """
    shape = (n, 1, 28, 28)
    count = runtime.NOISE.counts.get(shape, 0)
    out = torch.full((len(STEP_POSITIONS), DRAW_WINDOW, n, 784), float("nan"))
    for j, pos in enumerate(STEP_POSITIONS):
        k = pos if pos >= 0 else num_steps + pos
        for w in range(DRAW_WINDOW):
            i = k - 1 + w
            if 0 <= i < count:
                out[j, w] = runtime.NOISE.at(("draw", i), shape).reshape(n, 784)
    return out


def _stash_sampling(rec: _Recorder, num_ts: int, final=None) -> None:
    ts = np.array([r[0] for r in rec.records], dtype=np.float64)
    n = rec.n
    traj = torch.full((len(TRAJ_STEPS), n, 1, 28, 28), float("nan"))
    for j, k in enumerate(TRAJ_STEPS):
        hits = np.flatnonzero(np.abs(ts - k / num_ts) < 0.25 / num_ts)
        if hits.size:
            x = rec.records[int(hits[0])][2]
            if x.shape[0] == n and tuple(x.shape[1:]) == (1, 28, 28):
                traj[j] = x
    try:
        steps = _sampler_steps(rec, final)
    except Exception:  # noqa: BLE001 - a diagnosis aid: an odd call pattern leaves it empty (NaN)
        steps = torch.full((len(STEP_POSITIONS), 5, n, 784), float("nan"))
    draws = _nearby_draws(n, len({r[0] for r in rec.records}))
    _STASH.clear()
    _STASH.update(
        {
            "t_calls": torch.as_tensor(ts),
            "batch_calls": torch.tensor([r[1] for r in rec.records]),
            "dropped_calls": torch.tensor([r[3] for r in rec.records], dtype=torch.float64),
            "traj": traj,
            "steps": steps,
            "draws": draws,
        }
    )


def _as_samples(out):
    """The samples a sampler returned, for the step record (its first element if it returned a tuple, the last of a
    trajectory)."""
    if adapters.is_trajectory(out):
        out = out[-1]
    elif isinstance(out, (tuple, list)) and out and isinstance(out[0], (torch.Tensor, np.ndarray)):
        out = out[0]
    try:
        return torch.as_tensor(np.asarray(out) if isinstance(out, np.ndarray) else out)
    except Exception:  # noqa: BLE001 - not a tensor: the last step is then left unchecked
        return None


def run_sample(fn, n=4, num_ts=300, offset=0, seed=0):
    """ddpm_sample with the analytic denoiser (0-based ``offset=0`` or 1-based ``-1`` reading)."""
    den = make_denoiser(INPUTS, reference_schedule(num_ts)["alpha_bars"], num_ts=num_ts, index_offset=offset)
    recs: list = []

    def make():
        recs.append(_RecordingDenoiser(den))
        recs[-1].n = n
        return recs[-1]

    def attempt(model, rec):
        runtime.NOISE.reset(runtime.NOISE.seed)
        _STASH.clear()
        return interfaces.call_sampler(fn, rec, (reference_schedule(num_ts), (28, 28), num_ts), n, seed, model)

    out = with_student_model(fn, "time", make, attempt)
    _stash_sampling(recs[-1], num_ts, _as_samples(out))
    return out


def run_sample_class(fn, labels, guidance_scale=None, num_ts=300, offset=0, seed=0):
    """ddpm_sample_class with the analytic class denoiser; ``guidance_scale=None`` leaves the default."""
    den = make_denoiser(
        INPUTS, reference_schedule(num_ts)["alpha_bars"], conditional=True, num_ts=num_ts, index_offset=offset
    )
    c = torch.as_tensor(labels).long().reshape(-1).clone()
    recs: list = []

    def make():
        recs.append(_RecordingClassDenoiser(den))
        recs[-1].n = int(c.numel())
        return recs[-1]

    kwargs = {"seed": seed}
    if guidance_scale is not None:
        kwargs["guidance_scale"] = guidance_scale

    def attempt(labels_given):
        def once(model, rec):
            runtime.NOISE.reset(runtime.NOISE.seed)
            _STASH.clear()
            return fn(model, reference_schedule(num_ts), labels_given, (28, 28), num_ts, **kwargs)

        return with_student_model(fn, "class", make, once)

    out = interfaces.labels_or_one_hot("ddpm_sample_class", attempt, c)
    _stash_sampling(recs[-1], num_ts, _as_samples(out))
    return out


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
