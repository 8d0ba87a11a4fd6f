"""The course registry: a new assignment is one folder, and the engine grades it untouched.

The toy assignment below is written from scratch into a temporary folder: a spec, stand-ins, one
topic module (one probe, one catalogued mistake, one check), its inputs, its reference notebook and fixtures.
Registering the folder is all it takes for the engine to build its fixtures and grade a right
and a wrong notebook, naming the mistake.
"""

import textwrap

import nbformat
import pytest

from grader import course, fixtures
from grader.runner import grade

TOY_FILES = {
    "__init__.py": """
        from grader.course import Spec

        SPEC = Spec(name="toy", title="A toy assignment", provided=frozenset({"offset"}),
                    recognised_by=("def double",), probe_timeout=10.0)
    """,
    "sealed/__init__.py": "",
    "sealed/standins.py": """
        def build(inputs):
            return {"offset": 0.0}
    """,
    "inputs.py": """
        import numpy as np

        def build_inputs():
            return {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    """,
    "checks/__init__.py": "",
    "checks/test_double.py": '''
        import pytest

        from grader.judging.catalogue import Variant
        from grader.probing import Input, call, probe

        PROBES = {"double": probe("double", call("double", Input("x"), name="twice_x"))}
        VARIANTS = [Variant("double", "triples", "it multiplies by 3 instead of 2",
                            edits=(("double", "2 * x", "3 * x"),))]

        @pytest.mark.visible
        @pytest.mark.api("double")
        @pytest.mark.points(5)
        def test_double(sub, ref):
            """double(x) returns 2 x"""
            ref.judge("double", sub.outputs("double", ["twice_x"]), ["twice_x"])
    ''',
}


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    root.chmod(0o755)
    folder = root / "toy"
    for name, text in TOY_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    (folder / "solutions").mkdir()
    _notebook(folder / "solutions" / "toy.ipynb", "def double(x):\n    return 2 * x\n")
    spec = course.register(folder)
    fixtures.build("toy", log=lambda *_: None)
    yield spec
    course.unregister("toy")


def test_a_registered_folder_is_an_assignment(toy):
    assert "toy" in course.names()
    assert toy.fixtures_dir == toy.folder / "fixtures" / "toy"
    assert set(fixtures.load_expected("toy")) == {"double|reference|0", "double|triples|0"}


def test_the_engine_grades_a_right_and_a_wrong_notebook(toy, tmp_path):
    right = grade(_notebook(tmp_path / "right.ipynb", "def double(x):\n    return x + x\n"), "toy")
    assert (right.score, right.max_score) == (5, 5), [c.message for c in right.checks]
    wrong = grade(_notebook(tmp_path / "wrong.ipynb", "def double(x):\n    return x * 3\n"), "toy")
    assert wrong.score == 0 and "multiplies by 3 instead of 2" in wrong.checks[0].message


def test_the_assignment_is_recognised_from_its_names(toy, tmp_path):
    from grader.intake.load import infer_assignment, read_notebook

    path = _notebook(tmp_path / "anything.ipynb", "def double(x):\n    return 2 * x\n")
    assert infer_assignment(read_notebook(path), path) == "toy"


def test_unknown_assignments_are_named(toy):
    with pytest.raises(course.UnknownAssignment, match="toy"):
        course.get("proj9")
