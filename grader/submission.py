"""A submission as the checks see it: probes answered by an isolated worker.

Checks never touch student objects: they ask for a probe by name and get data
back (arrays, numbers, lists). Answers are cached per probe, so several checks
can judge one run. If the notebook could not be loaded, every probe fails with
the loading message.
"""

from __future__ import annotations

import time

from grader import protocol
from grader.core import CallResult, Probe
from grader.judge import Fail


class Submission:
    def __init__(
        self,
        probes: dict[str, Probe],
        worker=None,
        load_error: str | None = None,
        probe_timeout: float = 30.0,
        budget: float = 600.0,
        support=lambda api: None,
    ):
        self.probes = dict(probes)  # its own table: a notebook's own checks are added to it, never to the assignment's
        self.support = support  # api -> the support source a probe of it carries (grader.support)
        self.worker = worker
        self.load_error = load_error
        self.probe_timeout = probe_timeout
        self._answers: dict[str, dict] = {}
        self.budget = budget  # seconds for all probes of this submission
        self.spent = 0.0
        self.kept = 0  # bytes of answers kept (see _kept)
        self.events: list[str] = []  # one line per notable event (timeouts, crashes, printing)
        #: how the submission's interface was adapted ("graded make_flip_illusion as visual_anagrams"), in order
        self.adaptations: list[str] = []

    def answers(self, probe: str) -> dict:
        if self.load_error:
            raise Fail(self.load_error)
        if probe not in self._answers:
            api, calls = self.probes[probe].api, self.probes[probe].calls
            left = self.budget - self.spent
            if left <= 1:
                raise Fail(f"not run: the submission used up its time budget of {self.budget:g} s")
            timeout = min(self.probe_timeout, left)
            t0 = time.monotonic()
            answer = self.worker.probe(calls, timeout=timeout, support=self.support(api))
            self.spent += time.monotonic() - t0
            answer = self._kept(answer, len(calls))
            if answer.get("failed"):  # the whole probe failed (timeout, crash)
                self.events.append(f"{api}: {answer['failed']}")
            if answer.get("leftovers"):
                self.events.append(f"{api}: processes your code left running were stopped")
            if answer.get("dropped"):
                self.events.append(
                    f"{api}: printed over {len(answer.get('printed', ''))} characters; "
                    f"{answer['dropped']} more were discarded"
                )
            self._keep_notes(answer.get("notes"))
            self._answers[probe] = answer
        return self._answers[probe]

    def _kept(self, answer, n_calls: int) -> dict:
        """What the checks read of an answer (grader.protocol.answer_kept), within the submission's
        budget of kept answers (protocol.MAX_KEPT): past it, the probe fails with the reason."""
        answer, size = protocol.answer_kept(answer, n_calls)
        if self.kept + size > protocol.MAX_KEPT:
            return protocol.refused_answer(
                n_calls,
                f"not kept: your code's answers to the grader passed {protocol.MAX_KEPT // 2**20} MB in all "
                "(the reference's hold under 10 MB)",
            )
        self.kept += size
        return answer

    def _keep_notes(self, notes) -> None:
        """The worker's notes on adapted interfaces: one line each, bounded (they come from the probe's process)."""
        if not isinstance(notes, list):
            return
        for text in notes[:12]:
            if isinstance(text, str) and text.strip():
                line = " ".join(text.split())[:300]
                if line not in self.adaptations and len(self.adaptations) < 40:
                    self.adaptations.append(line)

    def results(self, probe: str) -> list[CallResult]:
        """The probe's answer, call by call (runs the probe if it has not run yet)."""
        return protocol.call_results(self.answers(probe))

    def outputs(self, probe: str, calls: list, optional: list = ()) -> dict:
        """Decoded outputs of the given calls (by name, or by position), keyed as asked; a failed
        required call fails the check."""
        results = self.results(probe)
        out: dict = {}
        for key in list(calls) + list(optional):
            answer = results[self.probes[probe].index(key)]
            if answer.ok:
                out[key] = protocol.decode(answer.value)
            elif key in calls:
                raise Fail(answer.message)
        return out
