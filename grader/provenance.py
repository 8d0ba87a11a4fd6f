"""What a result was graded with: the grader's version and code, and the fixtures.

Stored in each batch results.json (``extra_data``) so that ``--resume`` regrades what another
grader or fixture set graded, and compared between the machine that starts a Dask batch and
every worker, so that no worker grades with a different grader.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _digest(paths, base: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(base)).encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@functools.cache
def fixture_fingerprint(assignment: str) -> str:
    """sha256 over one assignment's fixture files (names and bytes)."""
    from grader import fixtures

    folder = fixtures.fixture_dir(assignment)
    return _digest(folder.glob("*.npz"), folder)


def grader_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("diffgrade")
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def code_fingerprint() -> str:
    """A digest of the package's Python code (a check fixed on one machine but not another shows)."""
    return _digest((p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts), PACKAGE)[:12]


def provenance(assignment: str | None) -> dict:
    """What a result was graded with, stored in its results.json (extra_data) so --resume can tell."""
    return {
        "grader_version": grader_version(),
        "fixtures_sha256": fixture_fingerprint(assignment) if assignment else None,
    }


def fingerprint() -> dict:
    """What must match between the machine that starts a batch and every worker."""
    from grader import course

    fixtures = hashlib.sha256("".join(fixture_fingerprint(a) for a in course.names()).encode()).hexdigest()[:12]
    return {"version": grader_version(), "code": code_fingerprint(), "fixtures": fixtures}
