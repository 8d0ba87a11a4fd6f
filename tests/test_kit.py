"""The student kit: one command builds it, it runs the visible checks with the full grader's
verdicts, and it holds no solution line, no hidden check and no hidden expected output."""

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import numpy as np
import pytest
from scratch import hide_editable_installs, world_readable_dir

from grader import course
from grader.assign import solution_lines
from grader.judge import call_index
from grader.kit import KitError, build_kit, is_visible

A = "proj5a"
#: Solution lines that are also ordinary code of the grader's own worker (grader/runtime.py): the
#: kit cannot run without them and they give nothing away.
GENERIC = {"with torch.no_grad():"}


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    wheel, _ = build_kit(A, tmp_path_factory.mktemp("kit"))
    with zipfile.ZipFile(wheel) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    return wheel, files


def _texts(files):
    return {n: b.decode() for n, b in files.items() if not n.endswith(".npz")}


def _value(function: ast.FunctionDef, node: ast.AST):
    """A literal, or the literal assigned to that name earlier in the function (``calls = [...]``)."""
    if isinstance(node, ast.Name):
        for stmt in ast.walk(function):
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets):
                return ast.literal_eval(stmt.value)
    return ast.literal_eval(node)


def _checks(sources: dict) -> dict:
    """test function name -> (visible, [(probe, calls) it judges by value])"""
    out = {}
    for source in sources.values():
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                judged = []
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "judge":
                        probe, calls = call.args[0], _value(node, call.args[2])
                        judged.append((ast.literal_eval(probe), calls))
                out[node.name] = (is_visible(node), judged)
    return out


def _full_checks():
    d = course.get(A).checks_dir
    return _checks({p.name: p.read_text() for p in d.glob("test_*.py")})


def test_no_hidden_check(kit):
    _, files = kit
    kit_checks = _checks(
        {n: t for n, t in _texts(files).items() if re.match(rf"grader/course/{A}/checks/test_.*\.py$", n)}
    )
    full = _full_checks()
    assert kit_checks and all(visible for visible, _ in kit_checks.values())
    assert set(kit_checks) == {name for name, (visible, _) in full.items() if visible}
    assert len(full) > len(kit_checks)  # there were hidden checks to leave out
    assert not [n for n in files if re.match(r"grader/course/proj5b/", n)]


def test_no_solution_line(kit, root):
    _, files = kit
    kit_lines = {line.strip() for text in _texts(files).values() for line in text.splitlines()}
    solutions = solution_lines(nbformat.read(root / "solutions" / f"{A}.ipynb", as_version=4))
    assert len(solutions) > 20
    assert [line for line in solutions if line in kit_lines and line not in GENERIC] == []
    # The catalogue's edits are pieces of the reference solution: none may travel (unless the
    # student notebook shows them too, like the provided add_variance's signature).
    student = nbformat.read(root / "assignments" / f"{A}.ipynb", as_version=4)  # what students have anyway:
    public = "\n".join([c.source for c in student.cells] + list(student.metadata["otter"]["tests"].values()))
    edits = {
        s
        for v in course.get(A).variants
        for _, old, new in v.edits
        for s in (old, new)
        if len(s) > 12 and s not in public
    }
    text = "\n".join(_texts(files).values())
    assert edits and [e for e in edits if e in text] == []
    assert not [n for n in files if n.endswith(".ipynb") or n.startswith(("solutions", "tests", "tools"))]


def test_no_hidden_expected_output(kit, root):
    _, files = kit
    with np.load(root / "fixtures" / A / "expected.npz") as full_npz:
        full = {k: full_npz[k] for k in full_npz.files}
    import io

    with np.load(io.BytesIO(files[f"grader/_bundle/fixtures/{A}/expected.npz"])) as kit_npz:
        shipped = {k: kit_npz[k] for k in kit_npz.files}
    visible_judged, hidden_judged = set(), set()
    probes = course.get(A).probes
    for visible, judged in _full_checks().values():
        for probe, calls in judged:
            (visible_judged if visible else hidden_judged).update(
                (probe, call_index(probes[probe][1], c)) for c in calls
            )
    assert hidden_judged - visible_judged  # outputs that only hidden checks compare
    for key, value in shipped.items():
        probe, _, call = key.split("|")
        assert value.shape == full[key].shape
        if (probe, int(call)) in visible_judged:
            assert np.array_equal(value, full[key])
        else:  # looked at for its shape only: seeded noise, not the reference's output
            assert not np.allclose(value, full[key]), f"{key} ships the reference's output"
    assert not np.allclose(shipped["forward|reference|0"], full["forward|reference|0"])
    assert len(shipped) < len(full)


def test_no_kit_for_an_assignment_whose_standins_hold_the_reference(tmp_path):
    with pytest.raises(KitError, match="proj5b"):
        build_kit("proj5b", tmp_path)


@pytest.mark.slow  # 35 s: a venv, the kit installed, `grader check` run twice (kit and full grader)
def test_installed_kit_checks_like_the_full_grader(kit, root, tmp_path):
    wheel, _ = kit
    base = world_readable_dir("kit-venv-")
    try:
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        hide_editable_installs(venv)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True
        )
        notebook = tmp_path / "proj5a.ipynb"
        shutil.copy(root / "tests" / "corpus" / A / "mistake_blur_sigma_kernel_swapped.ipynb", notebook)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        kit_run = subprocess.run(
            [str(venv / "bin" / "grader"), "check", notebook.name],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        full_run = subprocess.run(
            [sys.executable, "-m", "grader", "check", str(notebook)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert kit_run.returncode == full_run.returncode == 0, kit_run.stderr[-2000:]
        assert "FAIL  blur_denoise" in kit_run.stdout and "kernel_size and sigma look swapped" in kit_run.stdout
        assert kit_run.stdout == full_run.stdout
        staff = subprocess.run(
            [str(venv / "bin" / "grader"), "gradescope", "build", "--assignment", A],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert staff.returncode == 2 and "invalid choice" in staff.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
