"""A grade starts its probes before pytest collects the checks, in the order read from the checks' markers
(grader.judging.plugin.planned_apis): that order must be the one pytest then asks in."""

import pytest

from grader import course
from grader.judging.plugin import planned_apis
from grader.judging.submission import Submission
from grader.runner import run_checks


class Recording(Submission):
    def __init__(self, probes):
        super().__init__(probes, load_error="not loaded")
        self.asked: list[list[str]] = []

    def prefetch(self, apis) -> None:
        self.asked.append(list(dict.fromkeys(apis)))


@pytest.mark.parametrize("visible_only", [False, True])
@pytest.mark.parametrize("assignment", ["proj5a", "proj5b"])
def test_the_planned_order_is_the_order_pytest_collects(assignment, visible_only):
    a = course.get(assignment)
    sub = Recording(a.probes)
    results = run_checks(assignment, sub, visible_only)
    assert sub.asked == [planned_apis(a.topics, visible_only)]
    assert list(dict.fromkeys(r.api for r in results)) == sub.asked[0]
