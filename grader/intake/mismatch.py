"""Is this notebook for the other assignment? One sentence for the top of every output.

A notebook says which assignment it is in its metadata (``diffgrade.assignment``, or
otter's ``assignment_name``); failing that, the graded names it defines show it (a
Part B notebook defines ``ddpm_schedule`` and ``UnconditionalUNet``, not ``forward``).
Nothing here executes student code: it reads metadata and parses Python.
"""

from __future__ import annotations

import ast

from grader import course

#: How many of the other assignment's graded names a notebook must define, with none of its own, to be
#: called the other assignment's on names alone.
MIN_NAMES = 2


def graded_names(assignment: str) -> set[str]:
    return {p.api for p in course.get(assignment).probes.values()}


def metadata_assignment(nb) -> str | None:
    """The assignment the notebook's metadata names, if any."""
    meta = getattr(nb, "metadata", None) or {}
    for section, key in (("diffgrade", "assignment"), ("otter", "assignment_name")):
        value = (meta.get(section) or {}).get(key) if isinstance(meta.get(section), dict) else None
        if value in course.names():
            return value
    return None


def defined_names(nb) -> set[str]:
    """Top-level function and class names of the notebook's code cells (cells that do not parse are skipped)."""
    names: set[str] = set()
    for cell in getattr(nb, "cells", []):
        if cell.get("cell_type") != "code":
            continue
        lines = [line for line in str(cell.get("source", "")).splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError):
            continue
        names.update(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    return names


def wrong_assignment(nb, assignment: str) -> str | None:
    """A one-line warning when ``nb`` looks like another assignment's notebook than ``assignment``, else None."""
    said = metadata_assignment(nb)
    if said and said != assignment:
        return f"this notebook looks like {said} (its metadata says so) but was graded as {assignment}"
    defined = defined_names(nb)
    ours = graded_names(assignment)
    own_hits = defined & ours
    for other in course.names():
        if other == assignment:
            continue
        theirs = (defined & graded_names(other)) - ours
        if len(theirs) >= MIN_NAMES and not own_hits:
            shown = ", ".join(sorted(theirs)[:4]) + (", ..." if len(theirs) > 4 else "")
            return (
                f"this notebook looks like {other} (it defines {shown}, and none of {assignment}'s names) "
                f"but was graded as {assignment}"
            )
    return None
