"""``grader similarity DIR --assignment A --out OUTDIR [--against FOLDER ...] [--threshold X] [-j N]``,
and :func:`for_batch`, which ``grader batch --similarity`` calls after grading."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from grader import similarity
from grader.reports.sanitize import line
from grader.similarity import report

EXIT_USAGE = 2


class SimilarityError(Exception):
    """A mistake in the command (a folder, a threshold): one line, exit status 2."""


@dataclass
class Outcome:
    csv: Path
    html: Path
    matches: list
    sources: list
    seconds: dict
    #: pairs that reached the listing floor but were left out (compare.MAX_LISTED)
    unlisted: int = 0


#: Fewer files than this are read in this process (starting workers would cost more).
MIN_FOR_WORKERS = 8
_FINGERPRINTERS: dict = {}  # assignment -> Fingerprinter, one per process


def fingerprinter(assignment: str):
    """The Fingerprinter of ``assignment`` (its skeleton as boilerplate), made once per process."""
    from grader.similarity.compare import Fingerprinter
    from grader.similarity.extract import skeleton_code

    if assignment not in _FINGERPRINTERS:
        _FINGERPRINTERS[assignment] = Fingerprinter(skeleton_code(assignment))
    return _FINGERPRINTERS[assignment]


def _read_one(job: tuple):
    """(Source, its fingerprint, this process's hash of a fixed string) for one file."""
    from grader.similarity.extract import extract

    source = extract(*job)
    return source, fingerprinter(job[1])(source), hash("diffgrade similarity")


def _read_all(jobs: list[tuple], workers: int) -> tuple[list, list]:
    """Sources and fingerprints of every file, in ``workers`` forked processes when asked. copydetect hashes
    with Python's per-process salted ``hash``: forked workers share this process's salt, and a fingerprint
    made under another salt is made again here."""
    import multiprocessing

    if workers > 1 and len(jobs) >= MIN_FOR_WORKERS and "fork" in multiprocessing.get_all_start_methods():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        with pool:
            results = list(pool.map(_read_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        results = [_read_one(job) for job in jobs]
    salt = hash("diffgrade similarity")
    sources = [source for source, _, _ in results]
    prints = [p if h == salt else fingerprinter(job[1])(source) for job, (source, p, h) in zip(jobs, results)]
    return sources, prints


def reference_files(folders) -> list[tuple[Path, str]]:
    """(file, label) for every notebook or .py file under the --against folders."""
    found = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise SimilarityError(f"--against {folder}: no such folder")
        for path in sorted(p for p in folder.rglob("*") if p.suffix in (".ipynb", ".py") and p.is_file()):
            if ".ipynb_checkpoints" in path.parts:
                continue
            found.append((path, f"{folder.name}/{path.relative_to(folder).as_posix()}"))
    return found


def run(
    notebooks: list[tuple[Path, str]],
    assignment: str,
    out: Path,
    against=(),
    threshold: float | None = None,
    jobs: int = 1,
    stem: str = "similarity",
) -> Outcome:
    """Compare ``notebooks`` ((path, label) pairs) with each other and with the files under ``against``; write
    ``OUTDIR/<stem>.csv`` and ``OUTDIR/<stem>.html``."""
    from grader.similarity.compare import compare_all

    threshold = similarity.THRESHOLD if threshold is None else threshold
    seconds = {}
    t0 = time.perf_counter()
    jobs_list = [(p, assignment, label, False) for p, label in notebooks]
    jobs_list += [(p, assignment, label, True) for p, label in reference_files(against)]
    sources, prints = _read_all(jobs_list, jobs)
    seconds["read"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    matches, unlisted = compare_all(sources, prints, floor=report.LISTED_SHARE * threshold)
    seconds["compare"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    csv_path = report.write_csv(out / f"{stem}.csv", matches, threshold)
    html_path = report.write_html(out / f"{stem}.html", matches, sources, threshold, assignment, unlisted)
    seconds["report"] = time.perf_counter() - t2
    return Outcome(csv_path, html_path, matches, sources, seconds, unlisted)


def _threshold(text: str) -> float:
    """--threshold as a share (0.6) or a percentage (60 or 60%)."""
    import argparse

    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    value = value / 100 if value > 1 or text.endswith("%") else value
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (or 0% and 100%)")
    return value


def cmd_similarity(args) -> int:
    if not similarity.available():
        print(f"grader: {similarity.INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    from grader.batch.roster import submissions_of

    root, out = Path(args.dir), Path(args.out)
    try:
        if not root.exists():
            raise SimilarityError(f"{root}: no such folder")
        if out.exists() and not out.is_dir():
            raise SimilarityError(f"--out {out} is a file; give a folder")
        reference_files(args.against)  # every --against folder exists, before any work
        root, submissions, names = submissions_of(root, out)
        if not submissions:
            raise SimilarityError(f"no notebooks (.ipynb) found in {args.dir}")
        outcome = run(list(zip(submissions, names)), args.assignment, out, args.against, args.threshold, args.jobs)
    except (SimilarityError, FileNotFoundError) as e:
        print(f"grader: {line(e)}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        print(summary(outcome, args.threshold))
    return 0


def summary(outcome: Outcome, threshold: float | None) -> str:
    threshold = similarity.THRESHOLD if threshold is None else threshold
    flagged = [m for m in outcome.matches if m.score >= threshold]
    lines = [f"{m.score:4.0%}  {line(m.a.label, 80)}  ~  {line(m.b.label, 80)}" for m in flagged[:20]]
    if len(flagged) > 20:
        lines.append(f"... and {len(flagged) - 20} more")
    n = sum(not s.reference for s in outcome.sources)
    took = sum(outcome.seconds.values())
    lines.append(
        f"{len(flagged)} pair(s) of {n} notebooks at or over {threshold:.0%} (a reason to look, not a verdict): "
        f"{outcome.html}, {outcome.csv}  ({took:.0f} s)"
    )
    return "\n".join(lines)


def for_batch(out: Path, submissions: list[Path], names: list[str], assignment: str | None) -> list[Path]:
    """``grader batch --similarity``: one report per assignment graded (``similarity.html``, or
    ``similarity-<assignment>.html`` each when the batch holds several); returns the HTML pages written."""
    import json

    groups: dict[str, list[tuple[Path, str]]] = {}
    for path, name in zip(submissions, names):
        graded_as = assignment
        if graded_as is None:
            try:
                data = json.loads((out / name / "results.json").read_text())
                graded_as = (data.get("extra_data") or {}).get("assignment")
            except (OSError, ValueError, AttributeError):
                graded_as = None
        if graded_as:
            groups.setdefault(graded_as, []).append((path, name))
    pages = []
    for a in sorted(groups):
        stem = "similarity" if len(groups) == 1 else f"similarity-{a}"
        pages.append(run(groups[a], a, out, stem=stem).html)
    return pages


def add_parser(sub) -> None:
    from grader import course

    s = sub.add_parser(
        "similarity",
        help="flag notebooks whose graded code is alike, or like an earlier solution (TA; a reason to look, "
        "not a verdict)",
    )
    s.add_argument("dir", help="folder (or zip, or Gradescope export) of notebooks")
    s.add_argument("--assignment", choices=course.names(), required=True)
    s.add_argument("--out", required=True, metavar="OUTDIR", help="writes OUTDIR/similarity.csv and similarity.html")
    s.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="FOLDER",
        help="also compare with every notebook or .py file under FOLDER (solutions of earlier terms); repeatable",
    )
    s.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        help=f"flag pairs scoring at least this (0.6 or 60%%; default {round(100 * similarity.THRESHOLD)}%%)",
    )
    s.add_argument("-j", "--jobs", type=int, default=1, help="processes reading the notebooks (default 1)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_similarity)
