"""Pay for ``import torch`` once per grading process, not once per submission.

A fork server is a process with a scrubbed environment that imports torch, diffusers' scheduler, torchvision and
matplotlib and then waits. For each submission the grading process hands it one
end of a fresh socket; it forks, and the child becomes that submission's worker
(:class:`grader.worker.Worker`) after confining itself (its own cgroup, limits,
private /tmp, no network, unprivileged user; see :mod:`grader.isolation.confine`). The
server only ever runs the grader's own code; student code runs only in a
confined child, which never shares state with another submission.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

from grader.worker.preload import collapse, preload, settle


def become_worker(fd: int, spec_json: str) -> None:
    """Seal this process as the worker ``spec`` describes, then serve the grading process on ``fd``."""
    spec = json.loads(spec_json)
    if spec["mode"] == "sealed":
        from grader.isolation.seal import enter_or_report

        enter_or_report(spec, fd)
        os.environ["DIFFGRADE_SEALED"] = "1"
    else:  # an ordinary user without namespaces: limits only (results say "not isolated")
        from grader.isolation.seal import unsealed

        unsealed(spec)
    workdir = spec["workdir"]
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "MPLCONFIGDIR": workdir})
    import tempfile

    tempfile.tempdir = None
    from grader.worker.serve import Template

    Template(fd, spec).serve()
    os._exit(0)


def serve(control_fd: int, modules: list[str] = ()) -> None:
    preload(list(modules))
    settle()
    collapse()  # every worker of the batch is a fork of this process: 2 MB pages make each fork cheaper
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control.sendall(b"R")  # ready
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 65536, 1)
        except OSError:
            return
        if not msg:
            return
        if not fds:
            continue
        fd = fds[0]
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                become_worker(fd, msg.decode())
            finally:
                os._exit(0)
        os.close(fd)
        control.sendall(pid.to_bytes(8, "big"))


if __name__ == "__main__":
    serve(int(sys.argv[1]))
