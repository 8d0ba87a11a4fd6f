"""Inside a probe's sandbox: the life of one probe, from its fork to its single answer.

The process is a fresh fork of the template (:mod:`grader.worker.serve`), already in namespaces
of its own and without privileges (:func:`grader.isolation.seal.enter_probe`). It loads the
student's definitions, binds the reference parts this probe may use, runs the calls, writes one
answer frame and dies; everything it started, wrote or patched dies with it.
"""

from __future__ import annotations

import os
import resource
import sys

from grader import protocol
from grader.worker import adapters
from grader.worker.calls import Calls
from grader.worker.definitions import MAX_PRINT, CappedText, Definitions, Progress


def _live_processes() -> bool:
    """True when anything besides this process (PID 1 of the probe's namespace) is still running."""
    try:
        return any(name.isdigit() and name != "1" for name in os.listdir("/proc"))
    except OSError:
        return False


def run(template, msg: dict, wfd: int, page=None) -> None:
    """Load the definitions, run ``msg``'s calls (or only load, for ``op == "load"``), answer on ``wfd``."""
    timeout = float(msg.get("timeout", 30))
    cpu = int(timeout) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    captured = CappedText()
    sys.stdout = sys.stderr = captured
    definitions = Definitions(template.provided)
    definitions.load(template.chunks, template.chunk_timeout, Progress(page))
    if msg.get("op") == "load":
        reply = {"notes": definitions.notes, "defined": definitions.defined()}
    else:
        reply = _run_calls(template, definitions, msg, captured)
    protocol.send(wfd, reply)
    os.close(wfd)


def _run_calls(template, definitions: Definitions, msg: dict, captured: CappedText) -> dict:
    captured.parts.clear()  # what loading printed is not the probe's output
    captured.size = captured.dropped = 0
    page = msg.pop("support_page", None)
    support = bytes(page).decode("utf-8") if page is not None else msg.get("support")
    if support:  # the grader's reference parts this probe may use ($support:NAME)
        namespace = dict(template.provided)
        exec(compile(support, "<grader support>", "exec"), namespace)
        template.runtime.SUPPORT.update(namespace)
    if msg.get("prelude"):  # fixture building only: turn the reference into a catalogued variant
        exec(compile(msg["prelude"], "<variant>", "exec"), definitions.ns)
    adapters.NOTES.clear()
    calls = Calls(template, definitions)
    results, answers = [], []
    for call in msg["calls"]:
        answer = calls.run(call, results)
        answers.append(answer)
        results.append(protocol.decode(answer["value"]) if answer.get("ok") else None)
    reply = {"results": answers, "printed": captured.text()[:MAX_PRINT], "dropped": captured.dropped}
    if adapters.NOTES:
        reply["notes"] = list(adapters.NOTES)
    if os.environ.get("DIFFGRADE_SEALED") == "1" and _live_processes():
        reply["leftovers"] = True
    return reply
