"""The student kit: a wheel that runs one assignment's visible checks (``grader check``) and
holds nothing that grading keeps from students.

``grader kit build --assignment proj5a -o DIR`` writes ``DIR/diffgrade_student_<a>-<v>-py3-none-any.whl``
from a staged copy of the package in which

* the topic modules (``checks/test_*.py``) keep only the checks marked ``@pytest.mark.visible``;
* the probes are only those the visible checks ask for;
* the catalogue keeps each reading's and mistake's message but not its edits (edits of the
  reference solution): each topic module's ``VARIANTS`` is written out as messages only, and what
  nothing uses any more (the constants and helpers the edits were written with, the hidden checks'
  helpers) is left out of the topic modules and the assignment's ``shared.py``;
* the expected outputs are only those the visible checks compare with (the reference's and each
  catalogued variant's output of those calls); of a call a visible check looks at for its shape
  only, seeded noise of that shape. Which calls those are is recorded by running the visible
  checks against the reference's own outputs, with no worker and no notebook;
* the assignment's ``support.py`` (reference parts: the grader's ``forward``, Part B's blocks and
  schedule) is replaced: by the assignment's own ``kit_support.py`` where it has one (stand-ins that
  carry no answer, and stored outputs of the support calls it lists in ``STORED_CALLS``), else by one
  that replays the stored outputs the visible checks need;
* the other assignment, the staff commands' modules (assign, batch, gradescope, wheel, kit) and
  the templates are left out, and the reference notebooks never were in a wheel.

Only an assignment whose spec says ``student_kit=True`` has a kit: its support parts must be
functions the kit can replay, or it has a ``kit_support.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from grader import course, data, fixtures
from grader.core import Input, Support
from grader.expected import REFERENCE, key, parts
from grader.judging.fingerprints import SEARCH, SEARCH_EDITS
from grader.publish.kit_source import drop_unused, kit_topic_source
from grader.publish.wheel import SOURCES, WheelError, build_wheel

#: Modules and folders of the package that only staff commands use.
STAFF_ONLY = ["batch", "publish", "similarity", "templates"]


class KitError(RuntimeError):
    pass


class _ReplaySubmission:
    """Answers every probe with the reference's stored outputs, and records which calls are asked for."""

    def __init__(self, probes: dict, expected: dict):
        from grader.judging.submission import Submission

        self._inner = Submission(probes)
        self.probes, self.expected = probes, expected
        self.asked: set[tuple[str, int]] = set()
        self.events: list[str] = []
        #: graded names whose checks asked for a call the fixtures keep no output of (probing.call(stored=False))
        self.unstored: set[str] = set()
        self._inner.answers = self.answers  # Submission.outputs decodes what answers() returns

    def answers(self, probe: str) -> dict:
        from grader import protocol

        self.asked.add((probe, -1))  # read whole (Part B's judging): the probe is needed, no call by value
        results = []
        for i in range(len(self.probes[probe].calls)):
            value = self.expected.get(key(probe, REFERENCE, i))
            results.append(
                {"ok": True, "value": protocol.encode(value)}
                if value is not None
                else {"ok": False, "message": "no stored output"}
            )
        return {"results": results}

    def outputs(self, probe: str, calls, optional=()):
        indices = [self.probes[probe].index(i) for i in list(calls) + list(optional)]
        self.asked.update((probe, i) for i in indices)
        if any(not self.probes[probe].calls[i].stored for i in indices):
            self.unstored.add(self.probes[probe].api)  # a record made live only (a sampler's steps): none to replay
        return self._inner.outputs(probe, calls, optional)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _recording_reference(expected: dict, variants: list, probes: dict):
    """A Reference that records which probe calls the checks compare by value, and which by shape only."""
    from grader.judging.judge import Reference

    class RecordingReference(Reference):
        def __init__(self):
            super().__init__(expected, variants, probes)
            self.by_value: set[tuple[str, int]] = set()
            self.by_shape: set[tuple[str, int]] = set()
            self._inside = 0

        def judge(self, probe, got, calls, **kwargs):
            self.by_value.update((probe, probes[probe].index(i)) for i in calls)
            self._inside += 1
            try:
                return super().judge(probe, got, calls, **kwargs)
            finally:
                self._inside -= 1

        def expect_like(self, probe, got, call):
            self.by_shape.update((probe, c) for c in [probes[probe].index(call), *self.contrasts(probe, call)])
            self._inside += 1
            try:
                return super().expect_like(probe, got, call)
            finally:
                self._inside -= 1

        def contrasts(self, probe, call):
            self._inside += 1
            try:
                return super().contrasts(probe, call)
            finally:
                self._inside -= 1

        def like(self, probe, call):
            self.by_shape.add((probe, probes[probe].index(call)))
            self._inside += 1
            try:
                return super().like(probe, call)
            finally:
                self._inside -= 1

        def outputs(self, probe, variant="reference"):
            out = super().outputs(probe, variant)
            if not self._inside:  # a check reading outputs itself: keep them all, by value
                self.by_value.update((probe, i) for i in out)
            return out

    return RecordingReference()


def visible_needs(assignment: str):
    """Run the visible checks against the reference's own outputs (no worker, no notebook).

    Returns the probes they ask for, the (probe, call) pairs they compare by value, those they
    check by shape only, and the check results."""
    from grader.judging.plugin import GradingPlugin, run_session

    a = course.get(assignment)
    expected = fixtures.load_expected(assignment)
    sub = _ReplaySubmission(a.probes, expected)
    ref = _recording_reference(expected, a.variants, a.probes)
    plugin = GradingPlugin(sub, ref, visible_only=True)
    run_session(a.checks_dir, plugin)
    # a check that reads a record the fixtures never store fails here, after it has read what it compares with
    failed = [r for r in plugin.results if not r.passed and r.api not in sub.unstored]
    if not plugin.results or failed:
        raise KitError(
            f"the visible checks of {assignment} do not pass on the reference's outputs: "
            f"{failed[0].name if failed else 'none ran'}"
        )
    return {p for p, _ in sub.asked}, ref.by_value, ref.by_shape - ref.by_value, plugin.results


def kit_expected(expected: dict, by_value: set, by_shape: set) -> dict:
    """The stored outputs the visible checks need: of each call compared by value, the reference's
    and every variant's output; of each call checked by shape only, seeded noise of that shape and
    dtype (it varies, as the reference's output does, so a constant output still fails)."""
    import zlib

    out = {}
    for name, value in expected.items():
        probe, variant, call = parts(name)
        if variant in (SEARCH, SEARCH_EDITS):  # the single edits of the reference name hidden mistakes only
            continue
        if (probe, call) in by_value:
            out[name] = value
        elif (probe, call) in by_shape and variant == REFERENCE:
            noise = np.random.RandomState(zlib.crc32(name.encode())).standard_normal(value.shape)
            out[name] = noise.astype(value.dtype) if value.dtype.kind == "f" else np.zeros_like(value)
    return out


KIT_STANDINS = """

#: Student kit: stored outputs of the grader's support functions (reference parts, which are graded
#: answers and so are left out), replayed by the kit's support.py.
_KIT_STORED = {}
_build_standins = build


def build(inputs: dict) -> dict:
    _KIT_STORED.update({k: v for k, v in inputs.items() if k.startswith("kit|")})
    return _build_standins(inputs)
"""

KIT_SUPPORT = """\"\"\"Student kit: the assignment's reference parts are graded answers and are not in the kit. Where a
visible check compares by value, each call of them it needs is replayed from stored outputs;
elsewhere seeded noise of the input's shape stands in (those checks look at shapes only).\"\"\"

import zlib

import torch

ANSWERS = @ANSWERS@


@KEY_FUNCTION@

def _replay(name, args):
    from @STANDINS@ import _KIT_STORED

    stored = _KIT_STORED.get(kit_key(name, args))
    if stored is not None:
        return torch.from_numpy(stored.copy())
    first = next(torch.as_tensor(a) for a in args if hasattr(a, "shape"))
    return torch.randn_like(first.float())
"""


def kit_key(name, args) -> str:
    import zlib

    def part(a):
        if hasattr(a, "shape"):
            import numpy

            array = a.detach().cpu().float().contiguous().numpy() if hasattr(a, "detach") else numpy.asarray(a, "f4")
            return str(zlib.crc32(array.tobytes()))
        return repr(int(a) if float(a).is_integer() else float(a))

    return "kit|" + name + "|" + "|".join(part(a) for a in args)


def kit_support_source(spec) -> str:
    """The kit's support.py: each support function replays stored outputs (with the key function)."""
    import ast as ast_
    import inspect

    from grader.judging.support import _parts

    _, defs = _parts(str(spec.folder / "support.py"))
    answers = {name: api for name, (_, api) in defs.items()}
    functions = [name for name, (text, _) in defs.items() if text.lstrip().startswith("def ")]
    body = KIT_SUPPORT.replace("@KEY_FUNCTION@", inspect.getsource(kit_key).rstrip() + "\n")
    body = body.replace("@STANDINS@", spec.standins_module).replace("@ANSWERS@", repr(answers))
    for name in functions:
        body += f"\n\ndef {name}(*args):\n    return _replay({name!r}, args)\n"
    ast_.parse(body)
    return body


def kit_support_inputs(assignment: str, probes: list[str], by_value: set) -> dict:
    """The stored outputs of the support calls (``$support:NAME``) that the by-value visible checks need."""
    a = course.get(assignment)
    inputs, expected = fixtures.load_inputs(assignment), fixtures.load_expected(assignment)
    out = {}
    for probe in probes:
        if not any(p == probe for p, _ in by_value):
            continue
        for i, call in enumerate(a.probes[probe].calls):
            if isinstance(call.func, Support):
                args = [inputs[x.key] if isinstance(x, Input) else x for x in call.args]
                out[kit_key(call.func.name, args)] = expected[key(probe, REFERENCE, i)]
    return out


def kit_stored_calls(spec) -> dict:
    """The outputs of the support calls an assignment's ``kit_support.py`` lists in ``STORED_CALLS``, made by
    its full ``support.py`` (a dict result is stored one entry per key), under ``kit_support.stored_key``."""
    full, kit = spec.module("support"), spec.module("kit_support")
    out = {}
    for name, calls in kit.STORED_CALLS.items():
        for kwargs in calls:
            value = getattr(full, name)(**kwargs)
            parts = value if isinstance(value, dict) else {"": value}
            for part, v in parts.items():
                out[kit.stored_key(name, kwargs, part)] = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
    return out


def stage(assignment: str, tree: Path) -> dict:
    """Write the kit's source tree under ``tree``; returns counts for the build message."""
    if not course.get(assignment).student_kit:
        kits = [s.name for s in course.all_specs() if s.student_kit]
        raise KitError(
            f"no student kit for {assignment} yet: its visible checks need reference parts of its "
            f"support.py that a kit cannot replay; only {', '.join(kits) or 'none'} can have one"
        )
    if not data.in_checkout():
        raise KitError(f"grader kit build {fixtures.NEEDS_CHECKOUT}")
    probes, by_value, by_shape, results = visible_needs(assignment)
    root = data.ROOT
    for name in SOURCES:
        if name in ("grader", "fixtures"):
            continue
        if (root / name).is_file():
            shutil.copy2(root / name, tree / name)
    shutil.copytree(root / "grader", tree / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_bundle"))
    pkg = tree / "grader"
    for name in STAFF_ONLY:
        path = pkg / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for other in course.names():
        if other != assignment:
            shutil.rmtree(pkg / "course" / other, ignore_errors=True)
    folder = pkg / "course" / assignment
    spec = course.get(assignment)
    probes = sorted(probes)
    expected = kit_expected(fixtures.load_expected(assignment), by_value, by_shape)
    named = {parts(k)[1] for k in expected}  # the readings and mistakes whose outputs the kit holds
    topics = sorted((folder / "checks").glob("test_*.py"))
    for f, module in zip(topics, spec.topics):
        variants = [v for v in getattr(module, "VARIANTS", []) if v.id in named]
        f.write_text(kit_topic_source(f.read_text(), variants, probes))
    kit_fixtures = tree / "fixtures" / assignment
    kit_fixtures.mkdir(parents=True)
    standins = folder / "sealed" / "standins.py"
    standins.write_text(standins.read_text() + KIT_STANDINS)
    if (folder / "kit_support.py").exists():  # the assignment's own stand-ins, and the support calls it stores
        (folder / "kit_support.py").replace(folder / "support.py")
        stored = kit_stored_calls(spec)
    else:
        (folder / "support.py").write_text(kit_support_source(spec))
        stored = kit_support_inputs(assignment, probes, by_value)
    drop_unused(topics + [p for p in [folder / "shared.py"] if p.exists()], sorted(folder.rglob("*.py")))
    from grader.judging import notebook_checks  # the notebook's public checks, so `grader check` gives one verdict

    (folder / notebook_checks.KIT_FILE).write_text(json.dumps(notebook_checks.public_checks(course.get(assignment))))
    fixtures.save_npz(
        kit_fixtures / "inputs.npz",
        {**fixtures.load_inputs(assignment), **stored},
    )
    fixtures.save_npz(kit_fixtures / "expected.npz", expected)
    pyproject = tree / "pyproject.toml"
    text = pyproject.read_text()
    text = re.sub(r'(?m)^name = "diffgrade"$', f'name = "diffgrade-student-{assignment}"', text, count=1)
    pyproject.write_text(text)
    version = re.search(r'(?m)^version = "([^"]+)"$', text).group(1)
    (pkg / "student_kit.py").write_text(
        f'"""This package is the student kit for {assignment} (written by grader kit build)."""\n\n'
        f"ASSIGNMENT = {assignment!r}\nVERSION = {version!r}\n"
    )
    return {
        "checks": len(results),
        "probes": len(probes),
        "expected": len(expected),
        "by_value": len([k for k in expected if parts(k)[::2] in by_value]),
    }


def build_kit(assignment: str, out_dir: Path) -> tuple[Path, dict]:
    with tempfile.TemporaryDirectory(prefix="diffgrade-kit-") as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        counts = stage(assignment, tree)
        return build_wheel(Path(out_dir), source=tree), counts


def cmd_build(args) -> int:
    import sys

    try:
        wheel, counts = build_kit(args.assignment, Path(args.output))
    except (KitError, WheelError) as e:
        print(f"grader kit build: {e}", file=sys.stderr)
        return 2
    print(
        f"{wheel}: the student kit for {args.assignment}: {counts['checks']} visible checks, "
        f"{counts['probes']} probes, {counts['expected']} expected outputs ({counts['by_value']} compared by value, "
        f"the rest shapes only). "
        f"Students install it with: pip install {wheel.name}"
    )
    return 0


def add_parser(sub) -> None:
    k = sub.add_parser("kit", help="build the student kit (a wheel running the visible checks only)")
    ks = k.add_subparsers(dest="kit_command", required=True)
    b = ks.add_parser("build", help="write the student kit wheel for one assignment")
    b.add_argument("--assignment", required=True, choices=course.names())
    b.add_argument("-o", "--output", default="dist", metavar="DIR", help="folder for the wheel (default dist/)")
    b.set_defaults(func=cmd_build)
