"""The worker's preload without torch._dynamo (grader.worker.preload): what it leaves out, and that nothing is lost."""

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


def test_a_worker_that_does_not_train_imports_its_libraries_without_the_compiler(tmp_path):
    out = _run(
        """
        import sys
        from grader import course
        from grader.worker.preload import preload

        preload(course.get("proj5a").worker_module_names, torch_dynamo=False)
        print("dynamo" if "torch._dynamo" in sys.modules else "no dynamo")
        import torch
        import torchvision.transforms.functional as TF
        from diffusers import DDPMScheduler

        print(tuple(TF.gaussian_blur(torch.ones(1, 3, 9, 9), 3, 1.0).shape))
        import torch._dynamo  # the real one, on first use (torch.compile, torch.optim)

        print(hasattr(torch._dynamo, "optimize"), torch._dynamo.utils.is_compile_supported("cpu"))
        model = torch.nn.Linear(2, 1)
        optimiser = torch.optim.Adam(model.parameters())
        model(torch.ones(1, 2)).sum().backward()
        optimiser.step()
        print("trained")
        """,
        tmp_path,
    )
    assert out.split("\n")[:4] == ["no dynamo", "(1, 3, 9, 9)", "True True", "trained"]


@pytest.mark.parametrize(
    "source",
    [
        "from torch._dynamo import disable\nVALUE = disable(lambda: 3)()\n",  # another name: the real one
        "from torch._dynamo.eval_frame import OptimizedModule\nVALUE = 3\n",  # a submodule: imported again
    ],
)
def test_a_library_that_needs_more_of_the_compiler_gets_the_real_one(tmp_path, source):
    (tmp_path / "needs_more.py").write_text(source)
    out = _run(
        """
        import sys
        from grader.worker.preload import _import

        _import("needs_more", defer_dynamo=True)
        import torch
        import needs_more

        compiled = torch.compile(torch.nn.Linear(2, 1))  # the compiler works afterwards
        print(needs_more.VALUE, type(sys.modules["torch._dynamo"].disable).__name__, type(compiled).__name__)
        """,
        tmp_path,
    )
    assert out.split() == ["3", "function", "OptimizedModule"]


def test_an_assignment_whose_probes_train_preloads_the_compiler(tmp_path):
    out = _run(
        """
        import sys
        from grader import course
        from grader.worker.preload import preload

        spec = course.get("proj5b")
        preload(spec.worker_module_names, torch_dynamo=spec.needs_torch_dynamo)
        print("dynamo" if "torch._dynamo" in sys.modules else "no dynamo")
        """,
        tmp_path,
    )
    assert out.split() == ["dynamo"]
