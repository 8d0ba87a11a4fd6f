"""The committed corpora are exactly what their generators write: each tests/corpus/<name>/make_corpus.py is
run in a copy of the files it reads (tools/, solutions/, assignments/ and its own folder's modules), and every
notebook and manifest it writes must equal the committed one byte for byte, with none missing or extra. A
corpus edited by hand, or a generator changed without writing its corpus again, fails here."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
GENERATED = sorted(p.parent.name for p in CORPUS.glob("*/make_corpus.py"))
WRITTEN = (".ipynb", ".json")


def _written(folder: Path) -> dict:
    return {p.relative_to(folder): p for p in folder.rglob("*") if p.is_file() and p.suffix in WRITTEN}


def test_every_corpus_has_a_generator():
    assert set(GENERATED) >= {"adversarial", "judge_attacks", "proj5a", "proj5b", "similarity"}


@pytest.mark.parametrize("name", GENERATED)
def test_committed_corpus_is_what_its_generator_writes(name, tmp_path):
    for shared in ("tools", "solutions", "assignments"):
        shutil.copytree(ROOT / shared, tmp_path / shared, ignore=shutil.ignore_patterns("__pycache__"))
    source, copy = CORPUS / name, tmp_path / "tests" / "corpus" / name
    copy.mkdir(parents=True)
    for module in source.glob("*.py"):
        shutil.copy2(module, copy / module.name)
    run = subprocess.run(
        [sys.executable, str(copy / "make_corpus.py")], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    committed, written = _written(source), _written(copy)
    assert sorted(map(str, committed)) == sorted(map(str, written))
    changed = [str(rel) for rel, path in committed.items() if path.read_bytes() != written[rel].read_bytes()]
    assert not changed, f"{name}: these differ from what make_corpus.py writes (run it and commit): {changed}"
