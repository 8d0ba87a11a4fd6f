"""Print how long grading takes, and where the time goes.

    python benchmarks/bench_grade.py [--assignment proj5a] [--runs 3] [--batch] [--floors PAIRS] [--course N]

1. One submission graded the way ``grader grade`` does it (a fresh worker):
   wall time of the whole command, and its breakdown: start-up (imports of the
   grading process), load (reading the notebook), worker start (torch and the
   stand-ins), and each check.
2. The same with a warm fork server (how ``grader batch`` and the tests grade):
   the per-submission cost once torch is imported.
3. With ``--floors``: ``grader grade`` and ``grader check`` of each reference notebook against the
   import floor it is compared with (the bare imports a worker cannot avoid), measured as interleaved
   pairs in one run; prints each median and the ratio (the goal is 1.25x).
4. With ``--batch``: throughput of ``grader batch`` on the bundled samples at
   -j 1 and -j 2 (submissions per minute), and the peak memory of the batch.
5. With ``--course N``: N Part A and N Part B corpus notebooks in one ``grader batch -j 2``: its wall time
   and the largest PSS of one grading process's tree (pool process, fork server, worker and its probes).

Figures are medians over ``--runs`` runs; the machine is shared, so quote medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def bench_cli(notebook: Path, assignment: str, runs: int) -> None:
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "grader", "grade", str(notebook), "--assignment", assignment, "-q"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        walls.append(time.perf_counter() - t0)
    print(
        f"grader grade {notebook.name} (whole command, fresh worker): median {median(walls):.2f} s "
        f"(min {min(walls):.2f}, max {max(walls):.2f}, {runs} runs)"
    )


def bench_breakdown(notebook: Path, assignment: str, runs: int, warm: bool) -> None:
    t0 = time.perf_counter()
    from grader.isolation.spawn import ForkServer
    from grader.runner import grade  # the grading process's own imports (pytest, numpy)

    startup = time.perf_counter() - t0
    timings: dict[str, list[float]] = {}
    server = ForkServer() if warm else None
    server_start = 0.0
    if server:
        t1 = time.perf_counter()
        server.__enter__()
        server_start = time.perf_counter() - t1
    try:
        for _ in range(runs):
            g = grade(notebook, assignment)
            assert g.checks, "no checks ran"
            for k, v in g.timings.items():
                timings.setdefault(k, []).append(v)
    finally:
        if server:
            server.__exit__(None, None, None)
    label = "warm fork server" if warm else "fresh worker"
    print(f"\nbreakdown, {label} (median of {runs}; score {g.score:g}/{g.max_score:g}):")
    print(f"  {'grading-process imports':34s} {startup:6.2f} s (once per process)")
    if warm:
        print(f"  {'fork server start (torch etc.)':34s} {server_start:6.2f} s (once per process)")
    for key in ["load", "worker start", "checks", "total"]:
        print(f"  {key:34s} {median(timings[key]):6.2f} s")
    print("  per check:")
    for key, values in timings.items():
        if key.startswith("check "):
            print(f"    {key[6:]:40s} {median(values):6.3f} s")


def bench_batch(assignment: str) -> None:
    samples = ROOT / "samples" / assignment
    n = len(list(samples.glob("*.ipynb")))
    for jobs in (1, 2):
        out = Path(tempfile.mkdtemp(prefix="bench-batch-"))
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grader",
                "batch",
                str(samples),
                "--assignment",
                assignment,
                "--out",
                str(out),
                "-j",
                str(jobs),
                "-q",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t0
        scores = [json.loads(p.read_text())["score"] for p in out.glob("*/results.json")]
        shutil.rmtree(out, ignore_errors=True)
        print(
            f"batch -j {jobs}: {n} submissions in {wall:.1f} s = {60 * n / wall:.1f} submissions/minute "
            f"(includes start-up; scores {sorted(scores)})"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest single process seen (children): {peak:.0f} MB")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_pss_mb(pid: int, tree: dict[int, list[int]]) -> float:
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += _pss_kb(p)
        todo.extend(tree.get(p, []))
    return total / 1024


def bench_course(copies: int, jobs: int) -> None:
    """``copies`` Part A plus ``copies`` Part B notebooks (the corpus, cycled) graded by one ``grader batch -j jobs``:
    wall time, and the largest PSS of one grading process's whole tree (pool process, fork server, worker, probes)."""
    import itertools

    folder = Path(tempfile.mkdtemp(prefix="bench-course-"))
    for a in ("proj5a", "proj5b"):
        notebooks = sorted((ROOT / "tests" / "corpus" / a).glob("*.ipynb"))
        for i, nb in zip(range(copies), itertools.cycle(notebooks)):
            shutil.copy(nb, folder / f"{a}_{i:03d}_{nb.name}")
    out = Path(tempfile.mkdtemp(prefix="bench-course-out-"))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "-j", str(jobs), "-q"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while proc.poll() is None:
        tree = _children()
        for pool_process in tree.get(proc.pid, []):
            peak = max(peak, _tree_pss_mb(pool_process, tree))
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    graded = len(list(out.glob("*/results.json")))
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    print(
        f"course: {2 * copies} notebooks (half each part) with -j {jobs}: {wall:.0f} s ({graded} graded, "
        f"{60 * graded / wall:.1f} a minute); largest PSS of one grading process's tree: {peak:.0f} MB"
    )


#: The imports a grade cannot avoid, per assignment (what its ratio is measured against).
FLOORS = {
    "proj5a": "import torch; from diffusers import DDPMScheduler; DDPMScheduler(num_train_timesteps=1000, "
    "beta_schedule='squaredcos_cap_v2', variance_type='learned_range')",
    "proj5b": "import torch, torchvision",
}


def _timed(command: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_floors(pairs: int) -> None:
    """Each command against its floor, A B A B ..., so that a drifting machine affects both alike."""
    print(f"\nagainst the import floor ({pairs} interleaved pairs, medians):")
    print(f"  {'command':52s} {'grade':>7s} {'floor':>7s} {'ratio':>6s}")
    for assignment, floor in FLOORS.items():
        notebooks = {"grade": ROOT / "solutions" / f"{assignment}.ipynb"}
        commands = {
            f"grader grade solutions/{assignment}.ipynb": [
                "grade",
                str(notebooks["grade"]),
                "--assignment",
                assignment,
            ],
            f"grader check solutions/{assignment}.ipynb": [
                "check",
                str(notebooks["grade"]),
                "--assignment",
                assignment,
            ],
            f"grader check assignments/{assignment}.ipynb": [
                "check",
                str(ROOT / "assignments" / f"{assignment}.ipynb"),
                "--assignment",
                assignment,
            ],
        }
        for label, args in commands.items():
            ours, base = [], []
            for _ in range(pairs):
                ours.append(_timed([sys.executable, "-m", "grader", *args, "-q"]))
                base.append(_timed([sys.executable, "-c", floor]))
            ratios = sorted(a / b for a, b in zip(ours, base))
            print(f"  {label:52s} {median(ours):6.2f}s {median(base):6.2f}s {median(ratios):5.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignment", default="proj5a", choices=["proj5a", "proj5b"])
    p.add_argument("--notebook", help="default: solutions/<assignment>.ipynb")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch", action="store_true", help="also measure batch throughput at -j 1 and -j 2")
    p.add_argument("--floors", type=int, metavar="PAIRS", help="only the ratios against the import floors")
    p.add_argument(
        "--course", type=int, metavar="N", help="only a batch of N Part A and N Part B corpus notebooks with -j 2"
    )
    args = p.parse_args()
    if args.course:
        bench_course(args.course, 2)
        return
    if args.floors:
        bench_floors(args.floors)
        return
    notebook = Path(args.notebook) if args.notebook else ROOT / "solutions" / f"{args.assignment}.ipynb"
    sys.path.insert(0, str(ROOT))
    bench_cli(notebook, args.assignment, args.runs)
    bench_breakdown(notebook, args.assignment, args.runs, warm=False)
    bench_breakdown(notebook, args.assignment, args.runs, warm=True)
    if args.batch:
        bench_batch(args.assignment)


if __name__ == "__main__":
    main()
