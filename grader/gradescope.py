"""Gradescope: build the autograder zip, and grade inside the container.

``grader gradescope build --assignment A -o autograder.zip`` packs ``setup.sh``
(installs pinned, CPU-only dependencies and this package), ``run_autograder``
and the grader's source. Inside the container, ``run_autograder`` calls
``grader gradescope run``, which grades the one notebook under
``/autograder/submission`` and always writes ``/autograder/results/results.json``:
a missing or extra notebook gives a results file with a clear message, never an
empty one. The root is ``/autograder`` unless ``--root`` or
``DIFFGRADE_AUTOGRADER_ROOT`` says otherwise (tests use a temporary root).
"""

from __future__ import annotations

import os
import stat
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

from grader import course
from grader.reports.results import VISIBILITIES, results_json, write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
PINNED = ["torch", "torchvision", "numpy", "nbformat", "nbconvert", "pytest", "pytest-timeout", "diffusers",
          "ipython", "tqdm"]
#: What the autograder zip carries of this repository (fixtures' inputs and expected outputs included).
PACKED = ["pyproject.toml", "README.md", "grader", "fixtures", "solutions"]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def requirements() -> str:
    lines = []
    for name in PINNED:
        v = _version(name)
        if v:
            v = v.split("+")[0]  # local tags (+cu130) are not on the CPU index: pin the release
            lines.append(f"{name}=={v}")
    return "\n".join(lines) + "\n"


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built.
set -euo pipefail
cd /autograder/source
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv >/dev/null || true
# CPU-only torch: the containers have no GPU; set TORCH_INDEX to use another wheel index.
TORCH_INDEX="${{TORCH_INDEX:-{torch_index}}}"
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet --extra-index-url "$TORCH_INDEX" -r requirements.txt
python3 -m pip install --quiet --no-deps -e .
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it must always leave results/results.json.
ROOT="${{DIFFGRADE_AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT/source"
exec python3 -m grader gradescope run --assignment {assignment} --root "$ROOT" --hidden-visibility {hidden_visibility}
"""


def build_zip(assignment: str, out: Path, torch_index: str = DEFAULT_TORCH_INDEX,
              hidden_visibility: str = "after_published") -> Path:
    course.get(assignment)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add_text(name: str, text: str, executable: bool = False):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)

        add_text("setup.sh", SETUP_SH.format(torch_index=torch_index), executable=True)
        add_text("run_autograder", RUN_AUTOGRADER.format(assignment=assignment, hidden_visibility=hidden_visibility), executable=True)
        add_text("requirements.txt", requirements())
        for entry in PACKED:
            path = ROOT / entry
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                if "__pycache__" in f.parts or f.suffix == ".pyc":
                    continue
                rel = f.relative_to(ROOT).as_posix()
                info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o644 | stat.S_IFREG) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, f.read_bytes())
    return out


def _message_results(message: str) -> dict:
    return {"score": 0.0, "max_score": 0.0, "execution_time": 0.0, "output": message,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def pick_notebook(submission: Path, assignment: str) -> tuple[Path | None, str | None]:
    """The notebook to grade, or (None, a message for the student)."""
    notebooks = sorted(p for p in submission.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        others = sorted(p.name for p in submission.rglob("*") if p.is_file())[:5]
        seen = f" (found: {', '.join(others)})" if others else ""
        return None, f"No .ipynb notebook in your submission{seen}. Upload your notebook, e.g. {assignment}.ipynb."
    if len(notebooks) == 1:
        return notebooks[0], None
    named = [p for p in notebooks if assignment in p.name]
    if len(named) == 1:
        return named[0], None
    names = ", ".join(p.name for p in notebooks)
    return None, (f"Your submission has {len(notebooks)} notebooks ({names}); upload exactly one "
                  f"(or name the one to grade {assignment}.ipynb).")


def run(root: Path, assignment: str, hidden_visibility: str = "after_published") -> dict:
    t0 = time.perf_counter()
    results_path = root / "results" / "results.json"
    try:
        notebook, problem = pick_notebook(root / "submission", assignment)
        if problem:
            data = _message_results(problem)
        else:
            from grader.runner import grade

            data = results_json(grade(notebook, assignment), hidden_visibility=hidden_visibility)
    except Exception as e:  # noqa: BLE001 - results.json must exist whatever happens
        data = _message_results(f"The autograder failed on this submission ({type(e).__name__}: {e}). "
                                "Please contact the course staff.")
    data["execution_time"] = round(time.perf_counter() - t0, 2)
    write_json_atomic(results_path, data)
    return data


def cmd_build(args) -> int:
    out = build_zip(args.assignment, Path(args.output), torch_index=args.torch_index,
                    hidden_visibility=args.hidden_visibility)
    print(f"{out}: setup.sh, run_autograder and the grader for {args.assignment} ({out.stat().st_size // 1024} KB)")
    return 0


def cmd_run(args) -> int:
    root = Path(args.root or os.environ.get("DIFFGRADE_AUTOGRADER_ROOT", "/autograder"))
    data = run(root, args.assignment, args.hidden_visibility)
    print(f"score {data['score']:g}/{data['max_score']:g}; results in {root / 'results' / 'results.json'}",
          file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    g = sub.add_parser("gradescope", help="build the Gradescope autograder, or grade inside it")
    gs = g.add_subparsers(dest="gradescope_command", required=True)
    b = gs.add_parser("build", help="write autograder.zip (setup.sh + run_autograder + this grader)")
    b.add_argument("--assignment", required=True, choices=course.names())
    b.add_argument("-o", "--output", default="autograder.zip")
    b.add_argument("--torch-index", default=DEFAULT_TORCH_INDEX, help="wheel index for CPU-only torch")
    b.add_argument("--hidden-visibility", default="after_published", choices=VISIBILITIES,
                   help="when students see the hidden checks (default: after grades are published)")
    b.set_defaults(func=cmd_build)
    r = gs.add_parser("run", help="grade /autograder/submission into /autograder/results/results.json")
    r.add_argument("--assignment", required=True, choices=course.names(),
                   help="the assignment (run_autograder passes the one the zip was built for)")
    r.add_argument("--root", help="autograder root (default /autograder)")
    r.add_argument("--hidden-visibility", default="after_published", choices=VISIBILITIES)
    r.set_defaults(func=cmd_run)
