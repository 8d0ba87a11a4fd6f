"""How a worker is confined here: its limits, whether this machine seals (namespaces) or cannot,
the plain-data spec a worker seals itself by, and how its process is started.

The grading process decides all of it before any student code exists; a refusal to seal is the
machine's (:class:`IsolationUnavailable`), never a notebook's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.isolation.cgroup import Cgroup

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


@dataclass
class Limits:
    memory_bytes: int = 6 * 1024**3  # RLIMIT_DATA: real allocations (RLIMIT_AS breaks CUDA torch)
    file_bytes: int = 64 * 1024**2
    processes: int = 256
    start_timeout: float = 120.0
    chunk_timeout: float = 5.0
    probe_timeout: float | None = None  # overrides the assignment's per-probe limit (tests)
    submission_timeout: float = 600.0  # all probes of one submission together
    load_timeout: float = 60.0  # loading the notebook's definitions, all statements together
    #: probe sandboxes one grade may run at once; 0: one per core this process may use, at most 2, or
    #: what the environment variable PROBES_AT_ONCE_ENV says (a batch's pool sets it: its cores per process)
    probes_at_once: int = 0


PROBES_AT_ONCE_ENV = "DIFFGRADE_PROBES_AT_ONCE"


def probes_at_once(limits: Limits) -> int:
    """How many probe sandboxes a grade runs at once (each probe's torch uses one thread)."""
    if limits.probes_at_once > 0:
        return limits.probes_at_once
    try:
        return max(1, int(os.environ[PROBES_AT_ONCE_ENV]))
    except (KeyError, ValueError):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


@dataclass
class Sandbox:
    """How isolated a worker is; filled in at start so the report can say it."""

    user: str | None = None
    network: bool = True
    notes: list[str] = field(default_factory=list)
    isolated: bool = True


class WorkerError(Exception):
    """The worker could not be started or died; carries a one-line reason."""


def world_readable(path: str) -> bool:
    """True when a user with no special rights may read ``path`` itself (its folders are bound
    into the sealed worker's root with open permissions, so only the file's own mode matters)."""
    try:
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def _needed_files() -> list[str]:
    import importlib.util

    paths = [os.path.realpath(sys.executable)]
    for mod in ("numpy", "torch"):
        spec = importlib.util.find_spec(mod)
        if spec and spec.origin:
            paths.append(spec.origin)
    return paths


#: Workers run as uids from this range (no passwd entry needed), one uid per worker, so a
#: submission cannot signal or read the processes of another submission graded alongside it.
UID_BASE, UID_SPAN = 200_000, 800_000
NOGROUP = 65534


class IsolationUnavailable(RuntimeError):
    """Student code cannot be sealed here; the grader refuses to grade (one line naming the fix)."""


_SUPPORT: dict = {}


def isolation_mode() -> str:
    """ "sealed" (namespaces and an allowlisted root), or "none" for an ordinary user whose kernel
    forbids user namespaces. Raises IsolationUnavailable as root when sealing is impossible."""
    if "mode" not in _SUPPORT:
        from grader.isolation.seal import probe_support

        problem = probe_support()
        if problem is None:
            _SUPPORT["mode"] = "sealed"
        elif os.geteuid() == 0:
            _SUPPORT["error"] = (
                f"cannot isolate student code ({problem}); grading as root needs mount, PID, "
                "IPC and network namespaces (run on Linux with CAP_SYS_ADMIN, e.g. not inside an "
                "unprivileged container)"
            )
            _SUPPORT["mode"] = "refuse"
        else:
            _SUPPORT["mode"] = "none"
            _SUPPORT["why"] = problem
    if _SUPPORT["mode"] == "refuse":
        raise IsolationUnavailable(_SUPPORT["error"])
    if _SUPPORT["mode"] == "sealed" and os.geteuid() == 0:
        blocked = [p for p in _needed_files() if not world_readable(p)]
        if blocked:
            raise IsolationUnavailable(
                f"cannot isolate student code: {blocked[0]} is not readable by an unprivileged user; "
                f"make the Python installation world-readable (chmod -R o+rX {sys.prefix})"
            )
    return _SUPPORT["mode"]


NOT_ISOLATED = (
    "not isolated: this kernel does not let an ordinary user create namespaces, so student code ran "
    "as the grading user, with its files, network and processes; grade as root (or enable "
    "unprivileged user namespaces) for sealed grading"
)


def confinement_spec(limits: Limits, workdir: str, cgroup: Cgroup | None, spec=None) -> tuple[dict, Sandbox]:
    """Plain-data description of how a worker seals itself (see seal.enter)."""
    import secrets

    mode = isolation_mode()
    notes: list[str] = []
    root = os.geteuid() == 0
    if cgroup is not None and cgroup.note:
        notes.append(cgroup.note)
    uid = UID_BASE + secrets.randbelow(UID_SPAN) if root else None
    data = {
        "mode": mode,
        "memory_bytes": limits.memory_bytes,
        "file_bytes": limits.file_bytes,
        "processes": limits.processes,
        "cgroup_dirs": [str(d) for d in (cgroup.dirs if cgroup else [])],
        "uid": uid,
        "gid": NOGROUP if root else None,
        "workdir": workdir,
        "package_dir": str(Path(PACKAGE_PARENT) / "grader"),
        "modules": spec.worker_module_names if spec else [],
        "import_root": str(spec.import_root) if spec else PACKAGE_PARENT,
    }
    sandbox = Sandbox(
        user=f"uid {uid}" if uid else None, network=mode == "none", notes=notes, isolated=mode == "sealed"
    )
    return data, sandbox


def _env(workdir: str) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "USER": "student",
        "LOGNAME": "student",
        "PYTHONPATH": PACKAGE_PARENT,
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": workdir,
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
        # glibc 2.35+: the heap and malloc's own maps in 2 MB pages where the kernel allows (madvise): a probe's
        # heap then grows by a fault per 2 MB instead of per 4 KB (a 40-notebook batch's system CPU 30 -> 25 s)
        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
        "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16"),  # see grader/__init__.py
    }


def _debug_stderr():
    """Worker stderr: discarded, or appended to $DIFFGRADE_WORKER_STDERR (for maintainers)."""
    path = os.environ.get("DIFFGRADE_WORKER_STDERR")
    return open(path, "ab") if path else subprocess.DEVNULL


def _spawn(code: str, child: socket.socket, workdir: str):
    """Start ``python -I -c code`` with ``child`` inherited, in a session of its own."""
    return subprocess.Popen(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); {code}"],
        pass_fds=[child.fileno()],
        cwd=workdir,
        env=_env(workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=_debug_stderr(),
        start_new_session=True,
    )
