"""Step 1 of the data path, its first half: a submitted file becomes a notebook, or one line saying
why not (not a regular file, too large or too deep, not JSON, a script, the wrong nbformat), and which
assignment it looks like. Nothing here executes student code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from grader import protocol

MAX_NOTEBOOK_BYTES = 128 * 1024 * 1024
NOTEBOOK_BOUNDS = protocol.Bounds(max_depth=100, max_containers=500_000, max_items=10_000_000)


class NotebookError(Exception):
    """The file cannot be read as a notebook at all (one-line reason)."""


def _read_regular_file(path: Path) -> bytes:
    """The file's bytes, opened without following a symbolic link; refuses anything but a regular file."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise NotebookError(f"{path.name} cannot be opened ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NotebookError(f"{path.name} is not a regular file")
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            f"{path.name} is over {MAX_NOTEBOOK_BYTES // 2**20} MB: clear its outputs (Edit > Clear outputs of all "
            "cells), save and submit again"
        )
    return data


def read_notebook(path: str | Path):
    """Read and validate a notebook with nbformat; raise NotebookError with a clear reason."""
    import nbformat  # 0.1 s: a command starts its worker first (:func:`read_json`)

    path = Path(path)
    text, _ = _read_json(path)
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several types for odd versions
        raise NotebookError(f"{path.name} could not be read by nbformat: {str(e).splitlines()[0]}") from None
    return nb


def read_json(path: str | Path) -> dict:
    """The notebook file's JSON, with every check :func:`read_notebook` makes but nbformat's own (no nbformat
    import: enough to tell the assignment, :func:`infer_assignment`)."""
    return _read_json(Path(path))[1]


def _read_json(path: Path) -> tuple[str, dict]:
    if path.is_symlink():
        raise NotebookError(f"{path.name} is a symbolic link, not a notebook file; submit the .ipynb file itself")
    if not path.exists():
        raise NotebookError(f"{path} does not exist")
    if path.is_dir():
        raise NotebookError(f"{path} is a folder, not a notebook")
    raw = _read_regular_file(path)
    if not raw.strip():
        raise NotebookError(f"{path.name} is empty: save the notebook (File > Save) and submit again")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not a text file; submit the .ipynb notebook") from None
    try:
        protocol.check(raw, NOTEBOOK_BOUNDS)
        data = json.loads(text)
    except protocol.Refused as e:
        raise NotebookError(f"{path.name} is not a notebook the grader reads: {e}") from None
    except json.JSONDecodeError as e:
        hint = " (it looks like a Python script; submit the .ipynb notebook)" if _is_script(path, text) else ""
        raise NotebookError(f"{path.name} is not valid notebook JSON: {e.msg} at line {e.lineno}{hint}") from None
    except (RecursionError, ValueError) as e:  # (numbers json cannot convert; the depth is checked above)
        raise NotebookError(f"{path.name} is not valid notebook JSON ({type(e).__name__})") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{path.name} is JSON but not a Jupyter notebook (no cells)")
    return text, data


def _is_script(path: Path, text: str) -> bool:
    """A .py file, or one whose text is Python (a script renamed to .ipynb)."""
    try:
        return path.suffix == ".py" or bool(ast.parse(text).body)
    except (SyntaxError, ValueError):
        return False


def infer_assignment(nb, path: str | Path | None = None) -> str | None:
    """Guess the assignment from the notebook's metadata, its file name, or the names it defines
    (each assignment's ``Spec.recognised_by``). ``nb``: nbformat's notebook or the file's JSON (a dict)."""
    from grader import course

    names = course.names()
    meta = nb.get("metadata", {}) if isinstance(nb, dict) else {}
    meta = meta.get("diffgrade", {}) if isinstance(meta, dict) else {}
    if isinstance(meta, dict) and meta.get("assignment") in names:
        return meta["assignment"]
    filename = Path(path).name.lower() if path else ""
    for name in names:
        if name in filename:
            return name
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    text = "\n".join(_source(c) for c in cells if isinstance(c, dict) and c.get("cell_type") == "code")
    hits = {spec.name: sum(k in text for k in spec.recognised_by) for spec in course.all_specs()}
    best = max(hits, key=hits.get, default=None)
    return best if best is not None and hits[best] > 0 else None


def _source(cell: dict) -> str:
    """A cell's source: a string in nbformat's notebook, a string or a list of lines in the file."""
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""
