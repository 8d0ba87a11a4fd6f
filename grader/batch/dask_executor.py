"""``grader batch`` on Dask workers: a LocalCluster on this machine, or a cluster elsewhere.

Imported only when a batch asks for Dask (``--executor dask`` or ``--scheduler ADDRESS``);
dask and distributed are the optional extra ``pip install -e ".[dask]"``.

* **The driver** (the machine that runs ``grader batch``) reads each notebook and sends its
  bytes with the task: workers need no shared file system. It gets back plain data
  (results.json contents and the rendered report), and only the driver writes OUTDIR.
  It keeps as many submissions in flight as the cluster has threads, so that when a worker
  dies only the submission it was grading counts that death against itself.
* **Each worker process** gets :class:`GraderWorker`, a worker plugin: it refuses to set up
  when the worker's grader or fixtures differ from the driver's, and otherwise starts one warm
  fork server (torch imported once per worker process), exactly as a local pool process has.
  Every task checks the fingerprint again, so a worker that joined without the plugin cannot
  grade either. A worker grades one submission at a time (start workers with ``--nthreads 1``).
* **Faults.** When a worker dies mid-task (killed, out of memory), the scheduler runs the
  task again on another worker. After ``distributed.scheduler.allowed-failures`` + 1 deaths
  the task fails with ``KilledWorker``; the submission is recorded as "failed after N tries"
  and the batch goes on. One difference from the local pool: grading runs in a worker thread, so
  pytest-timeout's 300 s backstop per check (never reached while the probes' own limits hold)
  would end the worker process rather than fail one check.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed
from distributed.scheduler import KilledWorker

from grader.batch.executors import ExecutorError, GraderMismatch, MachineFault, describe, failed, grade_bytes
from grader.provenance import fingerprint

PLUGIN = "diffgrade"
LOCAL_TRIES = 3  # a LocalCluster we start runs a submission at most this many times


# --------------------------------------------------------------------------- worker side

_LOCK = threading.Lock()  # one submission at a time per worker process: one fork server
_SERVER = None
_NO_SERVER = False  # it would not start here: grade with a fresh worker per submission instead


def _server(limits=None):
    """This worker process's fork server, started on first use and kept warm across batches
    (replaced only when a batch asks for other limits). It exits with the worker process."""
    global _SERVER, _NO_SERVER
    from grader.isolation.spawn import ForkServer, Limits, WorkerError

    with _LOCK:
        if _SERVER is not None and _SERVER.limits != (limits or Limits()):
            _SERVER.__exit__(None, None, None)
            _SERVER = None
        if _SERVER is None and not _NO_SERVER:
            server = ForkServer(limits)
            try:
                server.__enter__()
            except WorkerError:  # slower, not wrong: grader.isolation.spawn starts workers directly
                _NO_SERVER = True
                return None
            _SERVER = server
            atexit.register(_stop_server)
        return _SERVER


def _stop_server() -> None:
    global _SERVER
    with _LOCK:
        if _SERVER is not None:
            _SERVER.__exit__(None, None, None)
            _SERVER = None


def mismatch(where: str, theirs: dict, ours: dict) -> str:
    return (
        f"worker {where} has {describe(theirs)} but the batch was started with {describe(ours)}: "
        "install the same grader commit and fixtures on every worker, then restart it"
    )


class GraderWorker(WorkerPlugin):
    """Set up each Dask worker process for grading: same grader as the driver, one warm fork server."""

    name = PLUGIN
    idempotent = False  # a new batch replaces an older batch's plugin (and its expectations)

    def __init__(self, expected: dict, limits=None):
        self.expected, self.limits = expected, limits

    def setup(self, worker):
        from grader.isolation.policy import PROBES_AT_ONCE_ENV

        # a Dask worker's cores are the cluster's to share out among its tasks: one probe at a time each
        os.environ.setdefault(PROBES_AT_ONCE_ENV, "1")
        mine = fingerprint()
        if mine != self.expected:
            raise GraderMismatch(mismatch(worker.address, mine, self.expected))
        # Warm the fork server without holding up the worker's event loop; a task that arrives
        # first waits for it (see _server).
        threading.Thread(target=_server, args=(self.limits,), name="diffgrade-forkserver", daemon=True).start()

    # No teardown: the next batch's plugin replaces this one and keeps the warm fork server; the
    # server ends with the worker process (at exit, or when its control socket closes).


def grade_on_worker(
    filename: str, data: bytes, assignment: str | None, label: str, expected: dict, limits=None
) -> dict:
    """The task: check the grader matches, then grade the notebook's bytes with the warm fork server."""
    mine = fingerprint()
    if mine != expected:
        try:
            from distributed import get_worker

            where = get_worker().address
        except Exception:  # noqa: BLE001
            where = "(unknown)"
        raise GraderMismatch(mismatch(where, mine, expected))
    _server(limits)
    with _LOCK:
        return grade_bytes(filename, data, assignment, label)


# --------------------------------------------------------------------------- driver side


def killed_message(tries: int) -> str:
    return (
        f"grading failed after {tries} tries: the grading process died each time it graded this notebook "
        "(it may exhaust the worker's memory or crash the interpreter), so it has no score; "
        "grade it alone with `grader grade NOTEBOOK` to see what happens, or by hand."
    )


def _worker_broken(e: Exception) -> bool:
    """The cluster, not the submission, is at fault: another grader, or none it can import (the
    scheduler, too, unpickles each task)."""
    text = str(e)
    return isinstance(e, (GraderMismatch, ImportError)) or "No module named" in text or "deserializ" in text


def _refusal(e: Exception) -> ExecutorError:
    if isinstance(e, ExecutorError):
        return e
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(". ")
    return ExecutorError(
        f"the Dask cluster cannot run this grader ({reason}): install the same grader commit and "
        'fixtures on the scheduler and every worker (pip install -e ".[dask]" in a clone), '
        "then restart them"
    )


class DaskExecutor:
    """Grade on Dask workers: at ``scheduler``, or on a LocalCluster of ``workers`` processes."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 1, limits=None, tls: dict | None = None):
        self.scheduler, self.workers, self.limits = scheduler, max(1, workers), limits
        self.tls = {k: v for k, v in (tls or {}).items() if v}

    def _security(self):
        """TLS from --tls-ca-file/--tls-cert/--tls-key, else Dask's own configuration (distributed.comm.tls)."""
        if not self.tls:
            return None
        from distributed.security import Security

        missing = [f"--tls-{k.replace('_', '-')}" for k in ("ca_file", "cert", "key") if k not in self.tls]
        if missing:
            raise ExecutorError(
                f"TLS needs --tls-ca-file, --tls-cert and --tls-key together (missing {', '.join(missing)})"
            )
        return Security(
            tls_ca_file=self.tls["ca_file"],
            tls_client_cert=self.tls["cert"],
            tls_client_key=self.tls["key"],
            require_encryption=True,
        )

    def _connect(self):
        if self.scheduler:
            try:
                return Client(self.scheduler, timeout="30s", security=self._security()), None
            except TypeError as e:  # distributed's way of saying that tls:// came without certificates
                if "TLS" not in str(e):
                    raise
                raise ExecutorError(
                    f"the scheduler {self.scheduler} speaks TLS: pass --tls-ca-file, --tls-cert and "
                    "--tls-key (or set distributed.comm.tls in Dask's configuration)"
                ) from None
            except (OSError, TimeoutError, ValueError) as e:
                raise ExecutorError(f"cannot reach the Dask scheduler at {self.scheduler}: {e}") from None
        with dask.config.set({"distributed.scheduler.allowed-failures": LOCAL_TRIES - 1}):
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster

    def grade(self, todo: list[tuple[str, Path]], assignment: str | None) -> Iterator[tuple[str, dict]]:
        if not todo:
            return
        expected = fingerprint()
        client, cluster = self._connect()
        try:
            try:
                client.register_plugin(GraderWorker(expected, self.limits), name=PLUGIN)
            except Exception as e:  # noqa: BLE001 - whatever the workers raised, the batch stops in one line
                with contextlib.suppress(Exception):  # not set up anywhere: nothing to take back
                    client.unregister_worker_plugin(PLUGIN)  # workers that join later need not refuse too
                raise _refusal(e) from None
            if not client.nthreads():
                print(f"grader: waiting for a worker to join {self.scheduler}", file=sys.stderr)
                client.wait_for_workers(1)
            pending = list(todo)
            running: dict = {}
            unreadable: list[tuple[str, dict]] = []
            completed = as_completed()

            def top_up():
                room = max(1, sum(client.nthreads().values())) - len(running)
                while pending and room > 0:
                    name, path = pending.pop(0)
                    try:
                        data = path.read_bytes()
                    except OSError as e:
                        unreadable.append((name, failed(f"grading failed: cannot read {path.name}: {e.strerror}")))
                        continue
                    fut = client.submit(
                        grade_on_worker,
                        path.name,
                        data,
                        assignment,
                        str(path),
                        expected,
                        self.limits,
                        key=f"grade-{uuid.uuid4().hex[:8]}-{name}",
                        pure=False,
                        retries=0,
                    )
                    running[fut] = name
                    completed.add(fut)
                    room -= 1

            top_up()
            while unreadable:
                yield unreadable.pop(0)
            for fut in completed:
                name = running.pop(fut)
                try:
                    outcome = fut.result()
                except MachineFault:  # that machine cannot seal (the grader's own check): stop, as locally
                    raise
                except KilledWorker as e:
                    outcome = failed(killed_message(e.allowed_failures + 1))
                except Exception as e:  # noqa: BLE001 - one bad submission never stops the batch
                    if _worker_broken(e):  # ... but a worker without our grader would fail them all
                        raise _refusal(e) from None
                    outcome = failed(f"grading failed: {e}")
                fut.release()
                yield name, outcome
                top_up()
                while unreadable:
                    yield unreadable.pop(0)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
