"""Accepted interface variants, worker side: the student's logic untouched, the call adapted.

An assignment declares, in its worker-side ``interfaces`` module, ``INTERFACES``: graded name ->
:class:`Interface` (other names the function may go by, other argument layouts it may take,
whether it may return ``(result, extra)``). When a probe calls a graded name, :func:`choose` picks
the definition and the argument layout:

* every definition the notebook made of a name is kept (:class:`Definitions`); a check uses the one
  in force, or where the interface allows it (``earlier_definitions``) an earlier one, then those of
  its aliases (``make_flip_illusion`` for ``visual_anagrams``; the class-conditioned
  ``ddpm_forward`` defined again further down for ``ddpm_forward_class``);
* the first definition whose signature fits the call is used: the contract's arguments first,
  then each declared alternative (two prompts packed in one list, ``num_samples`` spelt
  ``n_samples``); a definition whose required parameters match the call exactly is preferred.

Each adaptation leaves a one-line note (:data:`NOTES`), sent back with the probe's answer and
shown in the results. Nothing here holds a reference answer, and nothing reaches the grading side
but those notes. No torch import: the module is cheap to import anywhere.
"""

from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import dataclass, field

#: Notes of the current probe (the probe runs in a fresh fork: the list starts empty there).
NOTES: list[str] = []
MAX_NOTES = 12


def note(text: str) -> None:
    if text not in NOTES and len(NOTES) < MAX_NOTES:
        NOTES.append(text)


@dataclass(frozen=True)
class Form:
    """An alternative argument layout: ``adapt(args, kwargs) -> (args, kwargs)`` or None where it does not apply.

    ``on_error``: a layout that the signature cannot tell apart from the contract's (the same parameters, one
    of them a pair); it is tried only when the call as the contract makes it raises (see :class:`Retrying`).
    """

    adapt: object
    note: str  # "{name}" is the student's function name, "{api}" the graded name
    on_error: bool = False


@dataclass(frozen=True)
class Interface:
    aliases: tuple = ()
    forms: tuple = ()  # Form, ...
    #: the function may return (result, extra): the first element is graded
    tuple_result: bool = False
    #: an earlier definition of the name may be graded when the one in force does not take the check's arguments
    #: (the course redefines ddpm_forward for the class-conditioned part); otherwise only the one in force
    earlier_definitions: bool = False


def pack(first: int, names: tuple, as_type=list, what: str = "the two prompts") -> Form:
    """Positional arguments first .. first+len(names)-1 passed as one list (``prompt_embeds=[p1, p2]``)."""
    count = len(names)

    def adapt(args, kwargs):
        if len(args) < first + count:
            return None
        return (*args[:first], as_type(args[first : first + count]), *args[first + count :]), kwargs

    return Form(adapt, "your {name} takes " + what + " as one list: the checks passed [" + ", ".join(names) + "]")


def pair_arg(position: int, keyword: str, what: str) -> Form:
    """The argument at ``position`` (or passed as ``keyword``) given twice, as a pair ``(x, x)``: a function that
    takes one such value per prompt (``u1, u2 = uncond_prompt_embeds``). Tried only when the contract's call raises."""

    def adapt(args, kwargs):
        if keyword in kwargs:
            kwargs = dict(kwargs)
            kwargs[keyword] = (kwargs[keyword], kwargs[keyword])
            return args, kwargs
        if len(args) <= position:
            return None
        return (*args[:position], (args[position], args[position]), *args[position + 1 :]), kwargs

    return Form(
        adapt,
        "your {name} takes " + what + " as a pair, one per prompt: the checks passed the same one twice",
        on_error=True,
    )


def rename(keyword: str, spellings: tuple) -> list[Form]:
    """The keyword argument ``keyword`` under another name (``n_samples`` for ``num_samples``)."""
    forms = []
    for other in spellings:

        def adapt(args, kwargs, other=other):
            if keyword not in kwargs:
                return None
            kwargs = dict(kwargs)
            kwargs[other] = kwargs.pop(keyword)
            return args, kwargs

        forms.append(Form(adapt, f"your {{name}} calls {keyword} {other}: the checks passed {keyword} as {other}"))
    return forms


class Definitions:
    """Every definition of every name, in the order the notebook made them: name -> [(cell, object, stub)]."""

    def __init__(self):
        self.by_name: dict[str, list[tuple[int, object, bool]]] = {}

    def add(self, name: str, cell: int, obj, stub: bool) -> None:
        self.by_name.setdefault(name, []).append((cell, obj, stub))

    def candidates(self, name: str, ns: dict) -> list[tuple[str, int | None, object, bool]]:
        """(name, cell, object, stub), the binding in force first, then earlier definitions, latest first."""
        kept = list(reversed(self.by_name.get(name, [])))
        out = []
        if name in ns and not any(obj is ns[name] for _, obj, _ in kept):
            out.append((name, None, ns[name], False))  # bound by a probe (a variant, a rebind)
        elif name in ns:  # the binding in force first, whichever definition it is
            first = next(k for k in kept if k[1] is ns[name])
            kept.remove(first)
            kept.insert(0, first)
        out += [(name, cell, obj, stub) for cell, obj, stub in kept]
        return out

    def cell_of(self, name: str, obj) -> int | None:
        return next((cell for cell, o, _ in self.by_name.get(name, []) if o is obj), None)


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def fits(fn, args, kwargs, tight: bool = False) -> bool:
    """Whether ``fn(*args, **kwargs)`` binds; ``tight``: and every parameter without a default gets a value
    from the call while no positional argument lands on a parameter that has one (an exact fit)."""
    sig = _signature(fn)
    if sig is None:
        return not tight
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        return False
    if not tight:
        return True
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return all(p.default is inspect.Parameter.empty for p in positional[: len(args)])


class NoFit(NameError):
    """The name (or an alias) is defined, but no definition takes the call's arguments."""


@dataclass
class Choice:
    fn: object
    args: tuple
    kwargs: dict
    notes: list = field(default_factory=list)
    fitted: bool = True  # False: no definition takes the call; the name's own is called as it is (its own error)


def _cell(cell) -> str:
    """Where a definition is, as the notes say it: 'the cell starting "..."' (or 'cell N')."""
    return str(cell) if str(cell).startswith("the cell") else f"cell {cell}"


def _describe(name: str, cell) -> str:
    return f"{name} ({_cell(cell)})" if cell else name


def definitions_of(api: str, ns: dict, defs: Definitions, iface: Interface | None) -> list:
    """The candidate definitions for ``api`` that are not stubs: its own (the one in force, then earlier ones where
    declared), then its aliases'. KeyError when there is none at all, LookupError when all are stubs."""
    iface = iface or Interface()
    own = defs.candidates(api, ns)
    if not iface.earlier_definitions:
        own = own[:1]  # the definition in force only
    cands = own + [c for n in iface.aliases for c in defs.candidates(n, ns)]
    if not cands:
        raise KeyError(api)
    real = [c for c in cands if not c[3]]
    if not real:
        raise LookupError(api)
    return real


def choose(api: str, args, kwargs, ns: dict, defs: Definitions, iface: Interface | None) -> Choice:
    """The definition and argument layout to grade ``api`` with (see the module docstring).

    Raises KeyError when neither the name nor an alias is defined, LookupError (args: the name)
    when every definition is still a stub, and :class:`NoFit` when definitions exist but none
    takes the call (then the binding in force is not called at all)."""
    iface = iface or Interface()
    real = definitions_of(api, ns, defs, iface)
    layouts = [((tuple(args), dict(kwargs)), None)]
    for form in iface.forms:
        if form.on_error:
            continue
        adapted = form.adapt(tuple(args), dict(kwargs))
        if adapted is not None:
            layouts.append((adapted, form))
    groups = [[c for c in real if c[0] == api], [c for c in real if c[0] != api]]  # the name itself first
    for group, tight in ((g, t) for g in groups for t in (True, False)):
        for name, cell, obj, _ in group:
            if not callable(obj):
                continue
            for (a, k), form in layouts:
                if not fits(obj, a, k, tight):
                    continue
                notes = []
                if name != api:
                    notes.append(f"graded {_describe(name, cell)} as {api}")
                elif api in ns and obj is not ns[api]:
                    notes.append(
                        f"graded the definition of {api} in {_cell(cell)}, the one whose signature fits the "
                        f"check (a later one takes other arguments)"
                    )
                if form is not None:
                    notes.append(form.note.format(name=name, api=api))
                retries = [f for f in iface.forms if f.on_error]
                return Choice(Retrying(obj, name, api, retries) if retries and form is None else obj, a, k, notes)
    # Nothing fits: the name itself (its natural error), else say that the alias does not take these arguments.
    own = next((c for c in real if c[0] == api), None)
    if own is not None:
        return Choice(own[2], tuple(args), dict(kwargs), fitted=False)
    others = ", ".join(sorted({c[0] for c in real}))
    raise NoFit(f"{api} is not defined in your notebook ({others} is, but it does not take {api}'s arguments)")


#: What a function raises when it takes one argument as a pair and gets a single tensor (``x[1]`` on a batch of
#: one, ``a, b = x``).
PAIR_ERRORS = (IndexError, ValueError, TypeError)


def _restart_noise() -> None:
    """Start the call's keyed noise over (the worker's environment, where it is loaded): a retried call draws the
    same noise as a first one."""
    env = sys.modules.get("grader.worker.environment")
    noise = getattr(env, "NOISE", None)
    if noise is not None:
        noise.reset(noise.seed)


class Retrying:
    """A graded function called as the contract says, and again in each ``on_error`` layout when that raises; the
    first layout that runs is used and named in the notes, else the contract call's own error is raised."""

    def __init__(self, fn, name: str, api: str, forms: list):
        self.fn, self.name, self.api, self.forms = fn, name, api, forms
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        try:
            return self.fn(*args, **kwargs)
        except PAIR_ERRORS as first:
            for form in self.forms:
                adapted = form.adapt(tuple(args), dict(kwargs))
                if adapted is None:
                    continue
                _restart_noise()
                try:
                    value = self.fn(*adapted[0], **adapted[1])
                except Exception:  # noqa: BLE001 - this layout does not fit either; the first error is the one to show
                    continue
                note(form.note.format(name=self.name, api=self.api))
                return value
            _restart_noise()
            raise first


def is_trajectory(value) -> bool:
    """A list of at least three batched images of one shape ``(N, C, H, W)``: a sampler's every x_t, x_T first,
    the samples last (a batch held as a list of single images has no batch dimension or one of size 1)."""
    if not isinstance(value, (tuple, list)) or len(value) < 3:
        return False
    shapes = {tuple(getattr(v, "shape", ())) for v in value}
    if len(shapes) != 1:
        return False
    shape = next(iter(shapes))
    return len(shape) == 4 and (shape[0] > 1 or len(value) > 16)


def first_of_tuple(api: str, value, iface: Interface | None):
    """``(result, extra)`` -> result, and a whole trajectory -> its last element, for names declared to allow it."""
    if iface is None or not iface.tuple_result or not isinstance(value, (tuple, list)) or len(value) < 2:
        return value
    if is_trajectory(value):
        note(f"{api} returns its whole trajectory ({len(value)} images): its last element was graded")
        return value[-1]
    head = value[0]
    if hasattr(head, "shape") and len(getattr(head, "shape", ())) >= 2:
        note(f"{api} returns a tuple: its first element was graded")
        return head
    return value


class Adapted:
    """A graded function handed to a grader-side helper: each call goes through :func:`choose`."""

    def __init__(self, api: str, ns: dict, defs: Definitions, iface: Interface | None):
        self.api, self.ns, self.defs, self.iface = api, ns, defs, iface
        self.__name__ = api

    def accepts(self, *args, **kwargs) -> bool:
        """Whether some definition takes this call (as is or in a declared layout)."""
        try:
            return choose(self.api, args, kwargs, self.ns, self.defs, self.iface).fitted
        except (KeyError, LookupError, NameError):
            return False

    def resolve(self, *args, **kwargs) -> Choice:
        return choose(self.api, args, kwargs, self.ns, self.defs, self.iface)

    def __call__(self, *args, **kwargs):
        c = choose(self.api, args, kwargs, self.ns, self.defs, self.iface)
        for text in c.notes:
            note(text)
        return first_of_tuple(self.api, c.fn(*c.args, **c.kwargs), self.iface)
