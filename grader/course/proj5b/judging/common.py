"""Part B judging, reading a probe's results, the fixture digits and the schedule, the closest catalogued mistake (numpy only)."""

from __future__ import annotations

import functools

import numpy as np

from grader import protocol
from grader.judging.judge import Fail, as_array

# ---- reading a probe's results -----------------------------------------------------------------


def results(sub, probe: str) -> list[tuple[object, str | None]]:
    """(value or None, failure message or None) for every call of the probe."""
    return [(protocol.decode(r.value), None) if r.ok else (None, r.message) for r in sub.results(probe)]


def need(sub, probe: str, indices) -> dict[int, object]:
    """The values of these calls; the first failure becomes the check's message."""
    res = results(sub, probe)
    out = {}
    for i in indices:
        value, message = res[i]
        if message is not None:
            raise Fail(message)
        out[i] = value
    return out


def arr(value) -> np.ndarray | None:
    a = as_array(value)
    return None if a is None else np.asarray(a, dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _inputs() -> dict:
    from grader.fixtures import load_inputs

    return load_inputs("proj5b")


def bank() -> tuple[np.ndarray, np.ndarray]:
    data = _inputs()
    return data["bank_images"].reshape(len(data["bank_images"]), -1) / 255.0, data["bank_labels"]


@functools.lru_cache(maxsize=4)
def schedule(num_ts: int, beta1: float = 1e-4, beta2: float = 0.02) -> dict:
    betas = np.linspace(beta1, beta2, num_ts, dtype=np.float32).astype(np.float64)
    alphas = 1 - betas
    return {"betas": betas, "alphas": alphas, "alpha_bars": np.cumprod(alphas)}


def closest_variant(ref, probe: str, got: dict, calls: list, limit: float = 0.02):
    """The catalogued mistake whose outputs the student's match best (within ``limit``): a single one, else
    a pair made together; or None."""
    got = ref.by_index(probe, got)
    calls = [ref.probes[probe].index(c) for c in calls]
    return ref.closest_mistake(probe, got, calls, limit)


def _scalar_int(value) -> int:
    return int(np.asarray(value).reshape(-1)[0])


def _first_finite(value):
    a = arr(value)
    if a is None:
        return None
    for row in a:
        if np.all(np.isfinite(row)):
            return row
    return None
