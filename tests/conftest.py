import sys
from pathlib import Path

import pytest

import grader  # noqa: F401 - first, before torch: its oneDNN setting (grader/__init__.py)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture(scope="session")
def root():
    return ROOT


def check_by_api(grade):
    """{api: (points earned, points possible, [messages of failed checks])}"""
    out = {}
    for c in grade.checks:
        got, total, msgs = out.get(c.api, (0.0, 0.0, []))
        out[c.api] = (
            got + (c.points if c.passed else 0.0),
            total + c.points,
            msgs + ([c.message] if not c.passed else []),
        )
    return out


def assert_rebuild_matches(committed: dict, rebuilt: dict) -> None:
    """A fixture rebuild gives the committed expected outputs: the same keys and shapes; the reference's
    outputs within 1e-5; values stored in float16 (pairs, the search's fingerprints) within one half-precision
    step; and a mistake's outputs within 1e-5 except where they have blown up (|value| > 10, images live in
    [-1, 1]). On another kind of CPU a mistake in a 300-step sampler can end far from where it ended here (the
    rounding grows step by step: 64 of Part B's 624 stored mistake outputs), while the reference's outputs agree
    within 1e-5: the committed fixtures are this project's machine's build."""
    import numpy as np

    from grader.fixtures import PAIR_PRECISION

    assert set(committed) == set(rebuilt), sorted(set(committed) ^ set(rebuilt))[:5]
    for key in committed:  # a stored 0-d array comes back 1-d (np.ascontiguousarray)
        a, b = np.atleast_1d(committed[key]), np.atleast_1d(rebuilt[key])
        assert a.shape == b.shape, key
        if a.dtype.kind != "f":
            assert np.array_equal(a, b), key
            continue
        atol = 1e-5
        if a.dtype == np.float16:
            atol = PAIR_PRECISION + 2.0**-10 * float(np.nanmax(np.abs(a), initial=0.0))
        if "|reference|" not in key:
            tame = ~(np.abs(a.astype(np.float64)) > 10)
            a, b = a[tame], b[tame]
        assert np.allclose(a, b, atol=atol, equal_nan=True), key
