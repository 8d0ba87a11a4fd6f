"""A built wheel grades on its own: installed into a fresh venv and run outside the checkout.

The venv sees this Python's packages (scratch.venv_seeing, from a venv or not) so that torch and the rest come from here: this
tests the packaging (what the wheel carries and how the package finds it), not dependency
resolution (tests/test_gradescope_image.py resolves the dependencies for the target image).
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from scratch import current_sites, hide_editable_installs, venv_seeing, world_readable_dir

from grader import course, data, fixtures
from grader.publish.wheel import build_wheel

SAMPLE = "bob"  # a partial score (one mistake), so the comparison with the expected outputs shows


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def venv(wheel):
    base = world_readable_dir("wheel-venv-")
    env_dir = base / "venv"
    venv_seeing(env_dir, current_sites())
    hide_editable_installs(env_dir)
    subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--ignore-installed",
            str(wheel),
        ],
        check=True,
    )
    yield env_dir
    shutil.rmtree(base, ignore_errors=True)


def _outside(tmp_path, cmd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, **kw)


def test_wheel_carries_the_fixtures_and_nothing_of_the_checkout(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for a in ("proj5a", "proj5b"):
        assert f"grader/_bundle/fixtures/{a}/inputs.npz" in names
        assert f"grader/_bundle/fixtures/{a}/expected.npz" in names
        topics = {f"grader/course/{a}/checks/{t.name}" for t in course.get(a).checks_dir.glob("test_*.py")}
        assert topics and topics <= set(names)
    assert "grader/course/pytest.ini" in names
    assert "grader/templates/gradescope/setup.sh" in names
    assert {n.split("/")[0] for n in names} == {"grader", "-".join(wheel.name.split("-")[:2]) + ".dist-info"}
    assert not any("solutions" in n or n.endswith(".ipynb") or "__pycache__" in n for n in names)


def test_checkout_reads_its_own_fixtures():
    assert data.in_checkout()
    assert data.data_root() == data.ROOT
    assert fixtures.fixture_dir("proj5a") == data.ROOT / "fixtures" / "proj5a"


@pytest.mark.slow  # grades whole notebooks again: kept out of the ten-minute default tier
def test_installed_wheel_grades_from_outside_the_checkout(venv, tmp_path, root):
    python = str(venv / "bin" / "python")
    where = _outside(
        tmp_path,
        [
            python,
            "-c",
            "import grader, grader.fixtures as f; print(grader.__file__); print(f.fixture_dir('proj5a').parent)",
        ],
    )
    assert where.returncode == 0, where.stderr
    package, fixture_root = where.stdout.split()
    assert package.startswith(str(venv)) and fixture_root.startswith(str(venv))
    assert fixture_root.endswith("grader/_bundle/fixtures")

    notebook = tmp_path / f"{SAMPLE}.ipynb"
    shutil.copy(root / "samples" / "proj5a" / f"{SAMPLE}.ipynb", notebook)
    proc = _outside(
        tmp_path,
        [
            str(venv / "bin" / "grader"),
            "grade",
            notebook.name,
            "--assignment",
            "proj5a",
            "--out",
            "installed.json",
            "-q",
        ],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    installed = json.loads((tmp_path / "installed.json").read_text())

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "grade",
            str(notebook),
            "--assignment",
            "proj5a",
            "--out",
            str(tmp_path / "checkout.json"),
            "-q",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    checkout = json.loads((tmp_path / "checkout.json").read_text())

    assert 0 < installed["score"] < installed["max_score"] == 100
    assert installed["score"] == checkout["score"]
    assert [(t["name"], t["status"]) for t in installed["tests"]] == [
        (t["name"], t["status"]) for t in checkout["tests"]
    ]


def test_fixtures_build_needs_a_checkout(venv, tmp_path):
    proc = _outside(tmp_path, [str(venv / "bin" / "grader"), "fixtures", "build", "--assignment", "proj5a"])
    assert proc.returncode == 2
    assert "needs a checkout" in proc.stderr and "solutions/" in proc.stderr and "Traceback" not in proc.stderr
