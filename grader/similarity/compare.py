"""Pairwise scores from winnowed fingerprints (``copydetect``: MOSS's winnowing over normalised tokens).

copydetect tokenises the code with Pygments and replaces every identifier by one letter (``V``, ``F``,
``O``) and every string by ``S``, drops whitespace and comments, hashes each run of ``NOISE`` characters
and keeps one hash per window of ``WINDOW - NOISE + 1`` (so a shared run of ``WINDOW`` characters is always
seen; here every hash, which keeps scores exact and the same from run to run). Hashes found in the skeleton
are removed first (boilerplate).

A side's score is the share of its fingerprinted code found in the other; a pair's score is the larger
of its two sides (a copy padded with code of its own still scores high on the copied side). Graded names
are compared the same way, unit against unit, for the pairs worth showing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from grader.similarity.extract import Source

#: Shortest shared run of normalised characters that counts (copydetect's noise threshold; about 20 tokens, a line
#: and a half: shorter runs, such as a three-line ``forward``, are what any two solutions share).
NOISE = 50
#: Shared runs this long are always found (copydetect's guarantee threshold). Equal to NOISE: every k-gram is
#: kept (no winnowing window), so a score does not depend on Python's per-process string hashing.
WINDOW = NOISE


@dataclass
class Match:
    """Two compared files and what they share."""

    a: Source
    b: Source
    score: float
    scores: tuple[float, float]
    #: character ranges (start, end) of the shared code in a.text and in b.text
    spans: tuple[list[tuple[int, int]], list[tuple[int, int]]]
    #: graded name -> its own score, for names both sides define
    names: dict[str, float] = field(default_factory=dict)

    def shared_names(self, threshold: float) -> list[str]:
        return [n for n, s in self.names.items() if s >= threshold]


class Fingerprinter:
    """Fingerprints with one boilerplate (the skeleton's code) removed."""

    def __init__(self, boilerplate: str = "", noise: int = NOISE, window: int = WINDOW):
        from copydetect import CodeFingerprint  # the optional extra; checked by the command first
        from copydetect.utils import get_token_coverage

        self._make = CodeFingerprint
        self._coverage = get_token_coverage
        self.noise = noise
        self.win = window - noise + 1
        self.boilerplate: frozenset = frozenset()
        if boilerplate.strip():
            fp = self._fingerprint(boilerplate, win=1)
            self.boilerplate = frozenset(fp.hashes) if fp is not None else frozenset()

    def _fingerprint(self, text: str, win: int):
        try:
            fp = self._make("code.py", self.noise, win, None, filter=True, language="python", fp=io.StringIO(text))
        except (ValueError, IndexError):
            return None
        return fp if fp.hashes else None

    def __call__(self, text: str):
        """The fingerprint of ``text`` without boilerplate, or None when nothing of it is left to compare."""
        if not text.strip():
            return None
        fp = self._fingerprint(text, self.win)
        if fp is None:
            return None
        # Boilerplate is removed here rather than by copydetect, whose removal misses a hash that occurs twice.
        common = fp.hashes & self.boilerplate
        if common:
            fp.hashes = fp.hashes - common
            fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in common}
            fp.token_coverage = self._coverage(fp.hash_idx, fp.k, len(fp.filtered_code))
        return fp if fp.hashes and fp.token_coverage > 0 else None


def _compare(fa, fb) -> tuple[float, tuple[float, float], tuple[list, list]]:
    from copydetect import compare_files

    if fa is None or fb is None or not (fa.hashes & fb.hashes):
        return 0.0, (0.0, 0.0), ([], [])
    _, (sa, sb), (slices_a, slices_b) = compare_files(fa, fb)
    spans = tuple(
        [(int(s), int(e)) for s, e in zip(sl[0], sl[1])] if len(sl) and len(sl[0]) else []
        for sl in (slices_a, slices_b)
    )
    sa, sb = min(float(sa), 1.0), min(float(sb), 1.0)
    return max(sa, sb), (sa, sb), spans


def compare_all(sources: list[Source], fingerprint: Fingerprinter, floor: float = 0.0) -> list[Match]:
    """Every student against every other and against every reference (references are not compared with each
    other); the matches scoring at least ``floor`` (and above zero), best first, with per-name scores."""
    prints = [fingerprint(s.text) for s in sources]
    matches = []
    for i, a in enumerate(sources):
        for j in range(i + 1, len(sources)):
            b = sources[j]
            if a.reference and b.reference:
                continue
            score, scores, spans = _compare(prints[i], prints[j])
            if score > 0 and score >= floor:
                matches.append(Match(a, b, score, scores, spans))
    units: dict = {}  # (id of a source, name) -> fingerprint, each unit fingerprinted once
    for m in matches:
        m.names = name_scores(m.a, m.b, fingerprint, units)
    matches.sort(key=lambda m: (-m.score, m.a.label, m.b.label))
    return matches


def name_scores(a: Source, b: Source, fingerprint: Fingerprinter, cache: dict | None = None) -> dict[str, float]:
    """Graded name -> score of its unit in ``a`` against its unit in ``b`` (names both define with code of their
    own long enough to compare)."""
    cache = {} if cache is None else cache

    def of(source: Source, name: str):
        key = (id(source), name)
        if key not in cache:
            cache[key] = fingerprint(source.unit(name).code)
        return cache[key]

    out = {}
    for unit in a.units:
        if not unit.graded or b.unit(unit.name) is None:
            continue
        fa, fb = of(a, unit.name), of(b, unit.name)
        if fa is None or fb is None:
            continue  # too short to share a run that counts
        out[unit.name] = _compare(fa, fb)[0]
    return out
