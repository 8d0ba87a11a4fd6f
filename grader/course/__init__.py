"""The course: one folder per assignment, found by the engine through its :class:`Spec`.

Each assignment is a package ``grader/course/<name>/`` (or any folder registered with
:func:`register`) holding:

* ``__init__.py`` with ``SPEC``: provided globals, how its notebooks are recognised, limits,
  message hints, and which of its modules the worker may import;
* ``sealed/``: everything the sandbox of a probe may import, and nothing else of the assignment (the
  folder is copied whole into the sealed worker): ``sealed/standins.py``, the notebook-facing globals
  (``build(inputs) -> dict``) and the helpers probes call as ``Standin(NAME)``; optional
  ``sealed/interfaces.py``: ``INTERFACES``, the accepted interface variants (aliases, argument layouts,
  tuple results; see :mod:`grader.worker.adapters`); any further instruments the probes call;
* ``checks/test_*.py``: the topic modules, one per topic, each holding everything about its graded
  names: ``PROBES`` (probe name -> :class:`grader.core.Probe`: graded name, calls), ``VARIANTS`` (the
  accepted readings and known mistakes, :class:`grader.judging.catalogue.Variant`) and the pytest checks, with
  their points and visibility as markers. :attr:`Spec.probes` and :attr:`Spec.variants` gather them in
  file order (see :attr:`Spec.order`);
* ``inputs.py``: ``build_inputs() -> dict`` of numpy arrays for the seeded fixtures;
* optionally a module the topics share (``shared.py``: inputs and helpers several topics' probes use).

The engine names no assignment: it asks this registry. Nothing here imports torch, so the
worker may import it too.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: Extra assignment folders (os.pathsep-separated), registered in every process that reads it.
PATH_ENV = "DIFFGRADE_COURSE_PATH"


class UnknownAssignment(ValueError):
    pass


@dataclass(frozen=True)
class Spec:
    """What the engine needs to know about one assignment (declared in its ``__init__.py``)."""

    name: str
    title: str
    #: Globals the grader injects into a notebook; the notebook's own binding of them is dropped.
    provided: frozenset = frozenset()
    #: Code fragments that mark a notebook as this assignment's (``"def forward"``).
    recognised_by: tuple = ()
    #: Seconds one probe may run.
    probe_timeout: float = 30.0
    #: (substring of an error message, what to add to it) pairs for the worker's messages.
    error_hints: tuple = ()
    #: Why an image output might have twice the expected channels (None: no special reason).
    doubled_channels_hint: str | None = None
    #: Graded training functions that a notebook may write instead as a top-level loop -> the model classes
    #: whose construction marks a loop as standing for that function (searched in this order; see
    #: grader.intake.training_loops). The loop is run with the grader's model built in place of those classes.
    training_functions: dict = field(default_factory=dict, compare=False)
    #: Graded names whose failing outputs are matched against single edits of the reference (grader.judging.mutations):
    #: each edit's outputs are fingerprinted at ``grader fixtures build``.
    searched: tuple = ()
    #: Whether ``grader kit build`` may build a student kit (its support parts are replayable functions).
    student_kit: bool = False
    #: Probe names and catalogue entries (``"api/id"``) that come first, in this order, when the topic
    #: modules' fragments are gathered; the rest follow in topic (file) order.
    order: tuple = ()
    #: Filled in by the registry.
    package: str = ""
    folder: Path = field(default=Path("."), compare=False)
    data_root: Path = field(default=Path("."), compare=False)

    # ---- where its parts live --------------------------------------------------------
    def module(self, name: str):
        return importlib.import_module(f"{self.package}.{name}")

    @property
    def checks_dir(self) -> Path:
        return self.folder / "checks"

    @property
    def topics(self) -> list:
        """The topic modules (``checks/test_*.py``) in file order, the order pytest runs their checks in."""
        return [self.module(f"checks.{p.stem}") for p in sorted(self.checks_dir.glob("test_*.py"))]

    @property
    def probes(self) -> dict:
        """probe name -> :class:`grader.core.Probe` (the assignment's table: a submission copies it), gathered
        from the topic modules' ``PROBES``."""
        pieces = [(name, p) for topic in self.topics for name, p in getattr(topic, "PROBES", {}).items()]
        return dict(_gathered(pieces, self.order, "probe"))

    @property
    def variants(self) -> list:
        """The accepted readings and known mistakes, gathered from the topic modules' ``VARIANTS``."""
        pieces = [(f"{v.api}/{v.id}", v) for topic in self.topics for v in getattr(topic, "VARIANTS", [])]
        return [v for _, v in _gathered(pieces, self.order, "catalogue entry")]

    @property
    def sealed_dir(self) -> Path:
        """The folder of what a probe's sandbox may import (copied whole into the sealed worker)."""
        return self.folder / "sealed"

    @property
    def standins_module(self) -> str:
        return f"{self.package}.sealed.standins"

    @property
    def worker_module_names(self) -> list[str]:
        """Modules the worker imports for this assignment: every module of ``sealed/``, the stand-ins first
        (searched in this order for ``Standin(NAME)``)."""
        others = sorted(p.stem for p in self.sealed_dir.glob("*.py") if p.stem not in ("__init__", "standins"))
        return [self.standins_module] + [f"{self.package}.sealed.{m}" for m in others]

    @property
    def import_root(self) -> Path:
        """The folder that must be on sys.path for ``package`` to import."""
        return self.folder.parents[len(self.package.split(".")) - 1]

    @property
    def fixtures_dir(self) -> Path:
        return self.data_root / "fixtures" / self.name

    @property
    def solution(self) -> Path:
        return self.data_root / "solutions" / f"{self.name}.ipynb"

    @property
    def student_notebook(self) -> Path:
        return self.data_root / "assignments" / f"{self.name}.ipynb"


def _gathered(pieces: list[tuple[str, object]], order: tuple, what: str) -> list[tuple[str, object]]:
    """(key, value) pairs, those whose key ``order`` names first (in its order), the rest as they came."""
    keys = [k for k, _ in pieces]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"the topic modules declare the {what} {twice[0]!r} twice")
    rank = {k: i for i, k in enumerate(order)}
    return sorted(pieces, key=lambda kv: rank.get(kv[0], len(rank)))


_REGISTRY: dict[str, Spec] = {}


def _load(package: str, folder: Path, data_root: Path) -> Spec:
    spec = importlib.import_module(package).SPEC
    spec = Spec(**{**spec.__dict__, "package": package, "folder": folder, "data_root": data_root})
    _REGISTRY[spec.name] = spec
    return spec


def _builtin_data_root() -> Path:
    from grader.data import data_root

    return data_root()


def _discover() -> None:
    if _REGISTRY:
        return
    for child in sorted(PACKAGE.iterdir()):
        if (child / "__init__.py").exists() and (child / "checks").is_dir():
            _load(f"{__name__}.{child.name}", child, _builtin_data_root())
    for extra in filter(None, os.environ.get(PATH_ENV, "").split(os.pathsep)):
        _register_folder(Path(extra))


def _register_folder(folder: Path) -> Spec:
    folder = folder.resolve()
    parent = str(folder.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    return _load(folder.name, folder, folder)


def register(folder: str | Path) -> Spec:
    """Add an assignment kept outside the package (a folder laid out as above, its data inside it:
    ``fixtures/<name>/``, ``solutions/<name>.ipynb``). Child processes inherit it through
    ``DIFFGRADE_COURSE_PATH``."""
    _discover()
    spec = _register_folder(Path(folder))
    paths = [p for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    if str(spec.folder) not in paths:
        os.environ[PATH_ENV] = os.pathsep.join(paths + [str(spec.folder)])
    return spec


def unregister(name: str) -> None:
    """Forget an assignment added with :func:`register` (tests)."""
    spec = _REGISTRY.pop(name, None)
    if spec is not None:
        paths = [p for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p and p != str(spec.folder)]
        os.environ[PATH_ENV] = os.pathsep.join(paths)


def names() -> tuple[str, ...]:
    _discover()
    return tuple(_REGISTRY)


def get(name: str | None) -> Spec:
    _discover()
    if name not in _REGISTRY:
        raise UnknownAssignment(f"unknown assignment {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def all_specs() -> list[Spec]:
    _discover()
    return list(_REGISTRY.values())
