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
from grader.judging.judge import Fail


class Submission:
    def __init__(
        self,
        probes: dict[str, Probe],
        worker=None,
        load_error: str | None = None,
        probe_timeout: float = 30.0,
        budget: float = 600.0,
        support=lambda api: None,
        parallel: int = 1,
    ):
        self.probes = dict(probes)  # its own table: a notebook's own checks are added to it, never to the assignment's
        self.support = support  # api -> the support source a probe of it carries (grader.judging.support)
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
        #: what checks derive from answers and share, per submission (e.g. a training run read back once)
        self.memo: dict = {}
        self.parallel = parallel  # probe sandboxes that may run at once (one per core this grade may use)
        self._batch: _Batch | None = None

    def prefetch(self, apis) -> None:
        """Start, all at once, the probes of these graded names (in this order) that the checks are about to
        ask for, up to :attr:`parallel` sandboxes at a time; :meth:`answers` then takes each answer as it is
        needed. Every probe stays a sandbox of its own, and answers are kept in the order asked here, so
        the results are those of one probe after another. Probes run only on demand are left out."""
        order = list(dict.fromkeys(apis))
        self.prefetch_names([n for api in order for n, p in self.probes.items() if p.api == api and not p.on_demand])

    def prefetch_names(self, names) -> None:
        """:meth:`prefetch` of these probes, by name."""
        if self.load_error or self.worker is None or self.parallel < 2 or self._batch is not None:
            return
        names = [n for n in dict.fromkeys(names) if n not in self._answers]
        if len(names) < 2:
            return
        left = self.budget - self.spent
        sent = sorted(names, key=lambda n: -self.probes[n].cost_ms)  # the costliest first; kept in `names` order
        requests = [
            (self.probes[n].calls, min(self.probe_timeout, left), self.support(self.probes[n].api)) for n in sent
        ]
        self._batch = _Batch(names, sent, self.worker.probe_batch(requests, self.parallel, left))

    def answers(self, probe: str) -> dict:
        if self.load_error:
            raise Fail(self.load_error)
        if self._batch is not None:
            self._take_batch(until=probe)
        if probe not in self._answers:
            api, calls = self.probes[probe].api, self.probes[probe].calls
            left = self.budget - self.spent
            if left <= 1:
                raise Fail(f"not run: the submission used up its time budget of {self.budget:g} s")
            timeout = min(self.probe_timeout, left)
            t0 = time.monotonic()
            answer = self.worker.probe(calls, timeout=timeout, support=self.support(api))
            self.spent += time.monotonic() - t0
            self._keep(probe, answer)
        return self._answers[probe]

    def _take_batch(self, until: str) -> None:
        """Keep the batch's answers in its order up to ``until`` (all of them when it is not in the batch:
        the worker's channel must be free before another probe runs)."""
        batch = self._batch
        stop = batch.names.index(until) if until in batch.names else len(batch.names) - 1
        while batch.kept <= stop:
            name = batch.names[batch.kept]
            while name not in batch.arrived:
                try:
                    index, answer = next(batch.answers)
                except StopIteration:  # cannot happen: the worker yields an answer for every probe
                    raise RuntimeError("the batch of probes ended early") from None
                batch.arrived[batch.sent[index]] = answer
            self._keep(name, batch.arrived.pop(name))
            batch.kept += 1
        if batch.kept == len(batch.names):
            self.spent += time.monotonic() - batch.started
            self._batch = None

    def _keep(self, probe: str, answer: dict) -> None:
        """Keep one probe's answer, with the events and notes it brings."""
        api, calls = self.probes[probe].api, self.probes[probe].calls
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


class _Batch:
    """Probes started together (:meth:`Submission.prefetch`): answers arrive in any order, are kept in this one."""

    def __init__(self, names: list[str], sent: list[str], answers):
        self.names = names  # the order answers are kept in
        self.sent = sent  # the order they were sent in (an answer's position is in this list)
        self.answers = answers  # iterator of (position in sent, answer)
        self.arrived: dict[str, dict] = {}
        self.kept = 0  # how many of names are kept, in order
        self.started = time.monotonic()
