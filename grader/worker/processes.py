"""A probe's process, seen from the template: how its answer frame is judged, how it ends and what is
killed with it, and the pages that carry reference parts to it; shared by a probe run alone
(:mod:`grader.worker.serve`) and probes run several at once (:mod:`grader.worker.sandboxes`)."""

from __future__ import annotations

import os
import signal

from grader import protocol


def sealed() -> bool:
    return os.environ.get("DIFFGRADE_SEALED") == "1"


def judge_frame(data: bytes, reason: str | None, status: int | None, leftovers: bool) -> tuple[dict, bytes | None]:
    """The header saying how a probe ended, and its frame when it wrote exactly one whole frame."""
    header = {"status": reason or "ended", "why": why(status), "leftovers": leftovers}
    if reason:
        return header, None
    if not protocol.frame_complete(data):
        header["status"] = "crash"
        return header, None
    if len(data) != protocol.frame_length(data):
        header["status"] = "forged"
        return header, None
    return header, data


def wipe(page) -> None:
    """Zero a page of reference parts and unmap it (None: nothing to do)."""
    if page is not None:
        page.seek(0)
        page.write(bytes(len(page)))
        page.close()


def import_notebook_checks(calls) -> None:
    """Import what a notebook's own (otter) checks import, in the template, when ``calls`` (encoded) run one
    (``grader check`` only): each sandbox then inherits it instead of importing it again. Library code, not
    the student's; a missing otter is reported by the check itself."""
    if not any(isinstance(c, dict) and c.get("func") == "$notebook_check" for c in calls or []):
        return
    try:
        _import_otter_test_files()
    except Exception:  # noqa: BLE001 - the check's own import then says what is wrong
        pass


def _import_otter_test_files() -> None:
    """otter's ``test_case``, the one name the public checks import (``from otter.test_files import test_case``),
    without the rest of otter: ``otter/__init__.py`` imports otter's whole API (its exporters, nbconvert, pandas:
    1.3 s) and ``otter/test_files/__init__.py`` its other test formats and utilities (IPython: 0.4 s), against
    0.01 s for the module that defines ``test_case``. Both packages are stand-ins with otter's real paths, so
    the modules imported are otter's own; the notebook's own ``import otter`` is tooling the loader drops, so no
    probe asks these packages for anything else."""
    import importlib
    import importlib.util
    import sys
    import types

    for name in ("otter", "otter.test_files"):
        if name not in sys.modules:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.submodule_search_locations:
                return
            package = types.ModuleType(name)
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            sys.modules[name] = package
            if "." in name:
                setattr(sys.modules["otter"], "test_files", package)
    test_files = sys.modules["otter.test_files"]
    if not hasattr(test_files, "test_case"):
        test_files.test_case = importlib.import_module("otter.test_files.exception_test").test_case


def why(status: int | None) -> str:
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


def kill_stragglers() -> bool:
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


def kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def reap_group(pid: int) -> bool:
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
