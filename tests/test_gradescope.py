"""The autograder zip: what it holds, and that its setup.sh and run_autograder work in an
/autograder-like root.

Here setup.sh finds its venv made already, seeing this Python's packages (scratch.venv_seeing, from a
venv or not), so the requirements are already met and nothing is downloaded; tests/test_gradescope_image.py does the real install
for Gradescope's Python 3.10.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from gradescope_results import validate
from scratch import current_sites, hide_editable_installs, venv_seeing, world_readable_dir

from grader.publish.gradescope import IMAGES, build_zip, fill


def unpack(zpath: Path, root: Path) -> Path:
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # ZipFile.extractall drops the mode bits
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    return root


def run_setup(root: Path, **env) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "DIFFGRADE_AUTOGRADER_ROOT": str(root), **env}
    return subprocess.run(
        ["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True, timeout=1800
    )


def run_autograder(root: Path, submission_files: dict) -> dict:
    sub = root / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir()
    for name, src in submission_files.items():
        shutil.copy(src, sub / name) if src else (sub / name).write_text("hello")
    results = root / "results" / "results.json"
    results.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["DIFFGRADE_AUTOGRADER_ROOT"] = str(root)
    # Gradescope copies run_autograder to /autograder and runs it there.
    proc = subprocess.run(
        [str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(results.read_text())


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    return build_zip("proj5a", tmp_path_factory.mktemp("zip") / "autograder.zip", hidden_visibility="hidden")


@pytest.fixture(scope="module")
def autograder(zip_path):
    base = world_readable_dir("autograder-")
    root = unpack(zip_path, base)
    venv_seeing(root / "venv", current_sites())  # setup.sh's `python -m venv` keeps it and adds pip
    # a torch index that does not answer: a message, and the default index instead (no hang, no retries)
    proc = run_setup(root, DIFFGRADE_PYTHON=sys.executable, TORCH_INDEX="http://127.0.0.1:9/simple")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the torch index http://127.0.0.1:9/simple cannot be reached" in proc.stderr
    assert "installing torch from the default index instead" in proc.stderr
    hide_editable_installs(root / "venv")
    yield root
    shutil.rmtree(base, ignore_errors=True)


def test_zip_holds_only_what_grading_needs(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        wheel = next(n for n in names if n.endswith(".whl"))
        assert sorted(names) == sorted(["setup.sh", "run_autograder", "requirements.txt", wheel])
        assert (
            zf.getinfo("setup.sh").external_attr >> 16 & 0o111
            and zf.getinfo("run_autograder").external_attr >> 16 & 0o111
        )
        with zf.open(wheel) as f, zipfile.ZipFile(f) as wz:
            inside = wz.namelist()
        setup = zf.read("setup.sh").decode()
        reqs = zf.read("requirements.txt").decode()
    assert (
        "grader/_bundle/fixtures/proj5a/expected.npz" in inside
        and "grader/course/proj5a/checks/test_1_denoising.py" in inside
    )
    # No reference notebook (a symlinked submission could read it), no tests, no tools.
    assert not [n for n in inside if n.endswith(".ipynb") or n.startswith(("solutions", "tests", "tools"))]
    assert "@" not in setup.replace("${TORCH_INDEX:+", "")  # every placeholder filled
    assert 'python3" -m venv' not in setup and '-m venv $VENV_OPTIONS "$VENV"' in setup
    assert "https://download.pytorch.org/whl/cpu" in setup and "--break-system-packages" not in setup
    # Ranges that pip resolves for the image's Python, not this machine's exact versions.
    lines = [ln for ln in reqs.splitlines() if ln and not ln.startswith("#")]
    assert lines and not any("==" in ln for ln in lines)
    assert any(ln.startswith("torch>=") for ln in lines) and any(ln.startswith("numpy>=") for ln in lines)


def test_image_choice_is_written_into_setup(tmp_path):
    for image, python in IMAGES.items():
        z = build_zip("proj5a", tmp_path / f"{image}.zip", image=image, wheel=_fake_wheel(tmp_path))
        setup = zipfile.ZipFile(z).read("setup.sh").decode()
        assert f"built for {image} (Python {python})" in setup and f'have == "{python}"' in setup
    with pytest.raises(ValueError, match="unknown image"):
        build_zip("proj5a", tmp_path / "x.zip", image="ubuntu-18.04", wheel=_fake_wheel(tmp_path))
    with pytest.raises(KeyError, match="ASSIGNMENT"):
        fill("run_autograder", {"HIDDEN_VISIBILITY": "hidden"})


def _fake_wheel(tmp_path):
    w = tmp_path / "diffgrade-0.1.0-py3-none-any.whl"
    w.write_bytes(b"not a wheel")
    return w


def test_setup_installs_into_a_venv_outside_the_source(autograder):
    python = autograder / "venv" / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-c", "import grader; print(grader.__file__)"], cwd="/", capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.startswith(str(autograder / "venv")), proc.stderr
    assert sorted(p.name for p in (autograder / "source").iterdir()) == sorted(
        ["setup.sh", "run_autograder", "requirements.txt", next((autograder / "source").glob("*.whl")).name]
    )


@pytest.mark.slow  # grades whole notebooks again: kept out of the ten-minute default tier
def test_grades_a_submission(autograder, root):
    data = validate(
        run_autograder(
            autograder, {"my_proj5a.ipynb": root / "tests" / "corpus" / "proj5a" / "mistake_cfg_reversed.ipynb"}
        )
    )
    assert data["max_score"] == 100 and 0 < data["score"] < 100
    failed = {t["tags"][0] for t in data["tests"] if t["status"] == "failed"}
    assert failed == {"iterative_denoise_cfg"}
    assert {t["visibility"] for t in data["tests"]} == {"visible", "hidden"}  # the course's choice, baked in


def test_no_notebook_gives_a_message(autograder):
    data = validate(run_autograder(autograder, {"answers.py": None}))
    assert data["score"] == 0 and "No .ipynb notebook" in data["output"] and "answers.py" in data["output"]


def test_two_notebooks_give_a_message(autograder, root):
    nb = root / "assignments" / "proj5a.ipynb"
    data = validate(run_autograder(autograder, {"a.ipynb": nb, "b.ipynb": nb}))
    assert data["score"] == 0 and "2 notebooks" in data["output"]


def test_a_failed_setup_still_leaves_results(tmp_path, zip_path):
    root = unpack(zip_path, tmp_path)  # setup.sh never ran: no venv
    data = validate(run_autograder(root, {"a.ipynb": None}))
    assert data["score"] == 0 and "setup.sh failed" in data["output"]
