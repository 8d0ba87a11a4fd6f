"""The strongest test of a grader: real submissions.

Every correct notebook in the corpus (each written in a different style) earns
full marks; every single-mistake notebook loses points only in checks tagged
with the name it breaks, and a failed check's message names the mistake.
"""

import json
from pathlib import Path

import pytest
from conftest import check_by_api

from grader.runner import grade
from grader.sandbox import ForkServer

CORPUS = Path(__file__).resolve().parent / "corpus" / "proj5a"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


@pytest.fixture(scope="module")
def grades():
    out = {}
    with ForkServer():
        for entry in MANIFEST:
            out[entry["file"]] = grade(CORPUS / entry["file"], "proj5a")
    return out


def test_corpus_size():
    kinds = [e["kind"] for e in MANIFEST]
    assert kinds.count("correct") >= 4 and kinds.count("mistake") >= 15


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["kind"] == "correct"], ids=lambda e: e["file"])
def test_correct_style_earns_full_marks(grades, entry):
    g = grades[entry["file"]]
    assert g.score == g.max_score == 100, [(c.name, c.message) for c in g.checks if not c.passed]


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["kind"] != "correct"], ids=lambda e: e["file"])
def test_mistake_loses_points_only_where_it_is(grades, entry):
    g = grades[entry["file"]]
    by_api = check_by_api(g)
    if entry["api"] is None:  # e.g. every function left empty
        assert g.score == 0
        lost_in = set(by_api)
    else:
        got, total, _ = by_api[entry["api"]]
        assert got < total, f"{entry['file']} lost nothing in {entry['api']}"
        lost_in = {api for api, (got, total, _) in by_api.items() if got < total}
        assert lost_in == {entry["api"]}, f"points also lost in {lost_in - {entry['api']}}"
    messages = " | ".join(m for api in lost_in for m in by_api[api][2]).lower()
    if entry["expect_in_message"]:
        assert entry["expect_in_message"].lower() in messages, messages


def test_mistake_messages_are_one_line_and_name_the_function(grades):
    for entry in MANIFEST:
        for c in grades[entry["file"]].checks:
            if not c.passed:
                assert "\n" not in c.message and len(c.message) < 400
                assert c.api in c.message or "not defined" in c.message or "not implemented" in c.message, c.message
