"""The command line: operator errors are one line and exit 2 before grading; a student's broken file
is graded (0 points, its reason, exit 0); a notebook for the other assignment is said so at the top."""

from __future__ import annotations

import json
import os
import stat

import pytest
from nbtools import make_notebook, write_notebook

from grader import cli
from grader.judging.plugin import CheckResult
from grader.reports.results import check_summary, results_json, terminal_table
from grader.runner import Grade

SCRIPT = b"import torch\n\ndef forward(im, t):\n    return im\n"
BROKEN = {  # file content -> what the message must name
    "empty": (b"", "is empty"),
    "invalid_json": (b'{"cells": [', "not valid notebook JSON"),
    "binary": (bytes(range(256)) * 4, "not a text file"),
    "renamed_script": (SCRIPT, "looks like a Python script"),
}


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_grading(monkeypatch):
    """Operator errors must be found before grading starts: grading here is a test failure."""
    import grader.runner

    def grade(*args, **kwargs):
        raise AssertionError("grading started before the command was checked")

    monkeypatch.setattr(grader.runner, "grade", grade)


@pytest.fixture
def notebook(tmp_path, root):
    path = tmp_path / "proj5a.ipynb"
    path.write_bytes((root / "samples" / "proj5a" / "alice.ipynb").read_bytes())
    return path


def files_under(path):
    return sorted(p.relative_to(path) for p in path.rglob("*"))


@pytest.mark.parametrize(
    "command, case",
    [
        *((c, k) for c in ("grade", "check") for k in ("missing", "folder", "unknown_assignment")),
        ("grade", "out_under_a_file"),
        ("grade", "out_is_a_folder"),
        ("grade", "html_under_a_file"),
    ],
)
def test_operator_error_is_one_line_exit_2_and_writes_nothing(case, command, tmp_path, notebook, capsys, no_grading):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    nb = str(notebook)
    options = []
    if case == "missing":
        nb = str(tmp_path / "nowhere.ipynb")
    elif case == "folder":
        nb = str(tmp_path / "a_folder")
    elif case == "unknown_assignment":
        options = ["--assignment", "proj5c"]
    elif case == "out_under_a_file":
        options = ["--out", str(tmp_path / "a_file" / "results.json")]
    elif case == "out_is_a_folder":
        options = ["--out", str(tmp_path / "a_folder")]
    elif case == "html_under_a_file":
        options = ["--html", str(tmp_path / "a_file" / "sub" / "report.html")]
    before = files_under(tmp_path)
    code, out, err = run([command, nb, *options], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert files_under(tmp_path) == before


def test_operator_error_messages_say_what_is_wrong(tmp_path, notebook, capsys, no_grading):
    (tmp_path / "a_file").write_text("x")
    cases = {
        ("grade", str(tmp_path / "nowhere.ipynb")): "no such file",
        ("grade", str(tmp_path)): "is a folder",
        ("grade", str(notebook), "--out", str(tmp_path / "a_file" / "r.json")): "is a file, not a folder",
        ("grade", str(notebook), "--assignment", "proj5c"): "invalid choice: 'proj5c'",
    }
    for argv, needle in cases.items():
        code, _, err = run(list(argv), capsys)
        assert code == 2 and needle in err, (argv, err)
        assert "cannot tell which assignment" not in err


def test_unwritable_out_folder(tmp_path, notebook, capsys, no_grading):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode: use a folder the kernel refuses to anyone
            locked = "/proc"
        code, _, err = run(["grade", str(notebook), "--out", f"{locked}/results.json"], capsys)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert code == 2 and "not writable" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_file_without_assignment_names_its_problem(kind, tmp_path, capsys, no_grading):
    content, problem = BROKEN[kind]
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content)
    code, out, err = run(["grade", str(path)], capsys)
    assert code == 2 and out == ""
    assert "cannot tell which assignment" in err and problem in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_file_with_assignment_is_graded_zero_with_its_reason(kind, tmp_path, capsys):
    content, problem = BROKEN[kind]
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content)
    out_json, out_html = tmp_path / "out" / "results.json", tmp_path / "out" / "report.html"
    code, out, err = run(
        ["grade", str(path), "--assignment", "proj5a", "--out", str(out_json), "--html", str(out_html)], capsys
    )
    assert code == 0, err
    assert "Traceback" not in err
    data = json.loads(out_json.read_text())
    assert data["score"] == 0 and data["max_score"] == 100
    assert problem in data["output"] and problem in out
    assert out_html.exists()
    assert stat.S_IMODE(out_json.stat().st_mode) & 0o044 == 0o044, "readable by the TA's group and others"


def test_unreadable_file_named_for_its_assignment_is_graded(tmp_path, capsys):
    path = tmp_path / "proj5b (1).ipynb"
    path.write_bytes(b"")
    code, out, err = run(["check", str(path)], capsys)
    assert code == 0, err
    assert "(proj5b): could not be checked" in out and "is empty" in out


# --------------------------------------------------------------------------- the other assignment's notebook

PROJ5B_CODE = """
import torch.nn as nn

def ddpm_schedule(beta1, beta2, num_ts):
    ...

class UnconditionalUNet(nn.Module):
    ...

def add_noise(x, sigma):
    return x
"""


def test_wrong_assignment_from_metadata_and_from_names():
    from grader.intake import mismatch

    by_meta = make_notebook([("code", "x = 1")], assignment="proj5b")
    assert (
        mismatch.wrong_assignment(by_meta, "proj5a")
        == "this notebook looks like proj5b (its metadata says so) but was graded as proj5a"
    )
    assert mismatch.wrong_assignment(by_meta, "proj5b") is None
    by_names = make_notebook([("code", PROJ5B_CODE)])
    warning = mismatch.wrong_assignment(by_names, "proj5a")
    assert warning.startswith(
        "this notebook looks like proj5b (it defines UnconditionalUNet, add_noise, ddpm_schedule, and none of proj5a's names)"
    )
    assert warning.endswith("but was graded as proj5a")
    assert mismatch.wrong_assignment(by_names, "proj5b") is None
    # one of the graded assignment's own names is enough to stay quiet
    mixed = make_notebook([("code", PROJ5B_CODE + "\ndef forward(im, t):\n    return im\n")])
    assert mismatch.wrong_assignment(mixed, "proj5a") is None
    assert mismatch.wrong_assignment(make_notebook([("code", "def helper():\n    pass")]), "proj5a") is None


def test_wrong_assignment_opens_every_output():
    warning = "this notebook looks like proj5b (its metadata says so) but was graded as proj5a"
    checks = [
        CheckResult(
            "test_forward_runs",
            "forward runs",
            "forward",
            2.0,
            True,
            False,
            "forward is not defined in your notebook",
            0.0,
        )
    ]
    g = Grade(notebook="proj5b.ipynb", assignment="proj5a", checks=checks, notes=["a note"], wrong_assignment=warning)
    assert warning in terminal_table(g).splitlines()[1]
    assert warning in check_summary(g).splitlines()[1]
    assert results_json(g)["output"].splitlines()[0] == f"Warning: {warning}."
    from grader.reports.html import render_report

    page = render_report(g)
    assert page.index(warning) < page.index("<h2>Checks</h2>")
    g.error = "proj5b.ipynb is empty"
    assert warning in check_summary(g).splitlines()[1]


def test_check_says_a_part_b_notebook_is_not_part_a(tmp_path, capsys, no_grading):
    """One line and exit status 3, not a column of "not defined" (tests/test_student_notes.py has more)."""
    path = write_notebook(tmp_path / "homework.ipynb", [("code", PROJ5B_CODE)], assignment="proj5b")
    code, out, err = run(["check", str(path), "--assignment", "proj5a", "-q"], capsys)
    assert code == 3 and out == ""
    assert err.startswith("grader: homework.ipynb: this notebook looks like proj5b (its metadata says so), not proj5a")


@pytest.mark.slow  # grades whole notebooks again: kept out of the ten-minute default tier
def test_check_runs_the_notebooks_own_checks_too(tmp_path):
    """One verdict: a forward without square roots passes the visible shape check, and `grader check`
    also fails it with the notebook's own sentence."""
    import nbformat

    from grader.runner import grade

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import torch\n\ndef forward(im, t):\n    abar = alphas_cumprod[t]\n"
            "    return abar * im + (1 - abar) * torch.randn_like(im)\n"
        )
    ]
    path = tmp_path / "proj5a.ipynb"
    nbformat.write(nb, str(path))
    checks = [c for c in grade(path, "proj5a", visible_only=True).checks if c.api == "forward"]
    assert [c.passed for c in checks] == [True, False]
    assert "missing square roots" in checks[1].message and checks[1].points == 0
    assert not [c for c in grade(path, "proj5a").checks if c.name.startswith("notebook_check")]
