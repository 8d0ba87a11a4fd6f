"""Step 4 and 5 of the data path: compare outputs with the reference and explain.

Runs in the grading process with numpy only. A check calls :meth:`Reference.judge`
with the student's outputs of a probe; it passes when every judged output is
within tolerance of the reference or of one accepted reading, and otherwise
fails with the catalogued mistake the outputs match, or with a description of
how they differ (shape, NaNs, range, size of the difference).
"""

from __future__ import annotations

import json

import numpy as np

from grader.expected import ExpectedOutputs
from grader.judging.catalogue import Variant
from grader.judging.fingerprints import SEARCH, SEARCH_EDITS, fingerprint_error, match_limit


class Fail(AssertionError):
    """A failed check; its message is shown to the student as one line."""


def fail_if(problem: str | None) -> None:
    """Fail the check with ``problem`` when there is one."""
    if problem:
        raise Fail(problem)


#: Default tolerance: outputs are computed in fp32 in the worker; orders of operations differ.
ATOL = 2e-3


def as_array(value) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:
            return None
        return arr if arr.dtype.kind in "fiub" else None
    return None


def _shape_cause(got: tuple, expected: tuple, doubled_channels_hint: str | None = None) -> str:
    """The likely reason one image shape came back for another."""
    if len(got) == len(expected) == 4 and got[1] == 2 * expected[1]:
        return doubled_channels_hint or "twice the expected channels came back (two results concatenated?)"
    if len(got) < len(expected):
        return "a dimension was dropped (by indexing [0] or squeeze()); keep the batch dimension"
    if len(got) == len(expected) and got[0] > expected[0]:
        return "a batch of several results came back; return only the one asked for"
    return "an operation changed the shape (check reshapes, concatenations and slicing)"


def shape_problem(value, expected: np.ndarray, what: str, doubled_channels_hint: str | None = None) -> str | None:
    """A one-line reason when value is not an array like ``expected``, else None."""
    arr = as_array(value)
    shape = tuple(expected.shape)
    if value is None:
        return f"{what} returned None (not implemented yet, or a missing return?); expected a tensor of shape {shape}"
    if arr is None:
        return (
            f"{what} returned a {type(value).__name__}; expected a tensor or array of shape {shape} "
            "(return the tensor itself)"
        )
    if arr.shape != expected.shape:
        return (
            f"{what} returned shape {tuple(arr.shape)}; expected {shape}; "
            f"likely cause: {_shape_cause(tuple(arr.shape), shape, doubled_channels_hint)}"
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).sum())
        return (
            f"{what} returned {bad} NaN or infinite values out of {arr.size}; likely cause: a division by zero "
            "or the square root of a negative number"
        )
    return None


def degenerate_problem(value, expected: np.ndarray, what: str) -> str | None:
    """A one-line reason when ``value`` is constant where the reference's output varies: such output
    does not depend on the input, and earns nothing."""
    arr = as_array(value)
    if arr is None or expected is None or arr.size < 2 or arr.shape != expected.shape:
        return None
    with np.errstate(invalid="ignore"):
        if np.ptp(arr) == 0 and np.ptp(expected.astype(np.float64)) > 0:
            return (
                f"{what} returned the same value ({float(arr.flat[0]):g}) everywhere; the reference's output "
                "varies with the input (is the input ignored, or the result a placeholder?)"
            )
    return None


#: Two outputs of one function for two inputs count as "the same" when their difference (RMS) is below this
#: fraction of the difference between the reference's outputs for those inputs.
SAME_OUTPUT = 1e-3


def same_output(a, b, ref_a: np.ndarray, ref_b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` (finite, of one shape) are, up to :data:`SAME_OUTPUT`, one output where the
    reference's outputs ``ref_a`` and ``ref_b`` differ."""
    a, b = as_array(a), as_array(b)
    if a is None or b is None or a.shape != b.shape:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        got = float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))
        want = float(np.sqrt(np.mean((ref_a.astype(np.float64) - ref_b.astype(np.float64)) ** 2)))
    return bool(np.isfinite(got)) and got <= SAME_OUTPUT * want


def max_diff(a, b) -> float:
    a, b = as_array(a), as_array(b)
    if a is None or b is None or a.shape != b.shape:
        return float("inf")
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(np.nanmax(d)) if np.all(np.isfinite(d)) else float("inf")


class Reference:
    """Expected outputs of one assignment: reference and variants per probe."""

    def __init__(
        self,
        arrays: ExpectedOutputs | dict,
        variants: list[Variant],
        probes: dict,
        doubled_channels_hint: str | None = None,
        search: bool = True,
    ):
        self.arrays = arrays if isinstance(arrays, ExpectedOutputs) else ExpectedOutputs(arrays)
        self.variants = variants
        self.probes = probes
        self.doubled_channels_hint = doubled_channels_hint
        #: whether a failing output is matched against the searched single edits of the reference (not in
        #: ``grader check``: the student kit holds no edits of the reference, and both must say the same)
        self.search = search
        self._edits: dict[str, list[str]] = {}

    def edits(self, probe: str) -> list[str]:
        """What each single edit of the reference fingerprinted for ``probe`` is (grader.judging.mutations), row order."""
        if probe not in self._edits:
            raw = self.arrays.output(probe, SEARCH_EDITS, 0)
            self._edits[probe] = json.loads(raw.tobytes().decode()) if raw is not None else []
        return self._edits[probe]

    def outputs(self, probe: str, variant: str = "reference") -> dict[int, np.ndarray]:
        return self.arrays.outputs(probe, variant)

    def output(self, probe: str, call: int | str, variant: str = "reference") -> np.ndarray:
        """One call's stored output, by name or position."""
        return self.outputs(probe, variant)[self.probes[probe].index(call)]

    def like(self, probe: str, call: int | str) -> np.ndarray:
        """One call's stored output, for a check that looks only at its shape, type and whether it varies
        (the student kit stores a stand-in of that shape there, not the reference's output)."""
        return self.outputs(probe)[self.probes[probe].index(call)]

    def variants_for(self, probe: str) -> list[Variant]:
        api = self.probes[probe].api
        return [v for v in self.variants if v.api == api and self.outputs(probe, v.id)]

    def by_index(self, probe: str, outputs: dict) -> dict[int, object]:
        p = self.probes[probe]
        return {p.index(k): v for k, v in outputs.items()}

    def contrasts(self, probe: str, call: int | str) -> list[int]:
        """The other calls of the same graded function in this probe (other inputs) whose reference outputs
        differ from this call's by more than ten times the tolerance: where the reference's output depends on
        the input, the submission's must too, whatever its pattern."""
        calls = self.probes[probe].calls
        i = self.probes[probe].index(call)
        ref = self.outputs(probe)
        mine, func = ref.get(i), calls[i].func
        if mine is None or calls[i].helper:
            return []
        return [
            j
            for j, c in enumerate(calls)
            if j != i
            and c.func == func
            and j in ref
            and ref[j].shape == mine.shape
            and max_diff(ref[j], mine) > 10 * ATOL
        ]

    def evidence(self, probe: str, calls: list[int | str]) -> list[int | str]:
        """The calls a check of ``calls`` must read: those and their contrasts (see :meth:`contrasts`)."""
        seen = {self.probes[probe].index(c) for c in calls}
        out = list(calls)
        for c in calls:
            for j in self.contrasts(probe, c):
                if j not in seen:
                    seen.add(j)
                    out.append(j)
        return out

    def dependence_problem(self, probe: str, got: dict, call: int, required: bool = True) -> str | None:
        """A one-line reason when the output of ``call`` is the same as the submission's output for one of its
        contrasts, or (``required``) when a contrast's output is missing or unusable; else None."""
        calls, ref = self.probes[probe].calls, self.outputs(probe)
        what = calls[call].what
        for j in self.contrasts(probe, call):
            if j not in got or shape_problem(got[j], ref[j], what) is not None:
                if not required:
                    continue
                other = calls[j].name or f"call {j}"
                return (
                    f"{what}: no usable output for a second input ({other}), so the check cannot see that the "
                    f"output depends on the input" + (f": {shape_problem(got[j], ref[j], what)}" if j in got else "")
                )
            if same_output(got[call], got[j], ref[call], ref[j]):
                return (
                    f"{what} returned the same output for two different inputs; it must depend on its input "
                    f"(the reference's outputs for them differ)"
                )
        return None

    def expect_like(self, probe: str, got: dict, call: int | str) -> None:
        """Fail unless the output of ``call`` has the reference's type and shape, is finite, is not constant
        where the reference's varies, and differs from the outputs for the call's contrasts (which ``got`` must
        hold: read them with :meth:`evidence`)."""
        got, call = self.by_index(probe, got), self.probes[probe].index(call)
        what = self.probes[probe].calls[call].what
        ref = self.outputs(probe)
        expected = ref[call]
        problem = (
            shape_problem(got.get(call), expected, what, self.doubled_channels_hint)
            or degenerate_problem(got.get(call), expected, what)
            or self.dependence_problem(probe, got, call)
        )
        if problem:
            raise Fail(problem)

    def helper_problem(self, probe: str, got: dict, calls: list[int | str]) -> str | None:
        """Why a student's own helper may not stand as an alternative for a caller that uses it, or None.

        It may when its own checks hold on its own probe: each output is well formed and depends on its input
        (``got`` holds the contrasts, see :meth:`evidence`), and together they match the reference, an
        accepted reading, a catalogued mistake or a searched single edit, which its own check charges."""
        try:
            for c in calls:
                self.expect_like(probe, got, c)
            self.judge(probe, got, calls)
        except Fail as e:
            got_i = self.by_index(probe, got)
            idx = [self.probes[probe].index(c) for c in calls]
            limit = max(10 * ATOL, 0.02)
            known = self.closest_mistake(probe, got_i, idx, limit=limit) or self.closest_edit(probe, got_i, idx, limit)
            if known is None:  # neither a catalogued mistake nor a searched single edit: its own check can't name it
                return str(e)
        return None

    def judge(
        self,
        probe: str,
        got: dict,
        calls: list[int | str],
        *,
        atol: float = ATOL,
        alternatives: list[dict[int, object]] = (),
    ) -> str:
        """Pass, returning what the outputs matched ("reference", an accepted variant's id, or
        "alternative"), or raise Fail naming the mistake.

        ``alternatives`` are further acceptable answers computed at grading time
        (e.g. the student's own parts composed), as {call index: value}.
        """
        got = self.by_index(probe, got)
        calls = [self.probes[probe].index(c) for c in calls]
        ref = self.outputs(probe)
        # an alternative answer (the student's own helper composed) counts only when it is not degenerate itself
        # and depends on the input as the reference's outputs do
        alternatives = [
            alt
            for alt in (self.by_index(probe, a) for a in alternatives)
            if not any(degenerate_problem(v, ref.get(i), "") for i, v in alt.items() if i in ref)
            and not any(
                same_output(alt[i], alt[j], ref[i], ref[j])
                for i in alt
                if i in ref
                for j in self.contrasts(probe, i)
                if j in alt
            )
        ]
        what = self.probes[probe].calls[calls[0]].what
        for i in calls:
            problem = shape_problem(got.get(i), ref[i], what, self.doubled_channels_hint)
            if problem:
                raise Fail(problem)
        candidates = [("reference", ref)] + [
            (v.id, self.outputs(probe, v.id)) for v in self.variants_for(probe) if v.accepted
        ]
        candidates += [("alternative", alt) for alt in alternatives]
        for label, outs in candidates:
            if all(i in outs and max_diff(got[i], outs[i]) <= atol for i in calls):
                return label
        # Not accepted: which known mistake does it match? One alone first, then two together.
        limit = max(10 * atol, 0.02)
        best = self.closest_mistake(probe, got, calls, limit=limit)
        if best is None:  # no catalogued mistake: is it one edit of the reference?
            off = max(max_diff(got[i], ref[i]) for i in calls)
            edit = self.closest_edit(probe, got, calls, limit=match_limit(off, atol, limit))
            if edit is not None:
                raise Fail(f"{what}: output differs from the reference by up to {off:.3g} and equals {edit}")
        if best is not None:
            off = max(max_diff(got[i], ref[i]) for i in calls)
            if best.parts:
                raise Fail(f"{what}: output differs from the reference by up to {off:.3g} and matches {best.message}")
            raise Fail(
                f"{what}: output differs from the reference by up to {off:.3g} and matches a common mistake: "
                f"{best.message}"
            )
        for i in calls:  # the same output for different inputs: say so rather than how far it is off
            fail_if(self.dependence_problem(probe, got, i, required=False))
        worst = max(calls, key=lambda i: max_diff(got[i], ref[i]))
        raise Fail(f"{what}: {describe(got[worst], ref[worst])}")

    def closest_mistake(self, probe: str, got: dict, calls: list[int], limit: float) -> Variant | None:
        """The known mistake whose outputs ``got`` matches best within ``limit`` on every call (by index);
        a single mistake if one matches, else a pair of mistakes made together, else None."""
        for singles in (True, False):
            best, best_err = None, float("inf")
            for v in self.variants_for(probe):
                if v.accepted or bool(v.parts) == singles:
                    continue
                outs = self.outputs(probe, v.id)
                err = max(max_diff(got[i], outs[i]) if i in outs and i in got else float("inf") for i in calls)
                if err < best_err:
                    best, best_err = v, err
            if best is not None and best_err <= limit:
                return best
        return None

    def closest_edit(self, probe: str, got: dict, calls: list[int], limit: float) -> str | None:
        """The single edit of the reference (searched at fixture build) whose outputs ``got`` matches best within
        ``limit`` on every call, by their fingerprints; None when none does."""
        edits = self.edits(probe) if self.search else []
        if not edits:
            return None
        err = np.zeros(len(edits))
        ref = self.outputs(probe)
        for i in calls:
            rows = self.arrays.output(probe, SEARCH, i)
            value = as_array(got.get(i))
            if rows is None or value is None or i not in ref or rows.shape[0] != len(edits):
                return None
            err = np.maximum(err, fingerprint_error(value, ref[i], rows))
        best = int(np.argmin(err))
        return edits[best] if err[best] <= limit else None


def describe(value, expected: np.ndarray) -> str:
    """How an output differs from the reference: by how much, the two ranges, and a likely cause.

    A cause is given only when the measurements show it (a scaled or negated copy of the reference,
    a constant shift, a constant output); otherwise the message says the grader does not know.
    """
    arr = as_array(value).astype(np.float64)
    exp = expected.astype(np.float64)
    d = np.abs(arr - exp)
    text = (
        f"output differs from the reference by up to {d.max():.3g} (mean {d.mean():.3g}); "
        f"your values span [{arr.min():.3g}, {arr.max():.3g}], the reference's [{exp.min():.3g}, {exp.max():.3g}]"
    )
    return f"{text}; likely cause: {likely_cause(arr, exp)}"


#: A fitted explanation must leave less than this fraction of the difference unexplained (RMS).
EXPLAINED = 0.2
UNKNOWN_CAUSE = "none of the common mistakes the grader knows; compare each term with the assignment's equations"


def likely_cause(arr: np.ndarray, exp: np.ndarray) -> str:
    """A cause the numbers support, or :data:`UNKNOWN_CAUSE`.

    * a scale factor: ``arr`` is ``s * exp`` (least-squares ``s``) up to a small residual;
      "sign flipped" when ``s`` is close to -1;
    * a constant shift: ``arr - exp`` is nearly the same everywhere;
    * a constant output where the reference varies.
    """
    a, e = arr.ravel(), exp.ravel()
    diff = a - e
    rms_diff = float(np.sqrt(np.mean(diff**2)))
    if rms_diff == 0:
        return UNKNOWN_CAUSE
    if a.std() == 0 and e.std() > 0:
        return "your output is constant (the input is ignored, or everything is multiplied by zero?)"
    ee = float(e @ e)
    if ee > 0:
        s = float(a @ e) / ee
        resid = float(np.sqrt(np.mean((a - s * e) ** 2)))
        if resid <= EXPLAINED * rms_diff:
            if abs(s + 1) <= 0.05:
                return "it is the reference with the sign flipped (a sign error?)"
            if s > 0:
                return f"it is the reference multiplied by {s:.3g} (a missing or extra scale factor?)"
            return f"it is the reference multiplied by {s:.3g} (a flipped sign and a scale factor?)"
    shift = float(diff.mean())
    if float(np.sqrt(np.mean((diff - shift) ** 2))) <= EXPLAINED * rms_diff:
        return f"it is the reference shifted by {shift:.3g} everywhere (an added or missing constant term?)"
    return UNKNOWN_CAUSE
