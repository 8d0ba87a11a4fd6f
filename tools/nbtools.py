"""Tiny helpers to write notebooks from a list of (kind, source) cells, kind "md", "raw" or "code"
(used by tests and authoring)."""

from __future__ import annotations

from pathlib import Path

import nbformat


def make_notebook(cells, assignment: str | None = None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if assignment:
        nb.metadata["diffgrade"] = {"assignment": assignment}
    for kind, source in cells:
        source = source.strip("\n")
        make = {"md": nbformat.v4.new_markdown_cell, "raw": nbformat.v4.new_raw_cell}.get(
            kind, nbformat.v4.new_code_cell
        )
        nb.cells.append(make(source))
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating a notebook rewrites the same file
        cell["id"] = f"cell-{i:02d}"
    return nb


def write_notebook(path, cells, assignment: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(make_notebook(cells, assignment), str(path))
    return path


def cells_from_layout(layout, blocks: dict, override: dict | None = None, drop: tuple = ()):
    """Cells from a layout of ("md", text) and ("code", [block names]) entries.

    Each code cell joins the named blocks' sources; ``override`` replaces blocks by name
    and ``drop`` leaves them out (a cell left with no block is omitted).
    """
    override = override or {}
    cells = []
    for kind, content in layout:
        if kind == "md":
            cells.append(("md", content))
            continue
        parts = [override.get(name, blocks[name]).strip("\n") for name in content if name not in drop]
        if parts:
            cells.append(("code", "\n\n\n".join(parts)))
    return cells
