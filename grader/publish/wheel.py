"""Build this package's wheel from a checkout: the grader, its templates and the bundled fixtures.

The wheel is built from a clean copy of only what it needs (pyproject.toml, setup.py,
MANIFEST.in, README.md, grader/, fixtures/), so nothing else in the checkout (solutions/,
tests/, tools/, a stale build/ folder) can end up in it. ``grader gradescope build`` puts
this wheel in the autograder zip.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.data import ROOT, in_checkout
from grader.fixtures import NEEDS_CHECKOUT

#: What a wheel is built from (setup.py copies fixtures/<a>/{inputs,expected}.npz into the package).
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "grader", "fixtures"]


class WheelError(RuntimeError):
    pass


def _ignore(_dir, names):
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info")) or n == "_bundle"]


def build_wheel(out_dir: Path, source: Path = ROOT) -> Path:
    """Build the wheel into ``out_dir``; returns its path. Needs a checkout."""
    if source == ROOT and not in_checkout():
        raise WheelError(f"building the grader's wheel {NEEDS_CHECKOUT}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffgrade-wheel-") as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        for name in SOURCES:
            path = source / name
            if path.is_dir():
                shutil.copytree(path, tree / name, ignore=_ignore)
            elif path.is_file():
                shutil.copy2(path, tree / name)
        built = Path(tmp) / "dist"
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(built), str(tree)]
        if importlib.util.find_spec("setuptools") is not None:
            cmd.insert(5, "--no-build-isolation")  # no download of setuptools when it is here
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(built.glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            raise WheelError(f"pip wheel failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
        target = out_dir / wheels[0].name
        shutil.copyfile(wheels[0], target)
    return target
