"""TA batch grading: a folder of notebooks into a gradebook and per-student results.

``grader batch DIR --assignment A --out OUTDIR [-j N] [--resume]``

DIR may be a folder of notebooks, Gradescope's "Export Submissions" folder
(``submission_metadata.yml`` + ``submission_<id>/``) or a zip of either. N
grading processes run in parallel, each with its own fork server, so torch is
imported once per process. Each submission's results are written atomically as
soon as it is graded (``OUTDIR/<student>/results.json``, then ``report.html``);
``gradebook.csv`` (one ``gradebook-<assignment>.csv`` each when the folder holds
both assignments) and ``index.html`` are rewritten from those files, so a batch
killed at any moment loses nothing, and ``--resume`` skips what is done: graded
for the same assignment by the same grader version against the same fixtures
(both recorded in each results.json). The executor is a local process pool
(default) or Dask workers (``--executor dask``, ``--scheduler tcp://HOST:8786``); see
:mod:`grader.batch.executors`. Whichever grades, only this process writes OUTDIR.
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

from grader.batch.executor_choice import chosen
from grader.batch.executors import ExecutorError, LocalPool, init_process
from grader.batch.roster import (
    PEOPLE_COLUMNS,
    BatchInputError,
    gradescope_submitters,
    submissions_of,
)
from grader.provenance import provenance
from grader.reports.results import write_json_atomic, write_text_atomic
from grader.reports.sanitize import cell, line

DONE = "results.json"
#: OUTDIR/SUBMITTERS: student -> the Gradescope submitters (name, sid, email) behind it, for the gradebooks
SUBMITTERS = "submitters.json"


def expected_assignment(notebook: Path, assignment: str | None) -> str | None:
    """The assignment ``notebook`` would be graded as now (None when that cannot be told)."""
    if assignment:
        return assignment
    from grader import course
    from grader.intake.assignment_of import resolve_assignment

    try:
        return resolve_assignment(notebook, None)
    except course.UnknownAssignment:
        return None


def needs_grading(results: Path, notebook: Path, assignment: str | None) -> bool:
    """For --resume: True unless ``results`` holds a finished grade of ``notebook`` for the assignment it
    is graded as now, by this grader version against these fixtures. A result whose grading failed,
    that was graded for another assignment, or that cannot be read is graded again."""
    data = read_results(results)
    extra = (data or {}).get("extra_data")
    if not isinstance(extra, dict) or not data.get("tests"):
        return True
    want = expected_assignment(notebook, assignment)
    if extra.get("assignment") is None or (want is not None and extra.get("assignment") != want):
        return True
    now = provenance(extra["assignment"])
    return any(extra.get(k) != v for k, v in now.items())


def _grade(notebook: str, assignment: str | None):
    from grader.runner import grade

    return grade(notebook, assignment)


def grade_many(notebooks, assignment: str | None = None, jobs: int = 1, limits=None):
    """Grade notebooks in ``jobs`` processes, each with its own fork server (torch imported once
    per process); yield ``(notebook, Grade)`` as each finishes. For callers that want the Grade
    objects rather than files (tests, scripts)."""
    with ProcessPoolExecutor(max_workers=max(1, jobs), initializer=init_process, initargs=(limits, jobs)) as pool:
        futures = {pool.submit(_grade, str(nb), assignment): nb for nb in notebooks}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def short_header(api: str, check: str | None, title: str) -> str:
    """A gradebook column: the graded name and a short label from the check's function name
    (``test_forward_matches_reference`` -> ``forward: matches reference``); the whole title when the
    result does not say which check it was (results from an older grader)."""
    if not check:
        return f"{api}: {title}" if title and not title.startswith(api) else (title or api)
    label = re.sub(r"^test_", "", check)
    label = label[len(api) + 1 :] if label.startswith(api + "_") else ("" if label == api else label)
    return f"{api}: {label.replace('_', ' ')}" if label else api


def _unique(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h} ({seen[h]})")
    return out


def _read_submitters(out: Path) -> dict:
    try:
        return json.loads((out / SUBMITTERS).read_text())
    except (OSError, ValueError):
        return {}


def write_gradebook(out: Path, students: list[str]) -> list[Path]:
    """One CSV per assignment present (``gradebook.csv`` when there is one, else ``gradebook-<assignment>.csv``):
    student, name, sid, email (from Gradescope's metadata, empty when unknown), total, max and one short
    column per check. Rows whose assignment is unknown (grading failed) join the only gradebook, or
    ``gradebook-unknown.csv`` beside several."""
    people = _read_submitters(out)
    groups: dict[str | None, list[tuple[str, dict]]] = {}
    for s in students:
        data = read_results(out / s / DONE)
        if data is None:
            continue
        assignment = (data.get("extra_data") or {}).get("assignment")
        groups.setdefault(assignment, []).append((s, data))
    known = sorted(a for a in groups if a)
    if len(known) <= 1 and None in groups:
        groups.setdefault(known[0] if known else None, [])
        if known:
            groups[known[0]] += groups.pop(None)
    if not groups:
        groups[None] = []
    several = len(groups) > 1
    from grader import course

    stale = [out / "gradebook.csv"] + [out / f"gradebook-{a}.csv" for a in (*course.names(), "unknown")]
    written = []
    for assignment in sorted(groups, key=lambda a: (a is None, a or "")):
        rows, keys, titles = [], [], {}
        for s, data in groups[assignment]:
            who = people.get(s) or []
            row = {
                "student": s,
                "total": data["score"],
                "max": data["max_score"],
                **{k: "; ".join(p.get(k, "") for p in who) for k in PEOPLE_COLUMNS},
            }
            for t in data["tests"]:
                key = t["name"]
                if key not in keys:
                    keys.append(key)
                    api = (t.get("tags") or [""])[0]
                    check = (t.get("extra_data") or {}).get("check")
                    titles[key] = short_header(api, check, key[len(api) + 2 :] if key.startswith(api + ": ") else key)
                row[key] = t["score"]
            rows.append(row)
        headers = dict(zip(keys, _unique([titles[k] for k in keys])))
        path = out / (f"gradebook-{assignment or 'unknown'}.csv" if several else "gradebook.csv")
        tmp = path.with_suffix(".tmp")
        columns = ["student", *PEOPLE_COLUMNS, "total", "max", *keys]
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)  # every cell through sanitize.cell: no submitter's name becomes a formula
            w.writerow([cell(headers.get(k, k)) for k in columns])
            w.writerows([cell(r.get(k, "")) for k in columns] for r in rows)
        tmp.replace(path)
        written.append(path)
    for path in stale:  # a gradebook of an earlier run's layout would now mislead
        if path not in written:
            path.unlink(missing_ok=True)
    return written


def read_results(path: Path) -> dict | None:
    """A results.json, or None when it is missing or unreadable (it is graded again on --resume)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "score" in data and "tests" in data else None


def write_index(out: Path, students: list[str]) -> None:
    rows = [(s, data) for s in students if (data := read_results(out / s / DONE)) is not None]
    pages = sorted(p.name for p in out.glob("similarity*.html"))  # grader batch --similarity
    try:
        from grader.reports.index_page import write_index as render

        render(out, rows, links=[(p, f"Code similarity ({p})") for p in pages])
    except ImportError:
        pass


def write_submitters(out: Path, root: Path, submissions: list[Path], names: list[str]) -> None:
    """OUTDIR/submitters.json: student -> Gradescope's submitters of it, for the gradebooks' name/sid/email."""
    by_folder = gradescope_submitters(root)
    people = {n: by_folder.get(p.relative_to(root).parts[0], []) for p, n in zip(submissions, names)}
    write_json_atomic(out / SUBMITTERS, people)


def save(folder: Path, outcome: dict) -> dict:
    """Write one graded submission: its report first, then results.json (what --resume looks for)."""
    if outcome.get("html"):
        write_text_atomic(folder / "report.html", outcome["html"])
    write_json_atomic(folder / DONE, outcome["results"])
    return outcome["results"]


def run_batch(
    root: Path,
    assignment: str | None,
    out: Path,
    jobs: int = 1,
    resume: bool = False,
    show_progress: bool = True,
    limits=None,
    executor=None,
    similarity: bool = False,
) -> list[tuple[str, dict]]:
    """Grade a folder (or zip) into OUTDIR with ``executor`` (default: a local pool of ``jobs``)."""
    from tqdm import tqdm

    executor = executor or LocalPool(jobs, limits)
    out.mkdir(parents=True, exist_ok=True)
    source = root
    root, submissions, names = submissions_of(root, out)
    if not submissions:
        raise BatchInputError(f"no notebooks (.ipynb) found in {source}; nothing was graded")
    write_submitters(out, root, submissions, names)
    todo = [
        (n, p)
        for p, n in zip(submissions, names)
        if not (resume and (out / n / DONE).exists() and not needs_grading(out / n / DONE, p, assignment))
    ]
    done: list[tuple[str, dict]] = []
    bar = tqdm(
        total=len(todo),
        desc="grading",
        unit="nb",
        disable=not show_progress,
        file=sys.stderr,
        initial=0,
        postfix={"skipped": len(submissions) - len(todo)} if resume else None,
    )
    for name, outcome in executor.grade(todo, assignment):
        done.append((name, save(out / name, outcome)))
        write_gradebook(out, names)
        bar.update(1)
    bar.close()
    write_gradebook(out, names)
    if similarity:
        from grader.similarity.command import for_batch

        for_batch(out, submissions, names, assignment)
    write_index(out, names)
    return done


def cmd_batch(args) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    if args.similarity:
        from grader import similarity

        if not similarity.available():
            print(f"grader: {similarity.INSTALL_HINT}", file=sys.stderr)
            return 2
    try:
        tls = {"ca_file": args.tls_ca_file, "cert": args.tls_cert, "key": args.tls_key}
        executor = chosen(args.executor, args.scheduler, args.jobs, tls=tls)
        run_batch(
            Path(args.dir),
            args.assignment,
            out,
            jobs=args.jobs,
            resume=args.resume,
            show_progress=not args.quiet,
            executor=executor,
            similarity=args.similarity,
        )
    except (FileNotFoundError, BatchInputError, zipfile.BadZipFile, ExecutorError) as e:
        print(f"grader: {line(e)}", file=sys.stderr)
        return 2
    names = list(_read_submitters(out))  # every submission of this run, in order (written by run_batch)
    width = max([len(line(n)) for n in names] + [7])
    print(f"{'student':<{width}}  score")
    for n in names:
        data = read_results(out / n / DONE)
        if data is not None:
            failed = sorted({line(t["tags"][0]) for t in data["tests"] if t["status"] == "failed"})
            lost = f"   lost points in: {', '.join(failed)}" if failed else ""
            first = str(data.get("output", "")).split("\n", 1)[0]
            said = f"   {line(first, 300)}" if first.startswith(("Warning:", "grading failed")) else ""
            print(f"{line(n):<{width}}  {data['score']:g}/{data['max_score']:g}{said}{lost}")
    books = sorted(p for p in out.glob("gradebook*.csv"))
    print(
        f"gradebook: {', '.join(map(str, books))}   reports: {out / 'index.html'}  ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


def add_parser(sub) -> None:
    from grader import course

    b = sub.add_parser("batch", help="grade a folder of notebooks into a gradebook (TA)")
    b.add_argument("dir")
    b.add_argument("--assignment", choices=course.names())
    b.add_argument("--out", required=True)
    b.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        help="grading processes on this machine (local pool, or the workers of --executor dask)",
    )
    b.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="local: a process pool on this machine (default); dask: Dask workers (a LocalCluster of "
        "-j processes, or the cluster at --scheduler). Needs pip install -e '.[dask]'",
    )
    b.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786 or tls://...); "
        "implies --executor dask",
    )
    for flag, what in (
        ("--tls-ca-file", "the CA certificate"),
        ("--tls-cert", "this machine's certificate"),
        ("--tls-key", "its private key"),
    ):
        b.add_argument(flag, metavar="PEM", help=f"for a tls:// scheduler: {what} (PEM)")
    b.add_argument(
        "--resume",
        action="store_true",
        help="skip submissions already graded for the same assignment by this grader version and fixtures",
    )
    b.add_argument(
        "--similarity",
        action="store_true",
        help="also write OUTDIR/similarity.html and .csv (see grader similarity), linked from index.html",
    )
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=cmd_batch)
