"""JSON from an untrusted source, measured before it is parsed.

``json.loads`` recurses once per nesting level (a document of 100,000 nested lists raises
RecursionError, or worse on some interpreters) and builds every container it reads (six million
empty lists cost gigabytes). :func:`measure` reads the document's structure without building
anything: it removes the strings (exactly as JSON tokenises them) and counts what is left, so
:func:`loads` can refuse a document that is too deep or too bulky before ``json.loads`` sees it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

#: A JSON string: a quote, then bytes other than a quote or backslash, or an escaped pair. (In UTF-8 no byte
#: of a multi-byte character is ASCII, so this tokenises the bytes as JSON tokenises the text.)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
#: Every byte but the four brackets (deleted to leave the nesting alone).
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_CHUNK = 1 << 20


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


def measure(document: bytes | bytearray | str) -> Shape:
    """The nesting depth and bulk of a JSON document (UTF-8 bytes, or text), without parsing it: linear
    time, no recursion, and memory for the document without its strings."""
    if isinstance(document, str):
        document = document.encode("utf-8", "surrogatepass")
    data = _STRING.sub(b"", document)
    commas = data.count(b",")
    brackets = data.translate(None, _NOT_BRACKETS)
    del data
    containers = brackets.count(b"[") + brackets.count(b"{")
    depth, level = 0, 0
    for start in range(0, len(brackets), _CHUNK):  # a running sum, in chunks to keep its memory small
        count = min(_CHUNK, len(brackets) - start)
        running = np.cumsum(_OPEN[np.frombuffer(brackets, np.uint8, count, start)], dtype=np.int64) + level
        depth, level = max(depth, int(running.max())), int(running[-1])
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
