"""Data-only messages between the grading process and a worker.

A frame is a 4-byte big-endian length and a JSON document. Arrays travel as
base64 ``.npy`` bytes written and read with ``allow_pickle=False``; nothing is
ever unpickled. Only numbers, strings, booleans, None, lists, dicts and arrays
can be sent: anything else is refused by :func:`encode`.

This module imports numpy only, so the grading process never needs torch.
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import struct
import time

import numpy as np

MAX_FRAME = 256 * 1024 * 1024
_ALLOWED_DTYPES = {"f", "i", "u", "b"}


class ProtocolError(Exception):
    pass


class Unsendable(TypeError):
    """A value that is not data (a module, a function, an arbitrary object)."""


def encode(value, _depth: int = 0):
    """Turn a returned value into JSON-able data; raise Unsendable for anything else."""
    if _depth > 20:
        raise Unsendable("nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value) in (int, float, bool):
        if isinstance(value, float) and not np.isfinite(value):
            return {"$float": repr(value)}
        return value
    if isinstance(value, np.generic):
        return encode(value.item(), _depth + 1)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ALLOWED_DTYPES:
            raise Unsendable(f"an array of dtype {value.dtype}")
        if value.dtype == np.float16:
            value = value.astype(np.float32)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(value), allow_pickle=False)
        return {"$array": base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return {"$list": [encode(v, _depth + 1) for v in value], "tuple": isinstance(value, tuple)}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Unsendable("a dict with non-string keys")
        return {"$dict": {k: encode(v, _depth + 1) for k, v in value.items()}}
    raise Unsendable(f"a {type(value).__module__}.{type(value).__qualname__}")


def decode(data):
    """Inverse of :func:`encode`; arrays are loaded without pickle."""
    if isinstance(data, dict):
        if "$array" in data:
            arr = np.load(io.BytesIO(base64.b64decode(data["$array"])), allow_pickle=False)
            return arr
        if "$float" in data:
            return float(data["$float"])
        if "$list" in data:
            items = [decode(v) for v in data["$list"]]
            return tuple(items) if data.get("tuple") else items
        if "$dict" in data:
            return {k: decode(v) for k, v in data["$dict"].items()}
        return {k: decode(v) for k, v in data.items()}
    if isinstance(data, list):
        return [decode(v) for v in data]
    return data


def send(fd: int, message: dict) -> None:
    body = json.dumps(message).encode("utf-8")
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no complete answer in time")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("worker closed the channel")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def frame_length(data: bytes) -> int:
    """The length in bytes of the frame at the start of ``data`` (header included)."""
    return 4 + struct.unpack(">I", data[:4])[0]


def frame_complete(data: bytes) -> bool:
    """True when ``data`` starts with a whole frame (length prefix and body)."""
    return len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]


def parse_frame(data: bytes) -> dict:
    """The message in the first frame of ``data`` (see :func:`send`)."""
    (length,) = struct.unpack(">I", data[:4])
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes refused")
    message = json.loads(data[4 : 4 + length].decode("utf-8"))
    if not isinstance(message, dict):
        raise ProtocolError("frame is not an object")
    return message


def recv(fd: int, deadline: float | None = None) -> dict:
    """Read one frame; with a deadline (time.monotonic()), raise TimeoutError past it."""
    (length,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes refused")
    message = json.loads(_read_exact(fd, length, deadline).decode("utf-8"))
    if not isinstance(message, dict):
        raise ProtocolError("frame is not an object")
    return message
