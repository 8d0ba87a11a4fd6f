"""Step 3 of the data path, grading side: start, feed and replace worker processes.

The grading process never imports torch and never executes student code. It
starts a worker (directly, or forked from a pre-warmed fork server) that seals
itself before loading the notebook (:func:`grader.isolation.seal.enter`): a
scrubbed environment, a cgroup, resource limits, its own mount, PID, IPC and
network namespaces with an allowlisted read-only root, and no privileges. If it
cannot be sealed, nothing is graded (:class:`IsolationUnavailable`). It talks to
the worker over a socket with data-only frames (:mod:`grader.protocol`). A worker
that dies or stops answering is killed and started again; the probe it was running fails.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import protocol
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


class ForkedProcess:
    """A worker forked by the fork server: not our child, so watched by pid."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -9
            except PermissionError:
                pass
        return self.returncode

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout=None):
        deadline = time.monotonic() + (timeout or 5)
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.returncode


class ForkServer:
    """A pre-warmed process that forks workers (see grader.isolation.forkserver). Use as a context manager.

    The server itself only ever runs the grader's own code (imports); each forked
    child confines itself (cgroup, limits, namespaces, unprivileged user) before it
    loads a notebook.
    """

    current: "ForkServer | None" = None

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.proc = None
        self.control: socket.socket | None = None
        self.workdir: str | None = None

    def start(self) -> "ForkServer":
        parent, child = socket.socketpair()
        self.workdir = tempfile.mkdtemp(prefix="diffgrade-forkserver-")
        from grader import course

        preload = [m for spec in course.all_specs() for m in spec.worker_module_names]
        self.proc = _spawn(
            f"from grader.isolation.forkserver import serve; serve({child.fileno()!r}, {preload!r})",
            child,
            self.workdir,
        )
        child.close()
        self.control = parent
        self.control.settimeout(self.limits.start_timeout)
        try:
            if self.control.recv(1) != b"R":
                raise OSError("no ready signal")
        except OSError as e:
            self.close()
            raise WorkerError(f"the fork server did not start: {e}") from None
        return self

    def fork_worker(self, child: socket.socket, spec: dict) -> ForkedProcess:
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.start()  # it was killed: start it again
        try:
            self.control.settimeout(30)
            socket.send_fds(self.control, [json.dumps(spec).encode()], [child.fileno()])
            pid = int.from_bytes(_recv_exact(self.control, 8), "big")
        except OSError as e:
            self.close()
            raise WorkerError(f"the fork server failed: {e}") from None
        return ForkedProcess(pid)

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.kill()
            self.proc.wait()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.proc = self.control = self.workdir = None

    def __enter__(self):
        self.start()
        ForkServer.current = self
        return self

    def __exit__(self, *exc):
        ForkServer.current = None
        self.close()


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


class WorkerProcess:
    """One live worker: an initialised zygote serving probes for one submission."""

    def __init__(self, spec, chunks: list[dict], inputs: dict, limits: Limits | None = None):
        self.spec = spec  # the assignment's grader.course.Spec
        self.chunks = chunks
        self.inputs_encoded = protocol.encode(inputs)
        self.limits = limits or Limits()
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.workdir: str | None = None
        self.sandbox = Sandbox()
        self.ready: dict | None = None
        self.restarts = 0
        self.cgroup: Cgroup | None = None  # own cgroup when spawned directly
        self.server: ForkServer | None = None
        self.leftovers_killed = 0

    # ---- life cycle ---------------------------------------------------------
    def start(self) -> dict:
        parent, child = socket.socketpair()
        self.workdir = tempfile.mkdtemp(prefix="diffgrade-worker-")
        self.cgroup = Cgroup(self.limits.processes, self.limits.memory_bytes)
        spec, self.sandbox = confinement_spec(self.limits, self.workdir, self.cgroup, self.spec)
        server = ForkServer.current
        self.proc = self.server = None
        if server is not None:
            try:
                self.proc, self.server = server.fork_worker(child, spec), server
            except WorkerError:
                self.proc = None
        if self.proc is None:
            fd = child.fileno()
            self.proc = _spawn(
                f"from grader.isolation.forkserver import become_worker; become_worker({fd!r}, {json.dumps(spec)!r})",
                child,
                self.workdir,
            )
        child.close()
        self.sock = parent
        self._send(
            {
                "op": "init",
                "modules": self.spec.worker_module_names,
                "import_root": str(self.spec.import_root),
                "error_hints": [list(h) for h in self.spec.error_hints],
                "chunks": self.chunks,
                "inputs": self.inputs_encoded,
                "chunk_timeout": self.limits.chunk_timeout,
            }
        )
        reply = self._recv(self.limits.start_timeout + self.limits.chunk_timeout * len(self.chunks))
        if reply.get("seal_error"):
            self.close()
            raise IsolationUnavailable(f"cannot isolate student code: {reply['seal_error']}")
        if not reply.get("ready"):
            self.close()
            raise WorkerError(reply.get("message", "the worker did not start"))
        self.ready = reply
        return reply

    def close(self) -> None:
        if self.sock is not None:
            try:
                protocol.send(self.sock.fileno(), {"op": "stop"})
            except OSError:
                pass
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.sock is not None:
            self.sock.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.proc = self.sock = self.workdir = self.cgroup = None

    def restart(self) -> None:
        self.close()
        self.restarts += 1
        self.start()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- probes -------------------------------------------------------------
    def probe(self, calls: list[dict], timeout: float, prelude: str | None = None, support: str | None = None) -> dict:
        """Run calls in a fresh fork of the worker. Always returns ``{"results": [one per call], ...}``;
        when the probe failed as a whole (timeout, crash) every call carries that failure and
        ``"failed"`` holds its message."""
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
        try:
            message = {"op": "probe", "calls": calls, "timeout": timeout}
            if prelude:
                message["prelude"] = prelude
            if support:
                message["support"] = support
            self._send(message)
            answer = self._recv(timeout + 15)
        except WorkerError as e:
            # The zygote itself died or hung (e.g. the student's code killed its parent): replace it.
            try:
                self.restart()
            except WorkerError:
                pass
            answer = {"ok": False, "kind": "crash", "message": f"the worker stopped ({e}); it was replaced"}
        else:
            self._kill_leftovers()
        if "results" not in answer:
            answer = {"results": [answer] * len(calls), "printed": "", "failed": answer["message"]}
        return answer

    def _kill_leftovers(self) -> None:
        """Kill processes a probe left running (even ones that escaped with setsid)."""
        if self.cgroup is None or self.proc is None:
            return
        outer = self.proc.pid  # the sealed worker is the only child of the process we started
        keep = {outer} | {pid for pid in self.cgroup.pids() if _parent_of(pid) == outer}
        self.leftovers_killed += self.cgroup.kill_all(keep=keep)

    def _send(self, message: dict) -> None:
        try:
            protocol.send(self.sock.fileno(), message)
        except OSError as e:
            raise WorkerError(f"could not reach the worker: {e}") from None

    def _recv(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"no answer within {timeout:g} s")
            ready, _, _ = select.select([self.sock], [], [], min(left, 1.0))
            if ready:
                break
            if self.proc.poll() is not None:
                raise WorkerError(f"worker exited with status {self.proc.returncode}")
        try:
            return protocol.recv(
                self.sock.fileno(), deadline=max(deadline, time.monotonic() + 5), bounds=protocol.FROM_WORKER
            )
        except (EOFError, OSError, protocol.ProtocolError, ValueError) as e:
            raise WorkerError(f"broken answer from the worker: {e}") from None
