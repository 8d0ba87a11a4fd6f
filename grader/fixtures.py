"""Seeded fixtures: inputs (sent to workers) and expected outputs (kept from them).

``grader fixtures build`` regenerates everything under ``fixtures/``:

* ``fixtures/<assignment>/inputs.npz``: what a worker may see, made by the
  assignment's ``inputs.build_inputs()``.
* ``fixtures/<assignment>/expected.npz``: the reference solution's outputs on
  every probe, and the outputs of each catalogued reading and mistake. Made by
  running ``solutions/<assignment>.ipynb`` through the same worker a
  submission gets. Never sent to a worker.

Everything is deterministic: a rebuild gives byte-identical arrays.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from grader.data import NEEDS_CHECKOUT
from grader.expected import REFERENCE, ExpectedOutputs, key
from grader.judging import fingerprints


def fixture_dir(assignment: str) -> Path:
    from grader import course

    return course.get(assignment).fixtures_dir


def load_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_npz(path: Path, arrays: dict) -> None:
    """Write an .npz with fixed timestamps so that rebuilds are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)


def load_inputs(assignment: str) -> dict:
    return load_npz(fixture_dir(assignment) / "inputs.npz")


#: path -> (size and modification time, arrays): expected.npz is decoded once per process (a grade reads it for
#: the checks and for the report; a batch process grades many notebooks), again only if the file changes.
_EXPECTED: dict = {}


def load_expected(assignment: str) -> ExpectedOutputs:
    """The stored expected outputs (decoded once per process; the arrays are shared: read only)."""
    path = fixture_dir(assignment) / "expected.npz"
    st = path.stat()
    stamp = (st.st_size, st.st_mtime_ns)
    cached = _EXPECTED.get(path)
    if cached is None or cached[0] != stamp:
        arrays = load_npz(path)
        for array in arrays.values():
            array.setflags(write=False)
        cached = _EXPECTED[path] = (stamp, ExpectedOutputs(arrays))
    return cached[1]


# ---- expected outputs -----------------------------------------------------------


def build_inputs(assignment: str) -> dict:
    from grader import course

    return course.get(assignment).module("inputs").build_inputs()


def _as_stored(value):
    if isinstance(value, np.ndarray):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"cannot store a {type(value).__name__} as a fixture")
    return arr


#: A catalogued mistake must move some output at least this far from the reference
#: (ten times the checks' tolerance), or the catalogue cannot tell it apart.
MIN_MISTAKE_GAP = 0.02


def _build_limits():
    """The fixture build's worker: the reference's cells may take their time on a busy machine (imports), and the
    build runs far more probes than a submission (every variant, pair and single edit)."""
    from grader.isolation.spawn import Limits

    return Limits(chunk_timeout=120.0, submission_timeout=24 * 3600.0)


def build_expected(assignment: str, log=print) -> dict:
    """Run the reference notebook and every catalogued variant on every probe."""
    from grader import course, protocol
    from grader.intake.load import load_notebook
    from grader.isolation.spawn import WorkerProcess
    from grader.judging.catalogue import apply_edits
    from grader.judging.judge import max_diff
    from grader.judging.support import support_source

    a = course.get(assignment)
    chunks, info = load_notebook(a.solution, assignment)
    chunk_dicts = [c.__dict__ for c in chunks]
    arrays: dict[str, np.ndarray] = {}
    with WorkerProcess(a, chunk_dicts, load_inputs(assignment), limits=_build_limits()) as worker:
        if worker.ready.get("notes"):
            raise RuntimeError(f"the reference notebook loads with problems: {worker.ready['notes']}")
        for probe, p in a.probes.items():
            answer = worker.probe(p.calls, timeout=120, support=support_source(a, p.api))
            for i, res in enumerate(protocol.call_results(answer)):
                if not res.ok:
                    raise RuntimeError(f"reference fails probe {probe} call {i}: {res.message}")
                if p.calls[i].stored:
                    arrays[key(probe, REFERENCE, i)] = _as_stored(protocol.decode(res.value))
        log(f"{assignment}: reference outputs for {len(a.probes)} probes")
        for variant in a.variants:
            prelude = apply_edits(chunk_dicts, variant)
            probes = [name for name, p in a.probes.items() if p.api == variant.api]
            if not probes:
                raise RuntimeError(f"variant {variant.id} concerns {variant.api}, which no probe exercises")
            differs, crashed = 0.0, []
            for probe in probes:
                calls = a.probes[probe].calls
                answer = worker.probe(calls, timeout=120, prelude=prelude, support=support_source(a, variant.api))
                for i, res in enumerate(protocol.call_results(answer)):
                    if not calls[i].concerns(variant.api) or not calls[i].stored:
                        continue
                    if not res.ok:  # a mistake may crash (the check then reports the error itself)
                        if variant.accepted:
                            raise RuntimeError(
                                f"accepted reading {variant.api}/{variant.id} fails probe {probe} "
                                f"call {i}: {res.message}"
                            )
                        crashed.append(f"{probe}[{i}]")
                    else:
                        value = _as_stored(protocol.decode(res.value))
                        arrays[key(probe, variant.id, i)] = value
                        differs = max(differs, max_diff(value, arrays[key(probe, REFERENCE, i)]))
            if differs < MIN_MISTAKE_GAP and not variant.accepted:
                raise RuntimeError(
                    f"mistake {variant.api}/{variant.id} gives the reference's outputs: no probe can tell them apart"
                )
            note = f" (no output, it raises, on {', '.join(crashed)})" if crashed else ""
            log(
                f"  {variant.api:22s} {'reading' if variant.accepted else 'mistake'} {variant.id:28s} max diff {differs:.3g}{note}"
            )
        kept = _build_pairs(a, worker, chunk_dicts, arrays)
        log(f"{assignment}: {kept} pairs of mistakes kept (outputs unlike the reference and either mistake alone)")
        _build_search(a, worker, chunk_dicts, arrays, log)
    return arrays


class NeedsCheckout(RuntimeError):
    pass


#: Pairs of mistakes are stored in float16 where that loses less than this (absolute): half the checks'
#: tolerance, far below the 0.02 within which a mistake is named.
PAIR_PRECISION = 1e-3


def _compact(value: np.ndarray) -> np.ndarray:
    """float16 when that rounds every value by at most PAIR_PRECISION (values below 4), else as is."""
    if value.dtype.kind == "f" and value.size and np.all(np.isfinite(value)) and np.abs(value).max() < 4:
        half = value.astype(np.float16)
        if np.abs(half.astype(np.float64) - value).max() <= PAIR_PRECISION:
            return half
    return value


def _build_pairs(a, worker, chunk_dicts, arrays) -> int:
    """Run every pair of mistakes of one graded name; keep the outputs of those that tell themselves apart.

    A pair is kept when, on some judged call, its output differs from the reference's and from each of
    its two mistakes' by at least :data:`MIN_MISTAKE_GAP`; a pair whose edits do not apply together (the
    second rewrites what the first removed), or that raises, is left out.
    """
    from grader import protocol
    from grader.judging.catalogue import apply_edits, pairs
    from grader.judging.judge import max_diff
    from grader.judging.support import support_source

    kept = 0
    for pair in pairs(a.variants):
        try:
            prelude = apply_edits(chunk_dicts, pair)
        except ValueError:
            continue
        found: dict[str, np.ndarray] = {}
        distinct = False
        for probe, p in a.probes.items():
            if p.api != pair.api:
                continue
            answer = worker.probe(p.calls, timeout=120, prelude=prelude, support=support_source(a, pair.api))
            for i, res in enumerate(protocol.call_results(answer)):
                if not p.calls[i].concerns(pair.api) or not res.ok or not p.calls[i].stored:
                    continue
                value = _as_stored(protocol.decode(res.value))
                found[key(probe, pair.id, i)] = _compact(value)
                others = [arrays.get(key(probe, v, i)) for v in (REFERENCE,) + pair.parts]
                if all(o is not None and max_diff(value, o) >= MIN_MISTAKE_GAP for o in others):
                    distinct = True
        if distinct:
            arrays.update(found)
            kept += 1
    return kept


#: A single edit is kept when it moves some output at least this far from the reference (twice the checks'
#: tolerance: a smaller change passes the checks anyway).
MIN_EDIT_GAP = 4e-3
#: Two edits (or an edit and a catalogued mistake) give the same outputs when their fingerprints agree this well.
SAME_EDIT = 1e-3


def _mutant_fingerprints(a, worker, probes, judged, ref, prelude: str, support) -> tuple[dict, float]:
    """Run one edit of the reference on a name's probes: the fingerprint of each judged output (NaN where it
    gave none) and how far its outputs are from the reference's."""
    from grader import protocol
    from grader.judging.judge import max_diff

    found, differs = {}, 0.0
    for p, calls in probes.items():
        answer = worker.probe(calls, timeout=a.probe_timeout, prelude=prelude, support=support)
        results = protocol.call_results(answer)
        for i in judged[p]:
            res = results[i] if i < len(results) else None
            value = protocol.decode(res.value) if res is not None and res.ok else None
            r = ref[(p, i)]
            if not isinstance(value, np.ndarray) or value.shape != r.shape or value.dtype.kind not in "fiu":
                found[(p, i)] = np.full(min(r.size, fingerprints.SAMPLES), np.nan, dtype=np.float16)
                continue
            differs = max(differs, max_diff(value, r))
            found[(p, i)] = fingerprints.fingerprint(value, r)
    return found, differs


def _build_search(a, worker, chunk_dicts, arrays, log) -> None:
    """Run every single edit of the reference that each searched name reaches (grader.judging.mutations) on that name's
    probes; store a fingerprint of each output that differs from the reference's and from the catalogue's
    mistakes'. An edit with the same outputs as one kept before it is named beside it (at most one)."""
    from grader.judging import mutations
    from grader.judging.fingerprints import SEARCH, SEARCH_EDITS
    from grader.judging.support import support_source

    def same(f, g) -> bool:
        f, g = np.asarray(f, dtype=np.float64), np.asarray(g, dtype=np.float64)
        return bool(np.isfinite(f).all() and np.isfinite(g).all() and np.abs(f - g).max() < SAME_EDIT)

    graded = {p.api for p in a.probes.values()}
    helpers_done: set[str] = set()
    for api in a.searched:
        probes = {name: p.calls for name, p in a.probes.items() if p.api == api}
        judged = {
            p: [i for i, c in enumerate(calls) if c.concerns(api) and c.stored and key(p, REFERENCE, i) in arrays]
            for p, calls in probes.items()
        }
        keys = [(p, i) for p in probes for i in judged[p]]
        ref = {k: arrays[key(k[0], REFERENCE, k[1])] for k in keys}
        known = [  # the catalogue's single mistakes and readings, which name (or accept) an output first
            {
                k: fingerprints.fingerprint(arrays[key(k[0], v.id, k[1])], ref[k])
                for k in keys
                if key(k[0], v.id, k[1]) in arrays
            }
            for v in a.variants
            if v.api == api
        ]
        rows: dict[tuple, list] = {k: [] for k in keys}
        kept: list[list] = []  # per row: the edit, then at most one other edit with the same outputs
        tried = 0
        for mutant in mutations.candidates(api, chunk_dicts, graded, set(a.provided), helpers_done):
            tried += 1
            found, differs = _mutant_fingerprints(a, worker, probes, judged, ref, mutant.source, support_source(a, api))
            if differs < MIN_EDIT_GAP or not any(np.isfinite(f.astype(np.float64)).all() for f in found.values()):
                continue
            if any(v and all(same(found[k], fp) for k, fp in v.items()) for v in known):
                continue  # a catalogued mistake says it better
            twin = next((j for j in range(len(kept)) if all(same(found[k], rows[k][j]) for k in keys)), None)
            if twin is not None:
                if len(kept[twin]) < 2:
                    kept[twin].append(mutant)
                continue
            for k in keys:
                rows[k].append(found[k])
            kept.append([mutant])
        edits = [group[0].describe() + "".join(f" (the same output: {m.short()})" for m in group[1:]) for group in kept]
        for (p, i), fps in rows.items():
            if fps:
                arrays[key(p, SEARCH, i)] = np.stack(fps).astype(np.float16)
        for p in probes:
            if edits:
                arrays[key(p, SEARCH_EDITS, 0)] = np.frombuffer(json.dumps(edits).encode(), dtype=np.uint8)
        log(f"  {api:22s} search: {len(edits)} of {tried} single edits of the reference kept")


def build(assignment: str, log=print) -> None:
    """Regenerate fixtures/<assignment>/inputs.npz and expected.npz (from a checkout only)."""
    from grader import course

    if not course.get(assignment).solution.is_file():
        raise NeedsCheckout(f"grader fixtures build {NEEDS_CHECKOUT}")
    save_npz(fixture_dir(assignment) / "inputs.npz", build_inputs(assignment))
    save_npz(fixture_dir(assignment) / "expected.npz", build_expected(assignment, log=log))
