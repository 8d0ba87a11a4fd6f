"""Command line: ``grader check|grade|batch|gradescope|fixtures|assign`` (also ``python -m grader``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import assignments
from grader.report import VISIBILITIES

EXIT_OK, EXIT_USAGE = 0, 2


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


def _grade_one(args, visible_only: bool):
    from grader.runner import grade

    progress = Progress(Path(args.notebook).name, enabled=sys.stderr.isatty() and not args.quiet)
    try:
        return grade(args.notebook, args.assignment, visible_only=visible_only, progress=progress)
    finally:
        progress.close()


def cmd_check(args) -> int:
    from grader.report import check_summary

    print(check_summary(_grade_one(args, visible_only=True)))
    return EXIT_OK


def cmd_grade(args) -> int:
    from grader.report import results_json, terminal_table, write_json_atomic

    result = _grade_one(args, visible_only=False)
    if not args.quiet:
        print(terminal_table(result))
    if args.out:
        write_json_atomic(args.out, results_json(result, hidden_visibility=args.hidden_visibility))
        if not args.quiet:
            print(f"  results written to {args.out}")
    if args.html:
        from grader.html import write_report

        write_report(result, args.html)
    return EXIT_OK


def cmd_fixtures(args) -> int:
    from grader import fixtures

    names = [args.assignment] if args.assignment else [
        a for a in assignments.ASSIGNMENTS if (assignments.PACKAGE / "checks" / a / "probes.py").exists()]
    for name in names:
        try:
            fixtures.build(name)
        except fixtures.NeedsCheckout as e:
            print(e, file=sys.stderr)
            return EXIT_USAGE
        print(f"fixtures/{name}: rebuilt")
    return EXIT_OK


def cmd_assign(args) -> int:
    from grader import assign

    out_dir = Path(args.out) if args.out else assign.ASSIGNMENTS
    names = [args.assignment] if args.assignment else list(assignments.ASSIGNMENTS)
    status = EXIT_OK
    for name in names:
        master = assign.SOLUTIONS / f"{name}.ipynb"
        if not master.exists():
            continue
        try:
            path, how = assign.assign(name, out_dir)
        except assign.AssignError as e:
            print(f"grader assign: {e}", file=sys.stderr)
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
    p = argparse.ArgumentParser(prog="grader", description="Grade 'Fun with Diffusion Models' notebooks.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="run the visible checks on your notebook (fast)")
    c.add_argument("notebook")
    c.add_argument("--assignment", choices=assignments.ASSIGNMENTS)
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("grade", help="run every check and write results")
    g.add_argument("notebook")
    g.add_argument("--assignment", choices=assignments.ASSIGNMENTS)
    g.add_argument("--out", help="write Gradescope results.json here")
    g.add_argument("--html", help="write an HTML report here")
    g.add_argument("--hidden-visibility", default="after_published", choices=VISIBILITIES,
                   help="Gradescope visibility of the hidden checks (default: after_published)")
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_grade)

    f = sub.add_parser("fixtures", help="regenerate seeded fixtures")
    f.add_argument("action", choices=["build"])
    f.add_argument("--assignment", choices=assignments.ASSIGNMENTS)
    f.set_defaults(func=cmd_fixtures)

    s = sub.add_parser("assign", help="regenerate the student notebooks in assignments/ from the otter-assign "
                                      "masters in solutions/ (runs otter assign)")
    s.add_argument("--assignment", choices=assignments.ASSIGNMENTS)
    s.add_argument("--out", metavar="DIR", help="write the notebooks here instead of assignments/")
    s.set_defaults(func=cmd_assign)

    try:
        from grader import batch

        batch.add_parser(sub)
    except ImportError:
        pass
    try:
        from grader import gradescope

        gradescope.add_parser(sub)
    except ImportError:
        pass
    try:
        from grader import kit

        kit.add_parser(sub)
    except ImportError:
        pass
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except assignments.UnknownAssignment as e:
        print(f"grader: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
