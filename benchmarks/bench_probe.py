"""Per-probe fixed costs of the sandbox: fork, namespaces, loading the definitions, answering.

    python benchmarks/bench_probe.py [--assignment proj5b] [-n 20]

Starts one worker for the reference notebook and runs a probe whose only call reads a provided
global (so the probe's own work is nil), n times; prints the median and spread of one probe.
With ``--batch``: the reference's own probes (all those a grade starts together), one sandbox at a time
against two at once, in alternation on one worker; prints the median of each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignment", default="proj5b")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument(
        "--batch", action="store_true", help="the reference's probes, one at a time against two at once"
    )
    args = parser.parse_args()
    if args.batch:
        bench_batch(args.assignment, args.n)
        return
    from grader import course, fixtures
    from grader.intake.load import load_notebook
    from grader.isolation.spawn import WorkerProcess
    from grader.probing import call

    spec = course.get(args.assignment)
    chunks, _ = load_notebook(ROOT / "solutions" / f"{args.assignment}.ipynb", args.assignment)
    empty = [c for c in chunks if c.kind == "import"][:1]
    for label, kept in (("no definitions", empty), ("the reference's definitions", chunks)):
        t0 = time.perf_counter()
        with WorkerProcess(spec, [c.__dict__ for c in kept], fixtures.load_inputs(args.assignment)) as worker:
            started = time.perf_counter() - t0
            name = sorted(spec.provided)[0]
            times = []
            for _ in range(args.n):
                t = time.perf_counter()
                worker.probe([call(name, name="x")], timeout=30)
                times.append(time.perf_counter() - t)
        print(
            f"{args.assignment}, {label} ({len(kept)} chunks): worker start {started:.2f} s; one probe "
            f"median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})"
        )


def bench_batch(assignment: str, runs: int) -> None:
    from grader import course, fixtures
    from grader.intake.load import load_notebook
    from grader.isolation.spawn import WorkerProcess
    from grader.judging.support import support_source

    spec = course.get(assignment)
    chunks, _ = load_notebook(ROOT / "solutions" / f"{assignment}.ipynb", assignment)
    names = [n for n, p in spec.probes.items() if not p.on_demand]
    requests = [(spec.probes[n].calls, 60, support_source(spec, spec.probes[n].api)) for n in names]
    walls: dict[int, list[float]] = {1: [], 2: []}
    with WorkerProcess(spec, [c.__dict__ for c in chunks], fixtures.load_inputs(assignment)) as worker:
        for _ in range(runs):
            for at_once in (1, 2):
                t = time.perf_counter()
                answers = dict(worker.probe_batch(requests, at_once, 600))
                walls[at_once].append(time.perf_counter() - t)
                assert len(answers) == len(names) and not any(a.get("failed") for a in answers.values())
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(
        f"{assignment}: its {len(names)} probes, {runs} runs each: one sandbox at a time {one:.2f} s, "
        f"two at once {two:.2f} s ({one / two:.2f}x)"
    )


if __name__ == "__main__":
    main()
