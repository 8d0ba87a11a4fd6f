"""Gradescope: build the autograder zip, and grade inside the container.

``grader gradescope build --assignment A [--image ubuntu-22.04|ubuntu-24.04] -o autograder.zip``
packs what grading needs and nothing else: ``setup.sh`` (makes a venv at /autograder/venv,
installs CPU-only torch and the requirements, then the grader's wheel), ``run_autograder``,
``requirements.txt`` and the grader's wheel (with its fixtures; no reference notebooks, tests
or tools). Both scripts are filled from ``grader/templates/gradescope/``. The requirements are
version ranges with markers per Python, which pip resolves in the image for the image's own
Python, so the build needs no network and works on any machine.

Inside the container, ``run_autograder`` calls ``grader gradescope run``, which grades the one
notebook under ``/autograder/submission`` and always writes ``/autograder/results/results.json``:
a missing or extra notebook gives a results file with a clear message, never an empty one. The
root is ``/autograder`` unless ``--root`` or ``DIFFGRADE_AUTOGRADER_ROOT`` says otherwise (tests
use a temporary root).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grader import course
from grader.reports.results import VISIBILITIES, results_json, write_json_atomic

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "gradescope"
DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
#: Gradescope's base images and the Python each one ships.
IMAGES = {"ubuntu-22.04": "3.10", "ubuntu-24.04": "3.12"}
DEFAULT_IMAGE = "ubuntu-22.04"


def fill(template: str, values: dict) -> str:
    """The template file's text with each ``@NAME@`` replaced; every name must be given."""
    text = (TEMPLATES / template).read_text()

    def value(match):
        if match.group(1) not in values:
            raise KeyError(f"{template}: no value for @{match.group(1)}@")
        return str(values[match.group(1)])

    return re.sub(r"@([A-Z_]+)@", value, text)


def requirements() -> str:
    return (TEMPLATES / "requirements.txt").read_text()


def build_zip(
    assignment: str,
    out: Path,
    torch_index: str = DEFAULT_TORCH_INDEX,
    hidden_visibility: str = "after_published",
    image: str = DEFAULT_IMAGE,
    wheel: Path | None = None,
) -> Path:
    """Write the autograder zip; ``wheel`` is the grader's wheel (built from this checkout if None)."""
    course.get(assignment)
    if image not in IMAGES:
        raise ValueError(f"unknown image {image!r}; choose one of {', '.join(IMAGES)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffgrade-gradescope-") as tmp:
        if wheel is None:
            from grader.publish.wheel import build_wheel

            wheel = build_wheel(Path(tmp))
        wheel = Path(wheel)
        setup = fill(
            "setup.sh",
            {"IMAGE": image, "PYTHON_VERSION": IMAGES[image], "TORCH_INDEX": torch_index, "WHEEL": wheel.name},
        )
        run_autograder = fill("run_autograder", {"ASSIGNMENT": assignment, "HIDDEN_VISIBILITY": hidden_visibility})
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:

            def add(name: str, data, executable: bool = False):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)

            add("setup.sh", setup, executable=True)
            add("run_autograder", run_autograder, executable=True)
            add("requirements.txt", requirements())
            add(wheel.name, wheel.read_bytes())
    return out


def _message_results(message: str) -> dict:
    return {
        "score": 0.0,
        "max_score": 0.0,
        "execution_time": 0.0,
        "output": message,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def pick_notebook(submission: Path, assignment: str) -> tuple[Path | None, str | None]:
    """The notebook to grade, or None; and a message for the student (why none, or which of several was graded)."""
    notebooks = sorted(p for p in submission.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        others = sorted(p.name for p in submission.rglob("*") if p.is_file())[:5]
        seen = f" (found: {', '.join(others)})" if others else ""
        return None, f"No .ipynb notebook in your submission{seen}. Upload your notebook, e.g. {assignment}.ipynb."
    if len(notebooks) == 1:
        return notebooks[0], None
    names = ", ".join(p.relative_to(submission).as_posix() for p in notebooks)
    # the one named like the assignment (proj5a.ipynb), else the only one whose name contains it
    for named in (
        [p for p in notebooks if p.stem.lower() == assignment.lower()],
        [p for p in notebooks if assignment.lower() in p.name.lower()],
    ):
        if len(named) == 1:
            return (
                named[0],
                f"Graded {named[0].relative_to(submission).as_posix()} (your submission has {len(notebooks)} notebooks: {names}).",
            )
    return None, (
        f"Your submission has {len(notebooks)} notebooks ({names}); upload exactly one "
        f"(or name the one to grade {assignment}.ipynb)."
    )


def run(root: Path, assignment: str, hidden_visibility: str = "after_published") -> dict:
    t0 = time.perf_counter()
    results_path = root / "results" / "results.json"
    try:
        notebook, message = pick_notebook(root / "submission", assignment)
        if notebook is None:
            data = _message_results(message)
        else:
            from grader.runner import grade

            data = results_json(grade(notebook, assignment), hidden_visibility=hidden_visibility)
            if message:  # several notebooks: say which one was graded
                data["output"] = message + ("\n\n" + data["output"] if data.get("output") else "")
    except Exception as e:  # noqa: BLE001 - results.json must exist whatever happens
        data = _message_results(
            f"The autograder failed on this submission ({type(e).__name__}: {e}). Please contact the course staff."
        )
    data["execution_time"] = round(time.perf_counter() - t0, 2)
    write_json_atomic(results_path, data)
    return data


def cmd_build(args) -> int:
    from grader.publish.wheel import WheelError

    try:
        out = build_zip(
            args.assignment,
            Path(args.output),
            torch_index=args.torch_index,
            hidden_visibility=args.hidden_visibility,
            image=args.image,
        )
    except WheelError as e:
        print(f"grader gradescope build: {e}", file=sys.stderr)
        return 2
    print(
        f"{out}: setup.sh, run_autograder, requirements.txt and the grader's wheel for {args.assignment}, "
        f"for {args.image} (Python {IMAGES[args.image]}) ({out.stat().st_size // 1024} KB)"
    )
    return 0


def cmd_run(args) -> int:
    root = Path(args.root or os.environ.get("DIFFGRADE_AUTOGRADER_ROOT", "/autograder"))
    data = run(root, args.assignment, args.hidden_visibility)
    print(
        f"score {data['score']:g}/{data['max_score']:g}; results in {root / 'results' / 'results.json'}",
        file=sys.stderr,
    )
    return 0


def add_parser(sub) -> None:
    g = sub.add_parser("gradescope", help="build the Gradescope autograder, or grade inside it")
    gs = g.add_subparsers(dest="gradescope_command", required=True)
    b = gs.add_parser(
        "build", help="write autograder.zip (setup.sh, run_autograder, requirements and the grader's wheel)"
    )
    b.add_argument("--assignment", required=True, choices=course.names())
    b.add_argument("-o", "--output", default="autograder.zip")
    b.add_argument(
        "--image",
        default=DEFAULT_IMAGE,
        choices=list(IMAGES),
        help=f"Gradescope base image (default {DEFAULT_IMAGE}, Python {IMAGES[DEFAULT_IMAGE]})",
    )
    b.add_argument("--torch-index", default=DEFAULT_TORCH_INDEX, help="wheel index for CPU-only torch")
    b.add_argument(
        "--hidden-visibility",
        default="after_published",
        choices=VISIBILITIES,
        help="when students see the hidden checks (default: after grades are published)",
    )
    b.set_defaults(func=cmd_build)
    r = gs.add_parser("run", help="grade /autograder/submission into /autograder/results/results.json")
    r.add_argument(
        "--assignment",
        required=True,
        choices=course.names(),
        help="the assignment (run_autograder passes the one the zip was built for)",
    )
    r.add_argument("--root", help="autograder root (default /autograder)")
    r.add_argument("--hidden-visibility", default="after_published", choices=VISIBILITIES)
    r.set_defaults(func=cmd_run)
