"""Which assignment a notebook file is for: the one given, or the one the notebook shows; and the one-sentence
warning when it looks like the other assignment's. Reads the file, never runs it; imports neither torch nor pytest,
so a command can start its worker as soon as it knows the assignment."""

from __future__ import annotations

from pathlib import Path

from grader import course
from grader.intake.notebook_file import NotebookError, infer_assignment, read_json, read_notebook


def assignment_at_once(path: str | Path, assignment: str | None) -> str | None:
    """What :func:`resolve_assignment` says when it can be told from the file's JSON alone (the one given, else
    the notebook's metadata, file name or names defined), without nbformat: a command starts the worker for it
    before it reads the notebook properly. None when it cannot be told so (the full reading then decides)."""
    if assignment:
        return assignment if assignment in course.names() else None
    try:
        return infer_assignment(read_json(path), path)
    except NotebookError:
        return None


def resolve_assignment(path: str | Path, assignment: str | None) -> str:
    """The assignment to grade ``path`` as: the one given, else the one the notebook shows (metadata,
    file name, names defined); UnknownAssignment, naming what is wrong with the file, when it cannot tell."""
    if assignment:
        return course.get(assignment).name
    name = Path(path).name
    again = f"pass --assignment ({' or '.join(course.names())})"
    try:
        nb = read_notebook(path)
    except NotebookError as e:
        # an unreadable file (empty, not JSON, a script) named after its assignment is still that
        # assignment's submission: it is graded, scoring 0 with the reason
        guessed = infer_assignment({}, path)
        if guessed is None:
            raise course.UnknownAssignment(
                f"cannot tell which assignment {name} is for: {e}; {again} to grade it anyway (it scores 0)"
            ) from None
        return guessed
    guessed = infer_assignment(nb, path)
    if guessed is None:
        raise course.UnknownAssignment(
            f"cannot tell which assignment {name} is for: its metadata and file name do not say, and it defines "
            f"none of the graded names; {again}"
        )
    return guessed


def wrong_assignment(path: str | Path, assignment: str) -> str | None:
    """The warning when the notebook at ``path`` looks like another assignment's (None if unreadable)."""
    from grader.intake import mismatch

    try:
        return mismatch.wrong_assignment(read_notebook(path), assignment)
    except NotebookError:
        return None
