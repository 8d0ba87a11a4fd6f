"""Grade one notebook: load it, start a worker, run the checks with pytest, collect results.

This is the whole data path for one submission. It never raises for a bad
submission: an unreadable notebook, a worker that cannot start or a check that
crashes all become failed checks with a one-line reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import course, fixtures, protocol
from grader.expected import REFERENCE
from grader.intake.assignment_of import resolve_assignment, wrong_assignment
from grader.intake.load import load_notebook
from grader.intake.notebook_file import NotebookError
from grader.isolation.policy import NOT_ISOLATED, probes_at_once
from grader.isolation.spawn import IsolationUnavailable, Limits, WorkerError, WorkerProcess
from grader.judging.catalogue import with_pairs
from grader.judging.judge import Reference
from grader.judging.plugin import CheckResult, GradingPlugin, planned_apis, run_session
from grader.judging.submission import Submission
from grader.judging.support import support_source


@dataclass
class Grade:
    notebook: str
    assignment: str | None
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the submission, shown to the student
    sandbox: list[str] = field(default_factory=list)  # about the grading machine, for staff
    error: str | None = None
    #: a warning for the top of every output when the notebook looks like the other assignment's
    wrong_assignment: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: api -> {"student": array or None, "reference": array}: one picture per image-producing name
    images: dict = field(default_factory=dict, repr=False)

    @property
    def score(self) -> float:
        return sum(c.points for c in self.checks if c.passed)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("images", None)
        d["score"], d["max_score"] = self.score, self.max_score
        return d


def reference_for(assignment: str, visible_only: bool) -> Reference:
    """The reference the checks judge against: the stored outputs and the catalogue of readings and mistakes."""
    a = course.get(assignment)
    return Reference(
        fixtures.load_expected(assignment),
        with_pairs(a.variants),
        a.probes,
        doubled_channels_hint=a.doubled_channels_hint,
        search=not visible_only,
    )


def run_checks(
    assignment: str, submission: Submission, visible_only: bool, progress=None, reference: Reference | None = None
) -> list[CheckResult]:
    a = course.get(assignment)
    reference = reference or reference_for(assignment, visible_only)
    plugin = GradingPlugin(submission, reference, visible_only=visible_only, progress=progress)
    code = run_session(a.checks_dir, plugin)
    if not plugin.results and code not in (0, 1):
        raise RuntimeError(f"the checks of {assignment} could not run (pytest exit {int(code)})")
    if visible_only:  # grader check: the notebook's own checks too, so students get one verdict
        from grader.judging import notebook_checks

        return notebook_checks.run(a, submission, plugin.results)
    return plugin.results


def _is_image(value) -> bool:
    shape = getattr(value, "shape", ())
    return len(shape) == 4 and shape[1] in (1, 3) and shape[2] >= 8 and shape[3] >= 8


def collect_images(a, submission: Submission) -> dict:
    """The first image each graded name produced, with the reference's, for the HTML report."""
    from grader import fixtures as fx

    try:
        expected = fx.load_expected(a.name)
    except OSError:
        return {}
    images = {}
    for probe, p in a.probes.items():
        api = p.api
        if api in images:
            continue
        for i, call in enumerate(p.calls):
            ref = expected.output(probe, REFERENCE, i)
            if not call.concerns(api) or not _is_image(ref):
                continue
            student = None
            answer = submission._answers.get(probe)  # only what already ran: the report runs nothing
            result = protocol.call_results(answer)[i] if answer else None
            if result is not None and result.ok:
                value = protocol.decode(result.value)
                student = value if _is_image(value) else None
            images[api] = {"student": student, "reference": ref}
            break
    return images


def explain_training_loops(a, result: Grade, loops: list[str]) -> None:
    """A training function the notebook does not define, while a top-level training loop exists that could not be
    graded in its place (grader.intake.training_loops): say so in its checks' messages and once in the notes."""
    if not loops:
        return
    cells = ", ".join(map(str, loops))
    named = []
    for check in result.checks:
        if not check.passed and check.api in a.training_functions and "is not defined" in check.message:
            check.message = (
                f"{check.api} is not defined in your notebook; your training is a top-level loop "
                f"({cells}) that the grader cannot run in its place (it runs a `for` loop over batches "
                f"that trains a model class the assignment names): put the loop in {check.api} "
                f"as the assignment specifies"
            )
            if check.api not in named:
                named.append(check.api)
    if named:
        result.notes.append(
            f"training written as a top-level loop ({cells}) was found but not graded: "
            f"{', '.join(named)} scored 0; the checks grade training through those functions"
        )


def grade(
    path: str | Path,
    assignment: str | None = None,
    *,
    visible_only: bool = False,
    limits: Limits | None = None,
    progress=None,
    worker: WorkerProcess | None = None,
) -> Grade:
    """Grade one notebook; always returns a Grade (never raises for a bad submission). ``worker``: the worker
    already launched for it (:meth:`WorkerProcess.launched`: a command starts it before it imports this module, so
    that torch's import starts about 0.1 s sooner); grade closes it."""
    t0 = time.perf_counter()
    path = Path(path)
    assignment = resolve_assignment(path, assignment)
    a = course.get(assignment)
    # The worker imports torch while this process reads and parses the notebook.
    worker = worker or WorkerProcess.launched(a, fixtures.load_inputs(assignment), limits)
    result = Grade(notebook=str(path), assignment=assignment, wrong_assignment=wrong_assignment(path, assignment))
    load_error = None
    loops: list[str] = []
    try:
        chunks, info = load_notebook(path, assignment)
        loops = info.training_loops
        result.notes.extend(info.notes)
    except NotebookError as e:
        load_error = str(e)
        chunks = []
        worker.close()
        worker = None
    result.timings["load"] = time.perf_counter() - t0
    # while the worker still imports torch: the reference (0.2-0.3 s), and the checks' names in order
    reference = reference_for(assignment, visible_only)
    planned = planned_apis(a.topics, visible_only)
    if worker is not None:
        t1 = time.perf_counter()
        worker.chunks = [c.__dict__ for c in chunks]
        try:
            ready = worker.start()
            if not worker.sandbox.isolated:  # said plainly to whoever reads the results
                result.notes.insert(0, NOT_ISOLATED)
            result.notes.extend(protocol.texts_kept(ready.get("notes"), count=200, length=protocol.MAX_MESSAGE))
            result.sandbox.extend(worker.sandbox.notes)
        except IsolationUnavailable:
            worker.close()
            raise  # the grader must not grade what it cannot seal
        except WorkerError as e:
            load_error = f"your notebook's definitions could not be loaded: {str(e)[: protocol.MAX_MESSAGE]}"
            worker.close()
            worker = None
        result.timings["worker start"] = time.perf_counter() - t1
    if load_error:
        result.error = load_error
    limits = limits or Limits()
    submission = Submission(
        a.probes,
        worker=worker,
        load_error=load_error,
        probe_timeout=limits.probe_timeout or a.probe_timeout,
        budget=limits.submission_timeout,
        support=lambda api: support_source(a, api),
        parallel=probes_at_once(limits),
    )
    # the probes start now, several at once, while pytest starts and collects the checks that will read them
    submission.prefetch(planned)
    t2 = time.perf_counter()
    try:
        result.checks = run_checks(assignment, submission, visible_only, progress, reference)
    finally:
        if worker is not None:
            result.notes.extend(submission.adaptations)
            result.notes.extend(submission.events)
            if worker.restarts:
                result.notes.append(f"the worker was replaced {worker.restarts} time(s) after a crash or hang")
            if worker.leftovers_killed:
                result.notes.append(f"{worker.leftovers_killed} process(es) left running by your code were stopped")
            worker.close()
    result.timings["checks"] = time.perf_counter() - t2
    explain_training_loops(a, result, loops)
    result.images = collect_images(a, submission)
    for check in result.checks:
        result.timings[f"check {check.name}"] = check.seconds
    result.timings["total"] = time.perf_counter() - t0
    return result
