"""A notebook (or a ``.py`` file) becomes its graded code: one normalised unit per top-level name.

The grader's loader (:func:`grader.intake.load.load_notebook`) decides what counts as code: the kept
definitions and cheap statements, without the set-up, plots and training runs. A definition still
holding only placeholders is not the student's code and is left out, and so is every definition that
no graded name reaches (helpers nobody calls are dead code). The units come in a canonical order (graded
names in the assignment's order, then their helpers as first called), so that reordering cells changes
nothing.
"""

from __future__ import annotations

import ast
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.intake.load import load_notebook
from grader.intake.notebook_file import NotebookError
from grader.similarity.normalise import names_used, normalise


@dataclass
class Unit:
    """One top-level name's code, normalised."""

    name: str
    code: str
    graded: bool


@dataclass
class Source:
    """One compared file: a student's notebook, or a file under ``--against``."""

    label: str
    path: Path
    units: list[Unit] = field(default_factory=list)
    #: why nothing could be read (an unreadable notebook); compared as empty
    error: str = ""
    #: a reference under --against (compared with students only, not with other references)
    reference: bool = False

    @property
    def text(self) -> str:
        """The whole graded code, unit after unit."""
        return "\n\n".join(u.code for u in self.units)

    def unit(self, name: str) -> Unit | None:
        return next((u for u in self.units if u.name == name), None)


def graded_names(assignment: str) -> list[str]:
    """The assignment's graded names, in the order its probes declare them."""
    from grader import course

    return list(dict.fromkeys(p.api for p in course.get(assignment).probes.values()))


def _statement_names(source: str) -> tuple[list[str], list[str]]:
    """(names a statement assigns, every name it mentions), in order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [], []
    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name)]
    stored = [n.id for n in names if isinstance(n.ctx, ast.Store)]
    return list(dict.fromkeys(stored)), list(dict.fromkeys(n.id for n in names))


def _raw_units(path: Path, assignment: str, graded: set[str]) -> dict[str, list[str]]:
    """name -> its kept source texts, in notebook order (a redefinition replaces the earlier one)."""
    chunks, _ = load_notebook(path, assignment)
    units: dict[str, list[str]] = {}
    for chunk in chunks:
        if chunk.kind in ("def", "loop") and chunk.name:
            if chunk.stub:
                continue
            units[chunk.name] = [chunk.source]
        elif chunk.kind == "stmt":  # belongs to the graded name it mentions (a loop that appends to it), if any
            assigned, mentioned = _statement_names(chunk.source)
            name = next((n for n in mentioned if n in graded), assigned[0] if assigned else "")
            if name:
                units.setdefault(name, []).append(chunk.source)
    return units


def _reachable(units: dict[str, str], graded: list[str]) -> list[str]:
    """Graded names present, in the assignment's order, then the helpers they reach, as first used."""
    order = [g for g in graded if g in units]
    queue = list(order)
    while queue:
        for used in names_used(units[queue.pop(0)]):
            if used in units and used not in order:
                order.append(used)
                queue.append(used)
    return order


def _script_as_notebook(path: Path, folder: Path) -> Path:
    """A ``.py`` file as a notebook the loader reads: one cell per ``# %%`` / ``# In[ ]:`` block."""
    import nbformat

    text = path.read_text(encoding="utf-8", errors="replace")
    cells = [c for c in re.split(r"^# ?(?:%%|In\[[^\]]*\]:).*$", text, flags=re.M) if c.strip()]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in cells]
    target = folder / (path.stem + ".ipynb")
    nbformat.write(nb, str(target))
    return target


def extract(path: str | Path, assignment: str, label: str | None = None, reference: bool = False) -> Source:
    """The graded code of the notebook or ``.py`` file at ``path``; an unreadable file gives an empty Source
    that says why."""
    path = Path(path)
    source = Source(label=label or path.stem, path=path, reference=reference)
    graded = graded_names(assignment)
    try:
        if path.suffix == ".py":
            with tempfile.TemporaryDirectory(prefix="grader-similarity-") as tmp:
                raw = _raw_units(_script_as_notebook(path, Path(tmp)), assignment, set(graded))
        else:
            raw = _raw_units(path, assignment, set(graded))
    except (NotebookError, OSError, UnicodeDecodeError) as e:
        source.error = str(e)
        return source
    code = {name: normalise("\n".join(texts)) for name, texts in raw.items()}
    source.units = [Unit(name, code[name], name in graded) for name in _reachable(code, graded)]
    return source


def skeleton_code(assignment: str) -> str:
    """All the code that the assignment's notebook hands every student, normalised: each code cell, and each
    definition the loader keeps (stubs included), so that what students keep of it counts as boilerplate."""
    from grader import course
    from grader.intake.load import _to_python, read_notebook

    path = course.get(assignment).student_notebook
    if not path.exists():
        return ""
    parts = [normalise(_to_python(c.source)) for c in read_notebook(path).cells if c.cell_type == "code"]
    chunks, _ = load_notebook(path, assignment)
    parts += [normalise(c.source) for c in chunks if c.kind != "import"]
    return "\n\n".join(p for p in parts if p.strip())
