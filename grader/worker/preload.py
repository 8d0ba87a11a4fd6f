"""What a worker imports once, before it seals itself or forks anything: torch and the libraries
student code uses, so that no probe pays for them again."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types

#: Modules imported before any fork; the assignments' worker-side modules are added by the caller (an
#: assignment's stand-ins import the libraries only it needs, e.g. Part A's diffusers scheduler: 0.7 s).
PRELOAD = [
    "numpy",
    "torch",
    "torchvision.transforms.functional",
    "matplotlib",
    "tqdm",
    "PIL.Image",
]


def worker_modules() -> list[str]:
    """Every module of this folder: a probe runs in a fresh tmpfs root where nothing more can be imported from a
    checkout under /tmp, so the template holds them all before it forks (the seal copies the same folder)."""
    folder = os.path.dirname(os.path.abspath(__file__))
    return sorted(f"grader.worker.{f[:-3]}" for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py")


def preload(extra: list[str], torch_dynamo: bool = True) -> None:
    """Import what every probe would otherwise import again. ``torch_dynamo=False`` (an assignment whose probes do not
    train: :attr:`grader.course.Spec.needs_torch_dynamo`): torch's compiler front end is left out (see
    :func:`_dynamo_deferred`); a probe that uses it imports it then."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD + worker_modules() + extra:
        _import(name, defer_dynamo=not torch_dynamo)
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        _import("matplotlib.pyplot", defer_dynamo=not torch_dynamo)
    except Exception:
        pass
    if torch_dynamo:
        _import("torch._dynamo", defer_dynamo=False)
    import torch

    torch.set_num_threads(1)


def _import(name: str, defer_dynamo: bool) -> None:
    """Import ``name``; a missing optional module only costs speed. With ``defer_dynamo``, first under the stand-in
    for torch._dynamo (:func:`_dynamo_deferred`); if that fails (a library that imports one of torch._dynamo's
    submodules), what it imported is forgotten and the module is imported again after the real torch._dynamo."""
    if defer_dynamo and "torch._dynamo" not in sys.modules:
        before = set(sys.modules)
        try:
            with _dynamo_deferred():
                importlib.import_module(name)
            return
        except Exception:
            for added in set(sys.modules) - before:
                del sys.modules[added]
        _import("torch._dynamo", defer_dynamo=False)
    try:
        importlib.import_module(name)
    except Exception:
        pass


@contextlib.contextmanager
def _dynamo_deferred():
    """While the libraries import: a stand-in for torch._dynamo serving the two names they read at import time
    (torchvision's ``torch._dynamo.utils.is_compile_supported``, diffusers' ``torch._dynamo.allow_in_graph``), so that
    the compiler front end (1.3 s of a 3-4 s worker start) is not imported by a worker whose probes never compile or
    train. Both are what the real names are in eager mode: the first calls the real function (importing torch._dynamo
    then), the second marks a class for torch.compile's tracer, which nothing here runs, and returns it unchanged.
    Any other name is the real one (the stand-in imports torch._dynamo then): a library that needs more of it gets
    it, at the old cost. A submodule cannot be found (:func:`_import` then imports again, after the real one: no
    module of torch._dynamo is ever run under the stand-in). Afterwards the stand-in is gone: a later
    ``import torch._dynamo`` (torch.compile, torch.optim) gets the real one."""
    package = types.ModuleType("torch._dynamo")
    package.__path__ = []  # a package without submodules: torch._dynamo.<anything but utils> is not found
    utils = types.ModuleType("torch._dynamo.utils")
    stand_ins = {"torch._dynamo": package, "torch._dynamo.utils": utils}

    def drop() -> None:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]

    def real(module_name: str):
        def attribute(name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            drop()
            return getattr(importlib.import_module(module_name), name)

        return attribute

    def is_compile_supported(device_type):
        from torch._dynamo.utils import is_compile_supported as compiled

        return compiled(device_type)

    def allow_in_graph(fn):
        return fn

    utils.is_compile_supported = is_compile_supported
    utils.__getattr__ = real("torch._dynamo.utils")
    package.allow_in_graph = allow_in_graph
    package.utils = utils
    package.__getattr__ = real("torch._dynamo")
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        drop()
        torch = sys.modules.get("torch")
        if torch is not None and torch.__dict__.get("_dynamo") is package:
            del torch._dynamo


def settle() -> None:
    """Before forking: move every object made so far out of the garbage collector's reach (gc.freeze), so
    that a child's collections do not write to, and so copy, the pages it shares with this process; and
    hand freed heap back to the system, so that a fork has fewer pages to map. Measured on Part B's probes:
    their summed time 4.6 -> 3.8 s. No collection first: it would cost 0.3 s of the worker's start, and
    what garbage there is stays unreached either way."""
    import ctypes
    import gc

    gc.freeze()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


MADV_COLLAPSE = 25  # Linux 6.1+
_HUGE_PAGE = 2 << 20


def collapse() -> int:
    """Map this process's large private anonymous regions (the heap, and the libraries' zeroed data, 360 MB
    once torch is imported) with 2 MB pages, so that each later fork copies one page-table entry per 2 MB instead
    of 512, and each exit frees as few. It copies the memory once (about 1 s for 360 MB), so only a fork server,
    which forks a worker for every submission of a batch, does it: measured on Part B's reference, the system
    CPU time of a grade's worker 1.5 -> 0.95 s. The bytes mapped so; 0 where the kernel cannot (an older kernel,
    no transparent huge pages): nothing changes then but speed."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps") as f:
            lines = f.readlines()
    except (OSError, AttributeError):
        return 0
    collapsed = 0
    for line in lines:
        fields = line.split()  # address perms offset dev inode [path]
        anonymous = len(fields) == 5 or (len(fields) == 6 and fields[5] == "[heap]")
        if len(fields) < 5 or fields[1] != "rw-p" or fields[4] != "0" or not anonymous:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-start // _HUGE_PAGE) * _HUGE_PAGE, end // _HUGE_PAGE * _HUGE_PAGE
        if end - start >= _HUGE_PAGE and libc.madvise(start, end - start, MADV_COLLAPSE) == 0:
            collapsed += end - start
    return collapsed
