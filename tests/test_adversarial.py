"""Attacks on the grader: each must leave grading complete, the score honest, and a one-line report.

The corpus (tests/corpus/adversarial) is the reference solution plus one attack
per notebook. Protections that need root (an unprivileged worker user, hidden
files, no network, cgroups) are tested where the tests run as root, as in CI
and on Gradescope; elsewhere those cases are skipped with the reason.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grader import course
from grader.isolation.spawn import ForkServer, Limits
from grader.reports.results import results_json, write_json_atomic
from grader.runner import grade

CORPUS = Path(__file__).resolve().parent / "corpus" / "adversarial"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
TARGET = Path("/tmp/diffgrade-attack-target")
NEEDS_ROOT = {"read_hidden", "network", "fork_bomb", "kill_everything"}
CAN_DROP = os.geteuid() == 0  # sealing as root always runs student code as an unprivileged uid


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    shutil.rmtree(TARGET, ignore_errors=True)
    existed = Path("/autograder/results/results.json").exists()
    out = {}
    limits = Limits(probe_timeout=4, submission_timeout=120)
    with ForkServer(limits):
        for entry in MANIFEST:
            if entry["file"][:-6] in NEEDS_ROOT and not CAN_DROP:
                continue
            g = grade(CORPUS / entry["file"], "proj5a", limits=limits)
            results = tmp_path_factory.mktemp("r") / "results.json"
            write_json_atomic(results, results_json(g))
            out[entry["file"]] = (g, json.loads(results.read_text()))
    out["_autograder_results_existed"] = existed
    return out


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"][:-6])
def test_attack_is_contained(graded, entry):
    if entry["file"] not in graded:
        pytest.skip("needs root and a Python an unprivileged user can run")
    g, results = graded[entry["file"]]
    assert len(g.checks) == 19, "grading completed every check"
    assert g.score <= entry["honest_score"], [
        (c.name, c.message) for c in g.checks if c.passed and c.api == entry["api"]
    ]
    assert results["score"] == g.score and len(results["tests"]) == 19
    report = " | ".join([c.message for c in g.checks if not c.passed] + g.notes).lower()
    expect = entry["expect"] if isinstance(entry["expect"], list) else [entry["expect"]]
    assert any(e in report for e in expect), report  # (a list: any of these outcomes)
    for line in [c.message for c in g.checks] + g.notes:
        assert "\n" not in line and len(line) < 400


def test_nothing_written_outside_the_sandbox(graded):
    assert not TARGET.exists() or not any(TARGET.iterdir()), list(TARGET.iterdir())
    if not graded["_autograder_results_existed"]:
        assert not Path("/autograder/results/results.json").exists()


def test_no_process_outlives_grading(graded):
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert "sleep 317" not in ps


def test_other_functions_still_graded_after_the_worker_is_killed(graded):
    if "kill_everything.ipynb" not in graded:
        pytest.skip("needs root")
    g, _ = graded["kill_everything.ipynb"]
    assert all(c.passed for c in g.checks if c.api != "forward")


@pytest.mark.slow  # grades whole notebooks again: kept out of the ten-minute default tier
def test_a_submission_cannot_kill_another_graded_beside_it(root):
    """Each worker has its own uid: 'kill every process I can' reaches only its own worker."""
    if not CAN_DROP:
        pytest.skip("needs root and a Python an unprivileged user can run")
    from grader.fixtures import load_inputs
    from grader.intake.load import load_notebook
    from grader.isolation.spawn import WorkerProcess

    def worker(nb):
        chunks, _ = load_notebook(nb, "proj5a")
        return WorkerProcess(
            course.get("proj5a"), [c.__dict__ for c in chunks], load_inputs("proj5a"), Limits(probe_timeout=10)
        )

    forward = course.get("proj5a").probes["forward"].calls
    with worker(root / "solutions" / "proj5a.ipynb") as honest, worker(CORPUS / "kill_everything.ipynb") as attacker:
        assert honest.sandbox.user != attacker.sandbox.user
        attacker.probe(forward, timeout=10)
        answer = honest.probe(forward, timeout=10)
        assert honest.restarts == 0 and all(r["ok"] for r in answer["results"])
