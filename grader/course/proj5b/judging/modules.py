"""Part B judging, modules: structure from the trace, parameter counts, outputs in eval and train mode (numpy only)."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from grader.course.proj5b import shared as P
from grader.course.proj5b.judging.common import (
    _first_finite,
    _scalar_int,
    arr,
    results,
)
from grader.course.proj5b.sealed.opcodes import ACTIVATIONS, NORMS
from grader.course.proj5b.sealed.opcodes import NAMES as OP
from grader.judging.judge import ATOL, Fail

# ---- modules -------------------------------------------------------------------------------------


def op_text(row) -> str:
    code, a, b, k, s, p = (int(v) for v in row)
    name = OP.get(code, f"op{code}")
    if code in (1, 2):
        return f"{name}({a}->{b}, k{k} s{s} p{p})"
    if code in (5, 15):
        return f"{name}({k}" + (f", stride {s}" if s != k else "") + (f", padding {p}" if p else "") + ")"
    if code == 6:
        return f"Linear({a}->{b})"
    if code == 7:
        return f"cat of {b} tensors"
    return name


def _kind(code: int) -> str:
    if code in (1, 2):
        return "conv"
    if code in ACTIVATIONS:
        return "act"
    if code in NORMS:
        return "norm"
    if code in (5, 14, 15):
        return "pool"
    return OP.get(code, "op")


def _conv_hint(g, r) -> list[str]:
    hints = []
    if g[0] != r[0]:
        hints.append(f"{OP[int(g[0])]} where {OP[int(r[0])]} is expected")
        return hints
    for j, what in ((3, "kernel_size"), (4, "stride"), (5, "padding")):
        if g[j] != r[j]:
            hints.append(f"{OP[int(r[0])]} {what}={int(g[j])} (expected {what}={int(r[j])})")
    if g[1] != r[1] or g[2] != r[2]:
        hints.append(f"{OP[int(r[0])]} channels {int(g[1])}->{int(g[2])} (expected {int(r[1])}->{int(r[2])})")
    return hints


def block_structure_problem(name: str, got: np.ndarray, ref: np.ndarray) -> str | None:
    """Compare the ordered layer sequences of a small block; a sentence naming what differs."""
    got = [tuple(int(v) for v in row) for row in np.asarray(got).reshape(-1, 6)]
    ref = [tuple(int(v) for v in row) for row in np.asarray(ref).reshape(-1, 6)]
    if got == ref:
        return None
    hints: list[str] = []
    gk, rk = [_kind(r[0]) for r in got], [_kind(r[0]) for r in ref]
    gconv = [r for r in got if r[0] in (1, 2)]
    rconv = [r for r in ref if r[0] in (1, 2)]
    gsig = [(r[0], r[3], r[4], r[5]) for r in gconv]
    rsig = [(r[0], r[3], r[4], r[5]) for r in rconv]
    if gsig != rsig and sorted(gsig) == sorted(rsig):
        hints.append("the layers run in the wrong order (" + ", ".join(op_text(r) for r in gconv) + ")")
    elif len(gconv) == len(rconv):
        for g, r in zip(gconv, rconv):
            hints += _conv_hint(g, r)
    else:
        hints.append(f"{len(gconv)} convolution(s) where {len(rconv)} are expected")
    if rk.count("norm") and not any(r[0] == 3 for r in got):
        hints.append("no BatchNorm2d")
    elif gk.count("norm") != rk.count("norm"):
        hints.append(f"{gk.count('norm')} normalisation layer(s) where {rk.count('norm')} are expected")
    gacts = [r[0] for r in got if r[0] in ACTIVATIONS]
    racts = [r[0] for r in ref if r[0] in ACTIVATIONS]
    if gacts != racts:
        other = sorted({OP[c] for c in gacts if c != 4})
        if other:
            hints.append(f"{', '.join(other)} where GELU is expected")
        elif not gacts:
            hints.append("no GELU")
        else:
            hints.append(f"{len(gacts)} GELU where {len(racts)} are expected")
    gpool = [r for r in got if r[0] in (5, 14, 15)]
    rpool = [r for r in ref if r[0] in (5, 14, 15)]
    if gpool != rpool:
        hints.append(
            ("uses " + ", ".join(op_text(r) for r in gpool) if gpool else "no pooling")
            + (f" (expected {', '.join(op_text(r) for r in rpool)})" if rpool else "")
        )
    extra = sorted({OP.get(r[0], "?") for r in got if r[0] in (19, 16, 17, 18) and r[0] not in {x[0] for x in ref}})
    if extra:
        hints.append("extra " + ", ".join(extra))
    if not hints and sorted(got) == sorted(ref):
        hints.append("the layers run in the wrong order")
    if not hints:
        hints.append("its layers differ")
    expected = ", ".join(op_text(r) for r in ref[:9]) + (", ..." if len(ref) > 9 else "")
    return f"{name}: {'; '.join(dict.fromkeys(hints))}. Expected {expected}"


def unet_structure_problem(name: str, got: np.ndarray, ref: np.ndarray) -> str | None:
    """Compare the layers of a UNet as a multiset (branch order is free); name skips and composition."""
    got = [tuple(int(v) for v in row) for row in np.asarray(got).reshape(-1, 6)]
    ref = [tuple(int(v) for v in row) for row in np.asarray(ref).reshape(-1, 6)]
    if Counter(got) == Counter(ref):
        return None
    gcat = sum(1 for r in got if r[0] == 7 and r[3] == 1)
    rcat = sum(1 for r in ref if r[0] == 7 and r[3] == 1)
    if gcat != rcat:
        return (
            f"{name}: {gcat} skip connection(s) by channel concatenation where {rcat} are expected "
            f"(torch.cat of the encoder features with the decoder input at 7x7, 14x14 and 28x28): "
            f"a skip connection is missing or extra"
        )
    g, r = Counter(x for x in got if x[0] != 7), Counter(x for x in ref if x[0] != 7)
    missing = list((r - g).elements())
    extra = list((g - r).elements())

    def summary(rows):
        c = Counter(op_text(x) for x in rows)
        return ", ".join(f"{n} x {t}" if n > 1 else t for t, n in c.most_common(4))

    parts = []
    if missing:
        parts.append(f"missing {summary(missing)}")
    if extra:
        parts.append(f"unexpected {summary(extra)}")
    return f"{name}: wrong block composition: " + "; ".join(parts)


def _forms_match(got, ref, atol=ATOL) -> tuple[bool, float]:
    """Some call form (t / c layout) where both ran and agree within atol; and the smallest difference."""
    g, r = arr(got), arr(ref)
    if g is None or r is None or g.shape[1:] != r.shape[1:]:
        return False, float("inf")
    # Every form carries the same data, so any form the reference ran is the expected output of every form.
    expected = next((row for row in r if np.all(np.isfinite(row))), None)
    best = float("inf")
    if expected is None:
        return False, best
    for row in g:
        if np.all(np.isfinite(row)):
            best = min(best, float(np.abs(row - expected).max()))
    return best <= atol, best


class ModuleView:
    """The own and rebound call groups of one module probe, against the reference's."""

    def __init__(self, sub, ref, name: str):
        self.name = name
        self.probe = name
        self.sub = sub
        self.k = P.group_size(name)
        self.res = results(sub, name)
        self.reference = ref
        self.groups = [0] + ([self.k] if len(self.res) > self.k else [])

    @functools.cached_property
    def ref(self) -> dict:
        """The reference's outputs of this probe (read only by the hidden checks and by hints)."""
        return self.reference.outputs(self.probe)

    @functools.cached_property
    def expected(self) -> list:
        """What a module may match: the reference, then each accepted reading (DownConv with k3 ...), as
        (variant or None, outputs by call index)."""
        accepted = [v for v in self.reference.variants_for(self.name) if v.accepted]
        return [(None, self.ref)] + [(v, self.reference.outputs(self.name, v.id)) for v in accepted]

    def value(self, g: int, offset: int):
        return self.res[g + offset][0]

    def error(self, g: int, offset: int):
        return self.res[g + offset][1]

    def ran(self, g: int) -> bool:
        return self.res[g + P.OUT_EVAL][1] is None

    def first_error(self) -> str:
        for g in self.groups:
            for off in range(self.k):
                if self.error(g, off):
                    return self.error(g, off)
        return f"{self.name} could not be run"

    def diag_group(self) -> int:
        """The group whose failures are most telling: rebound (own blocks replaced) if it ran."""
        if len(self.groups) > 1 and self.ran(self.groups[1]):
            return self.groups[1]
        return 0

    # -- shape
    def shape_problem(self, g: int) -> str | None:
        offsets = [P.OUT_EVAL] + ([P.OUT_D4] if self.name in P.UNETS else [])
        for off in offsets:
            if self.error(g, off):
                return self.error(g, off)
            got, exp = _first_finite(self.value(g, off)), _first_finite(self.reference.like(self.probe, off))
            if got is None:
                return f"{self.name} returned NaN or infinite values"
            if got.shape != exp.shape:
                args, shape, _, _ = P.MODULES[self.name]
                d = f" with D = {4 if off == P.OUT_D4 else args[-1]}" if self.name in P.UNETS else ""
                cause = ""
                if got.ndim < exp.ndim and got.size == exp.size:
                    cause = (
                        f"; likely cause: size-1 dimensions were dropped (flatten(), view(N, -1) or squeeze()): "
                        f"keep the shape {tuple(exp.shape)}"
                    )
                return (
                    f"{self.name}{d} returned shape {tuple(got.shape)} for an input of shape {tuple(shape)}; "
                    f"expected {tuple(exp.shape)}{cause}"
                )
        return None

    def check_runs(self) -> None:
        problems = [self.shape_problem(g) for g in self.groups]
        if any(p is None for p in problems):
            return
        problem = problems[0]
        hint = self.structure_problem(self.diag_group(), quiet=True)
        raise Fail(problem + (f" ({hint.split(': ', 1)[-1]})" if hint else ""))

    # -- structure
    def structure_problem(self, g: int, quiet: bool = False) -> str | None:
        if self.error(g, P.TRACE):
            return None if quiet else self.error(g, P.TRACE)
        if quiet and P.TRACE not in self.ref:  # the student kit stores no reference trace: no hint
            return None
        got = self.value(g, P.TRACE)
        compare = unet_structure_problem if self.name in P.UNETS else block_structure_problem
        problems = [compare(self.name, got, outs[g + P.TRACE]) for _, outs in self._sets(g, P.TRACE)]
        return None if any(p is None for p in problems) else problems[0]

    def _sets(self, g: int, offset: int) -> list:
        """The expected sets (reference first) that hold this call of group g."""
        return [(v, outs) for v, outs in self.expected if g + offset in outs] or [(None, self.ref)]

    def params_problem(self, g: int, outs: dict | None = None) -> str | None:
        """A sentence when the parameter counts differ from the reference's (or from ``outs``, one expected set's);
        none when they equal those of some expected set."""
        if outs is None:
            sets = [o for _, o in self._sets(g, P.PARAMS)]
            found = [self.params_problem(g, o) for o in sets]
            return None if any(p is None for p in found) else found[0]
        offsets = [P.PARAMS] + ([P.PARAMS_16] if self.name in P.UNETS else [])
        for off in offsets:
            if self.error(g, off):
                return self.error(g, off)
            got, exp = _scalar_int(self.value(g, off)), _scalar_int(outs[g + off] if g + off in outs else self.ref[off])
            if got != exp:
                args = P.MODULES[self.name][0]
                what = (
                    f"with D = {16 if off == P.PARAMS_16 else args[-1]}"
                    if self.name in P.UNETS
                    else f"as {self.name}({', '.join(map(str, args))})"
                )
                return f"{self.name} has {got} parameters {what}; the reference has {exp}"
        return None

    def check_structure(self) -> None:
        """Composition is judged by what the layers compute: outputs equal to an expected set's (with the weights
        copied by signature) and the same parameter counts pass, whatever the submodules' names, order or form
        (``nn.GELU()`` or ``F.gelu``); the trace of layers names what differs otherwise."""
        for g in self.groups:
            matched = self.matched(g)
            if matched is not None and self.params_problem(g, matched[1]) is None:
                if self.structure_problem(g, quiet=True):
                    self.note(
                        f"{self.name}: its layers are traced otherwise than the reference's, but with the reference's "
                        "weights its outputs and parameter counts are the reference's: composition judged by its outputs"
                    )
                return
        for g in self.groups:
            if self.structure_problem(g) is None and self.params_problem(g) is None:
                return
        g = self.diag_group()
        raise Fail(self.structure_problem(g) or self.params_problem(g))

    # -- outputs
    def matched(self, g: int):
        """The expected set (variant or None, outputs) whose eval and train outputs group g matches, else None; an
        accepted reading that matches is named in the notes."""
        if not self.ran(g):
            return None
        for v, outs in self.expected:
            if g + P.OUT_EVAL not in outs or g + P.OUT_TRAIN not in outs:
                continue
            ok_e, _ = _forms_match(self.value(g, P.OUT_EVAL), outs[g + P.OUT_EVAL])
            ok_t, _ = _forms_match(self.value(g, P.OUT_TRAIN), outs[g + P.OUT_TRAIN])
            if ok_e and ok_t:
                if v is not None:
                    self.note(f"{self.name}: {v.message}")
                return v, outs
        return None

    def note(self, text: str) -> None:
        """A line for the results' notes (where the submission keeps them), once."""
        notes = getattr(self.sub, "adaptations", None)
        if isinstance(notes, list) and text not in notes:
            notes.append(text)

    def outputs_match(self, g: int) -> tuple[bool, float]:
        if self.matched(g) is not None:
            return True, 0.0
        ok_e, d_e = _forms_match(self.value(g, P.OUT_EVAL), self.ref[P.OUT_EVAL])
        ok_t, d_t = _forms_match(self.value(g, P.OUT_TRAIN), self.ref[P.OUT_TRAIN])
        return ok_e and ok_t, max(d_e, d_t)

    def check_outputs(self) -> None:
        diffs = []
        for g in self.groups:
            if not self.ran(g):
                diffs.append(float("inf"))
                continue
            ok, d = self.outputs_match(g)
            if ok:
                return
            diffs.append(d)
        if not any(self.ran(g) for g in self.groups):
            raise Fail(self.first_error())
        shapes = [self.shape_problem(g) for g in self.groups if self.ran(g)]
        if shapes and all(shapes):  # no output of the right shape to compare: say so, not "differs by inf"
            raise Fail(shapes[0])
        # a catalogued wiring mistake?
        for v in self.reference.variants_for(self.probe):
            if v.accepted:
                continue
            outs = self.reference.outputs(self.probe, v.id)
            for g in self.groups:
                if self.ran(g) and g + P.OUT_EVAL in outs:
                    ok, _ = _forms_match(self.value(g, P.OUT_EVAL), outs[g + P.OUT_EVAL])
                    if ok:
                        raise Fail(f"{self.name}: {v.message}")
        g = self.diag_group()
        problem = self.structure_problem(g, quiet=True) or self.params_problem(g)
        if problem:
            raise Fail(problem)
        best = min(diffs)
        raise Fail(
            f"{self.name}: with the reference weights loaded, the output differs from the reference's by up to "
            f"{best:.3g}: the layers are right but they are wired differently (order of operations, skip "
            f"connections, where the conditioning is applied)"
        )
