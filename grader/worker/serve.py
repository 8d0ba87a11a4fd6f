"""Step 3 of the data path, worker side: the template that forks one sandbox per probe.

Started by :mod:`grader.isolation.spawn` (forked from the fork server, or directly), the worker
seals itself and becomes a *template*: it imports torch and the assignment's stand-ins once, keeps
the notebook's definitions as text, and never executes a line of them. Each probe is a fresh fork
that enters namespaces of its own (:func:`grader.isolation.seal.enter_probe`), loads the
definitions, runs its calls and answers once (:mod:`grader.worker.probe`); threads, patched
modules, files, message queues and processes die with it.

The template reads nothing the student wrote: a probe's answer is forwarded to the grading process
as the raw frame it wrote, after a header saying how the probe ended (answered, timed out, crashed,
forged). Loading is watched through a shared page of status bytes, one per chunk, so a statement
that ignores its time limit is found, killed and left out of every later load, and the whole load
has one wall-clock bound.
"""

from __future__ import annotations

import faulthandler
import mmap
import os
import select
import signal
import sys
import time

from grader import protocol
from grader.worker import definitions as loading
from grader.worker import sandboxes
from grader.worker.processes import (
    import_notebook_checks,
    judge_frame,
    kill_group,
    kill_stragglers,
    reap_group,
    sealed,
    wipe,
)


class Template:
    def __init__(self, fd: int, spec: dict | None = None):
        self.fd = fd
        self.spec = spec or {}
        self.chunks: list[dict] = []
        self.dropped: list[int] = []  # chunks left out of every load (they ignored their time limit)
        self.chunk_timeout = 5.0
        self.provided: dict = {}
        self.inputs: dict = {}
        self.interfaces: dict = {}
        self.error_hints: list = []

    # ---- set-up (no student code) -------------------------------------------------
    def init(self, msg: dict) -> dict:
        import importlib

        import torch

        from grader.worker import environment as runtime
        from grader.worker.preload import preload, settle

        # a no-op when forked from the fork server, which did it already
        preload(msg["modules"])

        torch.set_num_threads(1)
        torch.set_grad_enabled(True)
        runtime.quiet_matplotlib()
        runtime.install_numpy_noise()
        self.torch, self.runtime = torch, runtime
        self.inputs = {
            k: torch.from_numpy(v.copy()) if hasattr(v, "dtype") else v
            for k, v in protocol.decode(msg["inputs"]).items()
        }
        numpy_inputs = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in self.inputs.items()}
        if msg.get("import_root") and msg["import_root"] not in sys.path:
            sys.path.insert(0, msg["import_root"])
        self.error_hints = [tuple(h) for h in msg.get("error_hints", [])]
        self.modules = [importlib.import_module(name) for name in msg["modules"]]
        for module in self.modules:
            self.interfaces.update(getattr(module, "INTERFACES", {}))
        self.provided = self.modules[0].build(numpy_inputs)
        self.mode = runtime.GraderMode()
        self.mode.__enter__()
        self.chunk_timeout = float(msg.get("chunk_timeout", 5))
        settle()  # every probe is a fork of what exists now
        problem = self._trial_sandbox()
        if problem:
            return {"ready": False, "seal_error": problem}
        return {"ready": True}

    def _trial_sandbox(self) -> str | None:
        """Build one probe sandbox with nothing in it, before any student code exists: whether this
        machine can seal probes is the grader's question, never a notebook's."""
        if not sealed():
            return None
        from grader.isolation.seal import SealError, enter_probe, next_probe_pid_namespace

        rfd, wfd = os.pipe()
        try:
            next_probe_pid_namespace()
        except SealError as e:
            return str(e)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rfd)
                enter_probe(self.spec)
                os.write(wfd, b"ok")
            except SealError as e:
                os.write(wfd, str(e).encode()[:500])
            finally:
                os._exit(0)
        os.close(wfd)
        answer = b""
        while chunk := os.read(rfd, 600):
            answer += chunk
        os.close(rfd)
        os.waitpid(pid, 0)
        kill_stragglers()
        return None if answer == b"ok" else (answer.decode(errors="replace") or "the probe sandbox did not start")

    # ---- loading ----------------------------------------------------------------
    def load(self, msg: dict) -> None:
        """Keep the definitions, load them once in a sandbox (notes, names), and forward its answer.
        A chunk that outlives its time limit is killed and left out; all attempts share one bound."""
        self.chunks = [loading.compiled(dict(c, index=i)) for i, c in enumerate(msg["chunks"])]
        self.dropped = []
        budget = float(msg.get("budget", 60))
        deadline = time.monotonic() + budget
        while True:
            page = mmap.mmap(-1, max(1, len(self.chunks)))
            left = deadline - time.monotonic()
            header, frame = self._run({"op": "load", "timeout": max(left, 1)}, max(left, 0.5), page)
            hung = [i for i in range(len(self.chunks)) if page[i] == loading.RUNNING]
            not_run = [i for i in range(len(self.chunks)) if page[i] == loading.NOT_RUN]
            timed_out = [i for i in range(len(self.chunks)) if page[i] == loading.TIMED_OUT]
            page.close()
            if header["status"] not in ("timeout", "hung") or not hung:
                break
            self.dropped += hung
            if time.monotonic() >= deadline:  # the whole load is bounded, whatever the number of statements
                self.dropped += not_run
                header["budget_spent"] = len(not_run)
                break
            self.chunks = [c for c in self.chunks if c["index"] not in hung]
        # a statement that timed out once is not run again by every probe
        self.chunks = [c for c in self.chunks if c["index"] not in set(self.dropped) | set(timed_out)]
        header["dropped"] = [self._where(i, msg["chunks"]) for i in sorted(set(self.dropped))]
        self._reply(header, frame)

    @staticmethod
    def _where(index: int, chunks: list[dict]) -> str:
        chunk = chunks[index]
        return chunk.get("where") or f"cell {chunk.get('cell')}"

    # ---- probes -------------------------------------------------------------------
    def probe(self, msg: dict) -> None:
        """Run one probe. Its reference parts (``support``) arrive as raw bytes after the frame and are
        read into a page outside the heap, which the template wipes once the probe has its copy: no
        later probe (of the name those parts answer) can find them in the memory it inherits."""
        page = self.read_page(int(msg.get("support_bytes") or 0))
        if page is not None:
            msg["support_page"] = page
        import_notebook_checks(msg.get("calls"))  # here, once: not again in every sandbox (0.4 s each)
        try:
            header, frame = self._run(msg, float(msg.get("timeout", 30)))
        finally:
            wipe(page)
        self._reply(header, frame)

    def read_page(self, size: int):
        """The next ``size`` raw bytes of the channel, read straight into a page outside the heap (None if 0)."""
        if not size:
            return None
        page = mmap.mmap(-1, size)
        view = memoryview(page)
        got = 0
        while got < size:
            n = os.readv(self.fd, [view[got:]])
            if not n:
                raise EOFError("the grading process closed the channel")
            got += n
        view.release()
        return page

    def probes(self, msg: dict) -> None:
        """Run a batch of probes, several sandboxes at once (:mod:`grader.worker.sandboxes`)."""
        sandboxes.Batch(self, msg).run()

    def _reply(self, header: dict, frame: bytes | None) -> None:
        header["answered"] = frame is not None
        protocol.send(self.fd, header)
        if frame is not None:
            _write_all(self.fd, frame)

    def _run(self, msg: dict, timeout: float, page=None) -> tuple[dict, bytes | None]:
        """One sandbox: fork, run the probe there, wait at most ``timeout``; (header, its raw frame)."""
        pid, rfd = self.fork_probe(msg, page)
        data, reason, status = self._collect(pid, rfd, timeout, page)
        os.close(rfd)
        leftovers, status = self.end_probe(pid, reason, status, sweep=True)
        return judge_frame(data, reason, status, leftovers)

    def fork_probe(self, msg: dict, page=None, others=()) -> tuple[int, int]:
        """Fork one probe's sandbox; (its pid, the read end of its answer pipe). ``others``: pages of
        other probes' reference parts, unmapped in the child before any student code runs."""
        rfd, wfd = os.pipe()
        if sealed():
            from grader.isolation.seal import next_probe_pid_namespace

            next_probe_pid_namespace()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rfd)
                os.close(self.fd)  # student code never holds the channel to the grading process
                for other in others:
                    other.close()
                self._enter_sandbox(wfd)
                from grader.worker import probe

                probe.run(self, msg, wfd, page)
            finally:
                os._exit(0)
        os.close(wfd)
        return pid, rfd

    @staticmethod
    def end_probe(pid: int, reason: str | None, status: int | None, sweep: bool) -> tuple[bool, int | None]:
        """Kill what is left of a probe (all of it when it was stopped); (whether anything else was running,
        its exit status).
        ``sweep``: no other probe runs now, so every other process in the template's namespace is a leftover."""
        if reason:
            kill_group(pid)
        if status is None:
            _, status = os.waitpid(pid, 0)
        if not sealed():
            return reap_group(pid), status
        # sealed: the probe was PID 1 of its own namespace, so the kernel has killed the rest of it
        return (kill_stragglers() if sweep else False), status

    def _enter_sandbox(self, wfd: int) -> None:
        if sealed():
            from grader.isolation.seal import SealError, enter_probe

            try:
                enter_probe(self.spec)
            except SealError as e:
                protocol.send(wfd, {"sandbox_error": str(e)[:300]})
                os._exit(0)
        else:  # an ordinary user without namespaces: a process group and a scratch folder
            os.setpgid(0, 0)
            _die_with_parent()
            import tempfile

            os.chdir(tempfile.mkdtemp(prefix="probe-"))

    def _collect(self, pid: int, rfd: int, timeout: float, page) -> tuple[bytes, str | None, int | None]:
        """Read the probe's answer until it exits, the deadline passes, or (loading) a chunk hangs."""
        deadline = time.monotonic() + timeout
        data = b""
        watched, since = -1, time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                return data, "timeout", None
            if page is not None:  # a chunk that ignores its time limit: stop waiting for it
                running = page.find(bytes([loading.RUNNING]))
                if running != watched:
                    watched, since = running, now
                elif running >= 0 and now - since > self._limit_of(running) + 1:
                    return data, "hung", None
            ready, _, _ = select.select([rfd], [], [], min(deadline - now, 0.05))
            if ready:
                chunk = os.read(rfd, 1 << 20)
                if not chunk:
                    break
                data += chunk
                if len(data) > protocol.MAX_FRAME:
                    return data, "too much output", None
                continue
            done, wstatus = os.waitpid(pid, os.WNOHANG)
            if done:  # exited; what it wrote is in the pipe
                os.set_blocking(rfd, False)
                try:
                    while chunk := os.read(rfd, 1 << 20):
                        data += chunk
                except BlockingIOError:
                    pass
                return data, None, wstatus
        _, wstatus = os.waitpid(pid, 0)
        return data, None, wstatus

    def _limit_of(self, index: int) -> float:
        chunk = next((c for c in self.chunks if c["index"] == index), {})
        return loading.time_limit(chunk, self.chunk_timeout)

    def serve(self) -> None:
        while True:
            try:
                msg = protocol.recv(self.fd)
            except EOFError:
                return
            op = msg.get("op")
            if op == "init":
                try:
                    reply = self.init(msg)
                except Exception as e:  # noqa: BLE001
                    reply = {"ready": False, "message": f"the grader could not start: {loading.one_line(e)}"}
                protocol.send(self.fd, reply)
            elif op == "load":
                self.load(msg)
            elif op == "probe":
                self.probe(msg)
            elif op == "probes":
                self.probes(msg)
            elif op == "stop":
                return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _die_with_parent() -> None:
    """Linux: the probe is killed when its worker dies, so nothing outlives a replaced worker."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    faulthandler.enable(file=sys.__stderr__)
    Template(int(argv[0])).serve()


if __name__ == "__main__":
    main()
