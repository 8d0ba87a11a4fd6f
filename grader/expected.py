"""The reference's stored outputs (``fixtures/<a>/expected.npz``): one array per call of a probe, under the
reference or one of its variants (an accepted reading, a known mistake, the search's fingerprints).

This module alone spells their keys (``probe|variant|call``); everything else names an output by its parts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

REFERENCE = "reference"


def key(probe: str, variant: str, call: int) -> str:
    """The stored name of one call's output."""
    return f"{probe}|{variant}|{call}"


def parts(name: str) -> tuple[str, str, int]:
    """(probe, variant, call position) of a stored name."""
    probe, variant, call = name.split("|")
    return probe, variant, int(call)


class ExpectedOutputs(Mapping):
    """Stored outputs by name (a read-only mapping of the file's arrays), and by probe and variant, indexed once."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self._arrays = dict(arrays)
        self._index: dict[tuple[str, str], dict[int, np.ndarray]] | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def outputs(self, probe: str, variant: str = REFERENCE) -> dict[int, np.ndarray]:
        """Call position -> output, of one probe under one variant ({} when none is stored)."""
        if self._index is None:
            index: dict[tuple[str, str], dict[int, np.ndarray]] = {}
            for name, value in self._arrays.items():
                p, v, i = parts(name)
                index.setdefault((p, v), {})[i] = value
            self._index = index
        return dict(self._index.get((probe, variant), {}))

    def output(self, probe: str, variant: str, call: int) -> np.ndarray | None:
        """One call's stored output, or None."""
        return self._arrays.get(key(probe, variant, call))
