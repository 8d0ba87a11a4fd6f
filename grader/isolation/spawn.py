"""Step 3 of the data path, grading side: start, feed and replace worker processes.

The grading process never imports torch and never executes student code. It
starts a worker (directly, or forked from a pre-warmed fork server) that
confines itself before loading the notebook (:func:`grader.isolation.confine.confine_self`):
a scrubbed environment, an empty working directory, a cgroup, resource limits
and, when started as root, private /tmp, no network and an unprivileged user. It talks to the worker over a
socket with data-only frames (:mod:`grader.protocol`). A worker that dies or
stops answering is killed and started again; the probe it was running fails.
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
from grader.isolation.confine import Cgroup, hide_grader_files

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


class WorkerError(Exception):
    """The worker could not be started or died; carries a one-line reason."""


def world_reachable(path: str) -> bool:
    """True when a user with no special rights can read ``path`` (every parent searchable)."""
    p = Path(path).resolve()
    try:
        if not p.stat().st_mode & 0o004:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in p.parents)
    except OSError:
        return False


def _needed_paths() -> list[str]:
    import importlib.util

    paths = [sys.executable, PACKAGE_PARENT]
    for mod in ("numpy", "torch"):
        spec = importlib.util.find_spec(mod)
        if spec and spec.origin:
            paths.append(spec.origin)
    return paths


#: Workers run as uids from this range (no passwd entry needed), one uid per worker, so a
#: submission cannot signal or read the processes of another submission graded alongside it.
UID_BASE, UID_SPAN = 200_000, 800_000
NOGROUP = 65534


def _unprivileged_user(notes: list[str]):
    """(uid, gid) for a new worker when grading as root and the interpreter is reachable; else None."""
    if os.geteuid() != 0:
        return None
    blocked = [p for p in _needed_paths() if not world_reachable(p)]
    if blocked:
        notes.append(f"running as root: {blocked[0]} is not readable by an unprivileged user")
        return None
    import secrets

    return UID_BASE + secrets.randbelow(UID_SPAN), NOGROUP


def confinement_spec(limits: Limits, workdir: str, cgroup: Cgroup | None) -> tuple[dict, Sandbox]:
    """Plain-data description of how a worker confines itself (see confine.confine_self)."""
    notes: list[str] = []
    user = _unprivileged_user(notes)
    if user is not None:
        notes.extend(hide_grader_files())
    if cgroup is not None and cgroup.note:
        notes.append(cgroup.note)
    root = os.geteuid() == 0
    if not root:
        notes.append("not root: the worker runs as the grading user, with the network and /tmp shared")
    spec = {
        "memory_bytes": limits.memory_bytes, "file_bytes": limits.file_bytes, "processes": limits.processes,
        "cgroup_dirs": [str(d) for d in (cgroup.dirs if cgroup else [])],
        "uid": user[0] if user else None, "gid": user[1] if user else None,
        "cut_network": root, "workdir": workdir,
    }
    return spec, Sandbox(user=f"uid {user[0]}" if user else None, network=not root, notes=notes)


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


def _spawn(code: str, child: socket.socket, workdir: str, spec: dict | None):
    """Start ``python -I -c code`` with ``child`` inherited; confined by ``spec`` unless None."""
    from grader.isolation.confine import confine_self

    def preexec():
        if spec is None:
            os.setsid()
        else:
            confine_self(spec)

    return subprocess.Popen(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); {code}"],
        pass_fds=[child.fileno()],
        cwd=workdir,
        env=_env(workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,
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
        self.proc = _spawn(f"from grader.isolation.forkserver import serve; serve({child.fileno()!r}, {preload!r})",
                           child, self.workdir, None)
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
        spec, self.sandbox = confinement_spec(self.limits, self.workdir, self.cgroup)
        server = ForkServer.current
        self.proc = self.server = None
        if server is not None:
            try:
                self.proc, self.server = server.fork_worker(child, spec), server
            except WorkerError:
                self.proc = None
        if self.proc is None:
            self.proc = _spawn(f"from grader.worker.serve import main; main([{child.fileno()!r}])", child, self.workdir, spec)
        child.close()
        self.sock = parent
        self._send({"op": "init", "modules": self.spec.worker_module_names, "import_root": str(self.spec.import_root),
                    "error_hints": [list(h) for h in self.spec.error_hints], "chunks": self.chunks,
                    "inputs": self.inputs_encoded, "chunk_timeout": self.limits.chunk_timeout})
        reply = self._recv(self.limits.start_timeout + self.limits.chunk_timeout * len(self.chunks))
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
    def probe(self, calls: list[dict], timeout: float, prelude: str | None = None) -> dict:
        """Run calls in a fresh fork of the worker. Always returns ``{"results": [one per call], ...}``;
        when the probe failed as a whole (timeout, crash) every call carries that failure and
        ``"failed"`` holds its message."""
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
        try:
            message = {"op": "probe", "calls": calls, "timeout": timeout}
            if prelude:
                message["prelude"] = prelude
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
        self.leftovers_killed += self.cgroup.kill_all(keep={self.proc.pid})

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
            return protocol.recv(self.sock.fileno(), deadline=max(deadline, time.monotonic() + 5))
        except (EOFError, OSError, protocol.ProtocolError, ValueError) as e:
            raise WorkerError(f"broken answer from the worker: {e}") from None
