"""Batch grading: parallel, resumable after SIGKILL at any moment, Gradescope export layouts."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from grader.batch import gradescope_names, run_batch, student_name

CORPUS = "tests/corpus/proj5a"
PICK = ["correct_inline", "mistake_cfg_reversed", "mistake_forward_alphas", "wrong_shape", "missing_forward",
        "mistake_inpaint_inverted_mask"]


@pytest.fixture
def submissions(tmp_path, root):
    d = tmp_path / "subs"
    d.mkdir()
    for i, name in enumerate(PICK):
        shutil.copy(root / CORPUS / f"{name}.ipynb", d / f"student{i}.ipynb")
    return d


def _results(out):
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}


def test_sigkill_then_resume_loses_and_duplicates_nothing(submissions, tmp_path, root):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "batch", str(submissions), "--assignment", "proj5a",
           "--out", str(out), "-j", "2", "-q"]
    proc = subprocess.Popen(cmd, cwd=root, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list(out.glob("*/results.json"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole batch, mid-flight
    proc.wait()
    first = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    assert 2 <= len(first) < len(PICK), "killed mid-batch"
    for p in out.glob("*/results.json"):
        json.loads(p.read_text())  # every result on disk is whole
    subprocess.run(cmd + ["--resume"], cwd=root, check=True, timeout=300, capture_output=True)
    results = _results(out)
    assert sorted(results) == [f"student{i}" for i in range(len(PICK))]
    for name, mtime in first.items():  # finished work was not redone
        assert (out / name / "results.json").stat().st_mtime_ns == mtime
    with open(out / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == sorted(results)
    assert {r["student"]: float(r["total"]) for r in rows} == {k: v["score"] for k, v in results.items()}
    assert results["student0"]["score"] == 100 and results["student1"]["score"] < 100
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".tmp-*"))
    assert (out / "index.html").exists() and (out / "student1" / "report.html").exists()


def test_gradescope_export_layout_and_zip(tmp_path, root):
    export = tmp_path / "export"
    for sid, src in (("1001", "correct_inline"), ("1002", "mistake_forward_alphas")):
        (export / f"submission_{sid}").mkdir(parents=True)
        shutil.copy(root / CORPUS / f"{src}.ipynb", export / f"submission_{sid}" / "proj5a.ipynb")
    (export / "submission_metadata.yml").write_text(
        "submission_1001:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '3031'\n"
        "submission_1002:\n  :submitters:\n  - :name: Alan Turing\n    :sid: '3032'\n")
    labels = gradescope_names(export)
    assert labels == {"submission_1001": "3031", "submission_1002": "3032"}
    assert student_name(export / "submission_1001" / "proj5a.ipynb", export, labels) == "3031_submission_1001"
    zpath = tmp_path / "export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in export.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(export))
        zf.writestr("../escape.ipynb", "{}")  # a hostile member is ignored
    out = tmp_path / "out"
    run_batch(zpath, "proj5a", out, jobs=1, show_progress=False)
    results = _results(out)
    assert results["3031_submission_1001"]["score"] == 100 and results["3032_submission_1002"]["score"] == 92
    assert not (tmp_path / "escape.ipynb").exists()
