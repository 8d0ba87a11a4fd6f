"""TA batch grading: a folder of notebooks into a gradebook and per-student results.

``grader batch DIR --assignment A --out OUTDIR [-j N] [--resume]``

DIR may be a folder of notebooks, Gradescope's "Export Submissions" folder
(``submission_metadata.yml`` + ``submission_<id>/``) or a zip of either. N
grading processes run in parallel, each with its own fork server, so torch is
imported once per process. Each submission's results are written atomically as
soon as it is graded (``OUTDIR/<student>/results.json``, then ``report.html``);
``gradebook.csv`` and ``index.html`` are rewritten from those files, so a batch
killed at any moment loses nothing, and ``--resume`` skips what is done. The
executor is a local process pool (default) or Dask workers (``--executor dask``,
``--scheduler tcp://HOST:8786``); see :mod:`grader.executors`. Whichever grades, only
this process writes OUTDIR.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from grader.executors import ExecutorError, LocalPool, chosen, init_process
from grader.report import write_json_atomic, write_text_atomic

DONE = "results.json"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "submission"


def gradescope_names(root: Path) -> dict[str, str]:
    """submission_<id> folder -> a student label, from Gradescope's submission_metadata.yml."""
    meta = root / "submission_metadata.yml"
    if not meta.exists():
        return {}
    try:
        import yaml

        data = yaml.safe_load(meta.read_text()) or {}
    except Exception:  # noqa: BLE001 - a broken metadata file only costs nicer names
        return {}
    names = {}
    for folder, info in data.items():
        submitters = (info or {}).get(":submitters") or (info or {}).get("submitters") or []
        label = "+".join(str(s.get(":sid") or s.get(":name") or s.get("sid") or s.get("name") or "")
                         for s in submitters if isinstance(s, dict))
        if label.strip("+"):
            names[str(folder)] = label
    return names


def student_name(path: Path, root: Path, labels: dict[str, str] | None = None) -> str:
    """A stable, filesystem-safe id: the Gradescope submitter, else the notebook's path under root."""
    rel = path.relative_to(root)
    if labels and rel.parts[0] in labels:
        return _safe(f"{labels[rel.parts[0]]}_{rel.parts[0]}")
    return _safe("__".join(rel.with_suffix("").parts))


def find_submissions(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def unpack_zip(zpath: Path, dest: Path) -> Path:
    """Extract a zip of submissions safely (no absolute paths, no '..')."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zpath) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if not str(target).startswith(str(dest.resolve())) or member.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(member))
    return dest


def _grade(notebook: str, assignment: str | None):
    from grader.runner import grade

    return grade(notebook, assignment)


def grade_many(notebooks, assignment: str | None = None, jobs: int = 1, limits=None):
    """Grade notebooks in ``jobs`` processes, each with its own fork server (torch imported once
    per process); yield ``(notebook, Grade)`` as each finishes. For callers that want the Grade
    objects rather than files (tests, scripts)."""
    with ProcessPoolExecutor(max_workers=max(1, jobs), initializer=init_process, initargs=(limits,)) as pool:
        futures = {pool.submit(_grade, str(nb), assignment): nb for nb in notebooks}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


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


def write_index(out: Path, students: list[str]) -> None:
    rows = [(s, json.loads((out / s / DONE).read_text())) for s in students if (out / s / DONE).exists()]
    try:
        from grader.html import write_index as render

        render(out, rows)
    except ImportError:
        pass


def submissions_of(root: Path, out: Path) -> tuple[Path, list[Path], list[str]]:
    """(folder, notebooks, student names) for a folder or zip of submissions."""
    if root.is_file() and zipfile.is_zipfile(root):
        root = unpack_zip(root, out / "_submissions")
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder (or zip) of notebooks")
    labels = gradescope_names(root)
    submissions = find_submissions(root)
    names = [student_name(p, root, labels) for p in submissions]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # two notebooks of one student: keep both, distinctly named
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n}_{seen[n]}"
    return root, submissions, names


def save(folder: Path, outcome: dict) -> dict:
    """Write one graded submission: its report first, then results.json (what --resume looks for)."""
    if outcome.get("html"):
        write_text_atomic(folder / "report.html", outcome["html"])
    write_json_atomic(folder / DONE, outcome["results"])
    return outcome["results"]


def run_batch(root: Path, assignment: str | None, out: Path, jobs: int = 1, resume: bool = False,
              show_progress: bool = True, limits=None, executor=None) -> list[tuple[str, dict]]:
    """Grade a folder (or zip) into OUTDIR with ``executor`` (default: a local pool of ``jobs``)."""
    from tqdm import tqdm

    executor = executor or LocalPool(jobs, limits)
    out.mkdir(parents=True, exist_ok=True)
    root, submissions, names = submissions_of(root, out)
    todo = [(n, p) for p, n in zip(submissions, names) if not (resume and (out / n / DONE).exists())]
    done: list[tuple[str, dict]] = []
    bar = tqdm(total=len(todo), desc="grading", unit="nb", disable=not show_progress, file=sys.stderr,
               initial=0, postfix={"skipped": len(submissions) - len(todo)} if resume else None)
    for name, outcome in executor.grade(todo, assignment):
        done.append((name, save(out / name, outcome)))
        write_gradebook(out, names)
        bar.update(1)
    bar.close()
    write_gradebook(out, names)
    write_index(out, names)
    return done


def cmd_batch(args) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    try:
        tls = {"ca_file": args.tls_ca_file, "cert": args.tls_cert, "key": args.tls_key}
        executor = chosen(args.executor, args.scheduler, args.jobs, tls=tls)
        run_batch(Path(args.dir), args.assignment, out, jobs=args.jobs, resume=args.resume,
                  show_progress=not args.quiet, executor=executor)
    except (FileNotFoundError, ExecutorError) as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
    _, _, names = submissions_of(Path(args.dir), out)
    width = max([len(n) for n in names] + [7])
    print(f"{'student':<{width}}  score")
    for n in names:
        path = out / n / DONE
        if path.exists():
            data = json.loads(path.read_text())
            failed = sorted({t["tags"][0] for t in data["tests"] if t["status"] == "failed"})
            lost = f"   lost points in: {', '.join(failed)}" if failed else ""
            if not data["tests"] and data.get("output", "").startswith("grading failed"):
                lost = f"   {data['output'].splitlines()[0]}"
            print(f"{n:<{width}}  {data['score']:g}/{data['max_score']:g}{lost}")
    print(f"gradebook: {out / 'gradebook.csv'}   reports: {out / 'index.html'}  ({time.perf_counter() - t0:.0f} s)")
    return 0


def add_parser(sub) -> None:
    from grader import assignments

    b = sub.add_parser("batch", help="grade a folder of notebooks into a gradebook (TA)")
    b.add_argument("dir")
    b.add_argument("--assignment", choices=assignments.ASSIGNMENTS)
    b.add_argument("--out", required=True)
    b.add_argument("-j", "--jobs", type=int, default=1,
                   help="grading processes on this machine (local pool, or the workers of --executor dask)")
    b.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local: a process pool on this machine (default); dask: Dask workers (a LocalCluster of "
                        "-j processes, or the cluster at --scheduler). Needs pip install -e '.[dask]'")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786 or tls://...); "
                        "implies --executor dask")
    for flag, what in (("--tls-ca-file", "the CA certificate"), ("--tls-cert", "this machine's certificate"),
                       ("--tls-key", "its private key")):
        b.add_argument(flag, metavar="PEM", help=f"for a tls:// scheduler: {what} (PEM)")
    b.add_argument("--resume", action="store_true", help="skip submissions that already have results")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=cmd_batch)
