"""``grader assign``: the student notebooks in ``assignments/`` from the masters in ``solutions/``.

Course staff write one master notebook per assignment in otter-assign's format: a raw
``# ASSIGNMENT CONFIG`` cell, ``# BEGIN QUESTION`` blocks with points, ``# BEGIN SOLUTION``
blocks whose code cells mark their solution lines (``# BEGIN SOLUTION`` / ``# END SOLUTION``
inside the cell, or a line ending in ``# SOLUTION``), and ``# BEGIN TESTS`` blocks with
otter's exception-based public tests. The tests are stored in the student notebook's
metadata (``tests: files: false``), so ``grader.check("forward")`` works from the notebook
alone.

:func:`build_student` runs ``otter assign`` on a master into a temporary folder, takes the
student notebook and makes it reproducible: outputs cleared, cell ids numbered, metadata
kept to what a student needs (kernel, ``diffgrade.assignment``, otter's tests). It then
refuses to return a notebook that still contains a solution line or a hidden test.
Otter's autograder output is not used: our grader is the hidden grader.

Every notebook in ``solutions/`` is such a master, edited as a notebook: the one copy of the
reference solution.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import nbformat

_CONFIG = re.compile(r"#\s+assignment\s+config\b", re.IGNORECASE)
_BLOCK = re.compile(r"#\s+(begin|end)\s+(question|solution|tests|prompt)\b", re.IGNORECASE)
_KEEP_METADATA = ("kernelspec", "language_info", "otter")


class AssignError(Exception):
    """The master cannot be turned into a student notebook (one-line reason)."""


def _first_line(cell) -> str:
    return cell.source.lstrip().split("\n", 1)[0] if cell.source.strip() else ""


def is_master(nb) -> bool:
    """True when the notebook has otter-assign markup (an ASSIGNMENT CONFIG raw cell)."""
    return any(c.cell_type == "raw" and _CONFIG.match(_first_line(c)) for c in nb.cells)


def _blocks(nb):
    """Yield (cell, open block kinds) for every cell of a master, outermost block first."""
    stack: list[str] = []
    for cell in nb.cells:
        m = _BLOCK.match(_first_line(cell)) if cell.cell_type == "raw" else None
        if m:
            kind = m.group(2).lower()
            if m.group(1).lower() == "begin":
                stack.append(kind)
            elif stack and stack[-1] == kind:
                stack.pop()
            continue
        yield cell, tuple(stack)


def _solution_regions(master):
    """Yield (stripped line, is_solution) for the master's cells outside test blocks."""
    for cell, blocks in _blocks(master):
        if "tests" in blocks or cell.cell_type == "raw":
            continue  # tests are checked on their own: a public test must not hold a solution line
        in_block = "solution" in blocks
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                yield line.strip(), in_block
            continue
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if not in_block:
                yield text, False
            elif re.search(r"# BEGIN SOLUTION( NO PROMPT)?$", text):
                inside = True
            elif text.endswith("# END SOLUTION"):
                inside = False
            elif inside:
                yield text, True
            elif re.search(r"#\s?SOLUTION( NO PROMPT)?$", text):
                yield re.sub(r"\s*#\s?SOLUTION( NO PROMPT)?$", "", text), True
            else:
                yield text, False


def _nontrivial(line: str) -> bool:
    """Worth checking for: not a comment and at least three words (``return x`` is not)."""
    return bool(line) and not line.startswith("#") and len(re.findall(r"\w+", line)) >= 3


def solution_lines(master) -> list[str]:
    """The master's solution lines (stripped, non-trivial): inside a solution cell's
    ``# BEGIN SOLUTION`` / ``# END SOLUTION`` markers or ending in ``# SOLUTION``, and the
    Markdown cells of solution blocks. Lines the master also shows outside solutions (in
    starter code or prose, not in tests) are left out."""
    regions = list(_solution_regions(master))
    shown = {line for line, solution in regions if not solution}
    return [line for line, solution in regions if solution and _nontrivial(line) and line not in shown]


def hidden_tests(master) -> list[str]:
    """Sources of the master's hidden test cells (first line a comment with HIDDEN, or hidden: true)."""
    out = []
    for cell, blocks in _blocks(master):
        if "tests" in blocks and cell.cell_type == "code":
            first = _first_line(cell)
            if (first.startswith("#") and re.search(r"\bhidden\b", first, re.IGNORECASE)) or re.search(
                r"^\s*hidden:\s*true\s*$", cell.source, re.IGNORECASE | re.MULTILINE
            ):
                out.append(cell.source)
    return out


def question_points(master) -> dict[str, float]:
    """Question name -> points, from the master's ``# BEGIN QUESTION`` cells (otter's YAML)."""
    import yaml

    out = {}
    for cell in master.cells:
        if cell.cell_type == "raw" and re.match(r"#\s+begin\s+question\b", _first_line(cell), re.IGNORECASE):
            config = yaml.safe_load(cell.source.split("\n", 1)[1]) or {}
            out[str(config["name"])] = float(config.get("points", 0))
    return out


def public_text(student) -> str:
    """Everything a student receives: every cell's source and the tests in the metadata."""
    parts = [c.source for c in student.cells]
    tests = student.metadata.get("otter", {}).get("tests", {})
    parts.extend(str(v) for v in tests.values())
    return "\n".join(parts)


def leaks(student, master) -> list[str]:
    """Solution lines and hidden tests of ``master`` that appear in ``student``."""
    public = {l.strip() for l in public_text(student).splitlines()}
    found = [l for l in solution_lines(master) if l in public]
    for source in hidden_tests(master):
        body = [l.strip() for l in source.splitlines() if l.strip() and not l.strip().startswith("#")]
        if body and all(l in public for l in body):
            found.append(body[0])
    return found


def _run_otter(master: Path, workdir: Path) -> Path:
    """``otter assign master workdir`` (no PDFs, no test run); the student notebook's path."""
    from otter.assign import main as otter_assign

    level = logging.getLogger("otter").level
    logging.getLogger("otter").setLevel(logging.WARNING)
    try:
        otter_assign(str(master), str(workdir), no_pdfs=True, no_run_tests=True)
    except Exception as e:  # otter raises many types for malformed masters
        raise AssignError(
            f"otter assign failed on {master.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    finally:
        logging.getLogger("otter").setLevel(level)
    student = workdir / "student"
    extra = sorted(str(p.relative_to(student)) for p in student.rglob("*") if p.is_file() and p.name != master.name)
    if extra:
        raise AssignError(
            f"otter assign wrote files besides the notebook ({', '.join(extra)}); "
            "use `tests: files: false` so the tests travel inside the notebook"
        )
    return student / master.name


#: The student notebook's first code cell in place of otter's ``otter.Notebook("<name>.ipynb")``: the
#: checks are stored in the notebook itself, so otter must find it whatever the student named it
#: (``proj5a (1).ipynb``), and ``grader.export()`` must work without LaTeX (a zip of the notebook).
INIT_CELL = """# Start the notebook checks (otter). They are stored in this notebook's metadata.
%pip install -q otter-grader
import otter


def start_checks(assignment="@ASSIGNMENT@"):
    \"\"\"otter's checks for this notebook, found by its metadata whatever the file is called; a failed
    check opens with its own sentence; export() makes a zip of the notebook without needing LaTeX.\"\"\"
    import glob, json, os

    found = "@ASSIGNMENT@.ipynb"
    for path in sorted(glob.glob("*.ipynb"), key=os.path.getmtime):  # the newest copy wins
        try:
            with open(path, encoding="utf-8") as f:
                if json.load(f)["metadata"].get("diffgrade", {}).get("assignment") == assignment:
                    found = path
        except (OSError, ValueError, KeyError, AttributeError):
            continue
    from otter.test_files.exception_test import ExceptionTestFile

    def message(self, error, context=0):  # the check's own sentence first, not otter's line and source
        text = str(error).strip("'")
        return text if isinstance(error, AssertionError) and text else f"{type(error).__name__}: {text}"

    ExceptionTestFile._generate_error_message = message
    notebook = otter.Notebook(found)
    export = notebook.export
    notebook.export = lambda *args, pdf=False, **kwargs: export(*args, pdf=pdf, **kwargs)
    return notebook


grader = start_checks()"""


def _is_otter_init(cell) -> bool:
    return cell.cell_type == "code" and "otter.Notebook(" in cell.source and "import otter" in cell.source


def tidy(nb, assignment: str):
    """Make a generated notebook reproducible: no outputs, numbered ids, only the needed metadata;
    otter's start-up cell replaced by :data:`INIT_CELL`."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    for cell in nb.cells:
        if _is_otter_init(cell):
            cell.source = INIT_CELL.replace("@ASSIGNMENT@", assignment)
    meta = {k: nb.metadata[k] for k in _KEEP_METADATA if k in nb.metadata}
    meta["diffgrade"] = {"assignment": assignment}
    nb.metadata = nbformat.from_dict(meta)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{assignment}-{i:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def build_student(master: str | Path, assignment: str | None = None):
    """The student notebook for ``master`` (a NotebookNode), checked for leaks."""
    master = Path(master).resolve()
    source = nbformat.read(str(master), as_version=4)
    if not is_master(source):
        raise AssignError(f"{master.name} is not an otter-assign master yet (no raw '# ASSIGNMENT CONFIG' cell)")
    if not solution_lines(source):
        raise AssignError(f"{master.name} marks no solution lines; nothing would be removed")
    assignment = assignment or source.metadata.get("diffgrade", {}).get("assignment") or master.stem
    with tempfile.TemporaryDirectory(prefix="grader-assign-") as tmp:
        nb = nbformat.read(str(_run_otter(master, Path(tmp) / "out")), as_version=4)
    if nb.metadata.get("otter", {}).get("OK_FORMAT", True) is not False:
        raise AssignError(f"{master.name}: use exception-based tests (`tests: ok_format: false`)")
    nb = tidy(nb, assignment)
    found = leaks(nb, source)
    if found:
        raise AssignError(
            f"{len(found)} solution or hidden-test line(s) would reach the student notebook, "
            f"e.g. {found[0]!r}; mark them inside # BEGIN SOLUTION / # END SOLUTION"
        )
    return nb


def write(nb, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


def assign(assignment: str, out_dir: str | Path | None = None) -> tuple[Path, str]:
    """Regenerate ``<out_dir>/<assignment>.ipynb`` from the master ``solutions/<assignment>.ipynb``;
    returns the path and how it was made."""
    from grader import course

    spec = course.get(assignment)
    master = spec.solution
    out = Path(out_dir) / f"{assignment}.ipynb" if out_dir else spec.student_notebook
    return write(build_student(master, assignment), out), "otter assign"
