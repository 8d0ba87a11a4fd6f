"""grader similarity: disguised copies are flagged, independent work and the skeleton are not.

The corpus (tests/corpus/similarity/, written by its make_corpus.py) is built on the proj5a skeleton:
alice and bob wrote their own solutions, mallory disguised alice's (renamed, reformatted, reordered,
comments and docstrings rewritten, dead code added), erin handed in the skeleton untouched, and trudy
pasted an earlier term's solution (against/fa23_solution.py) with its names changed. No grading happens
here: nothing imports torch or starts a worker.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import similarity
from grader.cli import main
from grader.similarity.extract import extract
from grader.similarity.normalise import normalise

CORPUS = Path(__file__).resolve().parent / "corpus" / "similarity"
SUBMISSIONS, AGAINST = CORPUS / "submissions", CORPUS / "against"
ASSIGNMENT = "proj5a"

needs_copydetect = pytest.mark.skipif(not similarity.available(), reason="the 'similarity' extra is not installed")


# --------------------------------------------------------------------------- normalising (no extra needed)


def test_normalise_drops_comments_docstrings_annotations_prints_and_dead_code():
    disguised = '''
def f(x: int, y) -> int:
    """Docstring."""
    # a comment
    unused = x * 3
    print("debug", x)
    if False:
        y = y + 100
    z = (x +
         y)
    return z
    z = z + 1
'''
    assert normalise(disguised) == normalise("def f(x, y):\n    z = x + y\n    return z")


def test_extract_keeps_graded_code_in_a_canonical_order_without_stubs_or_dead_helpers():
    alice, mallory, erin = (extract(SUBMISSIONS / f"{n}.ipynb", ASSIGNMENT) for n in ("alice", "mallory", "erin"))
    graded = [u.name for u in alice.units if u.graded]
    assert graded[:3] == ["forward", "blur_denoise", "one_step_denoise"]
    assert [u.name for u in mallory.units if u.graded] == graded  # cells reordered: same order here
    names = {u.name for u in mallory.units}
    assert "unused_helper" not in names  # defined, never called
    assert {"predict_noise", "posterior_mean", "guided_noise"} <= names  # renamed helpers, reached from graded code
    assert not any(u.graded and u.name != "strided_timesteps" for u in erin.units)  # stubs are not code
    assert all("..." in u.code for u in erin.units)


def test_extract_reads_a_script_and_reports_an_unreadable_file(tmp_path):
    script = extract(AGAINST / "fa23_solution.py", ASSIGNMENT, reference=True)
    assert {"forward", "iterative_denoise", "inpaint"} <= {u.name for u in script.units}
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    source = extract(broken, ASSIGNMENT)
    assert source.units == [] and "not valid notebook JSON" in source.error


def test_missing_extra_is_one_line_and_exit_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(similarity, "available", lambda: False)
    status = main(["similarity", str(SUBMISSIONS), "--assignment", ASSIGNMENT, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "pip install" in err and "similarity" in err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- comparing (needs the extra)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("similarity")
    status = main(
        ["similarity", str(SUBMISSIONS), "--assignment", ASSIGNMENT, "--out", str(out), "--against", str(AGAINST), "-q"]
    )
    assert status == 0
    with (out / "similarity.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    pairs = {frozenset((r["student_a"], r["student_b"])): r for r in rows}
    return out, rows, pairs


def _score(pairs, a, b) -> float:
    row = pairs.get(frozenset((a, b)))
    return float(row["score"]) if row else 0.0


@needs_copydetect
def test_disguised_copy_is_flagged_with_its_graded_names(run):
    _, _, pairs = run
    row = pairs[frozenset(("alice", "mallory"))]
    assert float(row["score"]) >= similarity.THRESHOLD and row["flagged"] == "yes"
    assert {"iterative_denoise", "inpaint", "make_hybrids"} <= set(row["shared_graded_names"].split())
    assert "inpaint" in row["matching_lines_a"] and "inpaint" in row["matching_lines_b"]


@needs_copydetect
def test_independent_solutions_on_the_same_skeleton_are_not_flagged(run):
    _, _, pairs = run
    assert _score(pairs, "alice", "bob") < similarity.THRESHOLD
    assert _score(pairs, "bob", "mallory") < similarity.THRESHOLD


@needs_copydetect
def test_copy_of_an_earlier_solution_is_flagged_against_that_file(run):
    _, _, pairs = run
    reference = "against/fa23_solution.py"
    assert _score(pairs, "trudy", reference) >= similarity.THRESHOLD
    assert _score(pairs, "bob", reference) < similarity.THRESHOLD


@needs_copydetect
def test_the_skeleton_alone_matches_nothing(run):
    _, rows, _ = run
    assert not [r for r in rows if "erin" in (r["student_a"], r["student_b"])]


@needs_copydetect
def test_html_ranks_pairs_shows_flagged_ones_side_by_side_and_says_it_is_no_verdict(run):
    out, rows, _ = run
    page = (out / "similarity.html").read_text()
    assert "a reason to look, not a verdict" in page
    assert rows[0]["flagged"] == "yes" and page.count('class="pair"') == sum(r["flagged"] == "yes" for r in rows)
    assert "<mark>" in page and 'id="pair-1"' in page


@needs_copydetect
def test_student_text_is_escaped_in_the_page_and_quoted_in_the_csv(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    nb = nbformat.read(SUBMISSIONS / "alice.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('def helper_x():\n    return "</pre><script>alert(1)</script>"'))
    nb.cells[-1].source += "\n\n\ndef forward(im, t):\n    return helper_x() + '<b>' + str(im) + str(t) * 2 + '</b>'"
    nbformat.write(nb, folder / "-2+3.ipynb")
    nbformat.write(nb, folder / "twin.ipynb")
    out = tmp_path / "out"
    assert main(["similarity", str(folder), "--assignment", ASSIGNMENT, "--out", str(out), "-q"]) == 0
    page = (out / "similarity.html").read_text()
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page
    with (out / "similarity.csv").open(newline="") as f:
        row = next(csv.DictReader(f))
    assert "'-2_3" in (row["student_a"], row["student_b"])


@needs_copydetect
def test_operator_mistakes_are_one_line_exit_status_2(tmp_path, capsys):
    missing = main(["similarity", str(tmp_path / "nope"), "--assignment", ASSIGNMENT, "--out", str(tmp_path / "o")])
    no_against = main(
        ["similarity", str(SUBMISSIONS), "--assignment", ASSIGNMENT, "--out", str(tmp_path / "o"), "--against", "nope"]
    )
    assert missing == 2 and no_against == 2
    assert "no such folder" in capsys.readouterr().err


def test_similarity_does_not_import_torch():
    code = (
        "import sys; from grader.similarity.extract import extract, skeleton_code; "
        f"extract({str(SUBMISSIONS / 'alice.ipynb')!r}, 'proj5a'); skeleton_code('proj5a'); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


@needs_copydetect
def test_all_pairs_at_once_agree_with_copydetect_pair_by_pair():
    from copydetect import compare_files

    from grader.similarity.compare import Fingerprinter, compare_pair, side_scores

    sources = [extract(p, ASSIGNMENT) for p in sorted(SUBMISSIONS.glob("*.ipynb"))]
    fingerprint = Fingerprinter()  # no boilerplate: copydetect's own figures
    prints = [fingerprint(s) for s in sources]
    sides = side_scores(prints)
    checked = 0
    for i, a in enumerate(sources):
        for j, b in enumerate(sources):
            if i < j and prints[i] is not None and prints[j] is not None:
                _, theirs, _ = compare_files(fingerprint._fingerprint(a.text, 1), fingerprint._fingerprint(b.text, 1))
                _, mine, _ = compare_pair(prints[i], prints[j])
                assert mine == pytest.approx(tuple(float(x) for x in theirs))
                assert (sides[i, j], sides[j, i]) == pytest.approx(mine)
                checked += 1
    assert checked >= 6


@needs_copydetect
def test_worker_processes_give_the_same_report(tmp_path, monkeypatch):
    from grader.similarity import command

    monkeypatch.setattr(command, "MIN_FOR_WORKERS", 2)
    reports = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        argv = [
            "similarity",
            str(SUBMISSIONS),
            "--assignment",
            ASSIGNMENT,
            "--out",
            str(out),
            "--against",
            str(AGAINST),
        ]
        assert main([*argv, "-j", jobs, "-q"]) == 0
        reports.append((out / "similarity.csv").read_text())
    assert reports[0] == reports[1] and "alice,mallory,1.000" in reports[0]


@needs_copydetect
def test_batch_similarity_writes_the_report_and_index_links_it(tmp_path):
    from grader.batch import command as batch
    from grader.cli import build_parser
    from grader.similarity.command import for_batch

    assert build_parser().parse_args(["batch", "d", "--out", "o", "--similarity"]).similarity
    notebooks = sorted(SUBMISSIONS.glob("*.ipynb"))
    pages = for_batch(tmp_path, notebooks, [p.stem for p in notebooks], ASSIGNMENT)
    assert [p.name for p in pages] == ["similarity.html"] and (tmp_path / "similarity.csv").exists()
    batch.write_index(tmp_path, [])
    assert 'href="similarity.html"' in (tmp_path / "index.html").read_text()


def test_threshold_takes_a_share_or_a_percentage():
    from grader.cli import build_parser

    def parsed(text):
        return build_parser().parse_args(
            ["similarity", "d", "--assignment", ASSIGNMENT, "--out", "o", "--threshold", text]
        )

    assert parsed("0.7").threshold == parsed("70").threshold == parsed("70%").threshold == pytest.approx(0.7)
    with pytest.raises(SystemExit):
        parsed("150%")
