"""The grading side of the fork server (:mod:`grader.isolation.forkserver`): start it once, ask it
for a worker per submission, replace it when it dies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import time

from grader.isolation.policy import Limits, WorkerError, _spawn


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

        specs = course.all_specs()
        preload = [m for spec in specs for m in spec.worker_module_names]
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


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data
