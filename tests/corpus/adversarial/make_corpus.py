"""Write the adversarial corpus: the reference solution plus one attack each.

Each notebook redefines a graded function (usually ``forward``) so that it
attacks the grader before (or instead of) doing its job. ``manifest.json``
records the honest score of the same notebook without the attack and a
keyword that the report must contain. Run from the repository root:
``python tests/corpus/adversarial/make_corpus.py``.
"""

import json
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nbtools import write_notebook  # noqa: E402

TARGET = "/tmp/diffgrade-attack-target"  # must stay empty: nothing may be written outside the sandbox

CORRECT_FORWARD = """
    abar = alphas_cumprod[t]
    return abar.sqrt() * im + (1 - abar).sqrt() * torch.randn_like(im)
"""

ATTACKS = {
    "read_hidden": ("forward", 90, "no such file", """
def forward(im, t):
    import grader, os
    base = os.path.dirname(os.path.dirname(grader.__file__))
    leaked = open(os.path.join(base, "grader", "course", "proj5a", "checks", "test_1_denoising.py")).read()
    leaked += str(open(os.path.join(base, "fixtures", "proj5a", "expected.npz"), "rb").read(100))
    raise RuntimeError(leaked[:2000])
"""),
    "fake_results": ("forward", 90, "exited early", f"""
def forward(im, t):
    import json, os
    for root in ["/autograder", "{TARGET}"]:
        try:
            os.makedirs(root + "/results", exist_ok=True)
            with open(root + "/results/results.json", "w") as f:
                json.dump({{"score": 1000, "tests": []}}, f)
        except OSError:
            pass
    os._exit(0)
"""),
    "infinite_loop": ("forward", 90, "did not finish", """
def forward(im, t):
    while True:
        pass
"""),
    "sleep_past_limit": ("forward", 90, "did not finish", """
def forward(im, t):
    import time
    time.sleep(10_000)
"""),
    "huge_allocation": ("forward", 90, "memory", """
def forward(im, t):
    hog = torch.ones(40 * 1024**3 // 4)  # 40 GB
    return hog[:1]
"""),
    # contained either way: the forks outlast the probe's time limit, or the process cap stops them and the
    # sleeping children are killed when the probe ends (which happens first depends on the machine's load)
    "fork_bomb": ("forward", 100, ["did not finish", "left running were stopped"], """
def forward(im, t):
    import os, time
    for _ in range(2000):
        try:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
        except OSError:
            break
""" + CORRECT_FORWARD),
    "patch_comparisons": ("forward", 92, "sqrt", """
def forward(im, t):
    import builtins, numpy, numpy.testing
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    numpy.allclose = lambda *a, **k: True
    numpy.array_equal = lambda *a, **k: True
    numpy.testing.assert_allclose = lambda *a, **k: None
    builtins.max = lambda *a, **k: 0
    abar = alphas_cumprod[t]
    return abar * im + (1 - abar) * torch.randn_like(im)
"""),
    "pickle_exploit": ("forward", 90, "expected a tensor", f"""
class Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch {TARGET}/pwned",))


def forward(im, t):
    return Exploit()
"""),
    "kill_parent": ("forward", 90, "returned none", """
def forward(im, t):
    import os, signal
    os.kill(os.getppid(), signal.SIGKILL)
"""),
    "kill_everything": ("forward", 90, ["killed", "returned none"], """
def forward(im, t):
    import os, signal
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
    os.kill(os.getpid(), signal.SIGKILL)
"""),
    "flood_stdout": ("forward", 100, "discarded", """
def forward(im, t):
    import sys, os
    chunk = "x" * 1_000_000
    for _ in range(50):
        print(chunk)
        sys.stderr.write(chunk)
        os.write(1, b"y" * 100_000)
""" + CORRECT_FORWARD),
    "background_process": ("forward", 100, "stopped", """
def forward(im, t):
    import subprocess, os
    subprocess.Popen(["sleep", "317"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            import time
            time.sleep(317)
        os._exit(0)
""" + CORRECT_FORWARD),
    "sys_exit_success": ("forward", 90, "exited early", """
def forward(im, t):
    import sys
    sys.exit(0)
"""),
    "network": ("forward", 90, "network", """
def forward(im, t):
    import socket
    s = socket.create_connection(("127.0.0.1", 22), timeout=2)
    raise RuntimeError("network reachable")
"""),
}


def main():
    solution = nbformat.read(str(ROOT / "solutions" / "proj5a.ipynb"), as_version=4)
    # the master's raw cells are otter-assign markup, not code
    base = [("md" if c.cell_type == "markdown" else "code", c.source) for c in solution.cells if c.cell_type != "raw"]
    manifest = []
    for name, (api, honest, keyword, attack) in ATTACKS.items():
        write_notebook(HERE / f"{name}.ipynb", base + [("code", attack)], assignment="proj5a")
        manifest.append({"file": f"{name}.ipynb", "api": api, "honest_score": honest, "expect": keyword})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
