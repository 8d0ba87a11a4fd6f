"""What a worker imports once, before it seals itself or forks anything: torch and the libraries
student code uses, so that no probe pays for them again."""

from __future__ import annotations

import os

#: Modules imported before any fork; the assignments' worker-side modules are added by the caller.
PRELOAD = [
    "numpy",
    "torch",
    "torchvision.transforms.functional",
    "diffusers.schedulers.scheduling_ddpm",
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
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD + worker_modules() + extra:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs speed
            pass
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot  # noqa: F401
    except Exception:
        pass
    import torch

    torch.set_num_threads(1)
