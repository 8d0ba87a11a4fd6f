"""Part B instruments for the student's modules (worker side): a tracer of the layers a forward pass
runs, deterministic weights by signature, and building and running a class in its accepted forms."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from grader.course.proj5b.sealed import interfaces
from grader.course.proj5b.sealed.harness_common import (
    _crc,
    _one_line,
)
from grader.course.proj5b.sealed.opcodes import CODES
from grader.course.proj5b.sealed.standins import (
    INPUTS,
)
from grader.worker import adapters

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
                stride = getattr(mod, "stride", (1,)) if ltype.startswith("ConvTranspose") else None
                shared = sym.get(id(p))
                p.copy_(_signed(ltype, pname, shape, stride, shared).to(p.dtype))


#: (layer type, name, shape, stride, shared parts) -> values; a probe is one process, so it lives one probe: every
#: form and every call of a module probe sets the same parameters (a class-conditioned UNet: 12 times a group of calls)
_SIGNED: dict = {}


def _signed(ltype: str, pname: str, shape: tuple, stride, shared) -> torch.Tensor:
    key = (ltype, pname, shape, repr(stride), repr(shared))
    vals = _SIGNED.get(key)
    if vals is not None:
        return vals
    gen = torch.Generator().manual_seed(_crc((ltype, pname, shape)))
    u = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
    if ltype.startswith("BatchNorm") or ltype.endswith("Norm"):
        vals = 1 + 0.25 * u if pname == "weight" else 0.2 * u
    elif pname == "weight" and len(shape) >= 2:
        receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
        if ltype.startswith("ConvTranspose"):
            stride = stride[0] if isinstance(stride, (tuple, list)) else stride
            fan_in = shape[0] * receptive / max(1, int(stride)) ** 2
        else:
            fan_in = shape[1] * receptive
        vals = u * math.sqrt(6.0 / max(fan_in, 1.0))
    elif pname == "bias":
        vals = 0.2 * u
    else:
        vals = 0.5 * u
    if shared is not None:
        dim, parts = shared
        if len(set(parts)) == 1 and len(parts) > 1 and shape[dim] == sum(parts):
            first = vals.narrow(dim, 0, parts[0])
            vals = torch.cat([first] * len(parts), dim=dim)
    _SIGNED[key] = vals
    return vals


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
    # everything is on the CPU already (GraderMode); .float() only where a tensor is of another float type (it walks
    # every parameter through the mode: a third of a build's time)
    with torch._C.DisableTorchFunction():
        tensors = [*module.parameters(), *module.buffers()]
        other = any(t.is_floating_point() and t.dtype != torch.float32 for t in tensors)
    return module.float() if other else module


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
    outs, trace, sym, first_error = [], None, None, None
    forms = _forms(shape, cond)
    built = None  # one module serves every form: init_by_signature sets all its parameters before each output
    for form in forms + (_forms(shape, "class+") if cond == "class" else []):
        if len(outs) == len(forms) and any(o is not None for o in outs):
            break  # a standard form ran: the later ones are not needed (the reference never needs them)
        try:
            if built is None:
                torch.manual_seed(0)
                module = _build(cls, args)
                built = (module, torch.get_rng_state())
            module, rng = built
            torch.set_rng_state(rng)  # each form starts from the state a fresh build leaves (dropout draws)
            if trace is None:  # the layers (and which convs read a concat) once: every form runs the same module
                module.eval()
                tracer = OpTracer()
                with torch.no_grad(), tracer:
                    _as_tensor_out(module(*[a.clone() for a in form]))
                trace, sym = tracer.rows, tracer.sym
            if trace_only:
                return [], trace
            init_by_signature(module, sym)
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
