"""What the grader supplies to a notebook that uses a name it never binds: the conventional imports
(``torch``, ``nn``, ``F``, ``np``, ``math``, ``plt``) and harmless stand-ins for display helpers
(``show_image``, ``media``), each said in a note. Reads parsed code only."""

from __future__ import annotations

import ast
import re

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


def missing_imports(trees: list[ast.Module], provided: set) -> dict[str, list[str]]:
    """Conventional module names that kept functions use but nothing in the notebook binds: name -> functions."""
    bound = set(provided)
    for tree in trees:
        for n in ast.walk(tree):
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in n.names)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(n.name)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                bound.add(n.id)
            elif isinstance(n, ast.arg):
                bound.add(n.arg)
    users: dict[str, list[str]] = {}
    for tree in trees:
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name in provided:
                continue  # (a pasted copy of a provided helper is dropped: the grader's runs)
            for n in ast.walk(node):
                if (
                    isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Load)
                    and n.id in MODULE_NAMES
                    and n.id not in bound
                    and node.name not in users.setdefault(n.id, [])
                ):
                    users[n.id].append(node.name)
    return {k: v for k, v in users.items() if v}


#: Names of display and plotting helpers: inside graded code a call to one the notebook does not have (its cell
#: was skipped, its import failed: ``mediapy`` is not installed in the grader) does nothing.
_DISPLAY = re.compile(r"^_*(show|display|plot|imshow|visuali[sz]e|animate|make_gif|save_gif)\w*$|^(media|mediapy|ipd)$")


def display_names(trees: list[ast.Module], provided: set) -> list[str]:
    """Display-like names the notebook's code reads (definitions, and top-level loops that may be graded), whether
    the notebook binds them or not: the worker binds a no-op only where nothing else did
    (grader.worker.environment.bind_no_display)."""
    names: list[str] = []
    for tree in trees:
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and _DISPLAY.match(n.id):
                if n.id not in names and n.id not in provided:
                    names.append(n.id)
    return names


def _display_source(names: list[str]) -> str:
    return (
        "from grader.worker.environment import bind_no_display as __dg_bind_no_display\n"
        f"__dg_bind_no_display(globals(), {tuple(names)!r})\n"
        "del __dg_bind_no_display\n"
    )
