"""Command line: ``grader check|grade|batch|gradescope|fixtures|assign`` (also ``python -m grader``)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from grader import course
from grader.isolation.spawn import IsolationUnavailable
from grader.reports.results import VISIBILITIES
from grader.reports.sanitize import line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The notebook is another assignment's (metadata or graded names): one line, nothing graded by `check`.
EXIT_WRONG_ASSIGNMENT = 3

try:  # an installed student kit says which assignment it checks (written by grader kit build)
    from grader.student_kit import ASSIGNMENT as KIT_ASSIGNMENT
    from grader.student_kit import VERSION as KIT_VERSION
except ImportError:
    KIT_ASSIGNMENT = KIT_VERSION = None


class OperatorError(Exception):
    """A mistake in the command (a path, an option), found before grading: one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``grader grade: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def check_notebook_path(path: str) -> None:
    """The notebook argument names a readable regular file (what is in it is the student's business)."""
    p = Path(path)
    if not p.exists():
        raise OperatorError(f"{path}: no such file")
    if p.is_dir():
        raise OperatorError(f"{path} is a folder; give the notebook file inside it (grader batch grades a folder)")
    if not p.is_file():
        raise OperatorError(f"{path} is not a regular file")
    if not os.access(p, os.R_OK):
        raise OperatorError(f"{path} is not readable")


def check_writable(path: str, option: str) -> None:
    """``path`` can be written: it is not a folder, and its nearest existing folder takes a new file
    (tried for real, so a read-only mount or a file in the way is caught; nothing is left behind)."""
    p = Path(path).absolute()
    if p.is_dir():
        raise OperatorError(f"{option} {path} is a folder; give a file name inside it")
    folder = p.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise OperatorError(f"{option} {path} cannot be written: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".grader-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OperatorError(
            f"{option} {path} cannot be written: folder {folder} is not writable ({e.strerror or e})"
        ) from None


def check_paths(args, outputs: dict[str, str | None]) -> None:
    """What can be wrong with the command's paths, checked before any grading: the notebook path and the output
    paths (option -> path). The assignment is resolved next (:func:`resolve`), once the worker is on its way."""
    check_notebook_path(args.notebook)
    for option, path in outputs.items():
        if path:
            check_writable(path, option)


def resolve(args) -> None:
    """Fill in ``args.assignment``: the one given and known, or the one the notebook shows."""
    from grader.intake.assignment_of import resolve_assignment

    args.assignment = resolve_assignment(args.notebook, args.assignment)


class Progress:
    """A tqdm bar over the checks of one submission (stderr, only on a terminal)."""

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = enabled
        self.bar = None

    def total(self, n: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=n, desc=self.label, unit="check", leave=False, file=sys.stderr)

    def step(self, result) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(result.api)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EarlyWorker:
    """The worker of a ``check`` or ``grade``, launched as soon as the command knows the notebook's paths are
    sound and can tell its assignment from the file's JSON (:func:`grader.intake.assignment_of.assignment_at_once`):
    it imports torch, most of a grade's time, while this process imports nbformat, reads the notebook, pytest and
    the checks (0.2-0.3 s sooner than after the full reading). Closed on leaving, unless grading took it."""

    def __init__(self, args):
        from grader.intake.assignment_of import assignment_at_once

        self.worker = None
        assignment = assignment_at_once(args.notebook, args.assignment)
        if assignment is not None:
            self.worker = _launch(assignment)

    def take(self, assignment: str):
        """The worker for ``assignment`` (a fresh one when the full reading decided otherwise)."""
        worker, self.worker = self.worker, None
        if worker is not None and worker.spec.name != assignment:
            worker.close()
            worker = None
        return worker or _launch(assignment)

    def __enter__(self) -> "EarlyWorker":
        return self

    def __exit__(self, *exc) -> None:
        if self.worker is not None:
            self.worker.close()


def _launch(assignment: str):
    from grader import fixtures
    from grader.isolation.spawn import WorkerProcess

    return WorkerProcess.launched(course.get(assignment), fixtures.load_inputs(assignment))


def _grade_one(args, visible_only: bool, early: EarlyWorker):
    worker = early.take(args.assignment)
    try:
        from grader.runner import grade
    except BaseException:
        worker.close()
        raise
    progress = Progress(line(Path(args.notebook).name), enabled=sys.stderr.isatty() and not args.quiet)
    try:
        return grade(args.notebook, args.assignment, visible_only=visible_only, progress=progress, worker=worker)
    finally:
        progress.close()


def wrong_assignment_line(args) -> str | None:
    """One line when the notebook is another assignment's than ``args.assignment``, else None."""
    from grader.intake.assignment_of import wrong_assignment

    warning = wrong_assignment(args.notebook, args.assignment)
    if warning is None:
        return None
    other = next((a for a in course.names() if f"looks like {a} " in warning), None)
    fix = f": use --assignment {other}" if other else ""
    warning = warning.replace(f" but was graded as {args.assignment}", f", not {args.assignment}")
    return f"grader: {Path(args.notebook).name}: {warning}{fix} (exit status {EXIT_WRONG_ASSIGNMENT})"


def cmd_check(args) -> int:
    from grader.reports.results import check_summary

    check_paths(args, {})
    with EarlyWorker(args) as early:
        resolve(args)
        wrong = wrong_assignment_line(args)
        if wrong:  # its checks would all fail with "not defined": say the one thing that is wrong
            print(wrong, file=sys.stderr)
            return EXIT_WRONG_ASSIGNMENT
        print(check_summary(_grade_one(args, visible_only=True, early=early)))
    return EXIT_OK


def cmd_grade(args) -> int:
    from grader.reports.results import results_json, terminal_table, write_json_atomic

    outputs = {"--out": args.out, "--html": args.html}
    check_paths(args, outputs)
    with EarlyWorker(args) as early:
        resolve(args)
        result = _grade_one(args, visible_only=False, early=early)
    wrong = wrong_assignment_line(args) if result.wrong_assignment else None
    if wrong:  # graded (the results say so), but the table would be a column of "not defined"
        print(wrong, file=sys.stderr)
    elif not args.quiet:
        print(terminal_table(result))
    try:
        if args.out:
            write_json_atomic(args.out, results_json(result, hidden_visibility=args.hidden_visibility))
            if not args.quiet:
                print(f"  results written to {args.out}")
        if args.html:
            from grader.reports.html import write_report

            write_report(result, args.html)
    except OSError as e:  # checked before grading, so only a change since (disk full, folder removed)
        print(
            f"grader: graded, but could not write {line(e.filename or 'the results')}: {line(e.strerror or e)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_WRONG_ASSIGNMENT if wrong else EXIT_OK


def cmd_fixtures(args) -> int:
    from grader import fixtures

    names = [args.assignment] if args.assignment else list(course.names())
    for name in names:
        try:
            fixtures.build(name)
        except fixtures.NeedsCheckout as e:
            print(e, file=sys.stderr)
            return EXIT_USAGE
        print(f"fixtures/{name}: rebuilt")
    return EXIT_OK


def cmd_assign(args) -> int:
    from grader.publish import assign

    out_dir = Path(args.out) if args.out else None
    names = [args.assignment] if args.assignment else list(course.names())
    status = EXIT_OK
    for name in names:
        master = course.get(name).solution
        if not master.exists():
            continue
        try:
            path, how = assign.assign(name, out_dir)
        except assign.AssignError as e:
            print(f"grader assign: {line(e)}", file=sys.stderr)
            status = 1
            continue
        print(f"{_shown(path)}: written from {_shown(master)} ({how})")
    return status


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build_parser() -> argparse.ArgumentParser:
    from grader.provenance import grader_version

    what = f"the student kit for {KIT_ASSIGNMENT}" if KIT_ASSIGNMENT else "the full grader"
    p = Parser(
        prog="grader",
        description=f"Check your {KIT_ASSIGNMENT} notebook before you submit it ({what}: the visible checks)."
        if KIT_ASSIGNMENT
        else "Grade 'Fun with Diffusion Models' notebooks.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {KIT_VERSION or grader_version()} ({what})")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="run the visible checks on your notebook (fast)")
    c.add_argument("notebook")
    c.add_argument("--assignment", choices=course.names())
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_check)
    if KIT_ASSIGNMENT:  # the kit has no hidden checks, fixtures' sources, masters or staff commands
        return p

    g = sub.add_parser("grade", help="run every check and write results")
    g.add_argument("notebook")
    g.add_argument("--assignment", choices=course.names())
    g.add_argument("--out", help="write Gradescope results.json here")
    g.add_argument("--html", help="write an HTML report here")
    g.add_argument(
        "--hidden-visibility",
        default="after_published",
        choices=VISIBILITIES,
        help="Gradescope visibility of the hidden checks (default: after_published)",
    )
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_grade)

    f = sub.add_parser("fixtures", help="regenerate seeded fixtures")
    f.add_argument("action", choices=["build"])
    f.add_argument("--assignment", choices=course.names())
    f.set_defaults(func=cmd_fixtures)

    s = sub.add_parser(
        "assign",
        help="regenerate the student notebooks in assignments/ from the otter-assign "
        "masters in solutions/ (runs otter assign)",
    )
    s.add_argument("--assignment", choices=course.names())
    s.add_argument("--out", metavar="DIR", help="write the notebooks here instead of assignments/")
    s.set_defaults(func=cmd_assign)

    # staff commands: a broken import here is an error, never a command that silently goes missing
    from grader.batch import command as batch
    from grader.publish import gradescope, kit
    from grader.similarity import command as similarity

    for module in (batch, gradescope, kit, similarity):
        module.add_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (course.UnknownAssignment, OperatorError) as e:
        print(f"grader: {line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except IsolationUnavailable as e:
        print(f"grader: not graded: {line(e)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
