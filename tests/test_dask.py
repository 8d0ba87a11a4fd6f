"""grader batch on Dask workers: same grades as the local pool, worker deaths, refusals.

Skipped when dask/distributed are absent (they are the optional extra ``.[dask]``; CI installs it).
"""

import csv
import json
import os
import shutil
import signal
import threading
import time

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from distributed import Client, LocalCluster, WorkerPlugin

import grader.batch.command
import grader.batch.dask_executor
from grader.batch.command import run_batch
from grader.batch.dask_executor import DaskExecutor
from grader.cli import main

SAMPLES = "samples/proj5a"


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes; a submission is tried at most twice on it."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield c
    c.close()


@pytest.fixture
def writes(monkeypatch):
    """Every results.json the batch writes, in order (only the driver writes them)."""
    seen = []
    real = grader.batch.command.write_json_atomic

    def counting(path, data):
        if os.path.basename(path) == grader.batch.command.DONE:  # not the batch's own files (submitters.json)
            seen.append(os.path.basename(os.path.dirname(path)))
        real(path, data)

    monkeypatch.setattr(grader.batch.command, "write_json_atomic", counting)
    return seen


def _copies(root, tmp_path, names):
    d = tmp_path / "subs"
    d.mkdir()
    for i, name in enumerate(names):
        shutil.copy(root / SAMPLES / f"{['alice', 'bob', 'carol', 'dan'][i % 4]}.ipynb", d / f"{name}.ipynb")
    return d


def _results(out):
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}


def _gradebook(out):
    with open(out / "gradebook.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # a LocalCluster grading the samples: 45 s here
def test_local_cluster_gives_the_local_pools_gradebook(root, tmp_path, capsys):
    args = [str(root / SAMPLES), "--assignment", "proj5a", "-j", "2", "-q"]
    assert main(["batch", *args, "--out", str(tmp_path / "local")]) == 0
    local_table = capsys.readouterr().out.splitlines()
    assert main(["batch", *args, "--out", str(tmp_path / "dask"), "--executor", "dask"]) == 0
    dask_table = capsys.readouterr().out.splitlines()
    local, on_dask = _gradebook(tmp_path / "local"), _gradebook(tmp_path / "dask")
    assert len(local) == len(list((root / SAMPLES).glob("*.ipynb"))) == 5
    assert on_dask == local  # score for score, check for check
    assert {r["student"]: float(r["total"]) for r in on_dask}["alice"] == 100
    assert dask_table[:-1] == local_table[:-1] and len(dask_table) == 7  # the same summary table
    for name in ("alice", "erin_unstarted"):  # the driver wrote the reports the workers rendered
        report = (tmp_path / "dask" / name / "report.html").read_text()
        assert f"{name}.ipynb" in report and str(root / SAMPLES) in report
    assert (tmp_path / "dask" / "index.html").exists()


@pytest.mark.slow  # 12 s; the local pool's kill-and-resume test (test_batch) runs by default
def test_a_worker_killed_mid_batch_loses_nothing_and_grades_once(cluster, root, tmp_path, writes):
    names = [f"student{i}" for i in range(3)]
    subs, out = _copies(root, tmp_path, names), tmp_path / "out"
    client = Client(cluster)
    pids = client.run(os.getpid)
    errors = []
    batch = threading.Thread(target=lambda: _run(errors, subs, out, DaskExecutor(cluster.scheduler_address)))
    batch.start()
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and batch.is_alive():
        busy = [w for w, keys in client.processing().items() if any("grade-" in str(k) for k in keys)]
        if busy:
            time.sleep(0.5)  # into the grading: the fork server is up, the notebook is being graded
            victim = busy[0]
            os.kill(pids[victim], signal.SIGKILL)
        time.sleep(0.05)
    batch.join(300)
    assert victim is not None and not batch.is_alive() and not errors
    assert sorted(writes) == names  # each submission written exactly once
    results = _results(out)
    assert sorted(results) == names and all(r["tests"] for r in results.values())
    assert results["student0"]["score"] == results["student0"]["max_score"] == 100  # alice's notebook
    assert [r["student"] for r in _gradebook(out)] == names
    assert pids[victim] not in client.run(os.getpid).values()  # the nanny started a new worker process
    client.close()


def _run(errors, subs, out, executor):
    try:
        run_batch(subs, "proj5a", out, show_progress=False, executor=executor)
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(e)


@pytest.mark.slow  # 30 s here
def test_a_notebook_that_kills_its_worker_every_time_fails_after_n_tries(cluster, root, tmp_path, writes):
    # Student code cannot reach the Dask worker process (when root it runs under another uid, in
    # a fork of the fork server). What can happen is that grading takes the worker process down
    # (e.g. killed for memory). This plugin simulates that: in every worker process, grading a
    # notebook named crasher.ipynb SIGKILLs that process. The plugin is sent to restarted workers
    # too, so each try dies.
    class KillWhenGrading(WorkerPlugin):
        name = "test-kill-when-grading"

        def setup(self, worker):
            import grader.runner

            real = grader.runner.grade

            def grade(path, *args, **kwargs):
                if os.path.basename(str(path)) == "crasher.ipynb":
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(path, *args, **kwargs)

            grader.runner.grade = grade

    subs, out = _copies(root, tmp_path, ["crasher", "first", "second"]), tmp_path / "out"
    client = Client(cluster)
    client.register_plugin(KillWhenGrading())
    try:
        run_batch(subs, "proj5a", out, show_progress=False, executor=DaskExecutor(cluster.scheduler_address))
    finally:
        client.unregister_worker_plugin(KillWhenGrading.name)
        client.close()
    assert sorted(writes) == ["crasher", "first", "second"]
    results = _results(out)
    assert results["crasher"]["output"].startswith("grading failed after 2 tries: the grading process died")
    assert results["crasher"]["score"] == 0 and not results["crasher"]["tests"]
    assert results["first"]["tests"] and results["first"]["score"] == 88  # bob's notebook, graded
    assert results["second"]["tests"] and results["second"]["score"] == 92  # carol's


def test_a_worker_with_another_grader_is_refused_in_one_line(cluster, root, tmp_path, monkeypatch, capsys):
    # The driver believes in another fixture set than the workers have (as after `grader fixtures
    # build` on the TA's machine only).
    real = grader.batch.dask_executor.fingerprint()
    monkeypatch.setattr(grader.batch.dask_executor, "fingerprint", lambda: {**real, "fixtures": "0123456789ab"})
    out = tmp_path / "out"
    rc = main(
        [
            "batch",
            str(root / SAMPLES),
            "--assignment",
            "proj5a",
            "--out",
            str(out),
            "--scheduler",
            cluster.scheduler_address,
            "-q",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err.startswith("grader: worker tcp://") and "fixtures 0123456789ab" in err and real["fixtures"] in err
    assert "install the same grader commit and fixtures on every worker" in err
    assert not list(out.glob("*/results.json"))


def test_without_dask_the_flag_says_what_to_install(monkeypatch, tmp_path, capsys, root):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    rc = main(["batch", str(root / SAMPLES), "--out", str(tmp_path / "out"), "--executor", "dask"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and 'pip install -e ".[dask]"' in err
    assert not (tmp_path / "out").exists()
