"""Part B end to end: the reference earns full marks, the skeleton nothing, the fixtures are reproducible,
and every catalogued mistake is named by the checks that judge its name.
"""

import inspect

import numpy as np
import pytest
from conftest import assert_rebuild_matches, check_by_api

from grader import course, fixtures, protocol
from grader.judging.judge import Fail, Reference
from grader.judging.submission import Submission
from grader.runner import grade

A = course.get("proj5b")


@pytest.fixture(scope="module")
def ref():
    return Reference(fixtures.load_expected("proj5b"), A.variants, A.probes)


def test_reference_earns_full_marks_and_skeleton_nothing(root):
    g = grade(root / "solutions" / "proj5b.ipynb", "proj5b")
    assert g.score == g.max_score == 100, [(c.name, c.message) for c in g.checks if not c.passed]
    assert {c.api for c in g.checks} == set(check_by_api(g))
    visible = {c.api for c in g.checks if c.visible}
    assert visible == {c.api for c in g.checks}, "every name has a visible check"
    skeleton = grade(root / "assignments" / "proj5b.ipynb", "proj5b")
    assert skeleton.score == 0 and skeleton.max_score == 100 and not skeleton.error
    assert all("not implemented" in c.message for c in skeleton.checks), [
        c.message for c in skeleton.checks if "not implemented" not in c.message
    ][:3]


@pytest.mark.slow  # about 2 minutes: every catalogued variant and pair of mistakes is run again
def test_committed_fixtures_match_a_rebuild():
    committed = fixtures.load_expected("proj5b")
    rebuilt = fixtures.build_expected("proj5b", log=lambda *a: None)
    assert_rebuild_matches(committed, rebuilt)
    inputs = fixtures.build_inputs("proj5b")
    stored = fixtures.load_inputs("proj5b")
    assert set(inputs) == set(stored) and all(np.array_equal(inputs[k], stored[k]) for k in inputs)


class StoredAnswers(Submission):
    """A submission whose every probe answers with the stored outputs of one catalogued variant."""

    def __init__(self, ref, variant):
        super().__init__(A.probes)
        self.ref, self.variant = ref, variant

    def answers(self, probe):
        n = len(A.probes[probe].calls)
        outs = {**self.ref.outputs(probe), **self.ref.outputs(probe, self.variant)}
        # calls whose outputs the fixtures do not keep (stored=False) answer as if they had failed
        return {
            "results": [
                {"ok": True, "value": protocol.encode(outs[i])} if i in outs else {"ok": False, "message": "not stored"}
                for i in range(n)
            ]
        }


def _checks_of(api):
    import importlib

    out = []
    for path in sorted(A.checks_dir.glob("test_*.py")):
        module = importlib.import_module(f"grader.course.proj5b.checks.{path.stem}")
        for name, fn in vars(module).items():
            marker = next((m for m in getattr(fn, "pytestmark", []) if m.name == "api"), None)
            if name.startswith("test_") and callable(fn) and marker and marker.args[0] == api:
                out.append(fn)
    return out


@pytest.mark.parametrize("variant", A.variants, ids=lambda v: f"{v.api}/{v.id}")
def test_each_catalogued_variant_is_judged_as_catalogued(ref, variant):
    sub = StoredAnswers(ref, variant.id)
    messages = []
    for check in _checks_of(variant.api):
        kwargs = {"sub": sub, "ref": ref}
        params = inspect.signature(check).parameters
        try:
            check(**{k: v for k, v in kwargs.items() if k in params})
        except Fail as e:
            messages.append(str(e))
    # The fixtures keep outputs, not the records a live sampler or training run makes as evidence (checked
    # against live runs in test_corpus): a stored answer cannot show them.
    messages = [m for m in messages if "no record of its" not in m]
    if variant.accepted:
        assert not messages, messages
    else:
        assert messages, f"{variant.api}/{variant.id} passes every check"
        stored = ref.arrays
        comparable = all(
            np.all(np.isfinite(v))
            for k, v in stored.items()
            if f"|{variant.id}|" in k and A.probes[k.split("|")[0]].api == variant.api
        )
        if comparable:  # its outputs can be told apart: the checks must name it
            assert any(variant.message in m for m in messages), messages
