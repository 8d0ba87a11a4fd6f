"""Pairwise scores from winnowed fingerprints (``copydetect``: MOSS's winnowing over normalised tokens).

copydetect tokenises the code with Pygments and replaces every identifier by one letter (``V``, ``F``,
``O``) and every string by ``S``, drops whitespace and comments, hashes each run of ``NOISE`` characters
and keeps one hash per window of ``WINDOW - NOISE + 1`` (so a shared run of ``WINDOW`` characters is always
seen; here every hash, which keeps scores exact and the same from run to run). Hashes found in the skeleton
are removed first (boilerplate).

A side's score is the share of its fingerprinted code found in the other (copydetect's measure: the
characters covered by shared k-grams over those covered by any); a pair's score is the larger of its two
sides (a copy padded with code of its own still scores high on the copied side). It is computed here with
numpy on copydetect's fingerprints, which is what makes every pair of a course affordable. Graded names are
compared the same way, unit against unit, for the pairs worth showing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from grader.similarity.extract import Source

#: Shortest shared run of normalised characters that counts (copydetect's noise threshold; about 20 tokens, a line
#: and a half: shorter runs, such as a three-line ``forward``, are what any two solutions share).
NOISE = 50
#: Shared runs this long are always found (copydetect's guarantee threshold). Equal to NOISE: every k-gram is
#: kept (no winnowing window), so a score does not depend on Python's per-process string hashing.
WINDOW = NOISE
#: Pairs listed at most (the most similar; the report says how many more there were).
MAX_LISTED = 1000


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


@dataclass
class Print:
    """A text's k-gram hashes by position in its normalised form (copydetect's ``filtered_code``), the skeleton's
    removed; what a pairwise comparison needs, as arrays."""

    k: int
    #: hash of the k-gram starting at each position, and whether it counts (not boilerplate)
    at: np.ndarray
    valid: np.ndarray
    #: the counted hashes, sorted, unique
    kept: np.ndarray
    #: index in the original text of each position of the normalised one (one more: the text's length)
    raw: np.ndarray
    #: unit name -> its range of positions
    units: dict[str, tuple[int, int]]
    #: normalised characters covered by counted k-grams (copydetect's ``token_coverage``)
    coverage: int

    def covered(self, starts: np.ndarray) -> np.ndarray:
        """Which normalised characters the k-grams starting at ``starts`` (a mask of positions) cover."""
        d = np.zeros(len(self.raw) + self.k, dtype=np.int32)
        pos = np.flatnonzero(starts)
        d[pos] += 1
        d[pos + self.k] -= 1
        return np.cumsum(d)[: len(self.raw) - 1] > 0

    def count(self, starts: np.ndarray) -> int:
        """How many normalised characters the k-grams starting at ``starts`` cover."""
        pos = np.flatnonzero(starts)
        return int(np.minimum(np.diff(pos), self.k).sum() + self.k) if pos.size else 0

    def matched(self, other_kept: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Mask of the positions in [lo, hi) (k-grams wholly inside) whose hash is in ``other_kept``."""
        hi = len(self.at) + self.k - 1 if hi is None else hi
        mask = np.zeros(len(self.at), dtype=bool)
        top = max(lo, min(len(self.at), hi - self.k + 1))
        if other_kept.size and top > lo:
            at = self.at[lo:top]
            idx = np.minimum(np.searchsorted(other_kept, at), other_kept.size - 1)
            mask[lo:top] = (other_kept[idx] == at) & self.valid[lo:top]
        return mask

    def unit_valid(self, name: str) -> np.ndarray:
        """Mask of the counted positions whose k-gram lies within the unit ``name``."""
        lo, hi = self.units[name]
        own = np.zeros_like(self.valid)
        top = max(lo, hi - self.k + 1)
        own[lo:top] = self.valid[lo:top]
        return own


class Fingerprinter:
    """Fingerprints (copydetect's tokenising, filtering and k-gram hashing) with the skeleton's code removed."""

    def __init__(self, boilerplate: str = "", noise: int = NOISE, window: int = WINDOW):
        from copydetect import CodeFingerprint  # the optional extra; checked by the command first

        self._make = CodeFingerprint
        self.noise = noise
        self.win = window - noise + 1
        self.boilerplate = np.array([], dtype=np.int64)
        if boilerplate.strip():
            fp = self._fingerprint(boilerplate, win=1)
            if fp is not None:
                self.boilerplate = np.unique(np.fromiter(fp.hashes, dtype=np.int64, count=len(fp.hashes)))

    def _fingerprint(self, text: str, win: int):
        try:
            fp = self._make("code.py", self.noise, win, None, filter=True, language="python", fp=io.StringIO(text))
        except (ValueError, IndexError):
            return None
        return fp if fp.hashes else None

    def __call__(self, source: Source) -> Print | None:
        """The fingerprint of ``source``'s graded code, or None when nothing of it is left to compare."""
        text = source.text
        if not text.strip():
            return None
        fp = self._fingerprint(text, self.win)
        if fp is None:
            return None
        n, k = len(fp.filtered_code), self.noise
        at = np.zeros(max(0, n - k + 1), dtype=np.int64)
        valid = np.zeros(len(at), dtype=bool)
        for h, idx in fp.hash_idx.items():
            at[idx] = h
            valid[idx] = True
        if self.boilerplate.size:  # removed here: copydetect's own removal misses a hash that occurs twice
            idx = np.minimum(np.searchsorted(self.boilerplate, at), self.boilerplate.size - 1)
            valid &= self.boilerplate[idx] != at
        if not valid.any():
            return None
        raw = np.arange(n + 1)
        if len(fp.offsets):
            off = fp.offsets
            raw = raw + off[:, 1][np.clip(np.searchsorted(off[:, 0], raw), 0, len(off) - 1)]
        raw[n] = len(text)
        raw = np.maximum.accumulate(np.minimum(raw, len(text)))
        units, start = {}, 0
        for unit in source.units:
            end = start + len(unit.code)
            units[unit.name] = (int(np.searchsorted(raw, start)), int(np.searchsorted(raw, end)))
            start = end + 2  # units are joined by a blank line
        p = Print(k, at, valid, np.unique(at[valid]), raw, units, 0)
        p.coverage = p.count(valid)
        return p


def _side(pa: Print, pb: Print) -> tuple[float, np.ndarray]:
    """Share of a's counted code found in b, and the mask of a's matching positions."""
    mask = pa.matched(pb.kept)
    return min(1.0, pa.count(mask) / pa.coverage), mask


def _spans(p: Print, mask: np.ndarray) -> list[tuple[int, int]]:
    """Character ranges of the original text that the matching positions cover."""
    cover = np.concatenate([[False], p.covered(mask), [False]])
    edges = np.flatnonzero(cover[1:] != cover[:-1])
    return [(int(p.raw[s]), int(p.raw[e])) for s, e in zip(edges[::2], edges[1::2])]


def compare_pair(pa: Print | None, pb: Print | None, with_spans: bool = False):
    """(score, (a's side, b's side), spans) of two fingerprints."""
    if pa is None or pb is None:
        return 0.0, (0.0, 0.0), ([], [])
    sa, ma = _side(pa, pb)
    sb, mb = _side(pb, pa)
    spans = (_spans(pa, ma), _spans(pb, mb)) if with_spans else ([], [])
    return max(sa, sb), (float(sa), float(sb)), spans


def side_scores(prints: list[Print | None]) -> np.ndarray:
    """S[a, b]: the share of a's counted code found in b, for every pair at once (what :func:`compare_pair`
    gives one pair at a time). Each hash gets a bitset of the files holding it; then, for each file, a
    positions x files table of matches is turned into covered characters with a running sum."""
    n = len(prints)
    scores = np.zeros((n, n))
    live = [i for i, p in enumerate(prints) if p is not None]
    if len(live) < 2:
        return scores
    vocab, inverse = np.unique(np.concatenate([prints[i].kept for i in live]), return_inverse=True)
    bits = np.zeros((vocab.size, (n + 7) // 8), dtype=np.uint8)
    start = 0
    for i in live:
        ids = inverse[start : start + prints[i].kept.size]
        start += prints[i].kept.size
        bits[ids, i // 8] |= np.uint8(1 << (7 - i % 8))
    for i in live:
        p = prints[i]
        ids = np.searchsorted(vocab, p.at)
        ids = np.minimum(ids, vocab.size - 1)
        hit = np.unpackbits(bits[ids], axis=1, count=n) & (p.valid & (vocab[ids] == p.at))[:, None]
        hit[:, i] = 0
        running = np.zeros((hit.shape[0] + 1, n), dtype=np.int32)
        np.cumsum(hit, axis=0, out=running[1:])
        chars = np.arange(len(p.raw) - 1)
        upto = np.minimum(chars, hit.shape[0] - 1) + 1
        since = np.maximum(chars - p.k + 1, 0)
        covered = ((running[upto] - running[since]) > 0).sum(axis=0)
        scores[i] = np.minimum(covered / p.coverage, 1.0)
    return scores


def compare_all(
    sources: list[Source], prints: list[Print | None], floor: float = 0.0, limit: int = MAX_LISTED
) -> tuple[list[Match], int]:
    """Every student against every other and against every reference (references are not compared with each
    other), given their fingerprints: the ``limit`` best matches scoring at least ``floor`` (and above zero),
    best first, with where they match and per-name scores; and how many more reached ``floor``."""
    sides = side_scores(prints)
    pair = np.maximum(sides, sides.T)
    candidates = [
        (float(pair[i, j]), i, j)
        for i, j in zip(*np.nonzero(pair >= max(floor, 1e-12)))
        if i < j and not (sources[i].reference and sources[j].reference)
    ]
    candidates.sort(key=lambda c: (-c[0], sources[c[1]].label, sources[c[2]].label))
    out = []
    for _, i, j in candidates[:limit]:
        score, scores, spans = compare_pair(prints[i], prints[j], with_spans=True)
        m = Match(sources[i], sources[j], score, scores, spans)
        m.names = name_scores(m.a, m.b, prints[i], prints[j])
        out.append(m)
    out.sort(key=lambda m: (-m.score, m.a.label, m.b.label))
    return out, max(0, len(candidates) - limit)


def name_scores(a: Source, b: Source, pa: Print | None, pb: Print | None) -> dict[str, float]:
    """Graded name -> score of its code in ``a`` against its code in ``b`` (for names both define with code of
    their own long enough to compare)."""
    out = {}
    if pa is None or pb is None:
        return out
    for unit in a.units:
        if not unit.graded or unit.name not in pb.units:
            continue
        sides = []
        for p, q in ((pa, pb), (pb, pa)):
            lo, hi = p.units[unit.name]
            total = p.count(p.unit_valid(unit.name))
            if not total:
                break
            other = q.unit_valid(unit.name)
            sides.append(p.count(p.matched(np.unique(q.at[other]), lo, hi)) / total)
        if len(sides) == 2:
            out[unit.name] = float(max(sides))
    return out
