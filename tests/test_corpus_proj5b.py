"""Real submissions for Part B: the corpus in tests/corpus/proj5b (see its make_corpus.py).

Every correct notebook (each in a different style: explicit layers, nn.Sequential
subclasses, numpy, 1-based timesteps, one-hot classes built outside the UNet,
batched CFG, a messy Colab notebook) earns full marks; every single-mistake
notebook loses points only in checks tagged with the name it breaks, and a
failed check's message names the mistake; the skeleton earns nothing.
"""

import json
from pathlib import Path

import pytest
from conftest import check_by_api

from grader.runner import grade
from grader.sandbox import ForkServer

CORPUS = Path(__file__).resolve().parent / "corpus" / "proj5b"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


@pytest.fixture(scope="module")
def grades():
    out = {}
    with ForkServer():
        for entry in MANIFEST:
            out[entry["file"]] = grade(CORPUS / entry["file"], "proj5b")
    return out


def test_corpus_size():
    kinds = [e["kind"] for e in MANIFEST]
    assert kinds.count("correct") >= 4 and kinds.count("mistake") >= 15
    assert all((CORPUS / e["file"]).exists() for e in MANIFEST)


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["kind"] == "correct"], ids=lambda e: e["file"])
def test_correct_style_earns_full_marks(grades, entry):
    g = grades[entry["file"]]
    assert g.score == g.max_score == 100, [(c.name, c.message) for c in g.checks if not c.passed]


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["kind"] != "correct"], ids=lambda e: e["file"])
def test_mistake_loses_points_only_where_it_is(grades, entry):
    g = grades[entry["file"]]
    by_api = check_by_api(g)
    if entry["api"] is None:  # the skeleton, a notebook with nothing graded
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


def test_messages_are_one_line_and_name_the_function(grades):
    for entry in MANIFEST:
        for c in grades[entry["file"]].checks:
            if not c.passed:
                assert "\n" not in c.message and len(c.message) < 400, c.message
                assert c.api in c.message or "not defined" in c.message or "not implemented" in c.message, c.message


def test_no_worker_was_lost(grades):
    for entry in MANIFEST:
        notes = " ".join(grades[entry["file"]].notes)
        assert "worker was replaced" not in notes, (entry["file"], notes)
