"""The search's fingerprints (:mod:`grader.judging.mutations`): how each single edit of the reference changed
an output, kept as a fixed sample of values in float16, and how a failing output is matched to one at
grade time. Needs numpy only."""

from __future__ import annotations

import numpy as np

#: Where ``expected.npz`` keeps a probe's single edits: ``{probe}|search|{call}``, one fingerprint per edit (rows,
#: float16), and ``{probe}|search-edits|0``, what each row's edit is (UTF-8 JSON: a list of messages, row order).
SEARCH, SEARCH_EDITS = "search", "search-edits"
#: How many values of an output its fingerprint keeps.
SAMPLES = 128
#: A fingerprint matches within the limit plus this fraction of the stored difference (float16 rounding).
RELATIVE = 2e-3
#: An output is named by an edit when it is closer to it than this share of its distance from the reference.
SHARE = 0.1


def sample_positions(size: int) -> np.ndarray:
    """The positions a fingerprint keeps of an output of ``size`` values (fixed: the same at build and grade)."""
    if size <= SAMPLES:
        return np.arange(size)
    return np.sort(np.random.RandomState(size % (2**31)).choice(size, SAMPLES, replace=False))


def fingerprint(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """How ``value`` differs from the reference's output, at the sampled positions, in float16 (a small
    difference keeps its precision)."""
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    pos = sample_positions(flat.size)
    with np.errstate(over="ignore", invalid="ignore"):
        return (flat[pos] - ref[pos]).astype(np.float16)


def fingerprint_error(value: np.ndarray, reference: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each stored fingerprint (a row of ``rows``), how far ``value`` is from that edit's output at the
    sampled positions, less float16's rounding of the stored difference (:data:`RELATIVE` of it)."""
    got = (np.asarray(value, dtype=np.float64).reshape(-1) - np.asarray(reference, dtype=np.float64).reshape(-1))[
        sample_positions(np.asarray(value).size)
    ]
    stored = rows.astype(np.float64)
    with np.errstate(invalid="ignore"):
        d = np.abs(stored - got[None, :]) - RELATIVE * np.abs(stored)
    d[~np.isfinite(d)] = np.inf
    return d.max(axis=1)


def match_limit(off: float, atol: float, cap: float) -> float:
    """How close an output must be to an edit's to be named by it: within a tenth of how far it is from the
    reference (an edit that moves the output by 0.006 is told apart from one that moves it by 0.01), never
    tighter than the checks' tolerance nor looser than ``cap``."""
    return min(cap, max(atol, SHARE * off))
