"""What a student reads is about the student's work: no note for a plotting import, one line (exit
status 3) for a notebook of the other assignment, and on Gradescope the notebook named like the
assignment graded among several, saying which."""

from __future__ import annotations

import pytest
from nbtools import write_notebook

from grader import cli
from grader.intake.load import load_notebook
from grader.publish.gradescope import pick_notebook

PROJ5B_CODE = """
import torch.nn as nn

def ddpm_schedule(beta1, beta2, num_ts):
    ...

class UnconditionalUNet(nn.Module):
    ...

def add_noise(x, sigma):
    return x
"""


def test_plotting_imports_are_quiet(tmp_path):
    """A notebook's plotting imports change nothing the grader checks: when the student kit lacks matplotlib
    (or importing it is slow), the worker leaves them out without a note. Other imports still get one."""
    path = tmp_path / "proj5a.ipynb"
    write_notebook(
        path,
        [
            ("code", "%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom matplotlib import cm"),
            ("code", "import seaborn as sns\nimport mediapy, matplotlib\nimport torch\nimport einops"),
            ("code", "def forward(im, t):\n    return im"),
        ],
    )
    chunks, _ = load_notebook(path, "proj5a")
    imports = {c.source: c.quiet for c in chunks if c.kind == "import"}
    assert imports == {
        "import matplotlib.pyplot as plt": True,
        "from matplotlib import cm": True,
        "import seaborn as sns": True,
        "import mediapy, matplotlib": True,
        "import torch": False,
        "import einops": False,
    }


@pytest.fixture
def no_grading(monkeypatch):
    import grader.runner

    def grade(*args, **kwargs):
        raise AssertionError("grader check graded a notebook of the other assignment")

    monkeypatch.setattr(grader.runner, "grade", grade)


@pytest.mark.parametrize("by", ["metadata", "names"])
def test_other_assignments_notebook_is_one_line_and_exit_3(by, tmp_path, capsys, no_grading):
    path = tmp_path / "mine.ipynb"
    if by == "metadata":
        write_notebook(path, [("code", "x = 1")], assignment="proj5b")
    else:
        write_notebook(path, [("code", PROJ5B_CODE)])
    code = cli.main(["check", str(path), "--assignment", "proj5a"])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_WRONG_ASSIGNMENT == 3
    assert out == "" and len(err.splitlines()) == 1
    assert "mine.ipynb" in err and "looks like proj5b" in err and "use --assignment proj5b" in err
    assert "not defined" not in err


@pytest.mark.parametrize(
    "files, graded",
    [
        (["proj5a.ipynb", "proj5a-Copy1.ipynb"], "proj5a.ipynb"),
        (["Proj5A.ipynb", "scratch.ipynb"], "Proj5A.ipynb"),
        (["my_proj5a_final.ipynb", "scratch.ipynb"], "my_proj5a_final.ipynb"),
        (["sub/proj5a.ipynb", "proj5a_old.ipynb", "notes.ipynb"], "sub/proj5a.ipynb"),
    ],
)
def test_gradescope_grades_the_notebook_named_like_the_assignment(files, graded, tmp_path):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "proj5a-checkpoint.ipynb").write_text("{}")
    notebook, message = pick_notebook(tmp_path, "proj5a")
    assert notebook == tmp_path / graded
    assert message.startswith(f"Graded {graded} ") and f"{len(files)} notebooks" in message


def test_gradescope_asks_when_no_notebook_is_named_like_the_assignment(tmp_path):
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / name).write_text("{}")
    notebook, message = pick_notebook(tmp_path, "proj5a")
    assert notebook is None and "upload exactly one" in message and "proj5a.ipynb" in message
    (tmp_path / "b.ipynb").unlink()
    assert pick_notebook(tmp_path, "proj5a") == (tmp_path / "a.ipynb", None)  # one notebook: whatever its name
