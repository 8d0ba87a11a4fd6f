"""The loader keeps definitions and cheap assignments, drops everything else, and never executes code."""

import json

import pytest
from nbtools import write_notebook

from grader.intake.load import infer_assignment, load_notebook, read_notebook
from grader.intake.notebook_file import NotebookError


def _load(tmp_path, cells, assignment="proj5a"):
    path = write_notebook(tmp_path / "nb.ipynb", [("code", c) for c in cells])
    return load_notebook(path, assignment)


def test_keeps_defs_and_drops_top_level_work(tmp_path):
    chunks, info = _load(
        tmp_path,
        [
            "!pip install diffusers\n%matplotlib inline\nimport torch",
            "stage_1 = DiffusionPipeline.from_pretrained('DeepFloyd/IF-I-XL-v1.0')\nprompt_embeds_dict = torch.load('x.pth')",
            "def forward(im, t):\n    return im",
            "strided_timesteps = list(range(990, -1, -30))",
            "plt.imshow(forward(im, 3))\nresult = forward(im, 500)",
        ],
    )
    source = "\n".join(c.source for c in chunks)
    assert "def forward" in source and "import torch" in source and "strided_timesteps = list(range" in source
    assert "from_pretrained" not in source and "torch.load" not in source and "imshow" not in source
    assert "result =" not in source  # a call of a student function is top-level work
    assert "pip" not in source and "matplotlib" not in source


def test_loop_building_a_graded_value_is_kept(tmp_path):
    chunks, _ = _load(
        tmp_path, ["strided_timesteps = []\nfor t in range(990, -1, -30):\n    strided_timesteps.append(t)"]
    )
    assert len(chunks) == 2 and "append" in chunks[1].source


def test_provided_names_are_not_rebound_by_the_notebook(tmp_path):
    chunks, _ = _load(
        tmp_path,
        [
            "alphas_cumprod = stage_1.scheduler.alphas_cumprod\ndevice = 'cuda'",
            "def add_variance(p, t, image):\n    return image * 0",
        ],
    )
    assert chunks == []


def test_syntax_error_costs_only_its_cell(tmp_path):
    chunks, info = _load(
        tmp_path, ["def forward(im, t):\n    return im", "def broken(:\n    pass", "def other():\n    return 1"]
    )
    assert [c.source.split("(")[0] for c in chunks] == ["def forward", "def other"]
    assert any('the cell starting "def broken(:"' in n and "syntax error" in n for n in info.notes)


def test_decorators_are_kept(tmp_path):
    chunks, _ = _load(tmp_path, ["import torch\n@torch.no_grad()\ndef forward(im, t):\n    return im"])
    assert chunks[1].source.startswith("@torch.no_grad()")


def test_cell_magic_other_than_time_drops_the_cell(tmp_path):
    chunks, _ = _load(tmp_path, ["%%bash\necho hi", "%%time\ndef f():\n    return 1"])
    assert len(chunks) == 1 and "def f" in chunks[0].source


@pytest.mark.parametrize(
    "cell",
    [
        "%matplotlib inline\nimport torch",
        "x = !ls",
        "out = %time f()",
        "model?",
        "!pip install diffusers",
        "  # an indented comment first\nx = 1",
        "\n\n  x = 1\n  y = 2",
        "x = (1\n     % 2)",
        ">>> x = 1",
        "In [1]: x = 1",
        "def f():\n    %time g()\n    return 1",
        "print(1);",
        "def f(x):\n    return x @ x\n",
    ],
)
def test_cells_become_the_python_ipython_makes_of_them(cell):
    from IPython.core.inputtransformer2 import TransformerManager

    from grader.intake.load import _transformed

    assert _transformed(TransformerManager(), cell) == TransformerManager().transform_cell(cell)


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "empty"),
        (b"{not json", "not valid notebook JSON"),
        (b'{"hello": 1}', "not a Jupyter notebook"),
        (b"import torch\ndef forward(im, t):\n    return im\n", "not valid notebook JSON"),
        (b"\xff\xfe\x00binary", "not a text file"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, content, needle):
    path = tmp_path / "sub.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError) as e:
        read_notebook(path)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_python_file_gets_a_hint(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("def forward(im, t):\n    return im\n")
    with pytest.raises(NotebookError, match="Python script"):
        read_notebook(path)


def test_old_nbformat_is_read(tmp_path):
    nb3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "def forward(im, t):\n    return im",
                        "language": "python",
                        "outputs": [],
                    }
                ]
            }
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(nb3))
    chunks, _ = load_notebook(path, "proj5a")
    assert "def forward" in chunks[0].source


def test_assignment_is_inferred(tmp_path):
    path = write_notebook(
        tmp_path / "mine.ipynb", [("code", "def forward(im, t):\n    return im\ndef inpaint():\n    pass")]
    )
    assert infer_assignment(read_notebook(path), path) == "proj5a"
    path = write_notebook(
        tmp_path / "b.ipynb", [("code", "class UnconditionalUNet:\n    pass\ndef ddpm_schedule():\n    pass")]
    )
    assert infer_assignment(read_notebook(path), path) == "proj5b"


def test_placeholder_only_definitions_are_marked_as_stubs(tmp_path):
    """What the student notebook hands out (`...` bodies) is 'not implemented', and nothing else is:
    a super().__init__(...) with arguments can be the whole implementation (an nn.Sequential subclass)."""
    cells = [
        (
            "code",
            '''
class Conv(nn.Module):
    """Docstring."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        ...

    def forward(self, x):
        ...


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(Conv(in_channels, out_channels), Conv(out_channels, out_channels))


def forward(im, t):
    """Noise an image."""
    raise NotImplementedError("forward")


def add_noise(x, sigma):
    assert sigma >= 0
    return x + sigma * torch.randn_like(x)


def empty(x):
    pass


class TimeConditionalUNet(MyUNet):
    """All of it inherited from the student's own base class."""
''',
        )
    ]
    chunks, _ = load_notebook(write_notebook(tmp_path / "s.ipynb", cells), "proj5b")
    stubs = {c.name: c.stub for c in chunks if c.kind == "def"}
    assert stubs == {
        "Conv": True,
        "ConvBlock": False,
        "forward": True,
        "add_noise": False,
        "empty": True,
        "TimeConditionalUNet": False,
    }


def test_imports_inside_dropped_statements_are_kept_quietly(tmp_path):
    chunks, _ = _load(
        tmp_path,
        [
            "try:\n    import torchvision.transforms.functional as TF\n    from google.colab import drive\n"
            "    drive.mount('/content/drive')\nexcept ImportError:\n    print('local')",
            "if torch.cuda.is_available():\n    import math\n    def helper():\n        import os\n",
        ],
    )
    imports = [c for c in chunks if c.kind == "import"]
    assert [c.source for c in imports] == [
        "import torchvision.transforms.functional as TF",
        "from google.colab import drive",
        "import math",
    ]
    assert all(c.quiet for c in imports)  # a failed import from a dropped statement is not worth a note
    assert not any("mount" in c.source for c in chunks)
    # the helper defined in the dropped branch is kept whole, as a definition (its own import stays inside it)
    assert [c.name for c in chunks if c.kind == "def"] == ["helper"]


def test_definitions_and_constants_inside_dropped_statements_are_kept(tmp_path):
    chunks, info = _load(
        tmp_path,
        [
            "fig, axes = plt.subplots(1, 2)\nfor ax, key in zip(axes, 'ab'):\n"
            "    def step(x, t):\n        return x - t\n    ax.plot(schedule[key])\n    num_classes = 10\n"
            "    model = make_model()",
            "if USE_GPU:\n    device = 'cuda'\n    batch = 128",
        ],
        assignment="proj5b",
    )
    kept = {c.source.strip() for c in chunks}
    assert "def step(x, t):\n    return x - t" in kept  # dedented, runnable at top level
    assert {"num_classes = 10", "batch = 128"} <= kept
    assert not any("make_model" in c.source or "device" in c.source or "plot" in c.source for c in chunks)
    assert any("step is defined inside a top-level loop" in n for n in info.notes)


def test_top_level_training_loop_is_found(tmp_path):
    _, info = _load(
        tmp_path,
        [
            "def train(model):\n    for x in data:\n        model(x).backward()",
            "for epoch in range(3):\n    for x, _ in loader:\n        loss = ddpm(x)\n        loss.backward()\n"
            "        optimizer.step()",
            "for t in range(5):\n    print(t)",
        ],
        assignment="proj5b",
    )
    assert info.training_loops == ['the cell starting "for epoch in range(3):"']


def test_a_module_used_but_never_imported_is_named_once(tmp_path):
    _, info = _load(
        tmp_path,
        [
            "import numpy as np\nfrom torch import nn",
            "def forward(im, t):\n    return im + torch.randn_like(im)",
            "def blur_denoise(im, k, s):\n    return np.asarray(TF.gaussian_blur(im, k, s))",
            "def add_variance(v, t, im):\n    return im + torch.randn_like(im)",  # provided: the grader's runs
        ],
    )
    torch_notes = [n for n in info.notes if "uses torch" in n]
    assert len(torch_notes) == 1 and "`import torch`" in torch_notes[0] and "forward" in torch_notes[0]
    assert "add_variance" not in torch_notes[0]
    assert any("uses TF" in n and "blur_denoise" in n for n in info.notes)
    assert not any("uses np" in n or "uses nn" in n for n in info.notes)


def test_a_missing_conventional_import_is_supplied_first(tmp_path):
    chunks, info = _load(
        tmp_path,
        ["from torch import nn", "@torch.no_grad()\ndef forward(im, t):\n    return im + torch.randn_like(im)"],
    )
    assert chunks[0].kind == "import" and chunks[0].source == "import torch" and chunks[0].quiet
    assert any("the grader added `import torch`" in n for n in info.notes)


def test_display_helpers_the_code_reads_get_a_no_op_binding_where_unbound(tmp_path):
    chunks, _ = _load(
        tmp_path,
        [
            "import mediapy as media",
            "def sample(x, display=True):\n    show_image(x)\n    media.show_image(x)\n    return x",
        ],
    )
    last = chunks[-1]
    assert last.kind == "stmt" and "bind_no_display" in last.source
    assert "'show_image'" in last.source and "'media'" in last.source and "'sample'" not in last.source
    namespace = {"media": "the notebook's own"}
    exec(last.source, namespace)  # noqa: S102 - the grader's own chunk
    assert namespace["media"] == "the notebook's own"  # bound by the notebook: left alone
    assert not namespace["show_image"](1, title="x")  # unbound: a no-op
