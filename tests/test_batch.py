"""Batch grading: parallel, resumable after SIGKILL at any moment, Gradescope export layouts."""

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nbtools import write_notebook

from grader import cli, provenance
from grader.batch import command as batch
from grader.batch import executors, roster
from grader.batch.command import run_batch
from grader.batch.roster import gradescope_names, student_name
from grader.judging.plugin import CheckResult

CORPUS = "tests/corpus/proj5a"
PICK = [
    "correct_inline",
    "mistake_cfg_reversed",
    "mistake_forward_alphas",
    "wrong_shape",
    "missing_forward",
    "mistake_inpaint_inverted_mask",
]


@pytest.fixture
def submissions(tmp_path, root):
    d = tmp_path / "subs"
    d.mkdir()
    for i, name in enumerate(PICK):
        shutil.copy(root / CORPUS / f"{name}.ipynb", d / f"student{i}.ipynb")
    return d


def _results(out):
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}


@pytest.mark.slow  # kills a batch mid-way and resumes it: 40 s here
def test_sigkill_then_resume_loses_and_duplicates_nothing(submissions, tmp_path, root):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "grader",
        "batch",
        str(submissions),
        "--assignment",
        "proj5a",
        "--out",
        str(out),
        "-j",
        "2",
        "-q",
    ]
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


@pytest.mark.slow  # grades whole notebooks again: kept out of the ten-minute default tier
def test_gradescope_export_layout_and_zip(tmp_path, root):
    export = tmp_path / "export"
    for sid, src in (("1001", "correct_inline"), ("1002", "mistake_forward_alphas")):
        (export / f"submission_{sid}").mkdir(parents=True)
        shutil.copy(root / CORPUS / f"{src}.ipynb", export / f"submission_{sid}" / "proj5a.ipynb")
    (export / "submission_metadata.yml").write_text(
        "submission_1001:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '3031'\n"
        "submission_1002:\n  :submitters:\n  - :name: Alan Turing\n    :sid: '3032'\n"
    )
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
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["name"], r["sid"]) for r in rows] == [("Ada Lovelace", "3031"), ("Alan Turing", "3032")]
    assert {"forward: runs", "forward: matches reference", "sdedit: matches reference"} <= set(rows[0])


# --------------------------------------------------------------------------- without workers: grading replaced


FAKE_CHECKS = {
    "proj5a": [
        ("test_forward_runs", "forward(im, t) returns a finite (1, 3, 64, 64) image", "forward", 2.0),
        (
            "test_forward_matches_reference",
            "forward at t = 250 matches sqrt(abar) im + sqrt(1 - abar) eps",
            "forward",
            8.0,
        ),
        (
            "test_cfg_from_pure_noise",
            "iterative_denoise_cfg from pure noise matches the reference",
            "iterative_denoise_cfg",
            6.0,
        ),
    ],
    "proj5b": [("test_ddpm_schedule", "ddpm_schedule gives betas = linspace(beta1, beta2, T)", "ddpm_schedule", 5.0)],
}


@pytest.fixture
def fake_grading(monkeypatch):
    """Batch with threads and a stand-in grade(): records what was graded, starts no worker."""
    import grader.runner
    from grader.intake.assignment_of import resolve_assignment

    graded = []

    def grade(notebook, assignment=None, **kwargs):
        assignment = resolve_assignment(notebook, assignment)
        graded.append((Path(notebook).name, assignment))
        checks = [CheckResult(n, t, api, pts, False, True, "", 0.0) for n, t, api, pts in FAKE_CHECKS[assignment]]
        return grader.runner.Grade(notebook=str(notebook), assignment=assignment, checks=checks)

    monkeypatch.setattr(grader.runner, "grade", grade)
    monkeypatch.setattr(executors, "ProcessPoolExecutor", ThreadPoolExecutor)
    monkeypatch.setattr(executors, "init_process", lambda limits, jobs=1: None)
    return graded


def _nb(path, assignment):
    return write_notebook(path, [("code", "x = 1")], assignment=assignment)


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mixed_folder_gives_one_gradebook_per_assignment(tmp_path, fake_grading):
    subs = tmp_path / "subs"
    for name, a in (("ann", "proj5a"), ("bea", "proj5b"), ("cid", "proj5a")):
        _nb(subs / f"{name}.ipynb", a)
    out = tmp_path / "out"
    run_batch(subs, None, out, show_progress=False)
    assert sorted(p.name for p in out.glob("gradebook*.csv")) == ["gradebook-proj5a.csv", "gradebook-proj5b.csv"]
    a, b = _csv(out / "gradebook-proj5a.csv"), _csv(out / "gradebook-proj5b.csv")
    assert [r["student"] for r in a] == ["ann", "cid"] and [r["student"] for r in b] == ["bea"]
    assert not any(k.startswith("ddpm") for k in a[0]) and not any(k.startswith("forward") for k in b[0])
    # one assignment: the README's gradebook.csv, and no stale per-assignment files
    (subs / "bea.ipynb").unlink()
    shutil.rmtree(out / "bea")
    run_batch(subs, None, out, show_progress=False, resume=True)
    assert sorted(p.name for p in out.glob("gradebook*.csv")) == ["gradebook.csv"]


def test_gradebook_has_people_and_short_headers(tmp_path, fake_grading):
    export = tmp_path / "export"
    _nb(export / "submission_1" / "proj5a.ipynb", "proj5a")
    _nb(export / "submission_2" / "proj5a.ipynb", "proj5a")
    _nb(export / "submission_3" / "proj5a.ipynb", "proj5a")  # not in the metadata
    (export / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '3031'\n    :email: ada@example.edu\n"
        "submission_2:\n  :submitters:\n  - :name: Alan Turing\n    :sid: '3032'\n    :email: alan@example.edu\n"
        "  - :name: Grace Hopper\n    :sid: '3033'\n    :email: grace@example.edu\n"
    )
    out = tmp_path / "out"
    run_batch(export, "proj5a", out, show_progress=False)
    rows = {r["student"]: r for r in _csv(out / "gradebook.csv")}
    header = list(next(iter(rows.values())))
    assert header == [
        "student",
        "name",
        "sid",
        "email",
        "total",
        "max",
        "forward: runs",
        "forward: matches reference",
        "iterative_denoise_cfg: cfg from pure noise",
    ]
    ada = rows["3031_submission_1"]
    assert (ada["name"], ada["sid"], ada["email"]) == ("Ada Lovelace", "3031", "ada@example.edu")
    pair = rows["3032_3033_submission_2"]
    assert pair["name"] == "Alan Turing; Grace Hopper" and pair["sid"] == "3032; 3033"
    unknown = rows["submission_3__proj5a"]
    assert (unknown["name"], unknown["sid"], unknown["email"]) == ("", "", "")


def test_short_headers_are_unique_and_fall_back_to_titles():
    assert batch.short_header("forward", "test_forward_matches_reference", "...") == "forward: matches reference"
    assert batch.short_header("blur_denoise", "test_blur_denoise", "...") == "blur_denoise"
    assert batch.short_header("forward", None, "forward runs") == "forward runs"
    assert batch._unique(["a: x", "a: x", "b"]) == ["a: x", "a: x (2)", "b"]


def test_resume_regrades_failed_foreign_and_outdated_results(tmp_path, fake_grading):
    subs = tmp_path / "subs"
    names = ["ok", "failed", "other_assignment", "other_version", "other_fixtures", "unreadable"]
    for n in names:
        _nb(subs / f"{n}.ipynb", "proj5a")
    out = tmp_path / "out"
    run_batch(subs, "proj5a", out, show_progress=False)
    first = json.loads((out / "ok" / "results.json").read_text())
    assert first["extra_data"]["grader_version"] == provenance.grader_version()
    assert first["extra_data"]["fixtures_sha256"] == provenance.fixture_fingerprint("proj5a")
    assert len(first["extra_data"]["fixtures_sha256"]) == 64

    def edit(name, change):
        path = out / name / "results.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    edit("failed", lambda d: d.update(tests=[], output="grading failed: boom", extra_data=None))
    edit("other_assignment", lambda d: d["extra_data"].update(assignment="proj5b"))
    edit("other_version", lambda d: d["extra_data"].update(grader_version="0.0.0-old"))
    edit("other_fixtures", lambda d: d["extra_data"].update(fixtures_sha256="0" * 64))
    (out / "unreadable" / "results.json").write_text("{")
    fake_grading.clear()
    run_batch(subs, "proj5a", out, show_progress=False, resume=True)
    assert sorted(n for n, _ in fake_grading) == sorted(f"{n}.ipynb" for n in names if n != "ok")
    # graded for the assignment the notebook is now graded as: an inferred one counts too
    fake_grading.clear()
    run_batch(subs, None, out, show_progress=False, resume=True)
    assert fake_grading == []


def test_results_are_readable_by_the_ta(tmp_path, fake_grading):
    subs = tmp_path / "subs"
    _nb(subs / "ann.ipynb", "proj5a")
    out = tmp_path / "out"
    run_batch(subs, "proj5a", out, show_progress=False)
    for path in (out / "ann" / "results.json", out / "gradebook.csv", out / "ann" / "report.html"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path


def test_empty_folder_says_so_and_fails(tmp_path, capsys, fake_grading):
    (tmp_path / "empty").mkdir()
    code = cli.main(["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "no notebooks" in err and len(err.strip().splitlines()) == 1
    assert fake_grading == []


def _export_zip(tmp_path, top: str | None):
    zpath = tmp_path / f"export-{top}.zip"
    prefix = f"{top}/" if top else ""
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr(
            f"{prefix}submission_metadata.yml",
            "submission_7:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '3031'\n",
        )
        zf.writestr(f"{prefix}submission_7/proj5a.ipynb", "{}")
        zf.writestr(f"__MACOSX/{prefix}submission_7/._proj5a.ipynb", "junk")
    return zpath


@pytest.mark.parametrize("top", [None, "assignment_123_export"])
def test_gradescope_zip_keeps_names_with_or_without_its_top_folder(tmp_path, top):
    _, submissions, names = batch.submissions_of(_export_zip(tmp_path, top), tmp_path / "out")
    assert names == ["3031_submission_7"]
    assert [p.name for p in submissions] == ["proj5a.ipynb"]


def test_zip_members_never_land_outside(tmp_path, capsys):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("good/a.ipynb", "{}")
        zf.writestr("../_submissions_evil/x.ipynb", "{}")  # passes a string-prefix test
        zf.writestr("/abs/y.ipynb", "{}")
        link = zipfile.ZipInfo("good/link.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    dest = tmp_path / "out" / "_submissions"
    roster.unpack_zip(zpath, dest)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "evil.zip",
        "out/_submissions/good/a.ipynb",
    ]
    assert not (tmp_path / "out" / "_submissions_evil").exists()
    assert "skipped 3 member(s)" in capsys.readouterr().err
