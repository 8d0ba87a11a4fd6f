"""Print what grading on Dask costs against the local pool, on this machine.

    python benchmarks/bench_dask.py [--assignment proj5a] [--copies 2] [--workers 2] [--runs 5]

Needs the extra ``pip install -e ".[dask]"``.

1. Throughput: the bundled samples, ``--copies`` times over, graded by ``run_batch`` with the
   local pool at ``-j WORKERS`` and with a LocalCluster of WORKERS processes, in submissions per
   minute. Both figures include starting the workers (pool processes or cluster) and their fork
   servers, as a TA's ``grader batch`` would.
2. Per-submission overhead of Dask: one notebook graded ``--runs`` times in a row on a single
   warm local pool process and on a single warm Dask worker, interleaved; the median wall time per
   submission of each, and the overhead beyond grading (wall time less the grading time each side
   reports: sending the notebook, scheduling, returning the result). On a loaded machine the
   grading time itself varies by a second or more, so the second figure is the one to quote.
3. Peak memory per worker during the throughput runs: the worker process itself (RSS) and its
   whole process tree (the worker, its fork server and the forks grading a notebook, as PSS so
   shared pages count once).

The machine may be shared with other work: quote figures with the load average printed first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


class MemoryWatch:
    """Samples the process trees under this process's direct children (pool processes, Dask workers)."""

    def __init__(self, interval: float = 0.25):
        import psutil

        self.psutil, self.interval = psutil, interval
        self.own: dict[int, int] = {}  # child pid -> peak RSS of the child itself
        self.tree: dict[int, int] = {}  # child pid -> peak PSS of the child and its descendants
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _pss(self, proc) -> int:
        try:
            return proc.memory_full_info().pss
        except (self.psutil.Error, AttributeError):
            try:
                return proc.memory_info().rss
            except self.psutil.Error:
                return 0

    def _run(self):
        me = self.psutil.Process()
        while not self.stop.is_set():
            for child in me.children():
                try:
                    if "resource_tracker" in " ".join(child.cmdline()):
                        continue
                    rss = child.memory_info().rss
                    tree = self._pss(child) + sum(self._pss(p) for p in child.children(recursive=True))
                except self.psutil.Error:
                    continue
                self.own[child.pid] = max(self.own.get(child.pid, 0), rss)
                self.tree[child.pid] = max(self.tree.get(child.pid, 0), tree)
            self.stop.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def summary(self) -> str:
        if not self.own:
            return "no worker processes seen"
        return (
            f"peak per worker: process {max(self.own.values()) / MB:.0f} MB RSS, "
            f"process tree (with fork server and graded forks) {max(self.tree.values()) / MB:.0f} MB PSS "
            f"({len(self.own)} worker processes seen)"
        )


def submissions(assignment: str, copies: int) -> Path:
    d = Path(tempfile.mkdtemp(prefix="bench-dask-subs-"))
    for i in range(copies):
        for nb in sorted((ROOT / "samples" / assignment).glob("*.ipynb")):
            shutil.copy(nb, d / f"{nb.stem}_{i}.ipynb")
    return d


def throughput(label: str, executor, subs: Path, assignment: str) -> None:
    from grader.batch.command import run_batch

    out = Path(tempfile.mkdtemp(prefix="bench-dask-out-"))
    try:
        with MemoryWatch() as watch:
            t0 = time.perf_counter()
            done = run_batch(subs, assignment, out, show_progress=False, executor=executor)
            wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    failed = sum(1 for _, d in done if not d["tests"])
    print(
        f"{label:28s} {len(done)} submissions in {wall:6.1f} s = {60 * len(done) / wall:5.1f} submissions/minute"
        f" (includes worker start-up{f'; {failed} failed' if failed else ''})"
    )
    print(f"{'':28s} {watch.summary()}")


def overhead(notebook: Path, assignment: str, runs: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from distributed import Client, LocalCluster

    from grader.batch.dask_executor import grade_on_worker
    from grader.batch.executors import grade_path, init_process
    from grader.provenance import fingerprint

    def timed(call) -> tuple[float, float]:
        t0 = time.perf_counter()
        outcome = call()
        return time.perf_counter() - t0, outcome["results"]["execution_time"]

    data, expected = notebook.read_bytes(), fingerprint()
    with (
        ProcessPoolExecutor(1, initializer=init_process, initargs=(None,)) as pool,
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):

        def on_pool():
            return pool.submit(grade_path, str(notebook), assignment).result()

        def on_worker():
            return client.submit(
                grade_on_worker, notebook.name, data, assignment, str(notebook), expected, pure=False
            ).result()

        on_pool(), on_worker()  # warm up (each fork server starts on its first submission)
        local, on_dask = [], []
        for i in range(runs):  # interleaved, so that a change in the machine's load hits both sides
            for side, call in ((local, on_pool), (on_dask, on_worker))[:: 1 if i % 2 else -1]:
                side.append(timed(call))
    lw, dw = statistics.median(w for w, _ in local), statistics.median(w for w, _ in on_dask)
    lo, do = statistics.median(w - g for w, g in local), statistics.median(w - g for w, g in on_dask)
    print(f"one warm worker, {notebook.name}, {runs} runs each, interleaved (medians):")
    print(f"  local pool process: {lw:6.2f} s per submission, of which {lo:.3f} s outside grading")
    print(f"  Dask worker:        {dw:6.2f} s per submission, of which {do:.3f} s outside grading")
    print(
        f"  Dask overhead per submission: {do - lo:+.3f} s beyond the local pool's "
        f"(wall-time difference {dw - lw:+.2f} s, mostly the machine's load)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignment", default="proj5a", choices=["proj5a", "proj5b"])
    p.add_argument("--copies", type=int, default=2, help="grade the samples this many times over")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    try:
        import distributed  # noqa: F401
    except ImportError:
        sys.exit('bench_dask: needs dask and distributed: pip install -e ".[dask]"')
    from grader.batch.dask_executor import DaskExecutor
    from grader.batch.executors import LocalPool

    print(
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "(other work on this machine slows both sides)"
    )
    subs = submissions(args.assignment, args.copies)
    try:
        throughput(f"local pool -j {args.workers}:", LocalPool(args.workers), subs, args.assignment)
        throughput(f"LocalCluster, {args.workers} workers:", DaskExecutor(workers=args.workers), subs, args.assignment)
    finally:
        shutil.rmtree(subs, ignore_errors=True)
    overhead(ROOT / "samples" / args.assignment / "alice.ipynb", args.assignment, args.runs)
    print(f"load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
