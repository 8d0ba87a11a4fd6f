"""What the grader supplies to a notebook that uses a name it never binds: the conventional imports
(``torch``, ``nn``, ``F``, ``np``, ``math``, ``plt``) and harmless stand-ins for display helpers
(``show_image``, ``media``), each said in a note. Reads parsed code only."""

from __future__ import annotations

import ast
import re
from collections import deque

MODULE_NAMES = {
    "torch": "import torch",
    "np": "import numpy as np",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
    "TF": "import torchvision.transforms.functional as TF",
    "plt": "import matplotlib.pyplot as plt",
    "math": "import math",
    "torchvision": "import torchvision",
}


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

#: Names of display and plotting helpers: inside graded code a call to one the notebook does not have (its cell
#: was skipped, its import failed: ``mediapy`` is not installed in the grader) does nothing.
_DISPLAY = re.compile(r"^_*(show|display|plot|imshow|visuali[sz]e|animate|make_gif|save_gif)\w*$|^(media|mediapy|ipd)$")


def names_read(trees: list[ast.Module], provided: set) -> tuple[dict[str, list[str]], list[str]]:
    """One walk of the notebook's code (breadth first, as ``ast.walk``), for two questions:

    * the conventional module names that kept functions use but nothing in the notebook binds: name -> those
      functions (a pasted copy of a provided helper is dropped: the grader's runs);
    * the display-like names the code reads (definitions, and top-level loops that may be graded), whether the notebook
      binds them or not: the worker binds a no-op only where nothing else did (grader.worker.environment.bind_no_display).
    """
    bound = set(provided)
    reads: dict[int, list[str]] = {}  # top-level definition (its position) -> module names it reads, first seen first
    display: list[str] = []
    owners: list[str] = []
    for tree in trees:
        todo = deque()
        for node in tree.body:
            owned = isinstance(node, _DEFS) and node.name not in provided
            todo.append((node, len(owners) if owned else -1))
            if owned:
                owners.append(node.name)
        while todo:
            n, owner = todo.popleft()
            todo.extend((child, owner) for child in ast.iter_child_nodes(n))
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                if owner >= 0 and n.id in MODULE_NAMES and n.id not in reads.setdefault(owner, []):
                    reads[owner].append(n.id)
                if _DISPLAY.match(n.id) and n.id not in display and n.id not in provided:
                    display.append(n.id)
            else:
                bound.update(_bound_by(n))
    users: dict[str, list[str]] = {}
    for owner in sorted(reads):
        for name in reads[owner]:
            if name not in bound and owners[owner] not in users.setdefault(name, []):
                users[name].append(owners[owner])
    return users, display


def _bound_by(n: ast.AST) -> list[str]:
    """The names one node binds (an assignment's target, an import, a definition, a parameter)."""
    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
        return [n.id]
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in n.names]
    if isinstance(n, _DEFS):
        return [n.name]
    if isinstance(n, ast.arg):
        return [n.arg]
    return []


def _display_source(names: list[str]) -> str:
    return (
        "from grader.worker.environment import bind_no_display as __dg_bind_no_display\n"
        f"__dg_bind_no_display(globals(), {tuple(names)!r})\n"
        "del __dg_bind_no_display\n"
    )
