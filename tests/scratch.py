"""Folders for tests that install the grader somewhere and grade from there."""

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def world_readable_dir(prefix: str) -> Path:
    """A fresh folder that an unprivileged uid can read (as root, student code runs as one),
    outside /tmp, /var/tmp and /dev/shm, which a worker sees as its own empty tmpfs when grading
    as root: an interpreter or package installed there would vanish for it. Under build/ (ignored
    by git); the caller removes it."""
    base = ROOT / "build" / "test-scratch"
    base.mkdir(parents=True, exist_ok=True)
    for d in (base.parent, base):
        os.chmod(d, 0o755)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    os.chmod(path, 0o755)
    return path


SITECUSTOMIZE = """\
# Written by diffgrade's tests: this venv sees the system's packages (torch, ...) but not an
# editable install of diffgrade there, so that every grader module comes from this venv.
import sys

def _editable_diffgrade(obj):
    module = getattr(obj, "__module__", "") or ""
    return module.startswith("__editable__") and "diffgrade" in module

sys.meta_path[:] = [f for f in sys.meta_path if not _editable_diffgrade(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if not _editable_diffgrade(h)]
sys.path_importer_cache.clear()
"""


def hide_editable_installs(venv: Path) -> None:
    """Make a --system-site-packages venv blind to an editable diffgrade in the system's packages
    (this machine's is one): else a module missing from what the venv installed would be imported
    from that checkout and a test would pass that should fail."""
    for site in venv.glob("lib/python3*/site-packages"):
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)


def remove_later(path: Path) -> None:
    """Remove a large folder (a venv with torch: gigabytes) without waiting for the disk: rename it
    at once, then delete it in a detached process."""
    import subprocess

    trash = path.with_name(f"trash-{path.name}")
    path.rename(trash)
    subprocess.Popen(
        ["rm", "-rf", str(trash)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
