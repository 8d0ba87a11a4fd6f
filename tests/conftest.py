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
