"""The student kits: one command builds each, it runs the visible checks with the full grader's
verdicts, and it holds no solution line, no hidden check, no reference part and no hidden expected
output. Each kit is also installed as students get it (its declared dependencies in a fresh venv)
and its `grader check` run on the reference, the unfilled notebook and a one-mistake notebook."""

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import numpy as np
import pytest
from scratch import cached_venv, venv_seeing, wheel_requirements, world_readable_dir

from grader import course
from grader.probing import Standin
from grader.publish.assign import solution_lines
from grader.publish.kit import build_kit
from grader.publish.kit_source import is_visible

A, B = "proj5a", "proj5b"
#: Solution lines that are also ordinary code of the grader's own worker or judging: the kit cannot
#: run without them and they give nothing away (Part B's schedule line is in its visible check's title).
GENERIC = {
    A: {"with torch.no_grad():"},
    B: {"torch.manual_seed(seed)", "if mask is not None:", "alphas = 1 - betas"},
}


@pytest.fixture(scope="module")
def kits(tmp_path_factory):
    out = {}
    for a in (A, B):
        wheel, _ = build_kit(a, tmp_path_factory.mktemp(f"kit-{a}"))
        with zipfile.ZipFile(wheel) as zf:
            out[a] = (wheel, {n: zf.read(n) for n in zf.namelist()})
    return out


@pytest.fixture(scope="module")
def kit(kits):
    return kits[A]


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


def _full_checks(a=A):
    d = course.get(a).checks_dir
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


@pytest.mark.parametrize("a", [A, B])
def test_no_solution_line(kits, root, a):
    _, files = kits[a]
    kit_lines = {line.strip() for text in _texts(files).values() for line in text.splitlines()}
    solutions = solution_lines(nbformat.read(root / "solutions" / f"{a}.ipynb", as_version=4))
    assert len(solutions) > 20
    assert [line for line in solutions if line in kit_lines and line not in GENERIC[a]] == []
    assert not [n for n in files if n.endswith(".ipynb") or n.startswith(("solutions", "tests", "tools"))]
    # The catalogue's edits are pieces of the reference solution: none may travel (unless the
    # student notebook shows them too, like the provided add_variance's signature).
    student = nbformat.read(root / "assignments" / f"{a}.ipynb", as_version=4)  # what students have anyway:
    public = "\n".join([c.source for c in student.cells] + list(student.metadata["otter"]["tests"].values()))
    edits = {
        s
        for v in course.get(a).variants
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
    with np.load(io.BytesIO(files[f"grader/_bundle/fixtures/{A}/expected.npz"])) as kit_npz:
        shipped = {k: kit_npz[k] for k in kit_npz.files}
    visible_judged, hidden_judged = set(), set()
    probes = course.get(A).probes
    for visible, judged in _full_checks().values():
        for probe, calls in judged:
            (visible_judged if visible else hidden_judged).update((probe, probes[probe].index(c)) for c in calls)
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


def _kit_texts(files, pattern):
    return {n: t for n, t in _texts(files).items() if re.match(pattern, n)}


def test_part_b_kit_runs_only_visible_checks(kits, tmp_path):
    """Part B makes its module checks in a loop at import time: collected from the kit, only the
    visible ones are there, and they are the full grader's visible checks."""
    _, files = kits[B]
    with zipfile.ZipFile(kits[B][0]) as zf:
        zf.extractall(tmp_path / "kit")
    listing = subprocess.run(
        [sys.executable, "-c", COLLECT, str(tmp_path / "kit"), B],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listing.returncode == 0, listing.stderr[-2000:]
    kit_checks = dict(line.split() for line in listing.stdout.splitlines())
    full = course.get(B)
    import importlib

    full_checks = {}
    for path in sorted(full.checks_dir.glob("test_*.py")):
        module = importlib.import_module(f"{full.package}.checks.{path.stem}")
        for name, f in vars(module).items():
            if name.startswith("test_") and callable(f):
                full_checks[name] = any(m.name == "visible" for m in getattr(f, "pytestmark", []))
    assert len(full_checks) > len(kit_checks) > 15
    assert set(kit_checks) == {n for n, visible in full_checks.items() if visible}
    assert set(kit_checks.values()) == {"True"}
    assert not [n for n in files if n.startswith(f"grader/course/{A}/")]


#: Lists the checks a kit's checks modules define after import (run with the kit's package first on sys.path).
COLLECT = """
import importlib, pathlib, sys
sys.path.insert(0, sys.argv[1])
import grader
assert grader.__file__.startswith(sys.argv[1]), grader.__file__
for path in sorted(pathlib.Path(sys.argv[1], "grader", "course", sys.argv[2], "checks").glob("test_*.py")):
    module = importlib.import_module(f"grader.course.{sys.argv[2]}.checks.{path.stem}")
    for name, f in vars(module).items():
        if name.startswith("test_") and callable(f):
            print(name, any(m.name == "visible" for m in getattr(f, "pytestmark", [])))
"""


def test_part_b_kit_ships_no_reference_part(kits, root):
    """No line of the reference blocks, objectives or schedule (support.py) is in the kit: its support.py
    is kit_support.py's stand-ins."""
    _, files = kits[B]
    texts = _texts(files)
    kit_lines = {line.strip() for text in texts.values() for line in text.splitlines()}
    support = root / "grader" / "course" / B / "support.py"
    body = [
        line.strip()
        for line in support.read_text().splitlines()
        if len(line.strip()) > 20 and not line.strip().startswith(("def ", "class ", '"', "import ", "from ", "#"))
    ]
    assert len(body) > 20 and [line for line in body if line in kit_lines] == []
    assert texts[f"grader/course/{B}/support.py"] == (root / "grader" / "course" / B / "kit_support.py").read_text()
    assert f"grader/course/{B}/kit_support.py" not in files


def test_part_b_kit_support_runs_in_every_probe(root):
    """A probe carries the kit's support parts less the one answering its own graded name: what it carries
    must run without it (a stand-in built on another one would fail every probe of that one's name)."""
    from grader.judging.support import _parts

    common, defs = _parts(str(root / "grader" / "course" / B / "kit_support.py"))
    apis = {api for _, api in defs.values() if api}
    assert len(apis) == 13
    for api in apis:
        source = "\n\n".join(common + [text for text, answers in defs.values() if answers != api])
        exec(compile(source, f"<kit support for a probe of {api}>", "exec"), {})


def test_part_b_kit_ships_no_hidden_expected_output(kits, root):
    """Of Part B's expected outputs the kit holds add_noise's (its visible check compares them by value) and,
    for the shape checks, seeded noise of the shapes of the modules' and samplers' outputs: no layer trace, no
    parameter count, no output with the reference weights, no sample."""
    _, files = kits[B]
    with np.load(root / "fixtures" / B / "expected.npz") as full_npz:
        full = {k: full_npz[k] for k in full_npz.files}
    with np.load(io.BytesIO(files[f"grader/_bundle/fixtures/{B}/expected.npz"])) as kit_npz:
        shipped = {k: kit_npz[k] for k in kit_npz.files}
    probes = course.get(B).probes
    by_value = {k for k in shipped if k.startswith("add_noise|")}
    assert {"add_noise|reference|0", "add_noise|reference|1"} <= by_value
    for key, value in shipped.items():
        probe, variant, call = key.split("|")
        assert value.shape == full[key].shape
        if key in by_value:
            assert np.array_equal(value, full[key])
            continue
        assert variant == "reference" and not np.allclose(value, full[key]), key
        func = probes[probe].calls[int(call)].func
        assert func in (Standin("module_output"), Standin("run_sample"), Standin("run_sample_class")), key
    assert len(shipped) < len(full) / 10


#: (reference, unfilled notebook, one-mistake notebook and what its FAIL line says), per assignment
STUDENT_RUNS = {
    A: (
        "solutions/proj5a.ipynb",
        "assignments/proj5a.ipynb",
        "tests/corpus/proj5a/mistake_blur_sigma_kernel_swapped.ipynb",
        ("FAIL  blur_denoise", "kernel_size and sigma look swapped"),
    ),
    B: (
        "solutions/proj5b.ipynb",
        "assignments/proj5b.ipynb",
        "tests/corpus/proj5b/mistake_add_noise_sigma_squared.ipynb",
        ("FAIL  add_noise", "scales the noise by sigma ** 2"),
    ),
}


@pytest.fixture(scope="module")
def student_venv(kits):
    """A venv with the kits' declared dependencies and nothing else (no system packages), made once per
    dependency list and kept in ~/.cache/diffgrade; both kits declare the same. pip installs every dependency
    but torch and torchvision from the index; those two (with what they require) are hard-linked in from this
    interpreter, as a student's own torch would be (about 90 s the first time on this machine, then none)."""
    (requirements,) = {tuple(wheel_requirements(wheel)) for wheel, _ in kits.values()}
    assert "otter-grader" in requirements  # the notebook's own checks import otter.test_files
    return cached_venv(list(requirements))


@pytest.mark.parametrize("a", [A, B])
def test_installed_kit_checks_a_students_notebooks(kits, student_venv, root, tmp_path, a):
    wheel, _ = kits[a]
    base = world_readable_dir(f"kit-{a}-")
    try:
        # the kit over the cached dependencies, in a venv of its own: as `pip install <kit>.whl` into a fresh venv
        venv = venv_seeing(base / "venv", [str(p) for p in student_venv.glob("lib/python3*/site-packages")])
        python = str(venv / "bin" / "python")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True, env=env)
        pip_check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, env=env)
        assert pip_check.returncode == 0, pip_check.stdout  # every declared dependency is installed
        grader = str(venv / "bin" / "grader")

        def run(*args):
            return subprocess.run([grader, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)

        reference, skeleton, mistake, expected = STUDENT_RUNS[a]
        names = []
        for src, name in ((reference, f"{a}.ipynb"), (skeleton, "unfilled.ipynb"), (mistake, "mistake.ipynb")):
            (tmp_path / name).write_bytes((root / src).read_bytes())
            names.append(name)
        procs = [
            subprocess.Popen(
                [grader, "check", n], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for n in names
        ]
        (ok, ok_err), (unfilled, unfilled_err), (wrong, wrong_err) = [p.communicate(timeout=900) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], ok_err[-2000:] + unfilled_err[-2000:] + wrong_err[-2000:]
        # the reference: every visible check and every notebook check passes, with no note for the student
        lines = ok.splitlines()
        head = re.match(r".*: (\d+) of (\d+) visible checks pass$", lines[0])
        assert head and head.group(1) == head.group(2), ok
        assert "FAIL" not in ok and "not available in the grader" not in ok, ok  # the kit has no matplotlib
        assert sum("the notebook's check of" in line for line in lines) >= 10, ok
        # the unfilled notebook: fails, one line per check, with what to do first
        assert "FAIL" in unfilled and "Hint: start with" in unfilled and "Traceback" not in unfilled + unfilled_err
        # one mistake: named
        assert all(e in wrong for e in expected), wrong
        assert sum(line.lstrip().startswith("FAIL") for line in wrong.splitlines()) <= 3, wrong
        # the kit's command line: only what works there, and what it is
        helped = run("--help")
        assert helped.returncode == 0 and f"the student kit for {a}" in helped.stdout
        assert re.search(r"\{check\}", helped.stdout), helped.stdout
        version = run("--version")
        assert version.returncode == 0 and f"the student kit for {a}" in version.stdout
        for staff in (
            ["grade", names[0]],
            ["gradescope", "build", "--assignment", a],
            ["assign"],
            ["fixtures", "build"],
        ):
            proc = run(*staff)
            assert proc.returncode == 2 and "invalid choice" in proc.stderr, staff
    finally:
        shutil.rmtree(base, ignore_errors=True)
