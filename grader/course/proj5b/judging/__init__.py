"""Grader-side judgement for proj5b (numpy only), one module per topic.

The checks in this folder are thin: they pick a probe, call one function here and turn its verdict
into points. Every function either returns quietly or raises :class:`~grader.judging.judge.Fail` with one
line that names the mistake. The names below are what the checks use.
"""

from grader.course.proj5b.judging.common import arr, bank, closest_variant, need, results, schedule
from grader.course.proj5b.judging.forward import ForwardRun
from grader.course.proj5b.judging.modules import ModuleView
from grader.course.proj5b.judging.sampling import (
    judge_sampler,
    lands,
    matches_exactly,
    nearest,
    sampler_step_problem,
    step_records_problem,
    steps_problem,
)
from grader.course.proj5b.judging.schedules import schedule_problem
from grader.course.proj5b.judging.training import TrainRun, adam_replay, adam_step_problem

__all__ = [
    "ForwardRun",
    "ModuleView",
    "TrainRun",
    "adam_replay",
    "adam_step_problem",
    "arr",
    "bank",
    "closest_variant",
    "judge_sampler",
    "lands",
    "matches_exactly",
    "nearest",
    "need",
    "results",
    "sampler_step_problem",
    "schedule",
    "schedule_problem",
    "step_records_problem",
    "steps_problem",
]
