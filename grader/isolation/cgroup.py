"""A cgroup per worker (v1 ``pids`` and ``memory`` hierarchies, or the v2 unified one).

It caps processes and memory even for root, and lets the grading process kill everything a
probe left behind, including processes that called ``setsid()`` to escape their process group.
Where the kernel or permissions don't allow it (an ordinary user), the worker runs without one
and the sandbox notes say so; rlimits and the PID namespace still apply.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


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
                d = _own_group("") / name
                d.mkdir()
                self.dirs.append(d)
                _write(d / "pids.max", str(max_pids))
                _write(d / "memory.max", str(memory_bytes))
            else:
                for ctrl, files in (
                    ("pids", {"pids.max": str(max_pids)}),
                    ("memory", {"memory.limit_in_bytes": str(memory_bytes)}),
                ):
                    base = _own_group(ctrl)
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
        """Kill what is left and remove the folders; a group whose last processes are still exiting
        cannot be removed yet, so try again for up to two seconds."""
        import time

        deadline = time.monotonic() + 2.0
        left = list(self.dirs)
        while left:
            self.kill_all()
            for d in list(left):
                try:
                    d.rmdir()
                    left.remove(d)
                except FileNotFoundError:
                    left.remove(d)
                except OSError:
                    pass
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.dirs = left


def _own_group(controller: str) -> Path:
    """The folder of the grading process's own cgroup in ``controller``'s hierarchy ("" for v2), so
    that a worker's group sits inside the grading job's, under its limits; the root if unknown."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if (controller in controllers.split(",")) if controller else controllers == "":
            folder = (CGROUP_ROOT / controller / path.lstrip("/")) if controller else CGROUP_ROOT / path.lstrip("/")
            if folder.is_dir():
                return folder
    return CGROUP_ROOT / controller if controller else CGROUP_ROOT


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)
