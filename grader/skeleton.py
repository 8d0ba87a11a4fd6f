"""Derive the student skeleton notebook from the reference solution.

Every function the reference defines, except the starter helpers handed to
students, keeps its signature and docstring and loses its body (replaced by a
TODO and ``raise NotImplementedError``); graded values such as
``strided_timesteps`` become ``None``. The result carries no solution line; a
test checks that.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

#: Functions that the course hands out complete (kept as they are).
STARTER = {"add_variance", "show_images"}
GRADED_VALUES = {"strided_timesteps"}


def _strip_cell(source: str) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines()
    edits: list[tuple[int, int, list[str]]] = []  # (start, end) 0-based inclusive line ranges

    def strip(node, label):
        body = node.body
        first = body[0]
        indent = " " * first.col_offset
        keep_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str)
        start = (body[1].lineno - 1) if keep_doc and len(body) > 1 else (first.lineno - 1 if not keep_doc else None)
        if start is None:
            return
        new = [f"{indent}# TODO: implement {label} (see the assignment text)",
               f"{indent}raise NotImplementedError(\"{label}\")"]
        edits.append((start, node.end_lineno - 1, new))

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name not in STARTER:
            methods = [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
            if methods:  # keep the class and its method signatures; each method raises
                for m in methods:
                    strip(m, f"{node.name}.{m.name}" if m.name != "__init__" else node.name)
            else:
                strip(node, node.name)
        elif isinstance(node, ast.FunctionDef) and node.name not in STARTER:
            strip(node, node.name)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in GRADED_VALUES for t in node.targets):
            name = next(t.id for t in node.targets if isinstance(t, ast.Name))
            edits.append((node.lineno - 1, node.end_lineno - 1, [f"{name} = None  # TODO"]))
    for start, end, new in sorted(edits, reverse=True):
        lines[start : end + 1] = new
    return "\n".join(lines)


def make_skeleton(solution: str | Path, out: str | Path) -> Path:
    nb = nbformat.read(str(solution), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _strip_cell(cell.source)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = cell.source.replace("(reference solution)", "")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    return out
