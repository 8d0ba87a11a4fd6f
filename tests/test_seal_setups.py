"""The attack tests of test_seal.py in the other setups the grader meets, each in a subprocess:

* as an ordinary user (`nobody`): a TA grading on a laptop, sealed in an unprivileged user namespace;
* as root with the interpreter under a 0700 folder (pyenv under `/root`), which the worker's uid
  cannot reach on the host; the seal binds it into the worker's own root.

The main run of test_seal.py covers root with the interpreter reachable (CI allows /root traversal).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


#: the attacks whose protection depends on the setup (the worker's view of files and processes, cleanup)
CHOSEN = "sees_none or reference_code or proc_shows or forged or nothing_passes or conftest"
#: the per-probe sandbox attacks of test_sandbox.py run in the same session (stores, load-time patches)
CHOSEN_SANDBOX = "stores or load_time_patch"
CHOSEN_ALL = f"{CHOSEN} or {CHOSEN_SANDBOX}"
EXPECTED = 8


def _as_nobody(command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["su", "nobody", "-s", "/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout, cwd="/tmp"
    )


@pytest.fixture(scope="module")
def nobody_can_run_the_grader():
    if os.geteuid() != 0 or shutil.which("su") is None:
        pytest.skip("needs root to become nobody")
    probe = _as_nobody(f"cd {ROOT} && {sys.executable} -c 'import grader.isolation.seal, torch'", 120)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python or read the checkout: {probe.stderr.strip()[-200:]}")


@pytest.mark.slow  # the seal and sandbox attacks again as `nobody`: 75 s here
def test_the_attacks_fail_for_an_ordinary_user_too(nobody_can_run_the_grader):
    run = _as_nobody(
        f"cd {ROOT} && {sys.executable} -m pytest -q -p no:cacheprovider -m 'slow or not slow' tests/test_seal.py tests/test_sandbox.py -k '{CHOSEN_ALL}'",
        1200,
    )
    tail = (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed and int(passed.group(1)) == EXPECTED, tail


@pytest.mark.slow  # 25 s more: a third full setup (python3 -m pytest -m slow)
def test_the_attacks_fail_with_the_interpreter_under_a_0700_folder():
    prefix = Path(os.path.realpath(sys.executable)).parents
    private = next((p for p in prefix if p.parent == Path("/") and p != Path("/usr")), None)
    if os.geteuid() != 0 or private is None or private == Path("/tmp"):
        pytest.skip("needs root and an interpreter under a top-level folder such as /root")
    mode = private.stat().st_mode & 0o777
    private.chmod(0o700)
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "slow or not slow",
                "tests/test_seal.py",
                "tests/test_sandbox.py",
                "-k",
                CHOSEN_ALL,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    finally:
        private.chmod(mode)
    tail = (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed and int(passed.group(1)) == EXPECTED, tail
