"""Where each assignment's parts live: probes, catalogue, checks, reference notebook."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ASSIGNMENTS = ("proj5a", "proj5b")


class UnknownAssignment(ValueError):
    pass


@dataclass(frozen=True)
class Assignment:
    name: str

    @property
    def checks_dir(self) -> Path:
        return PACKAGE / "checks" / self.name

    @property
    def probes(self) -> dict:
        return importlib.import_module(f"grader.checks.{self.name}.probes").PROBES

    @property
    def variants(self) -> list:
        return importlib.import_module(f"grader.catalog.{self.name}").VARIANTS

    @property
    def probe_timeout(self) -> float:
        return float(getattr(importlib.import_module(f"grader.checks.{self.name}.probes"), "PROBE_TIMEOUT", 30.0))


def get(name: str | None) -> Assignment:
    if name not in ASSIGNMENTS:
        raise UnknownAssignment(f"unknown assignment {name!r}; choose one of {', '.join(ASSIGNMENTS)}")
    if not (PACKAGE / "checks" / name / "probes.py").exists():
        raise UnknownAssignment(f"assignment {name} has no checks yet")
    return Assignment(name)
