"""Probes started together (Submission.prefetch): each answer kept as if the probes had run one after another."""

from grader.core import Probe
from grader.judging.submission import Submission
from grader.probing import call, probe


def _answer(name: str) -> dict:
    return {"results": [{"ok": True, "value": name}], "printed": "", "notes": [f"note of {name}"]}


class FakeWorker:
    """Answers a batch in the order given by ``arrival`` (positions), and single probes at once."""

    def __init__(self, arrival):
        self.arrival = arrival
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.pending = 0

    def probe_batch(self, requests, parallel, budget):
        names = [calls[0].args[0] for calls, _, _ in requests]
        self.batches.append(names)
        self.pending = len(names)

        def answers():
            for i in self.arrival(len(names)):
                self.pending -= 1
                yield i, _answer(names[i])

        return answers()

    def probe(self, calls, timeout, support=None):
        assert self.pending == 0, "a single probe while a batch still had answers to read"
        self.singles.append(calls[0].args[0])
        return _answer(calls[0].args[0])


def _submission(worker, parallel=2) -> Submission:
    probes: dict[str, Probe] = {n: probe(n, call("f", n)) for n in ("a", "b", "c", "d")}
    probes["d_fallback"] = probe("d", call("f", "d_fallback"), on_demand=True)
    return Submission(probes, worker=worker, parallel=parallel)


def test_answers_that_arrive_in_any_order_are_kept_in_the_order_asked():
    worker = FakeWorker(lambda n: reversed(range(n)))
    sub = _submission(worker)
    sub.prefetch(["c", "a", "b"])
    assert worker.batches == [["c", "a", "b"]]
    assert sub.results("a")[0].value == "a"  # c is kept first, then a, although b arrived before them
    assert sub.adaptations == ["note of c", "note of a"]
    assert sub.results("b")[0].value == "b" and sub.adaptations[-1] == "note of b"
    assert worker.singles == []


def test_a_probe_outside_the_batch_waits_until_the_batch_is_read():
    worker = FakeWorker(lambda n: range(n))
    sub = _submission(worker)
    sub.prefetch(["a", "b", "d"])
    assert worker.batches == [["a", "b", "d"]]  # not d_fallback: it runs only when a check asks for it
    assert sub.results("c")[0].value == "c" and worker.singles == ["c"]
    assert sub.results("d_fallback")[0].value == "d_fallback"
    assert sub.results("b")[0].value == "b" and worker.singles == ["c", "d_fallback"]


def test_one_probe_at_a_time_when_one_core_is_all_there_is():
    worker = FakeWorker(lambda n: range(n))
    sub = _submission(worker, parallel=1)
    sub.prefetch(["a", "b"])
    assert worker.batches == []
    assert sub.results("b")[0].value == "b" and worker.singles == ["b"]


def test_the_costliest_probes_start_first_and_answers_are_still_kept_in_the_order_asked():
    worker = FakeWorker(lambda n: range(n))  # answers in the order sent
    probes = {n: probe(n, call("f", n), cost_ms=cost) for n, cost in (("a", 50), ("b", 500), ("c", 50), ("d", 200))}
    sub = Submission(probes, worker=worker, parallel=2)
    sub.prefetch(["a", "b", "c", "d"])
    assert worker.batches == [["b", "d", "a", "c"]]  # by cost, ties in the order asked
    assert sub.results("c")[0].value == "c"
    assert sub.adaptations == ["note of a", "note of b", "note of c"]  # kept as if run a, b, c, d one by one
    assert sub.results("d")[0].value == "d" and sub.adaptations[-1] == "note of d"
