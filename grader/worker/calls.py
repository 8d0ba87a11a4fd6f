"""Inside a probe's sandbox: resolve a probe's calls against the loaded definitions and run them.

A call names a graded name (adapted to the student's interface, :mod:`grader.worker.adapters`) or a
grader-side helper (``$standin:NAME``, ``$support:NAME``, ``$notebook_check``); its arguments refer
to fixture inputs (``$input``), earlier results (``$result``), student objects (``$ns``) and the
provided globals (``$provided``). Each call returns ``{"ok": True, "value": data}`` or a failure with
its kind and a one-line message.
"""

from __future__ import annotations

import contextlib
import inspect
import traceback

from grader import protocol
from grader.worker import adapters
from grader.worker.definitions import Definitions, one_line


class _Missing(Exception):
    """A probe refers to a name the notebook does not define."""


class _Stub(Exception):
    """A probe refers to a definition that still holds only placeholders (``...``)."""


class _Failed(Exception):
    """A call that has no value: its answer (kind and one-line message) for the checks."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.answer = {"ok": False, "kind": kind, "message": message}


def stub_message(name: str) -> str:
    return f"{name} is still `...` (not implemented yet): replace the `...` in it with your code"


def _student_location(tb) -> str:
    """' (the cell starting "def forward(im, t):", line 3)' for the innermost frame of student code."""
    where = ""
    for frame, lineno in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if name.startswith(("<cell ", "<the cell ")):
            where = f" ({name[1:-1]}, line {lineno})"
    return where


def raised(name: str, exc: BaseException, hints=()) -> str:
    """'forward raised NameError: ... (cell 7, line 3); likely cause: ...' on one line."""
    text = f"{name} raised {one_line(exc, 200)}{_student_location(exc.__traceback__)}"
    if isinstance(exc, NameError):
        text += (
            "; likely cause: that name is not defined in your notebook, or is made by top-level code the grader "
            "does not run (it keeps imports, definitions and simple assignments)"
        )
    elif "size of tensor" in str(exc) or "shape" in str(exc):
        text += "; likely cause: two tensors of different shapes meet on that line"
        text += "".join(f" ({hint})" for needle, hint in hints if needle in str(exc))
    return text


def _is_signature_error(e: TypeError, fn) -> bool:
    """A TypeError raised by the call itself (wrong arguments), not inside the function."""
    tb = e.__traceback__
    depth = 0
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    return depth <= 1 and ("argument" in str(e) or "positional" in str(e))


class Calls:
    """The calls of one probe, run against one probe's :class:`Definitions`."""

    def __init__(self, template, definitions: Definitions):
        self.d = definitions
        self.torch = template.torch
        self.runtime = template.runtime
        self.inputs = template.inputs
        self.modules = template.modules
        self.interfaces = template.interfaces
        self.error_hints = template.error_hints

    def _arg(self, spec, results):
        torch = self.torch
        if isinstance(spec, dict):
            if "$input" in spec:
                return self.inputs[spec["$input"]].clone()
            if "$result" in spec:
                value = results[spec["$result"]]
                return torch.as_tensor(value).float() if hasattr(value, "shape") else value
            if "$ns" in spec:  # a student object, handed to a grader-side helper ($standin:...)
                return self._student_object(spec["$ns"])
            if "$provided" in spec:  # a provided global, or one item of it ({"$provided": d, "item": key})
                value = self.d.provided[spec["$provided"]]
                if "item" in spec:
                    value = value[spec["item"]]
                return value.clone() if hasattr(value, "clone") else value
            if "$list" in spec or "$array" in spec:
                value = protocol.decode(spec)
                return torch.from_numpy(value.copy()) if hasattr(value, "dtype") else value
            return {k: self._arg(v, results) for k, v in spec.items()}
        if isinstance(spec, list):
            return [self._arg(v, results) for v in spec]
        return spec

    def _student_object(self, name: str):
        """A graded name as a grader-side helper receives it: a class as defined (the helper tries the
        accepted call forms), a function wrapped so that each call picks the definition and argument
        layout that fit (adapters.choose)."""
        iface = self.interfaces.get(name)
        names = (name,) + tuple(iface.aliases if iface else ())
        loop = self._loop_for(name)
        if loop is not None:
            return loop
        if not any(n in self.d.ns for n in names):
            raise _Missing(name)
        if name in self.d.ns and (isinstance(self.d.ns[name], type) or not callable(self.d.ns[name])):
            if name in self.d.stubs:
                raise _Stub(name)
            return self.d.ns[name]
        try:
            adapters.definitions_of(name, self.d.ns, self.d.defs, iface)
        except KeyError:
            raise _Missing(name) from None
        except LookupError:
            raise _Stub(name) from None
        return adapters.Adapted(name, self.d.ns, self.d.defs, iface)

    def _loop_for(self, name: str):
        """The notebook's top-level training loop, to run in place of the training function ``name`` when the
        notebook does not define that function (or only its stub); else None."""
        from grader.worker.loops import LoopTraining

        iface = self.interfaces.get(name)
        names = (name,) + tuple(iface.aliases if iface else ())
        if name not in self.d.loops or (any(n in self.d.ns for n in names) and name not in self.d.stubs):
            return None
        return LoopTraining(self.d.ns, self.d.loops[name])

    def run(self, call: dict, results: list) -> dict:
        """One call: resolve what it calls and with what, call it, send back what it returned."""
        try:
            name, fn, args, kwargs = self._resolve(call, results)
        except _Failed as e:
            return e.answer
        self.runtime.NOISE.reset(call.get("seed", 0))
        try:
            value = self._invoke(name, fn, args, kwargs, call) if callable(fn) else fn
        except _Failed as e:
            return e.answer
        if not call["func"].startswith("$"):
            value = adapters.first_of_tuple(name, value, self.interfaces.get(name))
        return self._returned(name, value)

    def _resolve(self, call: dict, results: list):
        """(name in messages, callable or value, args, kwargs) of a call; raises _Failed."""
        name = call["func"]
        for target, source in (call.get("rebind") or {}).items():
            self.d.ns[target] = self._special(source)
        graded = not name.startswith("$")
        fn = None
        if not graded:
            fn = self._special(name)
            name = call.get("label", name)  # what messages call it (e.g. the student class it builds)
        try:
            args = [self._arg(a, results) for a in call.get("args", [])]
            kwargs = {k: self._arg(v, results) for k, v in (call.get("kwargs") or {}).items()}
        except _Missing as e:
            raise _Failed("missing", f"{e.args[0]} is not defined in your notebook") from None
        except _Stub as e:
            raise _Failed("not_implemented", stub_message(e.args[0])) from None
        if graded:
            try:
                choice = adapters.choose(name, args, kwargs, self.d.ns, self.d.defs, self.interfaces.get(name))
            except KeyError:
                raise _Failed("missing", f"{name} is not defined in your notebook") from None
            except LookupError:
                raise _Failed("not_implemented", stub_message(name)) from None
            except adapters.NoFit as e:
                raise _Failed("missing", str(e)) from None
            for text in choice.notes:
                adapters.note(text)
            fn, args, kwargs = choice.fn, list(choice.args), choice.kwargs
        if call.get("quiet") and callable(fn):
            try:
                if "display" in inspect.signature(fn).parameters:
                    kwargs.setdefault("display", False)
            except (TypeError, ValueError):
                pass
        return name, fn, args, kwargs

    def _invoke(self, name: str, fn, args, kwargs, call: dict):
        """Call the student's code; what it raised becomes a _Failed with a one-line message."""
        try:
            with self.torch.no_grad() if call.get("no_grad", True) else contextlib.nullcontext():
                return fn(*args, **kwargs)
        except NotImplementedError:
            raise _Failed("not_implemented", f"{name} is not implemented yet (it raised NotImplementedError)") from None
        except TypeError as e:
            if _is_signature_error(e, fn):
                raise _Failed(
                    "signature",
                    f"{name} could not be called as the assignment specifies: {one_line(e)} "
                    "(check its parameters against the assignment's signature)",
                ) from None
            raise _Failed("exception", raised(name, e, self.error_hints)) from None
        except Exception as e:  # noqa: BLE001
            raise _Failed("exception", raised(name, e, self.error_hints)) from None

    def _returned(self, name: str, value) -> dict:
        if value is Ellipsis:  # the student notebook's placeholder, `name = ...`
            return _Failed(
                "not_implemented", f"{name} is still `...` (not implemented yet): replace the `...` with your answer"
            ).answer
        value = self.runtime.to_data(value)
        try:
            return {"ok": True, "value": protocol.encode(value)}
        except protocol.Unsendable as e:
            return _Failed(
                "type", f"{name} returned {e}; expected a tensor, array or number (return the result itself)"
            ).answer

    def _special(self, name: str):
        if name.startswith("$support:"):  # a reference part sent with this probe
            return self.runtime.SUPPORT[name.split(":", 1)[1]]
        if name == "$notebook_check":  # the student notebook's own public check (grader check only)
            return self._notebook_check
        if name.startswith("$standin:"):  # a helper of the assignment's worker-side modules
            attr = name.split(":", 1)[1]
            for module in self.modules:
                if hasattr(module, attr):
                    return getattr(module, attr)
            raise KeyError(name)
        if name in self.d.ns:
            return self.d.ns[name]
        raise KeyError(name)

    def _notebook_check(self, source: str) -> str:
        """Run one of the notebook's public (otter) checks on the student's definitions, as the
        notebook does; "" when it passes, else its own message."""
        for name in self.d.loops:  # training written as a loop: the check calls the loop
            loop = self._loop_for(name)
            if loop is not None:
                self.d.ns[name] = loop
        namespace: dict = {}
        exec(compile(source, "<notebook check>", "exec"), namespace)
        for case in [v for v in namespace.values() if hasattr(v, "call_func") and hasattr(v, "test_func")]:
            try:
                case.call_func(self.d.ns)
            except AssertionError as e:
                return str(e).strip("'") or "the check failed"
            except Exception as e:  # noqa: BLE001 - whatever the student's code raised
                return f"{type(e).__name__}: {e}"
        return ""
