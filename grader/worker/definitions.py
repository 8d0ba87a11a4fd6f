"""Inside a probe's sandbox: execute the notebook's kept definitions into a fresh namespace.

Every probe loads the definitions anew (the template that forks probes never runs student
code). Each chunk runs on its own under a time limit; a chunk that fails costs only itself.
The progress of a load is written to a small shared page (:class:`Progress`) that the template
reads, so that a statement which ignores the time limit can be found and left out of later loads.
"""

from __future__ import annotations

import io
import signal
import sys

from grader.worker import adapters

MAX_PRINT = 4000  # characters of a probe's own printing kept for the report

#: Seconds an import may take. An import stopped halfway leaves its modules half made for the rest of the
#: probe ("module 'sympy' has no attribute 'logic'"), and `from torchvision import datasets` alone pulls in
#: torch._dynamo and sympy: seconds on a loaded machine, past the few seconds a statement gets.
IMPORT_TIMEOUT = 60.0

#: Status bytes of a chunk in the progress page.
NOT_RUN, RUNNING, DONE, FAILED, TIMED_OUT = 0, 1, 2, 3, 4


class ChunkTimeout(BaseException):
    pass


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


def one_line(exc: BaseException, limit: int = 240) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def time_limit(chunk: dict, limit: float) -> float:
    """The seconds ``chunk`` may run: ``limit``, or IMPORT_TIMEOUT for an import."""
    return max(limit, IMPORT_TIMEOUT) if chunk.get("kind") == "import" else limit


class Progress:
    """One status byte per chunk in a page shared with the template (an anonymous shared mmap)."""

    def __init__(self, page=None):
        self.page = page

    def mark(self, index: int, status: int) -> None:
        if self.page is not None and 0 <= index < len(self.page):
            self.page[index] = status


def compiled(chunk: dict) -> dict:
    """The chunk with its code compiled (in the template, once: compiling runs no student code), or
    the compiler's error, which the probe reports as that chunk's failure."""
    cell = chunk.get("where") or f"cell {chunk.get('cell')}"
    if chunk.get("kind") != "loop":
        try:
            chunk["code"] = compile("\n" * (chunk.get("line", 1) - 1) + chunk["source"], f"<{cell}>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
            chunk["compile_error"] = e
    return chunk


class Definitions:
    """The notebook's namespace for one probe, and what loading it found."""

    def __init__(self, provided: dict):
        self.provided = provided
        self.ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
        self.ns.update(provided)
        self.stubs: set[str] = set()  # names whose definition holds only placeholders
        self.defs = adapters.Definitions()  # every definition of every name (redefinitions kept)
        self.loops: dict = {}  # graded training function -> the top-level loop that stands for it (loops.py)
        self.notes: list[str] = []

    def load(self, chunks: list[dict], limit: float, progress: Progress | None = None) -> None:
        progress = progress or Progress()
        for chunk in chunks:
            index = chunk.get("index", -1)
            progress.mark(index, RUNNING)
            progress.mark(index, self._exec_chunk(chunk, limit))
        self.ns.update(self.provided)  # the grader's helpers win over pasted copies

    def defined(self) -> list[str]:
        return sorted(k for k in self.ns if not k.startswith("__"))

    def _exec_chunk(self, chunk: dict, limit: float) -> int:
        source, kind = chunk["source"], chunk["kind"]
        cell = chunk.get("where") or f"cell {chunk['cell']}"
        if kind == "loop":  # run by the probes of its training function, not now
            self.loops[chunk["name"]] = chunk["loop"]
            return DONE

        def on_alarm(signum, frame):
            raise ChunkTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        limit = time_limit(chunk, limit)
        signal.setitimer(signal.ITIMER_REAL, limit)
        saved_out, saved_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = CappedText()
        status = DONE
        try:
            if "compile_error" in chunk:
                raise chunk["compile_error"]
            code = chunk.get("code") or compile("\n" * (chunk.get("line", 1) - 1) + source, f"<{cell}>", "exec")
            exec(code, self.ns)
            if kind == "def":  # the last successful definition of a name decides
                name = chunk.get("name", "")
                (self.stubs.add if chunk.get("stub") else self.stubs.discard)(name)
                if name in self.ns:
                    self.defs.add(name, cell, self.ns[name], bool(chunk.get("stub")))
        except ChunkTimeout:
            status = TIMED_OUT
            if not chunk.get("quiet"):  # a plotting import (grader.intake.load.PLOTTING) is not the student's problem
                self.notes.append(f"{cell}: a top-level statement took over {limit:g} s and was skipped")
        except ImportError as e:
            status = FAILED
            missing = getattr(e, "name", None) or str(e)
            if not chunk.get("quiet"):
                self.notes.append(f"{cell}: import of {missing} is not available in the grader (skipped)")
        except BaseException as e:  # noqa: BLE001 - student code may raise anything
            status = FAILED
            what = "definition" if kind == "def" else "statement"
            self.notes.append(f"{cell}: a top-level {what} failed and was skipped: {one_line(e)}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            sys.stdout, sys.stderr = saved_out, saved_err
        return status
