"""The grader's core data: what a probe asks of a notebook, and what one call of it answered.

A :class:`Probe` names the graded name it exercises and lists its :class:`Call` s. A call's target is a
graded name (a string: the worker adapts it to the student's interface), or a grader helper:
:class:`Standin` (the assignment's notebook-facing ``standins.py``), :class:`Support` (its ``support.py``,
sent with the probe) or :data:`NOTEBOOK_CHECK` (the notebook's own public check). Its arguments may refer
to a fixture input (:class:`Input`), an earlier call's result (:class:`Result`), one of the student's
objects (:class:`Student`) or a provided global (:class:`Provided`).

These are plain, frozen values on the grading side; :mod:`grader.protocol` alone turns them into the
worker's wire format (and the worker's answers into :class:`CallResult`). Write probes with
:func:`grader.probing.call` and :func:`grader.probing.probe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

# ---- where a call goes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Standin:
    """A function of the assignment's ``standins.py`` (loaded in the worker), e.g. ``Standin("run_sample")``."""

    name: str


@dataclass(frozen=True)
class Support:
    """A function of the assignment's ``support.py``, sent with the probe, e.g. ``Support("ref_add_noise")``."""

    name: str


@dataclass(frozen=True)
class _NotebookCheck:
    """The notebook's own public check (its source is the call's one argument)."""


NOTEBOOK_CHECK = _NotebookCheck()

#: A call's target: a graded name, or a grader helper.
Target = Union[str, Standin, Support, _NotebookCheck]


# ---- what an argument may refer to -------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """A seeded fixture input, by its key in the assignment's inputs (a fresh copy per call)."""

    key: str


@dataclass(frozen=True)
class Result:
    """An earlier call's result in the same probe: by the name that call was given while the probe is
    written, by position once :func:`grader.probing.probe` has resolved it."""

    call: int | str


@dataclass(frozen=True)
class Student:
    """One of the student's objects (a class as defined, or a function adapted to the interface), handed
    to a grader helper."""

    name: str


@dataclass(frozen=True)
class Provided:
    """A global the assignment provides to the notebook (``prompt_embeds_dict``), or one item of it."""

    name: str
    item: Any = None


# ---- a probe ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call of a probe. ``stored=False``: the fixture builder keeps no reference output of it (a check
    reads only the submission's own, e.g. raw observations it judges by computation)."""

    func: Target
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    seed: int = 0
    #: names the student's code sees rebound to another target while this call (and the rest of the probe) runs
    rebind: dict = field(default_factory=dict)
    name: str | None = None
    label: str | None = None
    no_grad: bool = True
    stored: bool = True

    @property
    def helper(self) -> bool:
        """Whether the call goes to a grader helper, not to a graded name."""
        return not isinstance(self.func, str)

    @property
    def what(self) -> str:
        """What a message calls this call's output: its label, else the graded name it calls."""
        if self.label:
            return self.label
        return self.func if isinstance(self.func, str) else getattr(self.func, "name", "the notebook's check")

    def concerns(self, api: str) -> bool:
        """Whether this call's output is the graded name ``api``'s (called directly, or labelled so)."""
        return api in (self.func, self.label)


@dataclass(frozen=True)
class Probe:
    """A graded name and the calls that exercise it, run in one sandbox in order."""

    api: str
    calls: tuple[Call, ...]
    #: run only when a check asks for it (a fallback), never started ahead with the others
    on_demand: bool = False
    #: roughly what the reference's probe costs, in ms of one core (its order of magnitude is what counts): a batch
    #: starts the costliest first, so that the last sandbox to finish is not a long one started late
    cost_ms: int = 50

    def index(self, key: int | str) -> int:
        """The position of a call: given as is, or by the ``name`` the probe gave it."""
        if isinstance(key, int):
            return key
        for i, c in enumerate(self.calls):
            if c.name == key:
                return i
        raise KeyError(f"the probe has no call named {key!r}")


# ---- an answer ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallResult:
    """What one call answered: a value (still in wire form: :func:`grader.protocol.decode` reads it), or a
    failure with its kind (``missing``, ``stub``, ``error``, ...) and a one-line message."""

    ok: bool
    value: Any = None
    kind: str | None = None
    message: str = ""
