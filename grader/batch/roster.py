"""Which notebooks a folder, a zip or a Gradescope export of submissions holds, and whose they are
(the export's names, SIDs and emails)."""

from __future__ import annotations

import json  # noqa: F401
import re
import sys
import zipfile
from pathlib import Path

from grader.batch import unzip
from grader.reports.sanitize import line

#: The columns a Gradescope export gives each submitter, in the gradebooks' order.
PEOPLE_COLUMNS = ("name", "sid", "email")

METADATA = "submission_metadata.yml"
JUNK = "__MACOSX"  # the resource forks macOS's zip adds


class BatchInputError(Exception):
    """The folder or zip to grade is unusable (missing, holds no notebook): one line, exit status 2."""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "submission"


def export_root(root: Path) -> Path:
    """The folder holding Gradescope's submission_metadata.yml: ``root`` itself, or its one subfolder that
    does (an export zipped with its top folder, ``assignment_123_export/``); else ``root``."""
    if (root / METADATA).is_file():
        return root
    inner = [d for d in root.iterdir() if d.is_dir() and d.name != JUNK and (d / METADATA).is_file()]
    return inner[0] if len(inner) == 1 else root


def _field(person: dict, key: str) -> str:
    value = person.get(f":{key}", person.get(key))
    return "" if value is None else str(value)


def gradescope_submitters(root: Path) -> dict[str, list[dict[str, str]]]:
    """submission_<id> folder -> its submitters, each {"name", "sid", "email"} ("" when not given), from
    Gradescope's submission_metadata.yml (keys written as Ruby symbols, ``:name``, or plain)."""
    meta = root / METADATA
    if not meta.exists():
        return {}
    try:
        import yaml

        data = yaml.safe_load(meta.read_text()) or {}
    except Exception:  # noqa: BLE001 - a broken metadata file only costs nicer names
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for folder, info in data.items():
        info = info if isinstance(info, dict) else {}
        submitters = info.get(":submitters") or info.get("submitters") or []
        submitters = submitters if isinstance(submitters, list) else []
        people = [{k: _field(s, k) for k in PEOPLE_COLUMNS} for s in submitters if isinstance(s, dict)]
        if people:
            out[str(folder)] = people
    return out


def gradescope_names(root: Path) -> dict[str, str]:
    """submission_<id> folder -> a student label (SIDs, else names, joined by +), from submission_metadata.yml."""
    names = {}
    for folder, people in gradescope_submitters(root).items():
        label = "+".join(p["sid"] or p["name"] for p in people)
        if label.strip("+"):
            names[folder] = label
    return names


def student_name(path: Path, root: Path, labels: dict[str, str] | None = None) -> str:
    """A stable, filesystem-safe id: the Gradescope submitter, else the notebook's path under root."""
    rel = path.relative_to(root)
    if labels and rel.parts[0] in labels:
        return _safe(f"{labels[rel.parts[0]]}_{rel.parts[0]}")
    return _safe("__".join(rel.with_suffix("").parts))


def find_submissions(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and JUNK not in p.parts and not p.name.startswith("._")
    )


def _wanted(name: str) -> bool:
    """The members of a zip the batch reads: notebooks and Gradescope's metadata."""
    leaf = name.rsplit("/", 1)[-1]
    return leaf.endswith(".ipynb") or leaf == METADATA


def unpack_zip(zpath: Path, dest: Path) -> Path:
    """Extract the notebooks of a zip of submissions (and Gradescope's metadata) into ``dest`` within
    grader.batch.unzip's bounds, refusing any member that would land outside it (an absolute path, ``..``, a
    sibling such as ``../<dest>_evil/``), any symbolic link, and any zip bomb; BatchInputError when
    the zip as a whole is too large."""
    try:
        extracted = unzip.extract(zpath, dest, _wanted)
    except unzip.ZipRefused as e:
        raise BatchInputError(str(e)) from None
    for skipped, why in (
        (extracted.unsafe, "are links or would land outside the folder"),
        (
            extracted.oversized,
            f"would extract to over {unzip.MAX_MEMBER_BYTES // 2**20} MB or over {unzip.MAX_RATIO} times "
            "their stored size (not graded; look at them by hand)",
        ),
        (extracted.corrupt, "cannot be read (a damaged zip; not graded)"),
    ):
        if skipped:
            shown = ", ".join(line(name, 80) for name in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
            print(
                f"grader batch: {line(zpath.name)}: skipped {len(skipped)} member(s) that {why}: {shown}",
                file=sys.stderr,
            )
    return dest


def submissions_of(root: Path, out: Path) -> tuple[Path, list[Path], list[str]]:
    """(folder, notebooks, student names) for a folder or zip of submissions."""
    if root.is_file() and zipfile.is_zipfile(root):
        root = unpack_zip(root, out / "_submissions")
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder (or zip) of notebooks")
    root = export_root(root)
    labels = gradescope_names(root)
    submissions = find_submissions(root)
    names = [student_name(p, root, labels) for p in submissions]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # two notebooks of one student: keep both, distinctly named
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n}_{seen[n]}"
    return root, submissions, names
