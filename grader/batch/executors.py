"""Where ``grader batch`` grades: the seam between the batch (files, gradebook) and the machines.

An executor takes the batch's jobs, ``(student name, notebook path)`` pairs, and yields
``(student name, outcome)`` as each submission finishes, in any order. An outcome is plain
data: ``{"results": <results.json data>, "html": <report.html text, or None>}``. The
executor never writes into OUTDIR; the batch does, atomically, so ``--resume`` and the
kill-and-resume guarantee hold whichever executor graded.

* :class:`LocalPool` (the default): a process pool on this machine, one warm fork server
  per grading process (torch imported once per process). No dependency beyond the grader's.
* ``grader.batch.dask_executor.DaskExecutor``: Dask workers, on this machine (a ``LocalCluster``)
  or on others (``--scheduler tcp://HOST:8786``). Needs the optional extra
  ``pip install -e ".[dask]"``; see :func:`dask_executor`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from grader.isolation.spawn import IsolationUnavailable

INSTALL_DASK = 'pip install -e ".[dask]"  (or: pip install dask distributed)'


class ExecutorError(Exception):
    """The batch cannot run on the chosen executor; carries a one-line reason for the TA."""


class MissingDask(ExecutorError):
    pass


class GraderMismatch(ExecutorError):
    """A worker has a different grader or fixture set than the machine that started the batch."""


class MachineFault(IsolationUnavailable):
    """The grading machine cannot seal student code, as the grader found by checking the machine
    itself with no student code involved (:func:`machine_fault`); the message is the grader's own.
    The only failure of a submission's grading that stops a batch."""


# --------------------------------------------------------------------------- one job, anywhere


def outcome_of(grade, label: str) -> dict:
    """A finished Grade as plain data: results.json contents and the rendered report."""
    from grader.provenance import provenance
    from grader.reports.results import results_json

    grade.notebook = label  # the driver's path, whatever file the grading machine read
    data = results_json(grade)
    data["extra_data"] = {"notebook": label, "assignment": grade.assignment, **provenance(grade.assignment)}
    try:
        from grader.reports.html import render_report

        html = render_report(grade)
    except Exception:  # noqa: BLE001 - a report that cannot render must not lose the grade
        html = None
    return {"results": data, "html": html}


def failed(message: str) -> dict:
    """The outcome of a submission that could not be graded at all (score 0, the reason as output)."""
    return {
        "results": {
            "score": 0,
            "max_score": 0,
            "output": message,
            "tests": [],
            "execution_time": 0,
            "visibility": "visible",
        },
        "html": None,
    }


def machine_fault() -> str | None:
    """Why this machine cannot seal student code, checked afresh in a throwaway process that runs no
    student code (grader.isolation.policy.isolation_mode); None when it can."""
    from grader.isolation import policy

    policy._SUPPORT.clear()  # decide again, now
    try:
        policy.isolation_mode()
    except IsolationUnavailable as e:
        return str(e)
    return None


#: A submission whose grading reported that student code could not be sealed, on a machine that can seal.
SEAL_REFUSED = (
    "grading failed: the worker grading this notebook reported that it could not be sealed, while this "
    "machine seals student code; the notebook's own code may have sent that report, so it has no score. "
    "Grade it alone with `grader grade NOTEBOOK` to see what happens."
)


def graded(grade, label: str) -> dict:
    """The outcome of ``grade()`` (a Grade of one submission), whatever happened while grading it. Only a
    :class:`MachineFault` is raised: an error while grading one submission is that submission's failure,
    whatever it says, since the submission may have written it."""
    try:
        return outcome_of(grade(), label)
    except IsolationUnavailable:
        fault = machine_fault()
        if fault is not None:
            raise MachineFault(fault) from None
        return failed(SEAL_REFUSED)
    except Exception as e:  # noqa: BLE001 - one bad submission never stops the batch
        return failed(f"grading failed: {type(e).__name__}: {str(e)[:500]}")


def grade_path(notebook: str, assignment: str | None) -> dict:
    """Grade a notebook this machine can read (a pool process, with its fork server)."""
    from grader.runner import grade

    return graded(lambda: grade(notebook, assignment), notebook)


def grade_bytes(filename: str, data: bytes, assignment: str | None, label: str) -> dict:
    """Grade a notebook sent as bytes (no shared file system): written under its own name into a
    private temporary folder, graded, removed."""
    from grader.runner import grade

    with tempfile.TemporaryDirectory(prefix="diffgrade-submission-") as tmp:
        path = Path(tmp) / (Path(filename).name or "submission.ipynb")
        path.write_bytes(data)
        return graded(lambda: grade(path, assignment), label)


# --------------------------------------------------------------------------- same grader everywhere


def describe(fp: dict) -> str:
    return f"diffgrade {fp.get('version')} (code {fp.get('code')}, fixtures {fp.get('fixtures')})"


# --------------------------------------------------------------------------- the local pool

_SERVER = None


def init_process(limits, jobs: int = 1) -> None:
    """Pool initializer: one fork server per grading process (torch imported once here); the cores are
    shared out among the ``jobs`` processes (each grade runs that many probes at once)."""
    import multiprocessing.util

    from grader.isolation.policy import PROBES_AT_ONCE_ENV
    from grader.isolation.spawn import ForkServer

    os.environ.setdefault(PROBES_AT_ONCE_ENV, str(max(1, usable_cores() // max(1, jobs))))
    global _SERVER
    _SERVER = ForkServer(limits)
    _SERVER.__enter__()
    multiprocessing.util.Finalize(None, _SERVER.__exit__, args=(None, None, None), exitpriority=10)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LocalPool:
    """``jobs`` grading processes on this machine, each with its own fork server."""

    name = "local"

    def __init__(self, jobs: int = 1, limits=None):
        self.jobs, self.limits = max(1, jobs), limits

    def grade(self, todo: list[tuple[str, Path]], assignment: str | None) -> Iterator[tuple[str, dict]]:
        if not todo:
            return
        with ProcessPoolExecutor(
            max_workers=self.jobs, initializer=init_process, initargs=(self.limits, self.jobs)
        ) as pool:
            futures = {pool.submit(grade_path, str(p), assignment): n for n, p in todo}
            for fut in as_completed(futures):
                try:
                    outcome = fut.result()
                except MachineFault:  # this machine cannot seal, the same for every submission: stop
                    pool.shutdown(cancel_futures=True)
                    raise
                except Exception as e:  # noqa: BLE001 - one bad submission never stops the batch
                    outcome = failed(f"grading failed: {type(e).__name__}: {str(e)[:500]}")
                yield futures[fut], outcome
