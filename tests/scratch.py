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
