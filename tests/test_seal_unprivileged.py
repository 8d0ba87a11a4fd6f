"""The seal for an ordinary user: the attack tests of test_seal.py, run as `nobody`.

As root (CI, Gradescope) the worker drops to a fresh uid; a TA grades as an ordinary user, for
whom the grader builds the same namespaces inside an unprivileged user namespace. This runs the
whole attack module again as `nobody` in a subprocess, so both paths are tested in one suite.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _as_nobody(command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", command], capture_output=True, text=True,
                          timeout=timeout, cwd="/tmp")


@pytest.fixture(scope="module")
def nobody_can_run_the_grader():
    if os.geteuid() != 0 or shutil.which("su") is None:
        pytest.skip("needs root to become nobody")
    probe = _as_nobody(f"cd {ROOT} && {sys.executable} -c 'import grader.isolation.seal, torch'", 120)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python or read the checkout: {probe.stderr.strip()[-200:]}")


def test_the_attacks_fail_for_an_ordinary_user_too(nobody_can_run_the_grader):
    # the attacks whose protection differs for an ordinary user (the user namespace's view and cleanup)
    chosen = "sees_none or reference_code or proc_shows or forged or nothing_passes or conftest"
    run = _as_nobody(f"cd {ROOT} && {sys.executable} -m pytest -q -p no:cacheprovider tests/test_seal.py -k '{chosen}'",
                     1200)
    tail = (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed and int(passed.group(1)) == 6, tail
