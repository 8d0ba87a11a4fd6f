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


def _sealed() -> bool:
    return os.environ.get("DIFFGRADE_SEALED") == "1"


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
        from grader.worker.preload import preload

        preload(msg["modules"])  # a no-op when forked from the fork server, which did it already

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
        problem = self._trial_sandbox()
        if problem:
            return {"ready": False, "seal_error": problem}
        return {"ready": True}

    def _trial_sandbox(self) -> str | None:
        """Build one probe sandbox with nothing in it, before any student code exists: whether this
        machine can seal probes is the grader's question, never a notebook's."""
        if not _sealed():
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
        _kill_stragglers()
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
        size = int(msg.get("support_bytes") or 0)
        page = None
        if size:
            page = mmap.mmap(-1, size)
            view = memoryview(page)
            got = 0
            while got < size:
                n = os.readv(self.fd, [view[got:]])
                if not n:
                    raise EOFError("the grading process closed the channel")
                got += n
            view.release()
            msg["support_page"] = page
        if any(isinstance(c, dict) and c.get("func") == "$notebook_check" for c in msg.get("calls") or []):
            _import_notebook_checks()  # once, here: not again in every sandbox (0.75 s each)
        try:
            header, frame = self._run(msg, float(msg.get("timeout", 30)))
        finally:
            if page is not None:
                page.seek(0)
                page.write(bytes(size))
                page.close()
        self._reply(header, frame)

    def _reply(self, header: dict, frame: bytes | None) -> None:
        header["answered"] = frame is not None
        protocol.send(self.fd, header)
        if frame is not None:
            _write_all(self.fd, frame)

    def _run(self, msg: dict, timeout: float, page=None) -> tuple[dict, bytes | None]:
        """One sandbox: fork, run the probe there, wait at most ``timeout``; (header, its raw frame)."""
        rfd, wfd = os.pipe()
        if _sealed():
            from grader.isolation.seal import next_probe_pid_namespace

            next_probe_pid_namespace()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rfd)
                os.close(self.fd)  # student code never holds the channel to the grading process
                self._enter_sandbox(wfd)
                from grader.worker import probe

                probe.run(self, msg, wfd, page)
            finally:
                os._exit(0)
        os.close(wfd)
        data, reason, status = self._collect(pid, rfd, timeout, page)
        os.close(rfd)
        if reason:
            _kill_group(pid)
        if status is None:
            _, status = os.waitpid(pid, 0)
        leftovers = _kill_stragglers() if _sealed() else _reap_group(pid)
        header = {"status": reason or "ended", "why": _why(status), "leftovers": leftovers}
        if reason:
            return header, None
        if not protocol.frame_complete(data):
            header["status"] = "crash"
            return header, None
        if len(data) != protocol.frame_length(data):
            header["status"] = "forged"
            return header, None
        return header, data

    def _enter_sandbox(self, wfd: int) -> None:
        if _sealed():
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
            elif op == "stop":
                return


def _import_notebook_checks() -> None:
    """Import what a notebook's own (otter) checks import, in the template, the first time a probe runs one
    (``grader check`` only): each sandbox then inherits it instead of importing it again. Library code, not
    the student's; a missing otter is reported by the check itself."""
    try:
        import otter.test_files  # noqa: F401
    except Exception:  # noqa: BLE001 - the check's own import then says what is wrong
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _why(status: int | None) -> str:
    """How a probe's process ended, in words (for a probe that gave no answer)."""
    if status is None:
        return "was stopped"
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return {
            "SIGKILL": "killed (memory or CPU limit?)",
            "SIGXCPU": "CPU time limit exceeded",
            "SIGSEGV": "crashed (segmentation fault)",
        }.get(sig, f"killed by {sig}")
    return f"exited early with status {os.WEXITSTATUS(status)} (sys.exit or os._exit in your code?)"


def _kill_stragglers() -> bool:
    """Sealed: the template is PID 1 of its namespace; kill every other process in it (a probe's
    namespace is nested in it) and reap them. True if there was any."""
    if os.getpid() != 1:
        return False
    found = False
    try:
        os.kill(-1, signal.SIGKILL)
        found = True
    except ProcessLookupError:
        pass
    try:
        while os.waitpid(-1, 0)[0]:
            pass
    except ChildProcessError:
        pass
    return found


def _die_with_parent() -> None:
    """Linux: the probe is killed when its worker dies, so nothing outlives a replaced worker."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _reap_group(pid: int) -> bool:
    """Unsealed: kill anything the probe left behind in its process group; True if there was something."""
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return True


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    faulthandler.enable(file=sys.__stderr__)
    Template(int(argv[0])).serve()


if __name__ == "__main__":
    main()
