"""Data-only messages between the grading process and a worker.

A frame is a 4-byte big-endian length and a JSON document. Arrays travel as
base64 ``.npy`` bytes written and read with ``allow_pickle=False``; nothing is
ever unpickled. Only numbers, strings, booleans, None, lists, dicts and arrays
can be sent: anything else is refused by :func:`encode`.

What the grading process reads from a worker is bounded (:data:`FROM_WORKER`): a frame that is
too large, nested too deeply or too bulky is read off the channel and replaced by a refusal,
before ``json.loads`` builds any of it, and :func:`answer_kept` keeps of an answer only what the
checks read. Any frame, from anyone, is parsed with a depth limit.

This module imports numpy (and :mod:`grader.core`) only, so the grading process never needs torch.
It alone turns :mod:`grader.core`'s values into the wire format and back (:func:`encode_calls`,
:func:`call_results`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import struct
import time
from dataclasses import dataclass

import numpy as np

from grader.core import NOTEBOOK_CHECK, Call, CallResult, Input, Provided, Result, Standin, Student, Support
from grader.npy_bytes import load_array

# --------------------------------------------------------------------------- JSON measured before it is parsed
#
# ``json.loads`` recurses once per nesting level (a document of 100,000 nested lists raises RecursionError, or
# worse on some interpreters) and builds every container it reads (six million empty lists cost gigabytes).
# :func:`measure` reads a document's structure without building anything: it finds the strings as JSON
# tokenises them and counts the brackets and commas outside them, in chunks, so :func:`loads` can refuse a
# document that is too deep or too bulky before ``json.loads`` sees it. (Here, not in a module of its own:
# the sealed worker holds only the modules it needs, and it reads frames too.)

#: The bytes of JSON's structure outside strings: brackets and commas. (In UTF-8 no byte of a multi-byte
#: character is ASCII, so the bytes tokenise as the text does.)
_MARKS = b"[]{},"
_NOT_MARKS = bytes(b for b in range(256) if b not in _MARKS)
_IS_MARK = np.zeros(256, dtype=bool)
_IS_MARK[list(_MARKS)] = True
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_CHUNK = 1 << 18
_NONE = np.zeros(0, dtype=np.int64)


class Refused(ValueError):
    """The document is outside the bounds; the message says which bound, in words."""


@dataclass(frozen=True)
class Shape:
    depth: int  # deepest nesting of lists and objects
    containers: int  # lists and objects
    items: int  # values in all of them (an upper bound: commas outside strings, plus one each)


@dataclass(frozen=True)
class Bounds:
    max_depth: int
    max_containers: int | None = None
    max_items: int | None = None


def _unescaped(a: np.ndarray, quotes: np.ndarray, carried: int) -> np.ndarray:
    """Which of the quotes at ``quotes`` in ``a`` are not escaped: preceded by an even run of backslashes
    (``carried`` of them end the bytes before ``a``)."""
    backslashes = np.flatnonzero(a == _BACKSLASH)
    if not len(backslashes):
        return (quotes != 0) | (carried % 2 == 0)
    first = np.ones(len(backslashes), dtype=bool)
    first[1:] = backslashes[1:] != backslashes[:-1] + 1
    run_start = np.maximum.accumulate(np.where(first, backslashes, 0))
    run = backslashes - run_start + 1 + np.where(run_start == 0, carried, 0)  # the run ending at each
    before = np.maximum(quotes - 1, 0)
    after = (quotes > 0) & (a[before] == _BACKSLASH)
    runs = np.where(after, run[np.minimum(np.searchsorted(backslashes, before), len(run) - 1)], 0)
    runs = np.where(quotes == 0, carried, runs)
    return runs % 2 == 0


def measure(document: bytes | bytearray | str) -> Shape:
    """The nesting depth and bulk of a JSON document (UTF-8 bytes, or text), without parsing it: linear
    time, no recursion, memory for one chunk at a time. A quote ends a string unless an odd run of
    backslashes precedes it; brackets and commas inside strings are not structure. (Past a syntax error
    the count may be off; json.loads stops there.)"""
    if isinstance(document, str):
        document = document.encode("utf-8", "surrogatepass")
    depth = level = containers = commas = 0
    inside = 0  # 1 when the chunk starts inside a string
    carried = 0  # backslashes that end the bytes before the chunk
    for start in range(0, len(document), _CHUNK):
        chunk = bytes(document[start : start + _CHUNK])
        a = np.frombuffer(chunk, dtype=np.uint8)
        quotes = np.flatnonzero(a == _QUOTE) if b'"' in chunk else _NONE
        real = quotes[_unescaped(a, quotes, carried)] if len(quotes) else _NONE
        if len(real):  # strings start or end here: keep the marks outside them
            marks = np.flatnonzero(_IS_MARK[a])
            marks = a[marks[(np.searchsorted(real, marks) + inside) % 2 == 0]]
        elif inside:
            marks = _NONE
        else:
            marks = np.frombuffer(chunk.translate(None, _NOT_MARKS), dtype=np.uint8)
        if len(marks):
            opens = (marks == ord("[")) | (marks == ord("{"))
            steps = opens.astype(np.int64) - ((marks == ord("]")) | (marks == ord("}")))
            running = np.cumsum(steps) + level
            depth, level = max(depth, int(running.max())), int(running[-1])
            containers += int(opens.sum())
            commas += int((marks == ord(",")).sum())
        inside = (inside + len(real)) % 2
        trailing = len(chunk) - len(chunk.rstrip(b"\\"))
        carried = carried + trailing if trailing == len(chunk) else trailing
    return Shape(depth=depth, containers=containers, items=commas + containers)


def check(document: bytes | str, bounds: Bounds) -> None:
    """Raise Refused, saying which bound, when the document lies outside ``bounds``."""
    shape = measure(document)
    if shape.depth > bounds.max_depth:
        raise Refused(f"it is nested {shape.depth:,} levels deep (the limit is {bounds.max_depth})")
    if bounds.max_containers is not None and shape.containers > bounds.max_containers:
        raise Refused(f"it holds {shape.containers:,} lists or dicts (the limit is {bounds.max_containers:,})")
    if bounds.max_items is not None and shape.items > bounds.max_items:
        raise Refused(f"it holds {shape.items:,} values (the limit is {bounds.max_items:,})")


def loads(document: bytes | str, bounds: Bounds):
    """``json.loads`` of a document that :func:`check` accepts; Refused otherwise (json's own
    ValueError for text that is not JSON)."""
    check(document, bounds)
    try:  # bytes are UTF-8 (what check measured), never the UTF-16 or UTF-32 json.loads would also take
        return json.loads(document if isinstance(document, str) else document.decode("utf-8"))
    except RecursionError:  # the interpreter's own limit is lower than the bound: still a refusal
        raise Refused("it is nested too deeply") from None


# --------------------------------------------------------------------------- frames

MAX_FRAME = 256 * 1024 * 1024
_ALLOWED_DTYPES = {"f", "i", "u", "b"}
#: Nesting of any frame: :func:`encode` sends 20 levels of values (two JSON levels each) in an envelope.
MAX_DEPTH = 64
ANY = Bounds(max_depth=MAX_DEPTH)


@dataclass(frozen=True)
class FrameBounds(Bounds):
    max_bytes: int = MAX_FRAME


#: What the grading process accepts from a worker, per frame (one probe's answer, or the ready message).
#: The reference solutions' largest answer is 1.9 MB with 49 values in 24 lists or dicts, 5 levels deep.
FROM_WORKER = FrameBounds(max_depth=MAX_DEPTH, max_containers=20_000, max_items=400_000, max_bytes=32 * 1024 * 1024)
#: What one submission's kept answers may hold in all (the reference solutions': 1.7 MB and 8.4 MB).
MAX_KEPT = 128 * 1024 * 1024
MAX_MESSAGE = 4000  # characters of a failed call's message kept


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
            return load_array(base64.b64decode(data["$array"]))
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


def frame(message: dict) -> bytes:
    """``message`` as one frame: its length (4 bytes, big-endian), then its JSON."""
    body = json.dumps(message).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def send(fd: int, message: dict) -> None:
    view = memoryview(frame(message))
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _wait(fd: int, deadline: float | None) -> None:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("no complete answer in time")


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytearray:
    data = bytearray(n)
    view, done = memoryview(data), 0
    while done < n:
        _wait(fd, deadline)
        got = os.readv(fd, [view[done : done + (1 << 20)]])
        if not got:
            raise EOFError("worker closed the channel")
        done += got
    return data


def _skip(fd: int, n: int, deadline: float | None = None) -> None:
    """Read ``n`` bytes off the channel and keep none of them (the channel stays in step)."""
    while n:
        _wait(fd, deadline)
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("worker closed the channel")
        n -= len(chunk)


def frame_length(data: bytes) -> int:
    """The length in bytes of the frame at the start of ``data`` (header included)."""
    return 4 + struct.unpack(">I", data[:4])[0]


def frame_complete(data: bytes) -> bool:
    """True when ``data`` starts with a whole frame (length prefix and body)."""
    return len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]


def _message(body: bytes | bytearray, bounds: Bounds) -> dict:
    message = loads(body, bounds)
    if not isinstance(message, dict):
        raise ProtocolError("frame is not an object")
    return message


def parse_frame(data: bytes, bounds: Bounds = ANY) -> dict:
    """The message in the first frame of ``data`` (see :func:`send`)."""
    (length,) = struct.unpack(">I", data[:4])
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes refused")
    try:
        return _message(data[4 : 4 + length], bounds)
    except Refused as e:
        raise ProtocolError(f"frame refused: {e}") from None


def refusal(reason: str) -> dict:
    """What the grading process takes in place of a frame it refused: a failed call, saying why."""
    return {"ok": False, "kind": "refused", "message": f"the grader refused what your code sent back: {reason}"}


def recv(fd: int, deadline: float | None = None, bounds: Bounds = ANY) -> dict:
    """Read one frame; with a deadline (time.monotonic()), raise TimeoutError past it.

    With :class:`FrameBounds` (:data:`FROM_WORKER`), a frame outside them is read off the channel
    and :func:`refusal` is returned in its place; with plain :class:`Bounds` it raises ProtocolError."""
    (length,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes refused")
    bounded = isinstance(bounds, FrameBounds)
    if bounded and length > bounds.max_bytes:
        _skip(fd, length, deadline)
        return refusal(f"it is {length / 2**20:.0f} MB (the limit is {bounds.max_bytes / 2**20:.0f} MB)")
    body = _read_exact(fd, length, deadline)
    try:
        return _message(body, bounds)
    except Refused as e:
        if bounded:
            return refusal(str(e))
        raise ProtocolError(f"frame refused: {e}") from None


# --------------------------------------------------------------------------- what the grading side keeps


class _Malformed(ValueError):
    pass


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def texts_kept(value, count: int = 40, length: int = 300) -> list[str]:
    """A list of short texts from a worker (its notes): strings only, at most ``count`` of ``length`` characters."""
    return [v[:length] for v in value[:count] if isinstance(v, str)] if isinstance(value, list) else []


def _value_kept(value, depth: int = 0) -> tuple[object, int]:
    """An encoded value exactly as :func:`encode` writes it (unknown keys dropped) and its size in
    bytes, roughly; _Malformed for anything else."""
    if depth > MAX_DEPTH:
        raise _Malformed("it is nested too deeply")
    if value is None or isinstance(value, (bool, int, float)):
        return value, 16
    if isinstance(value, str):
        return value, 48 + len(value)
    if not isinstance(value, dict):
        raise _Malformed("it is not data the grader's worker writes")
    if isinstance(value.get("$array"), str):
        try:
            arr = load_array(base64.b64decode(value["$array"], validate=True))
        except Exception:  # noqa: BLE001 - whatever is wrong with it, it is not an array encode() wrote
            raise _Malformed("it holds an array that cannot be read") from None
        if arr.dtype.kind not in _ALLOWED_DTYPES:
            raise _Malformed(f"it holds an array of dtype {arr.dtype}")
        return {"$array": value["$array"]}, 64 + len(value["$array"])
    if value.get("$float") in ("nan", "inf", "-inf"):
        return {"$float": value["$float"]}, 64
    if isinstance(value.get("$list"), list):
        items = [_value_kept(v, depth + 1) for v in value["$list"]]
        return {"$list": [v for v, _ in items], "tuple": value.get("tuple") is True}, 256 + sum(n for _, n in items)
    if isinstance(value.get("$dict"), dict):
        items = {k: _value_kept(v, depth + 1) for k, v in value["$dict"].items()}
        return {"$dict": {k: v for k, (v, _) in items.items()}}, 256 + sum(len(k) + n for k, (_, n) in items.items())
    raise _Malformed("it is not data the grader's worker writes")


def _result_kept(result) -> tuple[dict, int]:
    """One call's result: ``ok`` and ``value``, or ``ok``, ``kind`` and ``message``; nothing else."""
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return refusal("an answer the grader cannot read"), 0
    if result["ok"]:
        if "value" not in result:
            return refusal("an answer without its value"), 0
        try:
            value, size = _value_kept(result["value"])
        except _Malformed as e:
            return refusal(str(e)), 0
        return {"ok": True, "value": value}, size
    kept = {
        "ok": False,
        "kind": _text(result.get("kind"), 40) or "exception",
        "message": _text(result.get("message"), MAX_MESSAGE) or "failed",
    }
    return kept, 64 + len(kept["message"])


def refused_answer(n_calls: int, message: str) -> dict:
    """A whole probe's answer refused: every call fails with ``message``."""
    failure = {"ok": False, "kind": "refused", "message": message}
    return {"results": [failure] * n_calls, "printed": "", "failed": message}


def answer_kept(answer, n_calls: int) -> tuple[dict, int]:
    """Of a probe's answer, what the checks and the report read, and the size of that in bytes
    (roughly): one result per call (see :func:`_result_kept`), how much was printed, whether
    processes were left running, the worker's notes and the probe's failure. Unknown keys are
    dropped; an answer of the wrong shape becomes a failure of every call."""
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        return refused_answer(n_calls, "the grader could not read the answer to this probe"), 0
    if len(answer["results"]) != n_calls:
        return refused_answer(n_calls, "the answer to this probe has the wrong number of results"), 0
    results = [_result_kept(r) for r in answer["results"]]
    kept = {
        "results": [r for r, _ in results],
        "printed": _text(answer.get("printed"), MAX_MESSAGE),
        "dropped": _count(answer.get("dropped")),
        "leftovers": _count(answer.get("leftovers")),
        "notes": texts_kept(answer.get("notes"), count=12),
    }
    if answer.get("failed"):
        kept["failed"] = _text(answer["failed"], MAX_MESSAGE) or "the probe failed"
    return kept, 256 + sum(n for _, n in results) + len(kept["printed"]) + sum(map(len, kept["notes"]))


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else 0


# --------------------------------------------------------------------------- the core values on the wire
#
# A call travels as {"func", "args", "kwargs", "seed", "rebind", "quiet"[, "stored", "name", "label",
# "no_grad"]}; a helper target as "$standin:NAME", "$support:NAME" or "$notebook_check"; an argument that
# refers to something as {"$input": key}, {"$result": position}, {"$ns": name} or {"$provided": name[, "item"]}.
# The worker (grader.worker.calls) reads this form.


def _target(target) -> str:
    if isinstance(target, Standin):
        return f"$standin:{target.name}"
    if isinstance(target, Support):
        return f"$support:{target.name}"
    if target is NOTEBOOK_CHECK:
        return "$notebook_check"
    if isinstance(target, str) and not target.startswith("$"):
        return target
    raise TypeError(f"not a call target: {target!r}")


def _argument(value):
    if isinstance(value, Input):
        return {"$input": value.key}
    if isinstance(value, Result):
        if not isinstance(value.call, int):
            raise TypeError(f"result({value.call!r}) is not resolved: write the probe with grader.probing.probe")
        return {"$result": value.call}
    if isinstance(value, Student):
        return {"$ns": value.name}
    if isinstance(value, Provided):
        return {"$provided": value.name} if value.item is None else {"$provided": value.name, "item": value.item}
    if isinstance(value, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in value):
            raise TypeError(f"a plain dict argument with a reserved key: {sorted(value)}")
        return {k: _argument(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_argument(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a probe argument must be data or a grader.core reference, not {type(value).__name__}")


def encode_call(c: Call) -> dict:
    """One call, as the worker reads it."""
    wire = {
        "func": _target(c.func),
        "args": [_argument(a) for a in c.args],
        "kwargs": {k: _argument(v) for k, v in c.kwargs.items()},
        "seed": c.seed,
        "rebind": {k: _target(v) for k, v in c.rebind.items()},
        "quiet": True,
    }
    if not c.stored:
        wire["stored"] = False
    if c.name:
        wire["name"] = c.name
    if c.label:
        wire["label"] = c.label
    if not c.no_grad:
        wire["no_grad"] = False
    return wire


def encode_calls(calls) -> list[dict]:
    """A probe's calls (:class:`grader.core.Call`), as the worker reads them."""
    return [encode_call(c) for c in calls]


def call_result(result: dict) -> CallResult:
    """One call's answer (as :func:`answer_kept` keeps it) as a :class:`grader.core.CallResult`."""
    if result.get("ok"):
        return CallResult(ok=True, value=result.get("value"))
    return CallResult(ok=False, kind=result.get("kind") or "exception", message=result.get("message") or "failed")


def call_results(answer: dict) -> list[CallResult]:
    """A probe's answer, call by call."""
    return [call_result(r) for r in answer.get("results", [])]
