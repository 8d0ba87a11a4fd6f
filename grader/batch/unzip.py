"""Extracting a zip of submissions (a Gradescope export, or a zip of a folder) within bounds.

Only the members the batch reads are written (``wanted``); each one lands inside the destination
folder or not at all (no absolute path, no ``..``, no symbolic link). A member that would
extract far larger than it is stored (a zip bomb) or larger than any notebook the grader reads
is skipped; a zip with too many members, or whose wanted members would pass the total size, is
refused as a whole. Sizes are counted as the bytes come out, not taken from the zip's directory.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from grader.intake.notebook_file import MAX_NOTEBOOK_BYTES

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_MEMBER_BYTES = MAX_NOTEBOOK_BYTES  # a larger notebook is refused when graded: no need to write it
#: Notebooks compress 2 to 10 times (outputs of repeated text a few dozen); deflate reaches 1,000.
MAX_RATIO = 200
_RATIO_FROM = 1024 * 1024  # smaller members may compress as they like


class ZipRefused(Exception):
    """The zip as a whole is outside the bounds: one line for the TA."""


@dataclass
class Extracted:
    written: list[Path] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)  # links, and paths that would land outside
    oversized: list[str] = field(default_factory=list)  # bombs, and members past MAX_MEMBER_BYTES
    corrupt: list[str] = field(default_factory=list)  # members zipfile cannot read as their entry says


def _size(n: int) -> str:
    return f"{n / 1024**3:.0f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def _too_big(member: zipfile.ZipInfo) -> bool:
    if member.file_size > MAX_MEMBER_BYTES:
        return True
    return member.file_size > _RATIO_FROM and member.file_size > MAX_RATIO * max(member.compress_size, 1)


def _copy(src, dst, limit: int) -> int:
    """Copy at most ``limit`` bytes; the count, or -1 when there was more."""
    done = 0
    while chunk := src.read(1 << 20):
        done += len(chunk)
        if done > limit:
            return -1
        dst.write(chunk)
    return done


def extract(zpath: Path, dest: Path, wanted=lambda name: True) -> Extracted:
    """Write the zip's members that ``wanted(name)`` accepts under ``dest``, within the bounds above;
    ZipRefused when the zip as a whole is outside them (zipfile.BadZipFile when it is no zip)."""
    dest.mkdir(parents=True, exist_ok=True)
    base = dest.resolve()
    out = Extracted()
    total = 0
    with zipfile.ZipFile(zpath) as zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise ZipRefused(
                f"{zpath.name} holds {len(members):,} members (the limit is {MAX_MEMBERS:,}); "
                "extract it yourself and grade the folder"
            )
        for member in members:
            if member.is_dir() or not wanted(member.filename):
                continue
            target = (base / member.filename).resolve()
            if stat.S_ISLNK(member.external_attr >> 16) or target == base or not target.is_relative_to(base):
                out.unsafe.append(member.filename)
                continue
            if _too_big(member):
                out.oversized.append(member.filename)
                continue
            if total + member.file_size > MAX_TOTAL_BYTES:
                raise ZipRefused(
                    f"{zpath.name} would extract to over {_size(MAX_TOTAL_BYTES)}; extract it yourself and grade the folder"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(member) as src, open(target, "wb") as dst:
                    written = _copy(src, dst, member.file_size)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):  # (a CRC that does not match
                target.unlink(missing_ok=True)  # the size its directory entry gives, an unknown compression)
                out.corrupt.append(member.filename)
                continue
            if written < 0:  # more than its directory entry said (zipfile itself stops there)
                target.unlink()
                out.oversized.append(member.filename)
                continue
            total += written
            out.written.append(target)
    return out
