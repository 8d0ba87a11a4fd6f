"""What a worker leaves out of its imports (torch._dynamo in grader.worker.preload; most of otter for the public checks),
and that nothing is lost."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{ROOT}:{tmp_path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("assignment", ["proj5a", "proj5b"])
def test_a_worker_imports_its_libraries_without_the_compiler_and_trains_without_it(tmp_path, assignment):
    out = _run(
        f"""
        import sys
        from grader import course
        from grader.worker.preload import preload, _DeferredDynamo

        preload(course.get({assignment!r}).worker_module_names)
        import torch
        import torchvision.transforms.functional as TF

        print(tuple(TF.gaussian_blur(torch.ones(1, 3, 9, 9), 3, 1.0).shape))
        model = torch.nn.Linear(2, 1)
        for optimiser in (torch.optim.Adam(model.parameters()), torch.optim.SGD(model.parameters(), lr=0.1)):
            optimiser.zero_grad()
            model(torch.ones(1, 2)).sum().backward()
            optimiser.step()
            optimiser.state_dict()
        print("trained", isinstance(sys.modules["torch._dynamo"], _DeferredDynamo), "sympy" in sys.modules)
        """,
        tmp_path,
    )
    assert out.split("\n")[:2] == ["(1, 3, 9, 9)", "trained True False"]


@pytest.mark.parametrize(
    "source",
    [
        "import torch._dynamo\nVALUE = torch._dynamo.config.cache_size_limit > 0\n",  # another name: the real one
        "from torch._dynamo.eval_frame import OptimizedModule\nVALUE = OptimizedModule is not None\n",  # a submodule
        "import torch._dynamo.utils\nVALUE = torch._dynamo.utils.is_compile_supported('cpu')\n",
        "import torch\nVALUE = torch.compiler.is_compiling() is False and torch.compile(abs) is not None\n",
    ],
)
def test_code_that_needs_more_of_the_compiler_gets_the_real_one(tmp_path, source):
    (tmp_path / "needs_more.py").write_text(source)
    out = _run(
        """
        import sys
        from grader.worker.preload import defer_dynamo, _DeferredDynamo

        defer_dynamo()
        import torch
        import needs_more

        compiled = torch.compile(torch.nn.Linear(2, 1))  # the compiler works afterwards
        real = sys.modules["torch._dynamo"]
        print(needs_more.VALUE, isinstance(real, _DeferredDynamo), real is torch._dynamo, type(compiled).__name__)
        print(real.__spec__.name, sys.modules["torch._dynamo.eval_frame"].__spec__.name)
        """,
        tmp_path,
    )
    assert out.split() == ["True", "False", "True", "OptimizedModule", "torch._dynamo", "torch._dynamo.eval_frame"]


def test_a_public_check_gets_otters_test_case_without_the_rest_of_otter(tmp_path):
    out = _run(
        """
        import sys
        from grader.worker.processes import _import_otter_test_files

        _import_otter_test_files()
        namespace = {}
        exec("from otter.test_files import test_case\\n@test_case(points=None, hidden=False)\\n"
             "def test_it(env):\\n    assert env['x'] == 1, 'x is not 1'\\n", namespace)
        case = namespace["test_it"]
        case.call_func({"x": 1})
        try:
            case.call_func({"x": 2})
        except AssertionError as e:
            print(e)
        print(type(case).__module__, "IPython" in sys.modules, "pandas" in sys.modules)
        """,
        tmp_path,
    )
    assert out.split("\n")[:2] == ["x is not 1", "otter.test_files.exception_test False False"]
