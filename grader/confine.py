"""What confines a worker beyond rlimits: a cgroup, and hidden files when root.

* A cgroup per worker (v1 ``pids`` and ``memory`` hierarchies, or the v2
  unified one) caps processes and memory even for root, and lets the grading
  process kill everything a probe left behind, including processes that called
  ``setsid()`` to escape their process group.
* When grading as root, the hidden parts of the grader (checks, catalogue,
  fixtures, solutions, tests) are made readable by root only, so the
  unprivileged worker cannot read the checks or the expected outputs.

Everything here degrades gracefully: where the kernel or permissions don't
allow it, the worker runs without it and the sandbox notes say so.
"""

from __future__ import annotations

import os
import signal
import stat
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
ROOT = Path(__file__).resolve().parent.parent
HIDDEN = [ROOT / "grader" / "checks", ROOT / "grader" / "catalog", ROOT / "grader" / "_bundle", ROOT / "fixtures",
          ROOT / "solutions", ROOT / "tests"]


class Cgroup:
    """One cgroup (in each available controller) holding a worker and its descendants."""

    def __init__(self, max_pids: int, memory_bytes: int):
        self.dirs: list[Path] = []
        self.note: str | None = None
        name = f"diffgrade-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if os.geteuid() != 0:
            self.note = "not root: no cgroup (process and memory caps rely on rlimits only)"
            return
        unified = CGROUP_ROOT / "cgroup.controllers"
        try:
            if unified.exists():  # cgroup v2
                d = CGROUP_ROOT / name
                d.mkdir()
                self.dirs.append(d)
                _write(d / "pids.max", str(max_pids))
                _write(d / "memory.max", str(memory_bytes))
            else:
                for ctrl, files in (("pids", {"pids.max": str(max_pids)}),
                                    ("memory", {"memory.limit_in_bytes": str(memory_bytes)})):
                    base = CGROUP_ROOT / ctrl
                    if not base.is_dir():
                        continue
                    d = base / name
                    d.mkdir()
                    self.dirs.append(d)
                    for f, v in files.items():
                        _write(d / f, v)
        except OSError as e:
            self.note = f"no cgroup ({e.strerror or e})"
            self.remove()
            self.dirs = []

    def enter(self) -> None:
        """Called in the child before exec: join every controller's group."""
        for d in self.dirs:
            try:
                _write(d / "cgroup.procs", "0")
            except OSError:
                pass

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self, keep: set[int] = frozenset()) -> int:
        """Kill every process in the group except ``keep``; return how many were killed."""
        killed = 0
        for _ in range(20):  # a fork loop can add processes while we kill
            victims = self.pids() - set(keep)
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        return killed

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def hide_grader_files() -> list[str]:
    """As root: make the hidden checks, fixtures and solutions root-only. Returns notes."""
    if os.geteuid() != 0:
        return ["not root: hidden checks and expected outputs are readable by student code"]
    notes = []
    for path in HIDDEN:
        if not path.exists():
            continue
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(path, stat.S_IRWXU)
        except OSError as e:
            notes.append(f"could not protect {path.name}: {e.strerror}")
    return notes


# ---- entering the sandbox (runs in the child, before any student code) -----------------

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")


def confine_self(spec: dict) -> None:
    """Confine the calling process; ``spec`` is plain data (see sandbox.confinement_spec).

    Order matters: join the cgroup and set limits while still root, then (as root)
    a private mount namespace with fresh tmpfs on the world-writable directories and
    a network namespace with no interfaces up, and last drop to the unprivileged user.
    """
    import ctypes
    import resource

    os.setsid()
    for d in spec.get("cgroup_dirs", []):
        try:
            _write(Path(d) / "cgroup.procs", "0")
        except OSError:
            pass
    mem, files = spec["memory_bytes"], spec["file_bytes"]
    resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    workdir = spec["workdir"]
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = CLONE_NEWNS | (CLONE_NEWNET if spec.get("cut_network") else 0)
        if libc.unshare(flags) == 0:
            libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
            for d in PRIVATE_TMP:
                if os.path.isdir(d):
                    libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, b"size=256m,mode=1777")
            os.makedirs(workdir, exist_ok=True)
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None:
        os.chown(workdir, uid, gid)
    os.chdir(workdir)
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        n = spec["processes"]
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
