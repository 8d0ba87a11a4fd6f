"""TA batch grading: a folder of notebooks into a gradebook and per-student results.

``grader batch DIR --assignment A --out OUTDIR [-j N] [--resume]``

Each submission's results are written atomically as soon as it is graded
(``OUTDIR/<student>/results.json``); ``gradebook.csv`` is rewritten from those
files after every submission, so an interrupted batch loses nothing and
``--resume`` skips what is done.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from grader.report import results_json, write_json_atomic

DONE = "results.json"


def student_name(path: Path, root: Path) -> str:
    """A stable, filesystem-safe id: the notebook's path under root, without suffix."""
    rel = path.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(rel.parts)).strip("_") or "submission"


def find_submissions(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _grade_to_dir(notebook: str, assignment: str | None, outdir: str) -> dict:
    from grader.runner import grade

    result = grade(notebook, assignment)
    data = results_json(result)
    data["extra_data"] = {"notebook": notebook, "assignment": result.assignment}
    write_json_atomic(Path(outdir) / DONE, data)
    return data


def write_gradebook(out: Path, students: list[str]) -> Path:
    rows, columns = [], []
    for s in students:
        path = out / s / DONE
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        row = {"student": s, "total": data["score"], "max": data["max_score"]}
        for t in data["tests"]:
            if t["name"] not in columns:
                columns.append(t["name"])
            row[t["name"]] = t["score"]
        rows.append(row)
    path = out / "gradebook.csv"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["student", "total", "max"] + columns)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
    return path


def run_batch(root: Path, assignment: str | None, out: Path, jobs: int = 1, resume: bool = False,
              show_progress: bool = True) -> list[tuple[str, dict]]:
    from tqdm import tqdm

    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of notebooks")
    submissions = find_submissions(root)
    names = [student_name(p, root) for p in submissions]
    out.mkdir(parents=True, exist_ok=True)
    todo = [(p, n) for p, n in zip(submissions, names) if not (resume and (out / n / DONE).exists())]
    done: list[tuple[str, dict]] = []
    bar = tqdm(total=len(todo), desc="grading", unit="nb", disable=not show_progress, file=sys.stderr)
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_grade_to_dir, str(p), assignment, str(out / n)): n for p, n in todo}
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                done.append((name, fut.result()))
            except Exception as e:  # noqa: BLE001 - one bad submission never stops the batch
                data = {"score": 0, "max_score": 0, "output": f"grading failed: {e}", "tests": [],
                        "execution_time": 0, "visibility": "visible"}
                write_json_atomic(out / name / DONE, data)
                done.append((name, data))
            write_gradebook(out, names)
            bar.update(1)
    bar.close()
    write_gradebook(out, names)
    return done


def cmd_batch(args) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    try:
        run_batch(Path(args.dir), args.assignment, out, jobs=args.jobs, resume=args.resume,
                  show_progress=not args.quiet)
    except FileNotFoundError as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
    names = [student_name(p, Path(args.dir)) for p in find_submissions(Path(args.dir))]
    width = max([len(n) for n in names] + [7])
    print(f"{'student':<{width}}  score")
    for n in names:
        path = out / n / DONE
        if path.exists():
            data = json.loads(path.read_text())
            failed = sorted({t["tags"][0] for t in data["tests"] if t["status"] == "failed"})
            lost = f"   lost points in: {', '.join(failed)}" if failed else ""
            print(f"{n:<{width}}  {data['score']:g}/{data['max_score']:g}{lost}")
    print(f"gradebook: {out / 'gradebook.csv'}  ({time.perf_counter() - t0:.0f} s)")
    return 0


def add_parser(sub) -> None:
    from grader import assignments

    b = sub.add_parser("batch", help="grade a folder of notebooks into a gradebook (TA)")
    b.add_argument("dir")
    b.add_argument("--assignment", choices=assignments.ASSIGNMENTS)
    b.add_argument("--out", required=True)
    b.add_argument("-j", "--jobs", type=int, default=1)
    b.add_argument("--resume", action="store_true", help="skip submissions that already have results")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=cmd_batch)
