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
    """Make a venv that sees the system's packages blind to an editable diffgrade in the system's packages
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


def wheel_requirements(wheel: Path) -> list[str]:
    """The dependencies a wheel declares (Requires-Dist without an extra), as pip reads them."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    reqs = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    return sorted(r for r in reqs if "extra ==" not in r)


#: Installed here from the host rather than downloaded again (gigabytes: torch with its CUDA libraries).
BORROWED = ("torch", "torchvision")


def _closure(names) -> dict:
    """The host's distributions ``names`` and everything they require (markers evaluated), by name."""
    import importlib.metadata as md
    import re

    from packaging.requirements import Requirement

    seen, todo = {}, list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    seen.pop("setuptools", None)  # the venv has its own
    return seen


def borrow_into(site: Path, names=BORROWED) -> list[str]:
    """Put the host's installed ``names`` (and what they require) into the site-packages folder ``site``
    as hard links (a copy where the two lie on different file systems): pip then sees them installed, as
    if it had installed them, without unpacking gigabytes again. Only these: every other dependency is
    installed by pip from what the kit declares. Returns the distributions borrowed."""
    import shutil
    import subprocess

    dists = _closure(names)
    # each distribution's top-level entries, found where that distribution is installed
    tops = {f.parts[0]: Path(d.locate_file(f.parts[0])) for d in dists.values() for f in d.files or []}
    for top, src in sorted(tops.items()):
        if top in ("..", "__pycache__") or top.endswith(".pth") or not src.exists() or (site / top).exists():
            continue
        if subprocess.run(["cp", "-al", str(src), str(site / top)], capture_output=True).returncode:
            shutil.rmtree(site / top, ignore_errors=True)
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, site / top)
    return sorted(dists)


def cached_venv(requirements: list[str]) -> Path:
    """A venv (not seeing the system's packages) with ``requirements`` installed by pip, made once per
    dependency list and Python version and kept under ~/.cache/diffgrade/kit-venv-<hash>. Torch and
    torchvision (with what they require) are hard-linked in from this interpreter first (:func:`borrow_into`),
    so pip installs the rest from the index as a student's ``pip install`` would. Made in a temporary folder
    and renamed into place, so a run that is stopped or races another leaves no half-made venv behind;
    nothing is installed into it afterwards."""
    import hashlib
    import shutil
    import subprocess
    import sys

    import torch

    key = hashlib.sha256(repr((sys.version_info[:2], torch.__version__, requirements)).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "diffgrade"
    final = cache / f"kit-venv-{key}"
    if (final / "ready").exists():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=cache))
    try:
        # the base interpreter's venv module: from inside a venv too, this makes a venv of the base
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(tmp)], check=True)
        (site,) = tmp.glob("lib/python3*/site-packages")
        borrow_into(site)
        python = str(tmp / "bin" / "python")
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements], check=True
        )
        (tmp / "ready").write_text("\n".join(requirements) + "\n")
        subprocess.run(["chmod", "-R", "a+rX", str(tmp)], check=True)
        os.chmod(tmp, 0o755)
        try:
            tmp.rename(final)
        except OSError:  # another run made it first
            if not (final / "ready").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def current_sites() -> list[str]:
    """The site-packages folders this interpreter imports from (a venv's own, and the system's when the venv
    sees them), in sys.path order."""
    import sys

    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


def venv_seeing(where: Path, sites: list[str]) -> Path:
    """A fresh venv at ``where`` (made by the base interpreter: it works from inside a venv too) that also
    imports from ``sites``, with their .pth files, after its own packages; what is installed into it stays
    in it. This replaces ``--system-site-packages``, which from inside a venv would show the base
    interpreter's packages instead of the venv's."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    (site,) = where.glob("lib/python3*/site-packages")
    lines = [f"import site; site.addsitedir({s!r})\n" for s in sites]
    (site / "zz-diffgrade-seen-sites.pth").write_text("".join(lines))
    return where
