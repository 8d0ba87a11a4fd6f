"""The student kit's sources: an assignment's topic modules rewritten to hold only what the kit may show.

Each topic module (``checks/test_*.py``) keeps its visible checks and the probes they ask for; its catalogue
entries become messages only (their edits are pieces of the reference solution). What nothing mentions any more
(the constants and helpers the edits were written with, the hidden checks' helpers) is then left out of the
topic modules and the assignment's ``shared.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path


def is_visible(node: ast.FunctionDef) -> bool:
    return any(ast.unparse(d).endswith("mark.visible") for d in node.decorator_list)


#: Appended to each topic module of the kit: checks made at import time (Part B makes one per module
#: and kind in a loop) are kept only when marked visible.
VISIBLE_ONLY_TRAILER = """
# Student kit: only the visible checks, also of those made above at import time.
for _check in [n for n in list(globals()) if n.startswith('test_')]:
    if not any(m.name == 'visible' for m in getattr(globals()[_check], 'pytestmark', [])):
        del globals()[_check]
"""


def _binds_variants(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and any(
        isinstance(t, ast.Name) and t.id == "VARIANTS" for t in targets
    )


def kit_topic_source(source: str, variants: list, probes: list[str]) -> str:
    """A topic module's source for the kit: its visible checks; its catalogue entries ``variants``, messages
    only, in place of whatever built ``VARIANTS``; its probes, those named in ``probes``."""
    tree = ast.parse(source)
    tree.body = [
        n
        for n in tree.body
        if not (isinstance(n, ast.FunctionDef) and n.name.startswith("test_") and not is_visible(n))
        and not _binds_variants(n)
    ]
    entries = "".join(
        f"    Variant(api={v.api!r}, id={v.id!r}, message={v.message!r}, accepted={v.accepted!r}),\n" for v in variants
    )
    return (
        ast.unparse(tree)
        + "\n"
        + VISIBLE_ONLY_TRAILER
        + "\n# Student kit: the readings and mistakes the visible checks name (messages only), the probes they ask for.\n"
        + f"VARIANTS = [\n{entries}]\n"
        + f"PROBES = {{name: p for name, p in PROBES.items() if name in {probes!r}}}\n"
    )


#: Top-level names never left out of a topic module.
KEPT = ("PROBES", "VARIANTS", "test_")


def _bound(node: ast.stmt) -> list[str]:
    """The names a top-level definition or plain assignment binds (none for other statements)."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return [t.id for t in node.targets]
    return []


def _mentions(node: ast.stmt) -> set[str]:
    """The names a statement reads: variables and attributes (an import: the names it imports)."""
    if isinstance(node, ast.ImportFrom):
        return {a.name for a in node.names}
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
    return out


def drop_unused(trimmed: list[Path], scope: list[Path]) -> None:
    """Leave out of the modules ``trimmed`` each top-level definition, plain assignment and imported name that no
    other statement of the ``scope`` modules mentions, until none is left. By name: a name mentioned anywhere
    is kept; a name imported counts as used by its importer only (two modules importing the same name do not
    keep each other's import), and as mentioned by the module it comes from."""
    while True:
        trees = {path: ast.parse(path.read_text()) for path in scope}
        statements = [(path, i, n, _mentions(n)) for path, tree in trees.items() for i, n in enumerate(tree.body)]

        def used(name, path, i, imported):
            if name.startswith(KEPT):
                return True
            return any(
                name in names
                for p, j, n, names in statements
                if (p, j) != (path, i) and not (imported and isinstance(n, (ast.Import, ast.ImportFrom)))
            )

        changed = False
        for path in trimmed:
            body = []
            for i, node in enumerate(trees[path].body):
                if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                    body.append(node)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    kept = [a for a in node.names if used((a.asname or a.name).split(".")[0], path, i, True)]
                    changed |= len(kept) < len(node.names)
                    node.names = kept
                    body += [node] if kept else []
                elif _bound(node) and not any(used(name, path, i, False) for name in _bound(node)):
                    changed = True
                else:
                    body.append(node)
            trees[path].body = body
            path.write_text(ast.unparse(trees[path]) + "\n")
        if not changed:
            return
