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
import tempfile
import threading
import time

from grader import protocol
from grader.isolation.cgroup import Cgroup
from grader.isolation.forkserver_client import ForkServer
from grader.isolation.policy import (
    IsolationUnavailable,
    Limits,
    Sandbox,
    WorkerError,
    _spawn,
    confinement_spec,
)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


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
        self._init_sender: threading.Thread | None = None

    # ---- life cycle ---------------------------------------------------------
    @classmethod
    def launched(cls, spec, inputs: dict, limits: Limits | None = None) -> "WorkerProcess":
        """A worker for one submission, launched (:meth:`launch`): it imports torch while the caller goes on."""
        worker = cls(spec, [], inputs, limits)
        worker.launch()
        return worker

    def start(self) -> dict:
        """Start the template (unless :meth:`launch` did), wait until it is ready, load the definitions."""
        if self.sock is None:
            self.launch()
        return self._await_ready()

    def launch(self) -> None:
        """Start the template and hand it its init message, without waiting: torch is imported there
        while this process reads and parses the notebook (then :meth:`start`)."""
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
        init = {
            "op": "init",
            "modules": self.spec.worker_module_names,
            "import_root": str(self.spec.import_root),
            "error_hints": [list(h) for h in self.spec.error_hints],
            "inputs": self.inputs_encoded,
            "chunk_timeout": self.limits.chunk_timeout,
        }
        # the inputs outgrow the socket's buffer: a thread writes them while the template imports torch
        self._init_sender = threading.Thread(target=self._send_quietly, args=(init,), daemon=True)
        self._init_sender.start()

    def _send_quietly(self, message: dict) -> None:
        try:
            self._send(message)
        except WorkerError:
            pass  # seen by _await_ready: the worker is gone

    def _await_ready(self) -> dict:
        # No student code has run yet: a refusal here is the machine's, never a notebook's.
        reply = self._recv(self.limits.start_timeout)
        if self._init_sender is not None:
            self._init_sender.join()
        if reply.get("seal_error"):
            self.close()
            raise IsolationUnavailable(f"cannot isolate student code: {reply['seal_error']}")
        if not reply.get("ready"):
            self.close()
            raise WorkerError(reply.get("message", "the worker did not start"))
        self.ready = self._load()
        return self.ready

    def _load(self) -> dict:
        """Send the definitions; the template loads them once in a sandbox of their own (notes, names)."""
        budget = self.limits.load_timeout
        self._send({"op": "load", "chunks": self.chunks, "budget": budget})
        header, answer = self._answer(budget + 15)
        notes: list[str] = []
        if header.get("status") == "timeout" and not header.get("dropped"):
            notes.append(f"loading your notebook's definitions took over {budget:g} s; the rest was skipped")
        for where in header.get("dropped", []):
            notes.append(f"{where}: a top-level statement ignored the grader's time limit and was skipped")
        if header.get("budget_spent"):
            notes.append(
                f"loading stopped after {budget:g} s: {header['budget_spent']} later statement(s) were not run"
            )
        if isinstance(answer, dict):
            notes = [str(n) for n in answer.get("notes", []) if isinstance(n, str)] + notes
            return {
                "ready": True,
                "notes": notes,
                "defined": [d for d in answer.get("defined", []) if isinstance(d, str)],
            }
        return {"ready": True, "notes": notes, "defined": []}

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
    def probe(self, calls, timeout: float, prelude: str | None = None, support: str | None = None) -> dict:
        """Run calls (:class:`grader.core.Call`) in a fresh fork of the worker. Always returns ``{"results": [one per call], ...}``;
        when the probe failed as a whole (timeout, crash) every call carries that failure and
        ``"failed"`` holds its message."""
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
        try:
            message = {"op": "probe", "calls": protocol.encode_calls(calls), "timeout": timeout}
            if prelude:
                message["prelude"] = prelude
            secret = support.encode("utf-8") if support else b""
            message["support_bytes"] = len(secret)  # sent apart, after the frame (see Template.probe)
            self._send(message)
            if secret:
                self._send_raw(secret)
            header, answer = self._answer(timeout + 15)
        except WorkerError as e:
            return self._finished(None, self._replaced(e), len(calls), timeout)
        self._kill_leftovers()
        return self._finished(header, answer, len(calls), timeout)

    def probe_batch(self, requests: list[tuple], parallel: int, budget: float):
        """Run several probes, up to ``parallel`` sandboxes at once (:mod:`grader.worker.sandboxes`).
        ``requests``: (calls, timeout, support) per probe. Yields (position, answer) as each probe ends, in
        that order, each answer as :meth:`probe` returns it; all of them, whatever happens. The probes are
        sent at once; the answers are read as the returned iterator is consumed."""
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
        secrets = [support.encode("utf-8") if support else b"" for _, _, support in requests]
        items = [
            {"calls": protocol.encode_calls(calls), "timeout": timeout, "support_bytes": len(secret)}
            for (calls, timeout, _), secret in zip(requests, secrets)
        ]
        left = dict(enumerate(requests))
        try:
            self._send({"op": "probes", "probes": items, "parallel": parallel, "budget": budget})
            for secret in secrets:
                if secret:
                    self._send_raw(secret)
        except WorkerError as e:
            return self._batch_answers(left, e)
        return self._batch_answers(left)

    def _batch_answers(self, left: dict, error: WorkerError | None = None):
        longest = max((timeout for _, timeout, _ in left.values()), default=0)
        try:
            if error is not None:
                raise error
            while left:
                header, answer = self._answer(longest + 15)
                index = header.get("id")
                if not isinstance(index, int) or index not in left:
                    raise WorkerError("an answer to no probe of the batch")
                calls, timeout, _ = left.pop(index)
                if not left:
                    self._kill_leftovers()
                yield index, self._finished(header, answer, len(calls), timeout)
        except WorkerError as e:
            failure = self._replaced(e)
            for index, (calls, _, _) in left.items():
                yield index, self._finished(None, failure, len(calls), 0)

    def _replaced(self, error: WorkerError) -> dict:
        """The template itself died or hung (it never runs student code: a fault of the machine or the
        grader): replace it; the failure of each probe it had."""
        try:
            self.restart()
        except WorkerError:
            pass
        return {"ok": False, "kind": "crash", "message": f"the worker stopped ({error}); it was replaced"}

    def _finished(self, header: dict | None, answer, n_calls: int, timeout: float) -> dict:
        """What one probe gives the checks (``header`` None: the worker failed and ``answer`` says how)."""
        if header is not None:
            if header.get("status") == "budget":
                answer = {"ok": False, "kind": "timeout", "message": "not run: the submission used up its time budget"}
            else:
                answer = _probe_answer(header, answer, n_calls, timeout)
        if "results" not in answer:
            answer = {"results": [answer] * n_calls, "printed": "", "failed": answer["message"]}
        return answer

    def _answer(self, timeout: float) -> tuple[dict, dict | None]:
        """The template's header for one sandbox, and the answer frame the sandbox wrote (or None)."""
        header = self._recv(timeout)
        answer = None
        if header.get("answered"):
            try:
                answer = protocol.recv(self.sock.fileno(), deadline=time.monotonic() + 30, bounds=protocol.FROM_WORKER)
            except (EOFError, OSError, protocol.ProtocolError, ValueError, RecursionError):
                header["status"] = "unreadable"
        return header, answer

    def _kill_leftovers(self) -> None:
        """Kill processes a probe left running (even ones that escaped with setsid)."""
        if self.cgroup is None or self.proc is None:
            return
        outer = self.proc.pid  # the sealed worker is the only child of the process we started
        keep = {outer} | {pid for pid in self.cgroup.pids() if _parent_of(pid) == outer}
        self.leftovers_killed += self.cgroup.kill_all(keep=keep)

    def _send_raw(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.sock.fileno(), view) :]
        except OSError as e:
            raise WorkerError(f"could not reach the worker: {e}") from None

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


def _probe_answer(header: dict, answer, n_calls: int, timeout: float) -> dict:
    """What one probe gives the checks: its answer when well formed, else why it has none."""
    status = header.get("status")
    if status == "timeout":
        return {
            "ok": False,
            "kind": "timeout",
            "message": f"did not finish within {timeout:g} s (an infinite loop, or far too slow)",
        }
    if status == "forged":
        return {
            "ok": False,
            "kind": "forged",
            "message": "your code wrote to the grader's answer channel (an extra or forged answer): "
            "this probe's results were refused",
        }
    if status == "too much output":
        return {"ok": False, "kind": "crash", "message": "the code under test sent far too much data back"}
    if isinstance(answer, dict) and answer.get("kind") == "refused" and "results" not in answer:
        return answer  # outside the grading side's bounds (protocol.refusal): this probe's failure
    if isinstance(answer, dict) and "sandbox_error" in answer:
        return {"ok": False, "kind": "crash", "message": "the grader could not build this check's sandbox"}
    if _well_formed(answer, n_calls):
        answer["leftovers"] = int(bool(answer.get("leftovers")) or bool(header.get("leftovers")))  # a count
        return answer
    return {"ok": False, "kind": "crash", "message": f"the code under test {header.get('why', 'crashed')}"}


def _well_formed(answer, n_calls: int) -> bool:
    """An answer as a probe writes it: one result per call, each a dict with ``ok``."""
    return (
        isinstance(answer, dict)
        and isinstance(answer.get("results"), list)
        and len(answer["results"]) == n_calls
        and all(isinstance(r, dict) and isinstance(r.get("ok"), bool) for r in answer["results"])
        and isinstance(answer.get("printed", ""), str)
    )
