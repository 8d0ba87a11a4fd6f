"""The autograder zip works when unpacked into an /autograder-like root."""

import json
import os
import shutil
import subprocess
import zipfile

import pytest

from grader.gradescope import build_zip

TOP = {"score", "max_score", "execution_time", "output", "visibility", "tests"}
TEST = {"name", "score", "max_score", "status", "output", "visibility", "tags"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def autograder(tmp_path_factory, root):
    base = tmp_path_factory.mktemp("ag")
    zpath = build_zip("proj5a", base / "autograder.zip", hidden_visibility="hidden")
    with zipfile.ZipFile(zpath) as zf:
        names = zf.namelist()
        zf.extractall(base / "autograder" / "source")
    for name in ("setup.sh", "run_autograder"):
        os.chmod(base / "autograder" / "source" / name, 0o755)
    return base / "autograder", names


def _run(ag, submission_files):
    sub = ag / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir()
    for name, src in submission_files.items():
        shutil.copy(src, sub / name) if src else (sub / name).write_text("hello")
    results = ag / "results" / "results.json"
    results.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DIFFGRADE_AUTOGRADER_ROOT"] = str(ag)
    proc = subprocess.run([str(ag / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(results.read_text())


def _valid(data):
    assert set(data) >= TOP and data["visibility"] in VISIBILITY
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], (int, float))
    for t in data["tests"]:
        assert set(t) >= TEST and t["status"] in ("passed", "failed") and t["visibility"] in VISIBILITY
        assert isinstance(t["tags"], list) and t["tags"]


def test_zip_contents(autograder):
    _, names = autograder
    assert {"setup.sh", "run_autograder", "requirements.txt", "pyproject.toml"} <= set(names)
    assert "fixtures/proj5a/expected.npz" in names and "grader/course/proj5a/probes.py" in names
    assert not any("__pycache__" in n for n in names)
    setup = (autograder[0] / "source" / "setup.sh").read_text()
    assert "--extra-index-url" in setup and "TORCH_INDEX" in setup
    reqs = (autograder[0] / "source" / "requirements.txt").read_text().splitlines()
    assert all("==" in line for line in reqs) and any(line.startswith("torch==") for line in reqs)


def test_grades_a_submission(autograder, root):
    data = _run(autograder[0], {"my_proj5a.ipynb": root / "tests" / "corpus" / "proj5a" / "mistake_cfg_reversed.ipynb"})
    _valid(data)
    assert data["max_score"] == 100 and 0 < data["score"] < 100
    failed = {t["tags"][0] for t in data["tests"] if t["status"] == "failed"}
    assert failed == {"iterative_denoise_cfg"}
    assert {t["visibility"] for t in data["tests"]} == {"visible", "hidden"}  # the course's choice, baked in


def test_no_notebook_gives_a_message(autograder):
    data = _run(autograder[0], {"answers.py": None})
    _valid(data)
    assert data["score"] == 0 and "No .ipynb notebook" in data["output"] and "answers.py" in data["output"]


def test_two_notebooks_give_a_message(autograder, root):
    nb = root / "solutions" / "proj5a.ipynb"
    data = _run(autograder[0], {"a.ipynb": nb, "b.ipynb": nb})
    _valid(data)
    assert data["score"] == 0 and "2 notebooks" in data["output"]
