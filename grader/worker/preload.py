"""What a worker imports once, before it seals itself or forks anything: torch and the libraries
student code uses, so that no probe pays for them again."""

from __future__ import annotations

import importlib
import importlib.machinery
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


def preload(extra: list[str]) -> None:
    """Import what every probe would otherwise import again, with torch's compiler front end deferred
    (:func:`defer_dynamo`)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    defer_dynamo()
    for name in PRELOAD + worker_modules() + extra:
        _import(name)
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        _import("matplotlib.pyplot")
    except Exception:
        pass
    import torch

    torch.set_num_threads(1)


def _import(name: str) -> None:
    """Import ``name``; a missing optional module only costs speed."""
    try:
        importlib.import_module(name)
    except Exception:
        pass


DYNAMO = "torch._dynamo"


class _DeferredDynamo(types.ModuleType):
    """The stand-in for torch._dynamo (:func:`defer_dynamo`): the names it serves itself are what the real ones are
    in eager mode; reading any other name imports the real package and answers with it."""

    __path__: list = []  # a package (its submodules are found by :class:`_RealDynamoFinder`)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real_dynamo(self.__name__), name)

    # ---- what the libraries and torch.optim call in eager mode ---------------------
    @staticmethod
    def graph_break(*args, **kwargs) -> None:  # torch.optim's step: a marker for the tracer
        return None

    @staticmethod
    def disable(fn=None, recursive=True, **kwargs):  # torch._disable_dynamo (zero_grad, state_dict): run as is
        return fn if fn is not None else (lambda f: f)

    @staticmethod
    def allow_in_graph(fn):  # diffusers marks classes for the tracer at import time
        return fn

    @staticmethod
    def is_compiling() -> bool:
        return False


class _DeferredDynamoUtils(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real_dynamo(self.__name__), name)

    @staticmethod
    def is_compile_supported(device_type):  # torchvision reads it at import time, calls it later
        return _real_dynamo(DYNAMO + ".utils").is_compile_supported(device_type)


class _RealDynamoFinder:
    """On the meta path while the stand-in is: a submodule of torch._dynamo imported by name (``from
    torch._dynamo.eval_frame import ...``) imports the real package first, then that submodule the usual way."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if not name.startswith(DYNAMO + ".") or not isinstance(sys.modules.get(DYNAMO), _DeferredDynamo):
            return None
        return importlib.machinery.ModuleSpec(name, _RealDynamoFinder)

    @staticmethod
    def create_module(spec):
        module = _real_dynamo(spec.name)
        spec.real_spec = module.__spec__
        return module

    @staticmethod
    def exec_module(module) -> None:  # already run by the real import: put back the spec the import replaced
        module.__spec__ = module.__spec__.real_spec


def defer_dynamo() -> None:
    """Put a stand-in for torch._dynamo, torch's compiler front end (1.3-1.6 s of a worker's 3-5 s start), in its
    place for the rest of this process and its forks. torchvision and diffusers read two of its names at import
    time (``utils.is_compile_supported``, ``allow_in_graph``) and torch.optim three at every step (``graph_break``,
    ``disable``, ``is_compiling``): the stand-in serves exactly those, as the real ones behave without
    torch.compile. Reading any other name, or importing any submodule, imports the real package (torch.compile,
    a notebook that sets ``torch._dynamo.config``): it then replaces the stand-in everywhere, so no module of
    torch._dynamo ever runs beside the stand-in, and only speed is lost. A no-op once the real one is imported."""
    if DYNAMO in sys.modules:
        return
    package, utils = _DeferredDynamo(DYNAMO), _DeferredDynamoUtils(DYNAMO + ".utils")
    package.utils = utils
    sys.modules.update({DYNAMO: package, DYNAMO + ".utils": utils})
    sys.meta_path.insert(0, _RealDynamoFinder)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch._dynamo = package


def _real_dynamo(module_name: str):
    """Drop the stand-in (if it is still there), import the real torch._dynamo, and return ``module_name`` from it."""
    if isinstance(sys.modules.get(DYNAMO), _DeferredDynamo):
        for name in (DYNAMO, DYNAMO + ".utils"):
            del sys.modules[name]
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(torch.__dict__.get("_dynamo"), _DeferredDynamo):
            del torch._dynamo
        if _RealDynamoFinder in sys.meta_path:
            sys.meta_path.remove(_RealDynamoFinder)
        importlib.import_module(DYNAMO)
    return importlib.import_module(module_name)


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
