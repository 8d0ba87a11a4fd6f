"""Step 3 of the data path, worker side: runs student definitions, never judges them.

Started by :mod:`grader.isolation.spawn` as ``python -m grader.worker FD``. The worker
imports torch once, builds the stand-ins, executes the notebook's kept
definitions (each chunk on its own, under a time limit) and then serves
probes. Every probe runs in a fresh ``fork()`` of this loaded process, so a
crash, hang, ``os._exit`` or corrupted global costs that probe alone and
starts from the same clean state. Results go back as data (see protocol).
"""

from __future__ import annotations

import contextlib
import faulthandler
import inspect
import io
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback

from grader import protocol
from grader.worker import adapters

MAX_PRINT = 4000  # characters of a probe's own printing kept for the report


class _ChunkTimeout(BaseException):
    pass


class _Missing(Exception):
    """A probe refers to a name the notebook does not define."""


class _Stub(Exception):
    """A probe refers to a definition that still holds only placeholders (``...``)."""


def _stub_message(name: str) -> str:
    return f"{name} is still `...` (not implemented yet): replace the `...` in it with your code"


class CappedText(io.TextIOBase):
    """stdout/stderr stand-in that keeps the first MAX_PRINT characters and drops the rest."""

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, s):
        s = str(s)
        room = MAX_PRINT - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self):
        pass

    def text(self) -> str:
        return "".join(self.parts)


def _one_line(exc: BaseException, limit: int = 240) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _student_location(tb) -> str:
    """' (the cell starting "def forward(im, t):", line 3)' for the innermost frame of student code."""
    where = ""
    for frame, lineno in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if name.startswith(("<cell ", "<the cell ")):
            where = f" ({name[1:-1]}, line {lineno})"
    return where


#: (substring of an error message, hint) pairs of the assignment being graded (Spec.error_hints).
ERROR_HINTS: list = []


def _raised(name: str, exc: BaseException) -> str:
    """'forward raised NameError: ... (cell 7, line 3); likely cause: ...' on one line."""
    text = f"{name} raised {_one_line(exc, 200)}{_student_location(exc.__traceback__)}"
    if isinstance(exc, NameError):
        text += (
            "; likely cause: that name is not defined in your notebook, or is made by top-level code the grader "
            "does not run (it keeps imports, definitions and simple assignments)"
        )
    elif "size of tensor" in str(exc) or "shape" in str(exc):
        text += "; likely cause: two tensors of different shapes meet on that line"
        text += "".join(f" ({hint})" for needle, hint in ERROR_HINTS if needle in str(exc))
    return text


class Worker:
    def __init__(self, fd: int):
        self.fd = fd
        self.ns: dict = {}
        self.stubs: set[str] = set()  # names whose definition holds only placeholders
        self.defs = adapters.Definitions()  # every definition of every name (redefinitions kept)
        self.interfaces: dict = {}  # graded name -> adapters.Interface (the assignment's interfaces module)
        self.notes: list[str] = []
        self.loops: dict = {}  # graded training function -> the top-level loop that stands for it (loops.py)
        self.provided: dict = {}
        self.inputs: dict = {}

    # ---- set-up -------------------------------------------------------------
    def init(self, msg: dict) -> dict:
        import numpy as np  # noqa: F401
        import torch

        from grader.worker import environment as runtime

        torch.set_num_threads(1)
        torch.set_grad_enabled(True)
        runtime.quiet_matplotlib()
        runtime.install_numpy_noise()
        self.torch = torch
        self.runtime = runtime
        self.inputs = {
            k: torch.from_numpy(v.copy()) if hasattr(v, "dtype") else v
            for k, v in protocol.decode(msg["inputs"]).items()
        }
        numpy_inputs = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in self.inputs.items()}
        import importlib

        if msg.get("import_root") and msg["import_root"] not in sys.path:
            sys.path.insert(0, msg["import_root"])
        ERROR_HINTS[:] = [tuple(h) for h in msg.get("error_hints", [])]
        self.modules = [importlib.import_module(name) for name in msg["modules"]]
        for module in self.modules:
            self.interfaces.update(getattr(module, "INTERFACES", {}))
        self.provided = self.modules[0].build(numpy_inputs)
        self.ns = {"__name__": "__main__", "__builtins__": __builtins__}
        self.ns.update(self.provided)
        self.mode = runtime.GraderMode()
        self.mode.__enter__()
        chunk_limit = float(msg.get("chunk_timeout", 5))
        for chunk in msg["chunks"]:
            self._exec_chunk(chunk, chunk_limit)
        self.ns.update(self.provided)  # the grader's helpers win over pasted copies
        defined = sorted(k for k in self.ns if not k.startswith("__"))
        return {"ready": True, "notes": self.notes, "defined": defined}

    #: Seconds an import chunk may take. An import stopped halfway leaves its modules half made for every later
    #: use ("module 'sympy' has no attribute 'logic'" in a training check), and `from torchvision import datasets`
    #: alone imports torch._dynamo, sympy and triton: seconds on a loaded machine, well past the 5 s of a statement.
    IMPORT_TIMEOUT = 60.0

    def _exec_chunk(self, chunk: dict, limit: float) -> None:
        source, kind = chunk["source"], chunk["kind"]
        cell = chunk.get("where") or f"cell {chunk['cell']}"
        if kind == "loop":  # run by the probes of its training function, not now
            self.loops[chunk["name"]] = chunk["loop"]
            return

        def on_alarm(signum, frame):
            raise _ChunkTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(limit, self.IMPORT_TIMEOUT) if kind == "import" else limit)
        saved_out, saved_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = CappedText()
        try:
            code = compile("\n" * (chunk.get("line", 1) - 1) + source, f"<{cell}>", "exec")
            exec(code, self.ns)
            if kind == "def":  # the last successful definition of a name decides
                name = chunk.get("name", "")
                (self.stubs.add if chunk.get("stub") else self.stubs.discard)(name)
                if name in self.ns:
                    self.defs.add(name, cell, self.ns[name], bool(chunk.get("stub")))
        except _ChunkTimeout:
            if not chunk.get("quiet"):
                self.notes.append(f"{cell}: a top-level statement took over {limit:g} s and was skipped")
        except ImportError as e:
            missing = getattr(e, "name", None) or str(e)
            if not chunk.get("quiet"):
                self.notes.append(f"{cell}: import of {missing} is not available in the grader (skipped)")
        except BaseException as e:  # noqa: BLE001 - student code may raise anything
            what = "definition" if kind == "def" else "statement"
            self.notes.append(f"{cell}: a top-level {what} failed and was skipped: {_one_line(e)}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            sys.stdout, sys.stderr = saved_out, saved_err

    # ---- probes -------------------------------------------------------------
    def _arg(self, spec, results):
        torch = self.torch
        if isinstance(spec, dict):
            if "$input" in spec:
                return self.inputs[spec["$input"]].clone()
            if "$result" in spec:
                value = results[spec["$result"]]
                return torch.as_tensor(value).float() if hasattr(value, "shape") else value
            if "$ns" in spec:  # a student object, handed to a grader-side helper ($standin:...)
                return self._student_object(spec["$ns"])
            if "$provided" in spec:  # a provided global, or one item of it ({"$provided": d, "item": key})
                value = self.provided[spec["$provided"]]
                if "item" in spec:
                    value = value[spec["item"]]
                return value.clone() if hasattr(value, "clone") else value
            if "$list" in spec or "$array" in spec:
                value = protocol.decode(spec)
                return torch.from_numpy(value.copy()) if hasattr(value, "dtype") else value
            return {k: self._arg(v, results) for k, v in spec.items()}
        if isinstance(spec, list):
            return [self._arg(v, results) for v in spec]
        return spec

    def _student_object(self, name: str):
        """A graded name as a grader-side helper receives it: a class as defined (the helper tries the
        accepted call forms), a function wrapped so that each call picks the definition and argument
        layout that fit (adapters.choose)."""
        iface = self.interfaces.get(name)
        names = (name,) + tuple(iface.aliases if iface else ())
        loop = self._loop_for(name)
        if loop is not None:
            return loop
        if not any(n in self.ns for n in names):
            raise _Missing(name)
        if name in self.ns and (isinstance(self.ns[name], type) or not callable(self.ns[name])):
            if name in self.stubs:
                raise _Stub(name)
            return self.ns[name]
        try:
            adapters.definitions_of(name, self.ns, self.defs, iface)
        except KeyError:
            raise _Missing(name) from None
        except LookupError:
            raise _Stub(name) from None
        return adapters.Adapted(name, self.ns, self.defs, iface)

    def _loop_for(self, name: str):
        """The notebook's top-level training loop, to run in place of the training function ``name`` when the
        notebook does not define that function (or only its stub); else None."""
        from grader.worker.loops import LoopTraining

        iface = self.interfaces.get(name)
        names = (name,) + tuple(iface.aliases if iface else ())
        if name not in self.loops or (any(n in self.ns for n in names) and name not in self.stubs):
            return None
        return LoopTraining(self.ns, self.loops[name])

    def _call(self, call: dict, results: list):
        name = call["func"]
        for target, source in (call.get("rebind") or {}).items():
            self.ns[target] = self._special(source)
        graded = not name.startswith("$")
        if not graded:
            fn = self._special(name)
            name = call.get("label", name)  # what messages call it (e.g. the student class it builds)
        try:
            args = [self._arg(a, results) for a in call.get("args", [])]
            kwargs = {k: self._arg(v, results) for k, v in (call.get("kwargs") or {}).items()}
        except _Missing as e:
            return {"ok": False, "kind": "missing", "message": f"{e.args[0]} is not defined in your notebook"}
        except _Stub as e:
            return {"ok": False, "kind": "not_implemented", "message": _stub_message(e.args[0])}
        if graded:
            try:
                choice = adapters.choose(name, args, kwargs, self.ns, self.defs, self.interfaces.get(name))
            except KeyError:
                return {"ok": False, "kind": "missing", "message": f"{name} is not defined in your notebook"}
            except LookupError:
                return {"ok": False, "kind": "not_implemented", "message": _stub_message(name)}
            except adapters.NoFit as e:
                return {"ok": False, "kind": "missing", "message": str(e)}
            for text in choice.notes:
                adapters.note(text)
            fn, args, kwargs = choice.fn, list(choice.args), choice.kwargs
        if call.get("quiet") and callable(fn):
            try:
                if "display" in inspect.signature(fn).parameters:
                    kwargs.setdefault("display", False)
            except (TypeError, ValueError):
                pass
        self.runtime.NOISE.reset(call.get("seed", 0))
        if not callable(fn):
            value = fn
        else:
            try:
                with self.torch.no_grad() if call.get("no_grad", True) else contextlib.nullcontext():
                    value = fn(*args, **kwargs)
            except NotImplementedError:
                return {
                    "ok": False,
                    "kind": "not_implemented",
                    "message": f"{name} is not implemented yet (it raised NotImplementedError)",
                }
            except TypeError as e:
                if _is_signature_error(e, fn):
                    return {
                        "ok": False,
                        "kind": "signature",
                        "message": f"{name} could not be called as the assignment specifies: {_one_line(e)} "
                        "(check its parameters against the assignment's signature)",
                    }
                return {"ok": False, "kind": "exception", "message": _raised(name, e)}
            except Exception as e:  # noqa: BLE001
                return {"ok": False, "kind": "exception", "message": _raised(name, e)}
        if graded:
            value = adapters.first_of_tuple(name, value, self.interfaces.get(name))
        if value is Ellipsis:  # the student notebook's placeholder, `name = ...`
            return {
                "ok": False,
                "kind": "not_implemented",
                "message": f"{name} is still `...` (not implemented yet): replace the `...` with your answer",
            }
        value = self.runtime.to_data(value)
        try:
            return {"ok": True, "value": protocol.encode(value)}
        except protocol.Unsendable as e:
            return {
                "ok": False,
                "kind": "type",
                "message": f"{name} returned {e}; expected a tensor, array or number (return the result itself)",
            }

    def _special(self, name: str):
        if name.startswith("$support:"):  # a reference part sent with this probe
            return self.runtime.SUPPORT[name.split(":", 1)[1]]
        if name == "$notebook_check":  # the student notebook's own public check (grader check only)
            return self._notebook_check
        if name.startswith("$standin:"):  # a helper of the assignment's worker-side modules
            attr = name.split(":", 1)[1]
            for module in self.modules:
                if hasattr(module, attr):
                    return getattr(module, attr)
            raise KeyError(name)
        if name in self.ns:
            return self.ns[name]
        raise KeyError(name)

    def _notebook_check(self, source: str) -> str:
        """Run one of the notebook's public (otter) checks on the student's definitions, as the
        notebook does; "" when it passes, else its own message."""
        for name in self.loops:  # training written as a loop: the check calls the loop
            loop = self._loop_for(name)
            if loop is not None:
                self.ns[name] = loop
        namespace: dict = {}
        exec(compile(source, "<notebook check>", "exec"), namespace)
        for case in [v for v in namespace.values() if hasattr(v, "call_func") and hasattr(v, "test_func")]:
            try:
                case.call_func(self.ns)
            except AssertionError as e:
                return str(e).strip("'") or "the check failed"
            except Exception as e:  # noqa: BLE001 - whatever the student's code raised
                return f"{type(e).__name__}: {e}"
        return ""

    def run_probe(self, msg: dict) -> dict:
        """Fork, run the probe's calls in the child, return its answer (or why it has none)."""
        timeout = float(msg.get("timeout", 30))
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(rfd)
                os.close(self.fd)  # student code never holds the channel to the grading process
                os.setpgid(0, 0)
                _die_with_parent()
                self._child(msg, wfd, timeout)
            finally:
                os._exit(0)
        os.close(wfd)
        deadline = time.monotonic() + timeout
        data = b""
        reason = None
        status = None  # set once the child is reaped
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = "timeout"
                break
            ready, _, _ = select.select([rfd], [], [], min(left, 0.05))
            if ready:
                chunk = os.read(rfd, 1 << 20)
                if not chunk:
                    break
                data += chunk
                if len(data) > protocol.MAX_FRAME:
                    reason = "too much output"
                    break
                continue
            done, wstatus = os.waitpid(pid, os.WNOHANG)
            if done:  # exited; what it wrote is in the pipe (a process it left may still hold the pipe open)
                os.set_blocking(rfd, False)
                try:
                    while chunk := os.read(rfd, 1 << 20):
                        data += chunk
                except BlockingIOError:
                    pass
                status = wstatus
                break
        os.close(rfd)
        if reason:
            _kill_group(pid)
        if status is None:
            _, status = os.waitpid(pid, 0)
        leftovers = _reap_group(pid)
        _clean_shared_state()
        if reason == "timeout":
            return {
                "ok": False,
                "kind": "timeout",
                "message": f"did not finish within {timeout:g} s (an infinite loop, or far too slow)",
            }
        if protocol.frame_complete(data) and len(data) != protocol.frame_length(data):
            return {
                "ok": False,
                "kind": "forged",
                "message": "your code wrote to the grader's answer channel (an extra or forged answer): "
                "this probe's results were refused",
            }
        try:
            answer = protocol.parse_frame(data)
            if not _well_formed(answer, len(msg["calls"])):
                raise ValueError
            answer["leftovers"] = leftovers
            return answer
        except Exception:
            if os.WIFSIGNALED(status):
                sig = signal.Signals(os.WTERMSIG(status)).name
                why = {
                    "SIGKILL": "killed (memory or CPU limit?)",
                    "SIGXCPU": "CPU time limit exceeded",
                    "SIGSEGV": "crashed (segmentation fault)",
                }.get(sig, f"killed by {sig}")
            else:
                why = f"exited early with status {os.WEXITSTATUS(status)} (sys.exit or os._exit in your code?)"
            return {"ok": False, "kind": "crash", "message": f"the code under test {why}"}

    def _child(self, msg: dict, wfd: int, timeout: float) -> None:
        cpu = int(timeout) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        workdir = tempfile.mkdtemp(prefix="probe-")
        os.chdir(workdir)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        captured = CappedText()
        sys.stdout = sys.stderr = captured
        if msg.get("support"):  # the grader's reference parts this probe may use ($support:NAME)
            namespace = dict(self.provided)
            exec(compile(msg["support"], "<grader support>", "exec"), namespace)
            self.runtime.SUPPORT.update(namespace)
        if msg.get("prelude"):  # fixture building only: turn the reference into a catalogued variant
            exec(compile(msg["prelude"], "<variant>", "exec"), self.ns)
        adapters.NOTES.clear()
        results, answers = [], []
        for call in msg["calls"]:
            answer = self._call(call, results)
            answers.append(answer)
            results.append(protocol.decode(answer["value"]) if answer.get("ok") else None)
        reply = {"results": answers, "printed": captured.text()[:MAX_PRINT], "dropped": captured.dropped}
        if adapters.NOTES:
            reply["notes"] = list(adapters.NOTES)
        protocol.send(wfd, reply)
        os.close(wfd)

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
                    reply = {
                        "ready": False,
                        "message": f"the grader could not start: {_one_line(e)}",
                        "trace": traceback.format_exc()[-2000:],
                    }
                protocol.send(self.fd, reply)
            elif op == "probe":
                protocol.send(self.fd, self.run_probe(msg))
            elif op == "stop":
                return


def _from_the_grader(value) -> bool:
    """True for a function, class or instance defined in the grader's modules."""
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        module = getattr(type(value), "__module__", "")
    return isinstance(module, str) and module.split(".")[0] == "grader"


def _well_formed(answer, n_calls: int) -> bool:
    """An answer as the probe child writes it: one result per call, each a dict with ``ok``."""
    return (
        isinstance(answer, dict)
        and isinstance(answer.get("results"), list)
        and len(answer["results"]) == n_calls
        and all(isinstance(r, dict) and isinstance(r.get("ok"), bool) for r in answer["results"])
        and isinstance(answer.get("printed", ""), str)
    )


#: Writable places of the sealed worker's root, emptied after every probe.
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run")


def _clean_shared_state() -> None:
    """Empty the writable folders and remove System V IPC objects after a probe, so that one
    probe cannot leave anything for the next (only inside a sealed worker, where these are the
    worker's own private mounts and IPC namespace)."""
    if os.environ.get("DIFFGRADE_SEALED") != "1":
        return
    import shutil

    for folder in SCRATCH + (os.getcwd(),):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass
    _remove_ipc()
    try:  # the worker is PID 1 of its namespace: it reaps what the probe orphaned
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _remove_ipc() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, ctl in (("shm", libc.shmctl), ("msg", libc.msgctl), ("sem", libc.semctl)):
        try:
            lines = open(f"/proc/sysvipc/{kind}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            ident = int(fields[1])
            if kind == "sem":
                ctl(ident, 0, ipc_rmid)
            else:
                ctl(ident, ipc_rmid, None)


def _is_signature_error(e: TypeError, fn) -> bool:
    """A TypeError raised by the call itself (wrong arguments), not inside the function."""
    tb = e.__traceback__
    depth = 0
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    return depth <= 1 and ("argument" in str(e) or "positional" in str(e))


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
    """Kill anything the probe left behind in its process group; True if there was something."""
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
    fd = int(argv[0])
    faulthandler.enable(file=sys.__stderr__)
    Worker(fd).serve()


if __name__ == "__main__":
    main()
