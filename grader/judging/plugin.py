"""The pytest plugin that turns hidden checks into graded results.

Checks are ordinary pytest tests with markers:

* ``@pytest.mark.api("forward")``: the graded name the check judges (results.json tag);
* ``@pytest.mark.points(4)``: what it is worth;
* ``@pytest.mark.visible``: shown in full to students and run by ``grader check``.

Fixtures: ``sub`` (the :class:`~grader.judging.submission.Submission`) and ``ref``
(the :class:`~grader.judging.judge.Reference`). A check passes or raises
:class:`~grader.judging.judge.Fail`; any other exception is a grader bug and is
reported as such (with no points lost being hidden: it fails and says so).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.judging.judge import Fail


@dataclass
class CheckResult:
    name: str
    title: str
    api: str
    points: float
    visible: bool
    passed: bool
    message: str
    seconds: float
    #: the student's own helper the check was judged against (a passing caller that is right given a
    #: wrong helper); set by a check with ``request.node.user_properties.append(("judged_with", name))``
    judged_with: str = ""


class GradingPlugin:
    def __init__(self, submission, reference, visible_only: bool = False, progress=None):
        self.submission = submission
        self.reference = reference
        self.visible_only = visible_only
        self.progress = progress
        self.results: list[CheckResult] = []
        self._started: dict[str, float] = {}

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "api(name): the graded name a check judges")
        config.addinivalue_line("markers", "points(n): points a check is worth")
        config.addinivalue_line("markers", "visible: shown to students in full")

    @pytest.fixture(scope="session")
    def sub(self):
        return self.submission

    @pytest.fixture(scope="session")
    def ref(self):
        return self.reference

    def pytest_collection_modifyitems(self, config, items):
        for item in items:
            if item.get_closest_marker("api") is None or item.get_closest_marker("points") is None:
                raise pytest.UsageError(f"check {item.nodeid} needs @pytest.mark.api and @pytest.mark.points")
        if self.visible_only:
            items[:] = [i for i in items if i.get_closest_marker("visible")]
        if self.progress:
            self.progress.total(len(items))
        prefetch = getattr(self.submission, "prefetch", None)
        if prefetch is not None:  # the probes of the names about to be judged start now, several at once
            prefetch([item.get_closest_marker("api").args[0] for item in items])

    def pytest_runtest_setup(self, item):
        self._started[item.nodeid] = time.perf_counter()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "setup" and not report.failed:
            return
        if report.when == "teardown":
            return
        if report.when == "call" or report.failed:
            passed = report.passed
            message = ""
            if not passed and call.excinfo is not None:
                exc = call.excinfo.value
                if isinstance(exc, Fail):
                    message = str(exc)
                elif call.excinfo.typename == "Failed" and "Timeout" in str(exc):
                    message = "the check ran past its time limit"
                else:
                    message = f"internal grader error in this check ({call.excinfo.typename}: {str(exc)[:200]}); please report it"
            doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
            result = CheckResult(
                name=item.name,
                title=doc,
                api=item.get_closest_marker("api").args[0],
                points=float(item.get_closest_marker("points").args[0]),
                visible=item.get_closest_marker("visible") is not None,
                passed=passed,
                message=message.splitlines()[0] if message else "",
                seconds=time.perf_counter() - self._started.get(item.nodeid, time.perf_counter()),
                judged_with=dict(item.user_properties).get("judged_with", "") if passed else "",
            )
            self.results.append(result)
            if self.progress:
                self.progress.step(result)


class QuickReports:
    """Reports without pytest's source-annotated tracebacks, which the grader never shows (a check's message is
    its exception's text) and which cost about 25 ms for each failed check."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        from _pytest.reports import TestReport

        excinfo = call.excinfo
        if excinfo is None:
            outcome, longrepr = "passed", None
        elif excinfo.errisinstance(pytest.skip.Exception):
            return None  # skips keep pytest's own report
        else:
            outcome, longrepr = "failed", f"{excinfo.typename}: {excinfo.value}"
        return TestReport(
            item.nodeid,
            item.location,
            {name: 1 for name in item.keywords},
            outcome,
            longrepr,
            call.when,
            duration=call.duration,
            user_properties=item.user_properties,
        )


#: The checks' pytest configuration (markers, no rootdir conftest), shipped with the package.
PYTEST_INI = Path(__file__).resolve().parent.parent / "course" / "pytest.ini"


NO_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


def run_session(checks_dir, plugin: GradingPlugin) -> int:
    """Run an assignment's checks in this process with ``plugin``; pytest's exit code. The working directory is
    restored afterwards (``--rootdir`` makes pytest change it).

    Only the plugins the checks use are loaded (pytest-timeout): the installed ones that load themselves
    (anyio's imports asyncio and trio, hypothesis, benchmark) cost 0.5 s a session and judge nothing. The
    checks' asserts are not rewritten (a check fails by raising Fail with its message): 0.3 s a session."""
    args = [
        str(checks_dir),
        "-p",
        "pytest_timeout",
        "--assert=plain",
        "-p",
        "no:terminal",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",  # these two wrap every check and collect garbage at the session's end: 0.2-0.6 s a grade
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "-c",
        str(PYTEST_INI),
        "--rootdir",
        str(checks_dir),
        "--timeout",
        "300",
        "-W",
        "ignore",
    ]
    old, autoload = os.getcwd(), os.environ.get(NO_AUTOLOAD)
    os.environ[NO_AUTOLOAD] = "1"
    try:
        return pytest.main(args, plugins=[plugin, QuickReports()])
    finally:
        os.chdir(old)
        if autoload is None:
            os.environ.pop(NO_AUTOLOAD, None)
        else:
            os.environ[NO_AUTOLOAD] = autoload


def check_marks(module) -> list[dict]:
    """The markers of each check a topic module defines (name -> mark), in definition order (pytest's)."""
    return [
        {m.name: m for m in getattr(fn, "pytestmark", [])}
        for name, fn in vars(module).items()
        if name.startswith("test_")
    ]


def planned_apis(topics, visible_only: bool = False) -> list[str]:
    """The graded names the checks of these topic modules judge, in the order a session runs them (file, then
    definition order), read from their markers without collecting: a grade starts their probes while pytest
    is still starting. ``visible_only``: those of ``@pytest.mark.visible`` checks only."""
    apis = [
        marks["api"].args[0]
        for topic in topics
        for marks in check_marks(topic)
        if "api" in marks and (not visible_only or "visible" in marks)
    ]
    return list(dict.fromkeys(apis))


def points_by_api(checks_dir) -> dict[str, float]:
    """Graded name -> the sum of its checks' points, read from the markers of ``checks_dir/test_*.py``
    (where points are declared, once): what an assignment's master must give each question."""
    import importlib.util
    from pathlib import Path

    totals: dict[str, float] = {}
    for path in sorted(Path(checks_dir).glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_points_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for marks in check_marks(module):
            if "api" in marks and "points" in marks:
                api = marks["api"].args[0]
                totals[api] = totals.get(api, 0.0) + float(marks["points"].args[0])
    return totals
