"""Worker side of a batch of probes: several sandboxes at once, each still a probe of its own.

The grading process may ask for all of a submission's probes in one message (``op: "probes"``); the
template then keeps up to ``parallel`` probe sandboxes running (one per core it may use: each probe's
torch is single-threaded) and forwards each answer as it comes, tagged with the probe's position in the
batch. Each sandbox is exactly the one a lone probe gets (:meth:`Template.fork_probe`): its own fork,
namespaces and deadline. The reference parts of every probe of the batch arrive in pages outside the
heap; a sandbox unmaps all pages but its own before any student code runs, and each page is wiped when
its probe ends.

Replies are queued and written when the channel can take them, so a grading process busy judging an
earlier answer never stalls the sandboxes (their deadlines keep running). Nothing a probe leaves behind
outlives it: sealed, a probe is PID 1 of its own PID namespace, so the kernel kills the rest when it
ends, and the strays are reaped here as they die; unsealed, its process group is killed.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass, field

from grader import protocol
from grader.worker.processes import (
    import_notebook_checks,
    judge_frame,
    kill_stragglers,
    sealed,
    wipe,
)


@dataclass
class Slot:
    """One running sandbox of the batch."""

    index: int
    pid: int
    rfd: int
    deadline: float
    page: object = None
    data: bytearray = field(default_factory=bytearray)
    eof: bool = False
    status: int | None = None  # its wait status, once reaped


class Batch:
    def __init__(self, template, msg: dict):
        self.template = template
        self.items = list(msg.get("probes") or [])
        self.parallel = max(1, int(msg.get("parallel", 1)))
        self.budget_end = time.monotonic() + float(msg.get("budget", 600))
        self.pages = [template.read_page(int(item.get("support_bytes") or 0)) for item in self.items]
        self.waiting = list(range(len(self.items)))
        self.running: dict[int, Slot] = {}  # pid -> slot
        self.out = bytearray()  # replies not yet written to the grading process

    # ---- the loop ------------------------------------------------------------------
    def run(self) -> None:
        import_notebook_checks([c for item in self.items for c in item.get("calls") or []])
        fd = self.template.fd
        os.set_blocking(fd, False)
        try:
            while self.waiting or self.running:
                self._start_more()
                self._wait()
                self._reap()
                self._finish_due()
            self._flush(block=True)
        finally:
            os.set_blocking(fd, True)
            for slot in list(self.running.values()):  # only after an error of the template itself
                self._finish(slot, "stopped")
            for page in self.pages:
                wipe(page)
            if sealed():  # nothing any probe of the batch started is left running
                kill_stragglers()

    def _start_more(self) -> None:
        while self.waiting and len(self.running) < self.parallel:
            index = self.waiting.pop(0)
            item = self.items[index]
            now = time.monotonic()
            if now >= self.budget_end:
                self._queue({"id": index, "status": "budget", "why": "", "leftovers": False}, None)
                wipe(self.pages[index])
                self.pages[index] = None
                continue
            msg = {k: v for k, v in item.items() if k != "support_bytes"}
            own = self.pages[index]
            if own is not None:
                msg["support_page"] = own
            others = [p for i, p in enumerate(self.pages) if i != index and p is not None]
            pid, rfd = self.template.fork_probe(msg, None, others)
            os.set_blocking(rfd, False)
            timeout = float(item.get("timeout", 30))
            slot = Slot(index, pid, rfd, min(now + timeout, self.budget_end), own)
            self.running[pid] = slot

    def _wait(self) -> None:
        """Read what the sandboxes wrote, and write queued replies, until something happens or 50 ms pass."""
        reading = {s.rfd: s for s in self.running.values() if not s.eof}
        deadline = min((s.deadline for s in self.running.values()), default=time.monotonic() + 0.05)
        # a sandbox that closed its pipe is ending: look for its exit again soon, not in 50 ms
        soon = 0.002 if any(s.eof for s in self.running.values()) else 0.05
        timeout = max(0.0, min(deadline - time.monotonic(), soon))
        writing = [self.template.fd] if self.out else []
        ready, can_write, _ = select.select(list(reading), writing, [], timeout)
        if can_write:
            self._flush(block=False)
        for rfd in ready:
            slot = reading[rfd]
            try:
                while chunk := os.read(rfd, 1 << 20):
                    slot.data += chunk
                    if len(slot.data) > protocol.MAX_FRAME:
                        self._finish(slot, "too much output")
                        break
                else:
                    slot.eof = True
            except BlockingIOError:
                pass

    def _reap(self) -> None:
        """Collect every child that has ended: the batch's sandboxes, and (sealed) the strays of ended ones."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = self.running.get(pid)
            if slot is not None:
                slot.status = status

    def _finish_due(self) -> None:
        now = time.monotonic()
        for slot in list(self.running.values()):
            if slot.status is not None:
                self._drain(slot)
                self._finish(slot, None)
            elif now >= slot.deadline:
                self._finish(slot, "timeout")

    # ---- one probe's end ---------------------------------------------------------------
    @staticmethod
    def _drain(slot: Slot) -> None:
        try:
            while chunk := os.read(slot.rfd, 1 << 20):
                slot.data += chunk
        except BlockingIOError:
            pass

    def _finish(self, slot: Slot, reason: str | None) -> None:
        if self.running.pop(slot.pid, None) is None:
            return
        os.close(slot.rfd)
        # other sandboxes still run: nothing else in the template's namespace is this probe's to sweep
        _, slot.status = self.template.end_probe(slot.pid, reason, slot.status, sweep=False)
        wipe(slot.page)
        self.pages[slot.index] = None
        header, frame = judge_frame(bytes(slot.data), reason, slot.status, False)
        header["id"] = slot.index
        self._queue(header, frame)

    # ---- replies -----------------------------------------------------------------------
    def _queue(self, header: dict, frame: bytes | None) -> None:
        header["answered"] = frame is not None
        self.out += protocol.frame(header)
        if frame is not None:
            self.out += frame
        self._flush(block=False)

    def _flush(self, block: bool) -> None:
        fd = self.template.fd
        while self.out:
            try:
                n = os.write(fd, self.out)
            except BlockingIOError:
                if not block:
                    return
                select.select([], [fd], [])
                continue
            del self.out[:n]
