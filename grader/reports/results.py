"""Step 6 of the data path: Gradescope results.json, the terminal table, and ``grader check``'s summary."""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path

from grader.reports.sanitize import line

HIDDEN_VISIBILITY = "after_published"  # hidden checks: shown once grades are published (a course choice)
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def results_json(grade, hidden_visibility: str = HIDDEN_VISIBILITY) -> dict:
    """The Gradescope autograder results format (score, tests with tags and visibility)."""
    tests = []
    for c in grade.checks:
        output = c.message if (c.visible or not c.passed) else ""
        tests.append(
            {
                "name": f"{c.api}: {c.title}",
                "score": c.points if c.passed else 0.0,
                "max_score": c.points,
                "status": "passed" if c.passed else "failed",
                "output": output or ("passed" if c.passed else "failed"),
                "visibility": "visible" if c.visible else hidden_visibility,
                "tags": [c.api],
                "extra_data": {"check": c.name},  # which check, for short gradebook headers
            }
        )
    lines = []
    if getattr(grade, "wrong_assignment", None):
        lines.append(f"Warning: {grade.wrong_assignment}.")
    if grade.error:
        lines.append(grade.error)
    lines.extend(f"note: {n}" for n in grade.notes)
    return {
        "score": round(grade.score, 4),
        "max_score": round(grade.max_score, 4),
        "execution_time": round(grade.timings.get("total", 0.0), 2),
        "output": "\n".join(lines) or f"Graded {Path(grade.notebook).name} ({grade.assignment}).",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_json_atomic(path: str | Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # readable like any file the TA writes, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file (a report) so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # readable like any other file, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(x: float) -> str:
    return f"{x:g}"


def terminal_table(grade, show_hidden_messages: bool = True) -> str:
    """A plain-text summary: one line per check, then the total. Every piece of text is one plain line
    (grader.reports.sanitize.line): a submission cannot add lines, escape sequences or carriage returns."""
    out = [f"{line(Path(grade.notebook).name)}  ({line(grade.assignment)})"]
    if getattr(grade, "wrong_assignment", None):
        out.append(f"  ! Warning: {line(grade.wrong_assignment)}")
    if grade.error:
        out.append(f"  ! {line(grade.error)}")
    for note in grade.notes:
        out.append(f"  note: {line(note)}")
    name_w = max([len(line(c.api)) for c in grade.checks] + [4])
    for c in grade.checks:
        mark = "PASS" if c.passed else "FAIL"
        pts = f"{_fmt(c.points if c.passed else 0)}/{_fmt(c.points)}"
        out.append(f"  {mark}  {pts:>6}  {line(c.api):<{name_w}}  {line(c.title)}")
        if not c.passed and c.message and (c.visible or show_hidden_messages):
            out.append(f"{'':>16}-> {line(c.message)}")
    out.append(f"  Total: {_fmt(grade.score)} / {_fmt(grade.max_score)}")
    return "\n".join(out)


def check_summary(grade) -> str:
    """What ``grader check`` prints for a student: a short header, one line per visible
    check (its title when it passes, the reason when it fails), and a hint. Text from the
    submission is made one plain line, as in :func:`terminal_table`."""
    name = line(Path(grade.notebook).name)
    again = f"grader check {shlex.quote(name)}"
    checks = list(grade.checks)
    passed = sum(c.passed for c in checks)
    warning = [f"  ! Warning: {line(grade.wrong_assignment)}"] if getattr(grade, "wrong_assignment", None) else []
    if grade.error:  # nothing could run: one reason, not one line per check
        return "\n".join(
            [
                f"{name} ({line(grade.assignment)}): could not be checked",
                *warning,
                f"  ! {line(grade.error)}",
                f"Hint: save the notebook in Jupyter (File > Save), then run `{again}` again.",
            ]
        )
    out = [f"{name} ({line(grade.assignment)}): {passed} of {len(checks)} visible checks pass", *warning]
    for note in grade.notes:
        out.append(f"  note: {line(note)}")
    width = max([len(line(c.api)) for c in checks] + [4])
    for c in checks:
        said = c.title if c.passed else c.message or c.title
        out.append(f"  {'ok  ' if c.passed else 'FAIL'}  {line(c.api):<{width}}  {line(said)}")
    if checks and passed == len(checks):
        hint = (
            "all visible checks pass. More checks, hidden until grades are published, run when you submit: "
            "they compare your outputs with the reference in detail."
        )
    else:
        first = next((c for c in checks if not c.passed), None)
        start = f"start with {line(first.api)} (later parts use the earlier ones); " if first else ""
        hint = f"{start}fix it in the notebook, save, and run `{again}` again. More checks run when you submit."
    out.append(f"Hint: {hint}")
    return "\n".join(out)
