"""One sandbox per probe: what a probe leaves, patches or hoards never reaches another probe.

Each test runs attacker code in a real worker (no mocks). A first probe stores whatever it can in
every place a process can write (files of any mode, shared memory, System V and POSIX message
queues, an abstract Unix socket served by a thread, a daemon process, patched modules); a second
probe of the same worker looks for it. The template that forks the probes never runs student
code, so a load-time patch cannot reach the template or the ready message, and a statement that
ignores its time limit is dropped within the load's one bound.
"""

import os
import textwrap

import pytest

from grader import course, protocol
from grader.fixtures import load_inputs
from grader.isolation.cgroup import _own_group
from grader.isolation.policy import isolation_mode
from grader.isolation.spawn import IsolationUnavailable, Limits, WorkerProcess
from grader.probing import call

try:
    SEALED = isolation_mode() == "sealed"
except IsolationUnavailable:
    SEALED = False
pytestmark = pytest.mark.skipif(not SEALED, reason="this kernel cannot seal workers here")

STASH = r"""
import ctypes, os, socket, sys, threading

def attack(mode):
    found = []
    if mode == "store":
        os.makedirs("/tmp/.vault", exist_ok=True)
        open("/tmp/.vault/secret", "w").write("reference")
        os.chmod("/tmp/.vault", 0)
        for folder in ("/dev/shm", "/var/tmp", "/run", os.getcwd()):
            try:
                open(os.path.join(folder, "secret"), "w").write("reference")
            except OSError:
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        libc.msgget.restype = ctypes.c_int
        queue = libc.msgget(0x5EC, 0o1666)  # System V queue, IPC_CREAT
        found.append(f"sysv:{queue}")
        try:
            rt = ctypes.CDLL("librt.so.1", use_errno=True)
            rt.mq_open.restype = ctypes.c_int
            found.append(f"mq:{rt.mq_open(b'/secret', os.O_CREAT | os.O_RDWR, 0o666, None)}")
        except OSError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind("\0diffgrade-vault")
        server.listen(1)

        def serve():
            while True:
                conn, _ = server.accept()
                conn.sendall(b"reference")
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        if os.fork() == 0:
            os.setsid()
            import time
            time.sleep(300)
            os._exit(0)
        sys.modules["os"].stash = "reference"
        return found
    for path in ("/tmp/.vault", "/tmp/.vault/secret", "/dev/shm/secret", "/var/tmp/secret", "/run/secret", "secret"):
        if os.path.exists(path):
            found.append(path)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.msgget.restype = ctypes.c_int
    if libc.msgget(0x5EC, 0o666) >= 0:
        found.append("sysv queue")
    try:
        rt = ctypes.CDLL("librt.so.1", use_errno=True)
        rt.mq_open.restype = ctypes.c_int
        if rt.mq_open(b"/secret", os.O_RDWR, 0, None) >= 0:
            found.append("posix queue")
    except OSError:
        pass
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect("\0diffgrade-vault")
        found.append("abstract socket")
    except OSError:
        pass
    if getattr(os, "stash", None):
        found.append("patched module")
    others = [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid())]
    if others:
        found.append(f"processes {others}")
    return found
"""


def _worker(source: str, limits: Limits | None = None, more: list[dict] = ()) -> WorkerProcess:
    chunks = [{"cell": 1, "source": textwrap.dedent(source), "kind": "def", "name": "attack", "stub": False}]
    return WorkerProcess(
        course.get("proj5a"),
        [{"cell": 0, "source": "import os, sys", "kind": "import"}] + chunks + list(more),
        load_inputs("proj5a"),
        limits or Limits(probe_timeout=20),
    )


def _call(worker: WorkerProcess, *args, func: str = "attack") -> dict:
    return worker.probe([call(func, *args)], timeout=20)["results"][0]


def _value(answer: dict):
    assert answer.get("ok"), answer
    return protocol.decode(answer["value"])


PTY = """
def pty_attack():
    try:
        master, slave = os.openpty()
    except OSError:
        return "refused"
    return "opened " + os.ttyname(slave)
"""

MEMORY = """
import ctypes, gc, re

def memory_attack():
    import grader.worker.environment as env
    names = sorted(env.SUPPORT)
    texts = [o for o in gc.get_objects() if isinstance(o, dict) and "reference_forward" in o]
    needle, in_memory = re.compile(rb"def reference_(?:f)orward\\("), 0  # (never spelled whole here)
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    for fields in regions:  # the heap, anonymous writable memory (where freed messages would be) and shared pages
        if not fields[1].startswith("rw") or (len(fields) > 5 and not fields[5].startswith(("[heap", "/dev/zero"))):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if end - start <= 1 << 28:
            in_memory += len(needle.findall(ctypes.string_at(start, end - start)))
    return names + [str(len(texts)), str(in_memory)]
"""


def _chunk(cell: int, source: str, name: str) -> dict:
    return {"cell": cell, "source": textwrap.dedent(source), "kind": "def", "name": name, "stub": False}


@pytest.fixture(scope="module")
def worker():
    """One worker for the attacks that need no set-up of their own (each probe is a new sandbox anyway)."""
    with _worker(STASH, more=[_chunk(2, PTY, "pty_attack"), _chunk(3, MEMORY, "memory_attack")]) as w:
        yield w


def test_nothing_a_probe_stores_reaches_the_next_probe(worker):
    stored = _value(_call(worker, "store"))
    assert stored and all(not s.endswith(":-1") for s in stored), stored  # the stores themselves worked
    assert _value(_call(worker, "fetch")) == []


def test_a_probe_gets_no_pseudo_terminal(worker):
    assert _value(_call(worker, func="pty_attack")) == "refused"


def test_a_probe_cannot_find_the_reference_parts_of_earlier_probes(worker):
    from grader.judging.support import support_source

    with_support = support_source(worker.spec, "sdedit")
    assert "reference_forward" in (with_support or "")
    attack = [call("memory_attack")]
    seen = _value(worker.probe(attack, timeout=20, support=with_support)["results"][0])
    assert "reference_forward" in seen and seen[-1] != "0"  # the scan finds the parts where they are
    later = _value(worker.probe(attack, timeout=20, support=None)["results"][0])
    assert later == ["0", "0"]  # nothing of the first probe's support is left


def test_a_load_time_patch_of_the_answer_channel_stays_in_its_probe():
    patch = """
    class Patch:
        import grader.protocol as _p
        _send = _p.send
        _p.send = lambda fd, m, _s=_send: _s(fd, {"ready": False, "seal_error": "HACKED: the grader cannot seal"})

    def attack(x):
        return x
    """
    with _worker(patch) as worker:  # the ready message comes from the template, which never ran this
        assert worker.ready["ready"]
        answer = _call(worker, 1)
        assert not answer["ok"] and "HACKED" not in answer["message"], answer
    with _worker("def attack(x):\n    return x + 1\n") as other:  # the next submission is untouched
        assert _value(_call(other, 1)) == 2
        dirs = list(other.cgroup.dirs) if other.cgroup else []
        if os.geteuid() == 0:  # its cgroup sits inside the grading job's own, and goes with the worker
            assert dirs
            unified = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
            for d in dirs:
                assert d.parent == _own_group("" if unified else d.relative_to("/sys/fs/cgroup").parts[0]), d
    assert not any(d.exists() for d in dirs), dirs


def test_a_statement_that_ignores_its_time_limit_is_dropped_within_one_bound():
    hang = {
        "cell": 2,
        "source": "class Spin:\n    import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass\n",
        "kind": "def",
        "name": "Spin",
        "stub": False,
    }
    after = {"cell": 3, "source": "def later(x):\n    return 2 * x\n", "kind": "def", "name": "later", "stub": False}
    limits = Limits(probe_timeout=20, chunk_timeout=1, load_timeout=30)
    with _worker("def attack(x):\n    return x\n", limits, [hang, after]) as worker:
        assert any("ignored the grader's time limit" in n for n in worker.ready["notes"]), worker.ready
        assert _value(_call(worker, 21, func="later")) == 42  # the statements after it still load


# ---- several sandboxes at once (grader.worker.sandboxes) --------------------------------------------

CONCURRENT = r"""
import time

def hold(seconds):
    result = attack("store")  # (STASH's attack: files, queues, an abstract socket, a daemon, a patch)
    time.sleep(seconds)  # everything it stored is alive while the other probe looks
    return result

def look(delay):
    time.sleep(delay)
    return attack("fetch")

def spin():
    while True:
        pass
"""


@pytest.fixture(scope="module")
def batch_worker():
    more = [_chunk(2, MEMORY, "memory_attack"), _chunk(4, CONCURRENT, "look")]
    with _worker(STASH, more=more) as w:
        yield w


def _batch(worker, requests, parallel=2, budget=100.0) -> dict:
    """{position: answer} of a batch of probes, each request (calls, timeout, support)."""
    return dict(worker.probe_batch(requests, parallel, budget))


def test_probes_that_run_at_the_same_time_see_nothing_of_each_other(batch_worker):
    answers = _batch(batch_worker, [([call("hold", 4)], 20, None), ([call("look", 1.5)], 20, None)])
    stored = _value(answers[0]["results"][0])
    assert stored and all(not s.endswith(":-1") for s in stored), stored
    assert _value(answers[1]["results"][0]) == []  # found nothing, while the other probe held it all


def test_a_probe_of_a_batch_cannot_find_the_reference_parts_of_the_others(batch_worker):
    from grader.judging.support import support_source

    secret = support_source(batch_worker.spec, "sdedit")
    attack = [call("memory_attack")]
    # the first probe is forked while the second's parts are already in the template's memory
    answers = _batch(batch_worker, [(attack, 20, None), (attack, 20, secret)])
    assert _value(answers[0]["results"][0]) == ["0", "0"]
    seen = _value(answers[1]["results"][0])
    assert "reference_forward" in seen and seen[-1] != "0"  # where they belong, the scan finds them


def test_a_probe_that_hangs_in_a_batch_fails_alone(batch_worker):
    answers = _batch(
        batch_worker, [([call("spin")], 2, None), ([call("look", 0)], 20, None), ([call("look", 0)], 20, None)]
    )
    assert answers[0]["results"][0]["kind"] == "timeout" and "within 2 s" in answers[0]["failed"]
    assert _value(answers[1]["results"][0]) == [] and _value(answers[2]["results"][0]) == []
    assert _value(_call(batch_worker, "fetch")) == []  # and the worker serves single probes after it


def test_a_batch_stops_at_its_budget(batch_worker):
    answers = _batch(batch_worker, [([call("spin")], 20, None), ([call("look", 0)], 20, None)], parallel=1, budget=1.5)
    assert answers[0]["results"][0]["kind"] == "timeout"
    assert "time budget" in answers[1]["failed"]
