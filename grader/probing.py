"""Writing probes: calls with names, and references to earlier results by name.

A probe is ``(graded name, [call, ...])``; each call is plain data the worker runs (see
:mod:`grader.worker.serve`). ``call(..., name="t250")`` names a call's result, so checks read
``sub.outputs("forward", ["t250"])`` rather than a position; ``result("noised")`` passes an
earlier call's result as an argument and is turned into its position by :func:`probe`.
"""

from __future__ import annotations


def call(
    func: str,
    *args,
    seed: int = 0,
    rebind: dict | None = None,
    name: str | None = None,
    label: str | None = None,
    no_grad: bool = True,
    stored: bool = True,
    **kwargs,
) -> dict:
    """One call of a probe. ``stored=False``: the fixture builder keeps no reference output of it (a
    check reads only the submission's own, e.g. raw observations that it judges by computation)."""
    c = {"func": func, "args": list(args), "kwargs": kwargs, "seed": seed, "rebind": rebind or {}, "quiet": True}
    if not stored:
        c["stored"] = False
    if name:
        c["name"] = name
    if label:
        c["label"] = label
    if not no_grad:
        c["no_grad"] = False
    return c


def result(name: str) -> dict:
    """An earlier call's result, by that call's name."""
    return {"$result": name}


def probe(api: str, *calls: dict) -> tuple[str, list[dict]]:
    """``(api, calls)`` with every ``result(name)`` resolved to the position of the call so named."""
    positions = {c["name"]: i for i, c in enumerate(calls) if "name" in c}

    def resolve(value):
        if isinstance(value, dict):
            if isinstance(value.get("$result"), str):
                return {"$result": positions[value["$result"]]}
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return api, [resolve(c) for c in calls]
