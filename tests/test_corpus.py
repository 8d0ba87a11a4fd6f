"""The strongest test of a grader: real submissions, for both assignments.

The corpus lives in tests/corpus/<assignment> (each folder's make_corpus.py writes it and its
manifest). Every correct notebook, each written in a different style (numpy returns, batched CFG,
fp16 and .cuda() calls, a messy Colab notebook; explicit layers, 1-based timesteps, one-hot classes
built outside the UNet, ...) earns full marks. Every single-mistake notebook loses points only in
checks tagged with the name it breaks, and a failed check's message names the mistake. Broken
notebooks (nothing implemented, a missing name, a crash, a wrong shape) fail cleanly, in one line.
"""

import json
from pathlib import Path

import pytest
from conftest import check_by_api

from grader import course
from grader.batch.command import grade_many

CORPUS = Path(__file__).resolve().parent / "corpus"
#: every registered assignment that has a corpus
ASSIGNMENTS = [a for a in course.names() if (CORPUS / a / "manifest.json").exists()]
MANIFESTS = {a: json.loads((CORPUS / a / "manifest.json").read_text()) for a in ASSIGNMENTS}


def _smoke(assignment: str) -> set[str]:
    """The default tier's share of the corpus (the whole corpus runs with -m slow): the first broken
    notebook, the last correct style and every twentieth mistake, in manifest order."""
    entries = MANIFESTS[assignment]
    correct = [e["file"] for e in entries if e["kind"] == "correct"]
    mistakes = [e["file"] for e in entries if e["kind"] == "mistake"][::20]
    bad = [e["file"] for e in entries if e["kind"] == "bad"][:1]
    return set(bad) | set(correct[-1:]) | set(mistakes)


SMOKE = {a: _smoke(a) for a in ASSIGNMENTS}


def _entries(kind=None, exclude=None):
    return [
        pytest.param(a, e, id=f"{a}/{e['file']}", marks=() if e["file"] in SMOKE[a] else pytest.mark.slow)
        for a in ASSIGNMENTS
        for e in MANIFESTS[a]
        if (kind is None or e["kind"] == kind) and e["kind"] != exclude
    ]


@pytest.fixture(scope="module")
def grades(request):
    """assignment -> {file: Grade} of the notebooks this session's tests ask for (the default tier's share,
    or the whole corpus with -m slow); graded once, by two grading processes (each with its own fork
    server), as `grader batch -j 2` would."""
    cache = {}
    wanted: dict[str, set] = {a: set() for a in ASSIGNMENTS}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is request.module and "entry" in params and params.get("assignment") in wanted:
            wanted[params["assignment"]].add(params["entry"]["file"])

    def of(assignment):
        if assignment not in cache:
            files = sorted(wanted[assignment] or SMOKE[assignment])
            paths = [CORPUS / assignment / f for f in files]
            cache[assignment] = {Path(p).name: g for p, g in grade_many(paths, assignment, jobs=2)}
        return cache[assignment]

    return of


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_corpus_size(assignment):
    kinds = [e["kind"] for e in MANIFESTS[assignment]]
    assert kinds.count("correct") >= 4 and kinds.count("mistake") >= 15
    assert all((CORPUS / assignment / e["file"]).exists() for e in MANIFESTS[assignment])


@pytest.mark.parametrize("assignment,entry", _entries(kind="correct"))
def test_correct_style_earns_full_marks(grades, assignment, entry):
    g = grades(assignment)[entry["file"]]
    assert g.score == g.max_score == 100, [(c.name, c.message) for c in g.checks if not c.passed]


@pytest.mark.parametrize("assignment,entry", _entries(exclude="correct"))
def test_mistake_loses_points_only_where_it_is(grades, assignment, entry):
    g = grades(assignment)[entry["file"]]
    by_api = check_by_api(g)
    if entry["api"] is None:  # e.g. every function left empty, or nothing graded defined
        assert g.score == 0 and g.max_score == 100
        lost_in = set(by_api)
    else:
        got, total, _ = by_api[entry["api"]]
        assert got < total, f"{entry['file']} lost nothing in {entry['api']}"
        lost_in = {api for api, (got, total, _) in by_api.items() if got < total}
        assert lost_in == {entry["api"]}, f"points also lost in {lost_in - {entry['api']}}"
    messages = " | ".join(m for api in lost_in for m in by_api[api][2]).lower()
    if entry["expect_in_message"]:
        assert entry["expect_in_message"].lower() in messages, messages


@pytest.mark.parametrize("assignment,entry", [p for p in _entries() if p.values[1].get("expect_note")])
def test_adapted_interface_is_named_in_the_notes(grades, assignment, entry):
    """A notebook in an interface the grader adapts to (issue 12) is told how it was graded."""
    g = grades(assignment)[entry["file"]]
    assert entry["expect_note"].lower() in " | ".join(g.notes).lower(), g.notes


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_messages_are_one_line_and_name_the_function(grades, assignment):
    for g in grades(assignment).values():
        for c in g.checks:
            if not c.passed:
                assert "\n" not in c.message and len(c.message) < 400, c.message
                assert c.api in c.message or "not defined" in c.message or "not implemented" in c.message, c.message


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_worker_was_lost(grades, assignment):
    for file, g in grades(assignment).items():
        notes = " ".join(g.notes)
        assert "worker was replaced" not in notes, (file, notes)
