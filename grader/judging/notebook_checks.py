"""The notebook's own checks in ``grader check``: one verdict for students.

The student notebook (``assignments/<a>.ipynb``) carries public checks (otter's, run by
``grader.check("forward")`` in Jupyter). ``grader check`` runs them too, in the sealed worker on
the student's definitions, beside the visible hidden checks, so a mistake the notebook catches is
caught here with the same sentence. They are worth no points and are not run by ``grader grade``.
"""

from __future__ import annotations

import nbformat

from grader.judging.plugin import CheckResult

#: Where an installed student kit keeps the public checks (it ships no notebooks).
KIT_FILE = "public_checks.json"


def public_checks(spec) -> dict[str, str]:
    """Question -> the source of its public check: from the assignment's student notebook, else from
    the copy a student kit carries; {} when neither is there."""
    import json

    try:
        nb = nbformat.read(str(spec.student_notebook), as_version=4)
        tests = nb.metadata.get("otter", {}).get("tests", {})
    except (OSError, ValueError):
        try:
            tests = json.loads((spec.folder / KIT_FILE).read_text())
        except (OSError, ValueError):
            return {}
    return {q: src for q, src in tests.items() if isinstance(src, str)}


def run(spec, submission, visible: list[CheckResult]) -> list[CheckResult]:
    """``visible`` with the notebook's checks added, each after its name's visible checks. A name
    whose visible checks already fail is not checked again (the first failure is the one to fix)."""
    import time

    from grader.core import NOTEBOOK_CHECK
    from grader.judging.judge import Fail
    from grader.probing import call, probe

    failing = {r.api for r in visible if not r.passed}
    checked = {q: src for q, src in public_checks(spec).items() if q not in failing}
    for question, source in checked.items():
        submission.probes[f"notebook:{question}"] = probe(
            question, call(NOTEBOOK_CHECK, source, label=question, no_grad=False)
        )
    prefetch = getattr(submission, "prefetch_names", None)
    if prefetch is not None:  # all at once, several sandboxes at a time
        prefetch([f"notebook:{q}" for q in checked])
    results = []
    for question in checked:
        name = f"notebook:{question}"
        t0 = time.perf_counter()
        try:
            (answer,) = submission.results(name)
            message = answer.message if not answer.ok else _text(answer.value)
        except Fail as e:
            message = str(e)
        results.append(
            CheckResult(
                name=f"notebook_check_{question}",
                title=f"the notebook's check of {question}",
                api=question,
                points=0.0,
                visible=True,
                passed=not message,
                message=message.splitlines()[0] if message else "",
                seconds=time.perf_counter() - t0,
            )
        )
    merged = list(visible)
    for result in results:
        last = max((i for i, r in enumerate(merged) if r.api == result.api), default=len(merged) - 1)
        merged.insert(last + 1, result)
    return merged


def _text(value) -> str:
    from grader import protocol

    decoded = protocol.decode(value)
    return decoded if isinstance(decoded, str) else ""
