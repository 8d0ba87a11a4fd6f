"""Writing probes: calls with names, and references to earlier results by name.

``call(..., name="t250")`` names a call's result, so checks read ``sub.outputs("forward", ["t250"])``
rather than a position; ``result("noised")`` passes an earlier call's result as an argument and is
turned into its position by :func:`probe`. The values are :mod:`grader.core`'s.
"""

from __future__ import annotations

from dataclasses import replace

from grader.core import Call, Input, Probe, Provided, Result, Standin, Student, Support, Target

__all__ = ["Input", "Provided", "Standin", "Student", "Support", "call", "probe", "result"]


def call(
    func: Target,
    *args,
    seed: int = 0,
    rebind: dict | None = None,
    name: str | None = None,
    label: str | None = None,
    no_grad: bool = True,
    stored: bool = True,
    **kwargs,
) -> Call:
    """One call of a probe (see :class:`grader.core.Call`)."""
    return Call(
        func=func,
        args=tuple(args),
        kwargs=dict(kwargs),
        seed=seed,
        rebind=dict(rebind or {}),
        name=name,
        label=label,
        no_grad=no_grad,
        stored=stored,
    )


def result(name: str) -> Result:
    """An earlier call's result, by that call's name."""
    return Result(name)


def probe(api: str, *calls: Call, on_demand: bool = False, cost_ms: int = 50) -> Probe:
    """A :class:`Probe` of ``calls``, with every ``result(name)`` resolved to the position of the call so named;
    ``on_demand``: run only when a check asks for it (a fallback), not started ahead with the others; ``cost_ms``:
    roughly what the reference's probe costs (a batch starts the costliest first)."""
    positions = {c.name: i for i, c in enumerate(calls) if c.name}

    def resolve(value):
        if isinstance(value, Result) and isinstance(value.call, str):
            return Result(positions[value.call])
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(resolve(v) for v in value)
        return value

    return Probe(
        api, tuple(replace(c, args=resolve(c.args), kwargs=resolve(c.kwargs)) for c in calls), on_demand, cost_ms
    )
