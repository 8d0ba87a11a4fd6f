"""Seal a worker before any student code runs: its own namespaces, an allowlisted root, no privileges.

:func:`enter` is called by the process that is about to become a worker (forked from the fork
server, or started directly). It

1. joins the worker's cgroup and sets resource limits (while still privileged);
2. unshares mount, PID, IPC and network namespaces (as root), or first a user namespace that
   maps the grading user to root inside it (as an ordinary user, where the kernel allows);
3. forks: the child is PID 1 of the new PID namespace and becomes the worker; the parent only
   waits for it and exits with its status, so that when the worker ends, every process it or
   student code started ends with it (the kernel kills a PID namespace with its init);
4. builds a new root on a fresh tmpfs holding only an allowlist, each part read-only: the
   system's ``/usr``, ``/bin``, ``/lib*``, ``/etc``; the interpreter and its site-packages at
   their own paths (so an interpreter under a 0700 ``/root`` or under ``/tmp`` is reachable);
   and, in place of the grader's package folder, a folder holding only the worker-side modules
   named in the spec (no checks, catalogue, fixtures, solutions, tests or ``.git``). Private
   tmpfs mounts for ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run`` and the scratch folder, a
   read-only ``/dev`` with private ``/dev/shm`` and ``/dev/mqueue``, and a fresh ``/proc`` of the
   new PID namespace;
5. ``pivot_root`` into it and detaches the old root;
6. drops privileges for good: as root, to a fresh unprivileged uid; in a user namespace, every
   capability; and ``no_new_privs`` in both cases.

Any failure raises :class:`SealError` before student code could run: the caller refuses to grade
(fail closed). Nothing written by student code can outlive the worker: every writable place is
a tmpfs of the worker's own mount namespace, and its IPC namespace goes with it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

#: System folders bound read-only into the new root when present (/sys: numeric libraries read the
#: CPU topology there, and pick the same kernels as outside, so outputs match the fixtures bit for bit).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc", "/sys")
#: Private, writable and empty for each worker.
PRIVATE_TMPFS = ("/tmp", "/var/tmp", "/dev/shm", "/run")


class SealError(RuntimeError):
    """The worker could not be sealed; it must not run student code."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SealError(f"{what}: {os.strerror(err)} (errno {errno.errorcode.get(err, err)})")


def _mount(source, target, fstype=None, flags=0, data=None) -> None:
    enc = lambda v: v.encode() if isinstance(v, str) else v  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _locked_flags(path: str) -> int:
    """Mount flags a remount must keep (in a user namespace the kernel refuses to clear them)."""
    f = os.statvfs(path).f_flag
    return (
        (MS_NOSUID if f & os.ST_NOSUID else 0)
        | (MS_NODEV if f & os.ST_NODEV else 0)
        | (MS_NOEXEC if f & os.ST_NOEXEC else 0)
    )


def _bind_readonly(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(target))


def _mkdirs(root: str, path: str, mode: int = 0o755) -> str:
    """Create ``path`` (absolute) under ``root``, each new folder with ``mode``; return the full path."""
    full = root
    for part in Path(path).parts[1:]:
        full = os.path.join(full, part)
        if not os.path.isdir(full):
            os.mkdir(full, mode)
            os.chmod(full, mode)
    return full


def _interpreter_paths() -> list[str]:
    """The interpreter's prefixes and import paths that exist (deduplicated, outermost first)."""
    candidates = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    ]
    candidates += [p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p]
    found: list[str] = []
    for p in sorted({os.path.realpath(c) for c in candidates if c and os.path.isdir(c)}, key=len):
        if not any(p == f or p.startswith(f + os.sep) for f in found):
            found.append(p)
    return found


def worker_files(package_dir: str, modules: list[str], import_root: str) -> dict[str, str]:
    """{absolute path: source file} of the worker-side modules and the packages above them."""
    files: dict[str, str] = {}

    def add_module(name: str, root: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts)):
            init = os.path.join(root, *parts[:i], "__init__.py")
            if os.path.exists(init):
                files[init] = init
        path = os.path.join(root, *parts) + ".py"
        if not os.path.exists(path):
            path = os.path.join(root, *parts, "__init__.py")
        files[path] = path

    grader_parent = os.path.dirname(package_dir)
    for name in (
        "grader",
        "grader.core",
        "grader.protocol",
        "grader.npy_bytes",
        "grader.course",
    ):
        add_module(name, grader_parent)
    from grader.worker.preload import worker_modules

    for name in ["grader.worker"] + worker_modules():  # the worker's own code: its whole folder, nothing else
        add_module(name, grader_parent)
    for name in modules:
        add_module(name, grader_parent if name.startswith("grader.") else import_root)
    return files


def _populate(root: str, files: dict[str, str], overlays: list[str]) -> None:
    """Mount a fresh tmpfs over each overlay folder, then copy in just ``files``."""
    for folder in overlays:
        target = _mkdirs(root, folder)
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=16m")
    for path, source in files.items():
        target_dir = _mkdirs(root, os.path.dirname(path))
        with open(source, "rb") as f:
            data = f.read()
        with open(os.path.join(target_dir, os.path.basename(path)), "wb") as out:
            out.write(data)
    for folder in overlays:
        target = os.path.join(root, folder.lstrip("/"))
        _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def build_root(root: str, spec: dict) -> None:
    """Lay out the allowlisted filesystem under ``root`` (a fresh tmpfs)."""
    for d in SYSTEM_DIRS:
        if os.path.isdir(d) and not os.path.islink(d):
            _bind_readonly(d, _mkdirs(root, d))
        elif os.path.islink(d):
            os.symlink(os.readlink(d), os.path.join(root, d.lstrip("/")))
    # /dev as the host has it (device nodes bound one by one cannot be opened in a user namespace),
    # read-only; unprivileged users can open only its world-accessible nodes (null, zero, urandom ...)
    _bind_readonly("/dev", _mkdirs(root, "/dev"))
    _no_terminals(root)
    for d in PRIVATE_TMPFS + (("/dev/mqueue",) if os.path.isdir("/dev/mqueue") else ()):
        _mount("tmpfs", _mkdirs(root, d, 0o1777), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    for p in _interpreter_paths():  # after the tmpfs mounts: a venv under /tmp lands inside the private /tmp
        if not any(p == d or p.startswith(d + os.sep) for d in SYSTEM_DIRS):
            _bind_readonly(p, _mkdirs(root, p))
    package_dir = spec["package_dir"]
    files = worker_files(package_dir, spec["modules"], spec["import_root"])
    overlays = [package_dir] + ([spec["import_root"]] if spec["import_root"] != os.path.dirname(package_dir) else [])
    _populate(root, files, overlays)
    _mount("tmpfs", _mkdirs(root, spec["workdir"], 0o755), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=512m")
    _mount("proc", _mkdirs(root, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _no_terminals(root: str) -> None:
    """No pseudo-terminals: the host's ``/dev/ptmx`` becomes ``/dev/null`` and ``/dev/pts`` an empty,
    read-only folder, so student code cannot take the host's ptys."""
    if os.path.exists(os.path.join(root, "dev/ptmx")):
        _mount("/dev/null", os.path.join(root, "dev/ptmx"), None, MS_BIND)
    if os.path.isdir(os.path.join(root, "dev/pts")):
        _mount("tmpfs", os.path.join(root, "dev/pts"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=4k")
        _mount(None, os.path.join(root, "dev/pts"), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _pivot(root: str) -> None:
    old = os.path.join(root, ".old-root")
    os.mkdir(old, 0o700)
    syscall_pivot_root = 155 if os.uname().machine == "x86_64" else 41
    _check(_libc.syscall(syscall_pivot_root, root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", MNT_DETACH), "detach the old root")
    os.rmdir("/.old-root")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _drop_capabilities() -> None:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    for cap in range(64):  # the bounding set first (needs CAP_SETPCAP), then the sets themselves
        _libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    header, data = Header(0x20080522, 0), (Data * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "drop capabilities")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _user_namespace() -> None:
    """As an ordinary user: a user namespace in which we are root, so we may build the sandbox."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "create a user namespace (unprivileged user namespaces disabled?)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def _new_session() -> None:
    try:
        os.setsid()
    except PermissionError:  # already a session leader (started with start_new_session)
        pass


def _limits(spec: dict) -> None:
    mem, files = spec["memory_bytes"], spec["file_bytes"]
    resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def unsealed(spec: dict) -> None:
    """No namespaces available (an ordinary user): a session, limits and the scratch folder only."""
    _new_session()
    _limits(spec)
    os.chdir(spec["workdir"])


def enter(spec: dict) -> None:
    """Become the sealed worker described by ``spec`` (see spawn.confinement_spec), or raise SealError.

    Returns only in the sealed process. The process that called it waits for that one and exits
    with its status (it never returns).
    """
    _new_session()
    for d in spec.get("cgroup_dirs", []):
        try:
            _write(os.path.join(d, "cgroup.procs"), "0")
        except OSError:
            pass
    _limits(spec)
    root_user = os.geteuid() == 0
    spec["user_namespace"] = not root_user
    try:
        if not root_user:
            _user_namespace()
        _check(
            _libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET),
            "create mount, PID, IPC and network namespaces",
        )
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
    except (OSError, SealError) as e:
        raise SealError(str(e)) from None
    pid = os.fork()
    if pid:
        _wait_and_exit(pid)
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        root = spec["workdir"]  # the new root is mounted over the (empty) scratch folder's path
        _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
        build_root(root, spec)
        _pivot(root)
        os.chdir(spec["workdir"])
        # The template keeps its privileges inside these namespaces: it never runs student code, and
        # it needs them to give every probe namespaces and mounts of its own (enter_probe).
    except (OSError, SealError) as e:
        raise SealError(str(e)) from None


_OWN_PID_NAMESPACE: list[int] = []


def next_probe_pid_namespace() -> None:
    """In the template, right before it forks a probe: the next child it forks is PID 1 of a new PID
    namespace (nested in the template's), so everything that probe starts dies with it. (The kernel
    creates one only while the children's namespace is the template's own: return to it first.)"""
    if not _OWN_PID_NAMESPACE:
        _OWN_PID_NAMESPACE.append(os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
    _check(_libc.setns(_OWN_PID_NAMESPACE[0], CLONE_NEWPID), "return to the template's PID namespace")
    _check(_libc.unshare(CLONE_NEWPID), "create the probe's PID namespace")


def enter_probe(spec: dict) -> None:
    """Called in a fresh child of the sealed template (PID 1 of its own PID namespace, see
    :func:`next_probe_pid_namespace`), before any student code: give this probe its own mount, IPC
    and network namespaces, fresh tmpfs over every writable place and a fresh ``/proc``, then drop
    privileges for good. Raises SealError on any failure."""
    try:
        for fd in _OWN_PID_NAMESPACE:  # the template's namespace stays out of the probe's reach
            os.close(fd)
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "create the probe's namespaces")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "set the parent-death signal")
        for d in PRIVATE_TMPFS:
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
        _mount("tmpfs", _mkdirs("/", spec["workdir"]), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=512m")
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        os.chdir(spec["workdir"])
        os.setsid()  # its own session and process group: kill(0, ...) reaches only the probe
        _drop_privileges(spec)
    except (OSError, SealError) as e:
        raise SealError(str(e)) from None


def _drop_privileges(spec: dict) -> None:
    """As root: a fresh unprivileged uid; in a user namespace: every capability; no_new_privs in both."""
    if spec.get("uid") is not None and os.geteuid() == 0 and not spec.get("user_namespace"):
        uid, gid = spec["uid"], spec["gid"]
        os.chown(spec["workdir"], uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        n = spec["processes"]
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    else:
        _drop_capabilities()
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
    # Changing credentials cleared the parent-death signal: set it again, so that killing the
    # probe's outer process ends this one, and with it (as PID 1) everything in the namespace.
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "set the parent-death signal")


def enter_or_report(spec: dict, fd: int) -> None:
    """:func:`enter`; on failure tell the grading process why (one frame on ``fd``) and exit."""
    try:
        enter(spec)
    except SealError as e:
        from grader import protocol

        try:
            protocol.send(fd, {"ready": False, "seal_error": str(e)})
        finally:
            os._exit(3)


def _wait_and_exit(pid: int) -> None:
    """The outer process: close what it holds, wait for the sealed worker, exit with its status."""
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    os.closerange(3, 1 << 16)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 1)


def probe_support() -> str | None:
    """None when this process can seal workers, else a one-line reason (checked in a throwaway child)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if os.geteuid() != 0:
                _user_namespace()
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
            os.write(w, b"ok")
        except Exception as e:  # noqa: BLE001
            os.write(w, str(e).encode()[:500])
        os._exit(0)
    os.close(w)
    answer = os.read(r, 600).decode(errors="replace")
    os.close(r)
    os.waitpid(pid, 0)
    return None if answer == "ok" else answer
