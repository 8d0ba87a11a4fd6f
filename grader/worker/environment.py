"""The environment student code runs in, inside the worker (imports torch).

* ``.half()``, ``.cuda()``, ``.to("cuda")``, ``.to(torch.float16)`` and
  ``device="cuda"`` are accepted and computed in fp32 on the CPU: fp16 rounding
  grows through 30 guided steps past the size of some real mistakes.
* Gaussian draws are keyed: the n-th draw of a given shape inside one call is
  the same tensor whichever API made it (``torch.randn``, ``randn_like``,
  ``torch.normal``, ``Tensor.normal_``, ``numpy.random.randn`` / ``normal`` /
  ``standard_normal``). A correct submission matches the reference whatever
  generator it uses, and global seeding has no effect. Leading dimensions of size 1 do not
  count (``draw_key``): noise drawn for a squeezed image is the batched image's.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch.overrides import TorchFunctionMode


def _seed_of(*key) -> int:
    return zlib.crc32(repr(key).encode()) & 0x7FFFFFFF


def draw_key(shape) -> tuple:
    """The shape a draw is keyed by: leading singleton dimensions do not count, and a shape of up to four
    dimensions is keyed as four (``(3, 64, 64)`` and ``(1, 3, 64, 64)`` are the same stream), so a notebook
    that squeezes the batch dimension before drawing (``forward(im.squeeze(0), t).unsqueeze(0)``) gets the
    reference's noise. Every 4-d shape keeps its own key."""
    shape = tuple(int(s) for s in shape)
    core = shape
    while core and core[0] == 1:
        core = core[1:]
    return (1,) * (4 - len(core)) + core if len(core) <= 4 else core


class Noise:
    """Keyed Gaussian noise for one call: ``draw(shape)`` and ``at(tag, shape)``."""

    def __init__(self, seed: int = 0):
        self.reset(seed)

    def reset(self, seed: int) -> None:
        self.seed = int(seed)
        self.counts: dict[tuple, int] = {}

    def draw(self, shape) -> torch.Tensor:
        key = draw_key(shape)
        if key != tuple(int(s) for s in shape):
            from grader.worker.adapters import note

            note(
                f"noise drawn with shape {tuple(int(s) for s in shape)} was given the draws of shape {key} "
                "(the same tensor without its leading dimensions of size 1)"
            )
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        return self.at(("draw", n), shape)

    def at(self, tag, shape) -> torch.Tensor:
        """Noise that depends only on (seed, tag, shape): e.g. add_variance keyed by timestep."""
        shape = tuple(int(s) for s in shape)
        gen = torch.Generator().manual_seed(_seed_of(self.seed, tag, draw_key(shape)))
        with torch._C.DisableTorchFunction():  # not through GraderMode: that would count a draw
            return torch.randn(draw_key(shape), generator=gen, dtype=torch.float32).reshape(shape)


NOISE = Noise()

#: The grading side's support definitions sent with the current probe (see grader.judging.support); empty
#: in every probe that carries none.
SUPPORT: dict = {}

_LOW = {torch.float16, torch.bfloat16}


def _fix_dtype(d):
    return torch.float32 if d in _LOW else d


def _is_accel(dev) -> bool:
    if dev is None or isinstance(dev, bool):  # non_blocking=False arrives positionally
        return False
    if isinstance(dev, torch.device):
        return dev.type != "cpu"
    if isinstance(dev, int):
        return True
    if isinstance(dev, str):
        return not dev.startswith("cpu")
    return False


def _shape_args(args, kwargs):
    if "size" in kwargs:
        size = kwargs["size"]
        return tuple(size) if not isinstance(size, int) else (size,)
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(args[0])
    return tuple(int(a) for a in args)


#: The functions GraderMode changes; every other op without a device, dtype or pin_memory argument goes straight
#: through (most ops of a forward pass: the mode's own cost fell from about 2.4 to 0.6 us an op).
_CHANGED = frozenset(
    {
        torch.Tensor.cuda,
        torch.Tensor.cpu,
        torch.Tensor.half,
        torch.Tensor.bfloat16,
        torch.Tensor.to,
        torch.randn,
        torch.randn_like,
        torch.Tensor.normal_,
        torch.normal,
    }
)
_CHANGED_ARGS = frozenset({"device", "dtype", "pin_memory"})


class GraderMode(TorchFunctionMode):
    """Coerces devices and low precision to CPU fp32, and keys Gaussian draws."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func not in _CHANGED and (not kwargs or _CHANGED_ARGS.isdisjoint(kwargs)):
            return func(*args, **(kwargs or {}))
        kwargs = dict(kwargs or {})
        if func is torch.Tensor.cuda or func is torch.Tensor.cpu:
            return args[0]
        if func in (torch.Tensor.half, torch.Tensor.bfloat16):
            return args[0].float() if args[0].is_floating_point() else args[0]
        if func is torch.Tensor.to:
            args = tuple(
                (_fix_dtype(a) if isinstance(a, torch.dtype) else ("cpu" if _is_accel(a) else a)) for a in args
            )
        if "device" in kwargs and _is_accel(kwargs["device"]):
            kwargs["device"] = "cpu"
        if "dtype" in kwargs:
            kwargs["dtype"] = _fix_dtype(kwargs["dtype"])
        kwargs.pop("pin_memory", None)
        if func is torch.randn:
            kwargs.pop("generator", None)
            dtype = kwargs.get("dtype") or torch.float32
            return NOISE.draw(_shape_args(args, kwargs)).to(dtype)
        if func is torch.randn_like:
            like = args[0]
            dtype = kwargs.get("dtype") or (like.dtype if like.is_floating_point() else torch.float32)
            return NOISE.draw(like.shape).to(_fix_dtype(dtype))
        if func is torch.Tensor.normal_:
            t = args[0]
            mean = args[1] if len(args) > 1 else kwargs.get("mean", 0.0)
            std = args[2] if len(args) > 2 else kwargs.get("std", 1.0)
            with torch.no_grad():
                t.copy_(NOISE.draw(t.shape) * std + mean)
            return t
        if (
            func is torch.normal
            and args
            and not isinstance(args[0], torch.Tensor)
            and (len(args) > 2 or "size" in kwargs)
        ):
            mean, std = args[0], args[1]
            size = args[2] if len(args) > 2 else kwargs["size"]
            return NOISE.draw(size) * std + mean
        if (
            func is torch.normal
            and args
            and isinstance(args[0], torch.Tensor)
            and (len(args) > 1 and not isinstance(args[1], torch.Tensor))
        ):
            mean, std = args[0], args[1]
            return NOISE.draw(mean.shape) * std + mean
        return func(*args, **kwargs)


def _np_randn(*shape):
    return NOISE.draw(shape).double().numpy() if shape else float(NOISE.draw((1,))[0])


def _np_normal(loc=0.0, scale=1.0, size=None):
    if size is None:
        shape = np.broadcast(np.asarray(loc), np.asarray(scale)).shape
    else:
        shape = (size,) if isinstance(size, int) else tuple(size)
    z = NOISE.draw(shape).double().numpy()
    out = z * scale + loc
    return out if shape else float(out)


def _np_standard_normal(size=None):
    return _np_normal(0.0, 1.0, size)


def install_numpy_noise() -> None:
    """Route numpy's global Gaussian draws through the keyed noise as well."""
    np.random.randn = _np_randn
    np.random.normal = _np_normal
    np.random.standard_normal = _np_standard_normal


def quiet_matplotlib() -> None:
    """A non-interactive backend so display=True and plt.show() are harmless."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        plt.show = lambda *a, **k: None
    except Exception:
        pass


def to_data(value):
    """Tensors become numpy arrays (fp32 for floats); containers are converted recursively."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.is_floating_point():
            t = t.float()
        return t.numpy()
    if isinstance(value, (list, tuple)):
        return type(value)(to_data(v) for v in value) if isinstance(value, list) else tuple(to_data(v) for v in value)
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    return value


class NoDisplay:
    """A display helper the notebook does not have inside the grader (its cell was skipped, its import failed):
    every attribute, call, index and context is another no-op, and each call leaves a note."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return NoDisplay(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        from grader.worker import adapters

        root = self._name.split(".")[0]
        adapters.note(
            f"your code calls {root}, which the grader does not have (its cell was skipped, or its import failed): "
            f"inside graded code, display calls such as {self._name}(...) did nothing"
        )
        return NoDisplay(f"{self._name}()")

    def __getitem__(self, key):
        return self

    def __iter__(self):
        return iter((self, self))  # fig, ax = plt.subplots()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __bool__(self):
        return False

    def __repr__(self):
        return f"<no display: {self._name}>"


def bind_no_display(namespace: dict, names) -> None:
    """Bind a :class:`NoDisplay` to each of ``names`` that nothing in the notebook bound."""
    for name in names:
        if name not in namespace:
            namespace[name] = NoDisplay(name)
