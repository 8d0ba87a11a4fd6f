"""The sealed worker: what student code can see, write, forge and leave behind.

Each test runs attacker code inside a real worker (no mocks) and fails when the protection it
names is removed: the allowlisted root, the private namespaces, the closed grader socket, the
refusal of extra answer frames, the per-probe cleanup, the worker's end taking its processes.
"""

import os
import textwrap
from pathlib import Path

import pytest

from grader import course
from grader.fixtures import load_inputs
from grader.intake.load import load_notebook
from grader.isolation.policy import isolation_mode
from grader.isolation.spawn import IsolationUnavailable, Limits, WorkerProcess
from grader.probing import call

ROOT = Path(__file__).resolve().parent.parent

try:
    SEALED = isolation_mode() == "sealed"
except IsolationUnavailable:
    SEALED = False
pytestmark = pytest.mark.skipif(not SEALED, reason="this kernel cannot seal workers here")


def _chunks(source: str) -> list[dict]:
    return [{"cell": 1, "source": textwrap.dedent(source), "kind": "def", "name": "attack", "stub": False}]


def _worker(source: str, assignment: str = "proj5a") -> WorkerProcess:
    spec = course.get(assignment)
    return WorkerProcess(
        spec,
        [{"cell": 0, "source": "import os, sys", "kind": "import"}] + _chunks(source),
        load_inputs(assignment),
        Limits(probe_timeout=20),
    )


def _call(worker: WorkerProcess, *args, api: str = "attack") -> dict:
    from grader.judging.support import support_source

    return worker.probe([call("attack", *args)], timeout=20, support=support_source(worker.spec, api))["results"][0]


def _value(answer: dict):
    from grader import protocol

    assert answer.get("ok"), answer
    return protocol.decode(answer["value"])


SECRETS = [
    str(ROOT / p)
    for p in (
        "solutions/proj5a.ipynb",
        "fixtures/proj5a/expected.npz",
        ".git/HEAD",
        "tools",
        "tests",
        "grader/course/proj5a/checks",
        "grader/course/proj5a/shared.py",
        "grader/course/proj5a/support.py",
        "grader/course/proj5b/support.py",
        "grader/judging/judge.py",
    )
]


def test_the_worker_sees_none_of_the_project_but_its_worker_side_modules():
    with _worker("""
        def attack(paths):
            return [os.path.exists(p) for p in paths] + [os.path.exists(os.path.dirname(sys.executable))]
    """) as w:
        seen = _value(_call(w, SECRETS))
    assert seen[:-1] == [False] * len(SECRETS), dict(zip(SECRETS, seen))
    assert seen[-1], "the interpreter stays reachable"


def test_reference_code_cannot_be_imported_or_found_in_memory():
    with _worker("""
        def attack():
            found = []
            for mod in ("grader.course.proj5a.support", "grader.course.proj5b.support", "grader.judging.judge"):
                try:
                    __import__(mod)
                    found.append(mod)
                except ImportError:
                    pass
            for name, module in list(sys.modules.items()):
                names = getattr(module, "__dict__", {})
                if "reference_forward" in names or "RefConv" in names:
                    found.append(name)
            from grader.worker import environment
            found += sorted(k for k in ("reference_forward", "RefConv") if k in environment.SUPPORT)
            return " ".join(found)
    """) as w:
        assert _value(_call(w, api="forward")) == ""  # a probe of forward carries no reference forward


def test_proc_shows_only_the_workers_own_processes():
    with _worker("""
        def attack(grader_pid):
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            readable = []
            for target in ("root", "cwd", "fd", "environ", "mem"):
                path = f"/proc/{grader_pid}/{target}"
                try:
                    os.listdir(path) if target in ("root", "cwd", "fd") else open(path, "rb").read(16)
                    readable.append(target)
                except OSError:
                    pass
            return [min(pids), max(pids), len(readable), os.getuid()]
    """) as w:
        low, high, readable, uid = _value(_call(w, os.getpid()))
    assert low == 1 and high < 50 and readable == 0
    if os.geteuid() == 0:
        assert uid != 0, "student code never runs as root"


def test_forged_answer_frames_are_refused_and_the_grader_socket_is_closed():
    forge = """
        def attack():
            import json, struct
            body = json.dumps({"results": [{"ok": True, "value": 42}], "printed": ""}).encode()
            frame = struct.pack(">I", len(body)) + body
            wrote = []
            for fd in range(3, 64):
                try:
                    os.write(fd, frame)
                    wrote.append(fd)
                except OSError:
                    pass
            return 7
    """
    with _worker(forge) as w:
        answer = _call(w)
        assert answer["kind"] == "forged", answer
        again = _call(w)  # the channel to the grading process carries nothing forged
        assert again["kind"] == "forged" and w.restarts == 0


@pytest.mark.slow  # grades whole notebooks again: kept out of the ten-minute default tier
def test_nothing_passes_between_probes_or_submissions():
    write = """
        def attack(step):
            import ctypes
            libc = ctypes.CDLL(None)
            if step == "write":
                for d in ("/tmp", "/run", "/dev/shm", "/var/tmp", os.getcwd()):
                    open(os.path.join(d, "left-behind"), "w").write("x")
                libc.shmget(4242, 4096, 0o1666)  # IPC_CREAT | 0666
                return 1
            files = [os.path.exists(os.path.join(d, "left-behind")) for d in ("/tmp", "/run", "/dev/shm", "/var/tmp", os.getcwd())]
            return files + [libc.shmget(4242, 4096, 0o666) >= 0]
    """
    with _worker(write) as w:
        _call(w, "write")
        assert _value(_call(w, "read")) == [False] * 6
    with _worker(write) as w2:
        assert _value(_call(w2, "read")) == [False] * 6


def test_a_planted_conftest_reaches_no_later_submission():
    target = ROOT / "grader" / "course" / "proj5a" / "checks" / "conftest.py"
    with _worker("""
        def attack(path):
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "w").write("raise SystemExit")
                return "written"
            except OSError as e:
                return type(e).__name__
    """) as w:
        written = _value(_call(w, str(target)))
        # refused by the read-only root; or, for a checkout under /tmp, written into the probe's own tmpfs
        assert written != "written" or ROOT.resolve().is_relative_to("/tmp")
    assert not target.exists()  # either way, nothing reached the checkout that later submissions are graded with


def test_a_daemon_does_not_outlive_its_worker():
    with _worker("""
        def attack():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    import time
                    time.sleep(600)
                os._exit(0)
            return os.getuid()
    """) as w:
        uid = _value(_call(w))
    if os.geteuid() != 0:
        pytest.skip("the worker shares the grading user's uid here; the PID namespace ended it (not observable by uid)")
    import time

    def alive():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if f"Uid:\t{uid}\t" in status and "State:\tZ" not in status:
                found.append(pid)
        return found

    deadline = time.monotonic() + 10  # the kernel tears a PID namespace down asynchronously
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive()


def test_a_symlinked_submission_is_refused(tmp_path):
    from grader.runner import grade

    link = tmp_path / "proj5a.ipynb"
    link.symlink_to(ROOT / "solutions" / "proj5a.ipynb")
    g = grade(link, "proj5a")
    assert g.score == 0 and "symbolic link" in g.error


def test_a_parser_bomb_costs_only_its_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = " + " + ".join(["1"] * 100_000)),
        nbformat.v4.new_code_cell("def forward(im, t):\n    return im"),
    ]
    path = tmp_path / "bomb.ipynb"
    nbformat.write(nb, str(path))
    chunks, info = load_notebook(path, "proj5a")
    assert [c.name for c in chunks if c.kind == "def"] == ["forward"]
    assert any('the cell starting "x = 1 + 1' in n for n in info.notes), info.notes
