"""Reference parts that travel with a probe, never with the worker.

Some checks run a student's function with the grader's version of another graded name bound
in its place (``sdedit`` with the reference ``forward``, a UNet with the reference blocks), or
give the grader's helpers a reference value (Part B's schedule). Those parts live grading side,
in the assignment's ``support.py``, whose ``ANSWERS`` maps each definition to the graded name
it would answer. A probe carries as source only the definitions that do not answer its own
graded name; the probe's process runs them, and ends with the probe. So no worker holds them,
no import reaches them, and no probe of ``forward`` ever contains a reference ``forward``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path


@functools.lru_cache(maxsize=None)
def _parts(path: str) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """(import and constant statements, {definition: (source, graded name it answers)})."""
    source = Path(path).read_text()
    tree = ast.parse(source)
    answers: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS" for t in node.targets):
            answers = ast.literal_eval(node.value)
    common, defs = [], {}
    for node in tree.body:
        text = ast.get_source_segment(source, node)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defs[node.name] = (text, answers.get(node.name, ""))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            common.append(text)
    return common, defs


def support_source(spec, api: str) -> str | None:
    """Source of the support definitions a probe of ``api`` may carry (None: the assignment has none)."""
    path = spec.folder / "support.py"
    if not path.exists():
        return None
    common, defs = _parts(str(path))
    kept = [text for name, (text, answers) in defs.items() if answers != api]
    if not kept:
        return None
    return "\n\n".join(common + kept) + "\n"
