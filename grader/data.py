"""Where the course's data lives: the checkout's ``fixtures/``, ``solutions/`` and ``assignments/``,
or the copy of the fixtures that a wheel bundles (``grader/_bundle/``)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
#: The course data bundled in a wheel (setup.py copies fixtures/<a>/{inputs,expected}.npz there).
BUNDLE = PACKAGE / "_bundle"
NEEDS_CHECKOUT = (
    "needs a checkout of the diffgrade repository (the reference notebooks in solutions/ "
    "are not part of an installed grader); run it from a clone"
)


def in_checkout() -> bool:
    """Whether this package runs from a clone of the repository (editable install or cwd)."""
    return (ROOT / "pyproject.toml").is_file() and (ROOT / "fixtures").is_dir()


def data_root() -> Path:
    """The folder holding the course's ``fixtures/`` (and, in a checkout, ``solutions/`` and
    ``assignments/``): the checkout itself, else the copy a wheel bundles."""
    return ROOT if in_checkout() or not (BUNDLE / "fixtures").is_dir() else BUNDLE
