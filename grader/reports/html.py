"""Visual reports for TAs: one self-contained HTML page per graded submission, and a batch index.

``render_report(grade)`` / ``write_report(grade, path)``: header (notebook, assignment,
score, time), the top-level error and notes, a table of every check, and for each
image-producing name the student's picture beside the reference's (inline base64 PNG,
upscaled with ``image-rendering: pixelated``). No external assets, no JavaScript.

``write_index(outdir, rows)``: ``OUTDIR/index.html`` for a batch: a table of students
(sortable by clicking a header: a few lines of inline JavaScript), a score histogram
(inline SVG) and the checks that fail most.

Everything a student controls (notebook names, messages, notes) is escaped.
PNGs are written by a tiny zlib+struct encoder: no imaging library needed.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from html import escape
from pathlib import Path
from urllib.parse import quote

import numpy as np

from grader.reports.results import write_text_atomic

# --------------------------------------------------------------------------- PNG


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode a uint8 array, (H, W) grayscale or (H, W, 3) RGB, as a PNG file."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    if a.ndim == 2:
        color_type, channels = 0, 1
    elif a.ndim == 3 and a.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"png_bytes wants (H, W) or (H, W, 3) uint8, got shape {a.shape}")
    h, w = a.shape[:2]
    raw = np.zeros((h, 1 + w * channels), dtype=np.uint8)  # filter byte 0 (None) on every row
    raw[:, 1:] = a.reshape(h, w * channels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def data_uri(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


# --------------------------------------------------------------------------- arrays -> pixels

MAX_TILES = 16
SEPARATOR = 2  # pixels of grey between tiled images


def value_range(reference) -> tuple[float, float]:
    """The value range that maps to black..white, decided from the reference alone.

    [0, 1] for pictures in [0, 1] (MNIST), [-1, 1] for pictures in [-1, 1] (the
    diffusion images, also when noise takes them a little outside), otherwise the
    reference's own min..max. Student and reference
    use the same mapping, so a student's out-of-range values show as clipped.
    """
    r = np.asarray(reference, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return -1.0, 1.0
    lo, hi = float(r.min()), float(r.max())
    if lo >= -1e-3 and hi <= 1.0 + 1e-3:
        return 0.0, 1.0
    if max(-lo, hi) <= 5.0:  # [-1, 1] pictures, possibly with noise added: clip like the notebooks' plots
        return -1.0, 1.0
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


def _as_nchw(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype == object:
        raise ValueError("not a numeric array")
    a = a.astype(np.float32, copy=False)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"cannot show an array of shape {a.shape} as an image")
    if a.shape[1] not in (1, 3) and a.shape[3] in (1, 3):  # channels last
        a = a.transpose(0, 3, 1, 2)
    if a.shape[1] not in (1, 3):
        a = a[:, :1]
    return a


def to_pixels(array, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """(N, C, H, W) floats -> uint8 (H, N*W + gaps) or (H, N*W + gaps, 3): the images tiled in a row."""
    a = _as_nchw(array)[:MAX_TILES]
    a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
    a = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
    a = np.rint(a * 255.0).astype(np.uint8)
    n, c, h, w = a.shape
    out = np.full((c, h, n * w + (n - 1) * SEPARATOR), 128, dtype=np.uint8)
    for i in range(n):
        x = i * (w + SEPARATOR)
        out[:, :, x : x + w] = a[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def _scale(h: int, w: int) -> int:
    """Integer upscaling for display: 64 -> 3x (192 px), 28 -> 3x (84 px), big images 1x."""
    return max(1, min(3, 192 // max(h, w, 1)))


def _stats(array) -> str:
    a = np.asarray(array, dtype=np.float64)
    bad = int(a.size - np.isfinite(a).sum())
    f = a[np.isfinite(a)]
    text = f"values {f.min():.3g} … {f.max():.3g}" if f.size else "no finite values"
    if bad:
        text += f", {bad} NaN/inf"
    return text


def _shape(array) -> str:
    return "×".join(str(s) for s in np.shape(array))


# --------------------------------------------------------------------------- shared page bits


def _template(name: str) -> str:
    """A stylesheet or script shipped beside this module (package data, grader/reports/templates/)."""
    return (Path(__file__).resolve().parent / "templates" / name).read_text()


CSS = _template("base.css")

REPORT_CSS = CSS + _template("report.css")


def _fmt(x) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return escape(str(x))


def _page(title: str, css: str, body: str, script: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{body}\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


def _write_atomic(path: str | Path, text: str) -> Path:
    write_text_atomic(path, text)
    return Path(path)


# --------------------------------------------------------------------------- one submission


def _figure(label: str, array, lo: float, hi: float, size: tuple[int, int] | None) -> str:
    if array is None:
        w, h = size or (192, 192)
        return (
            f'<figure style="width:{w}px"><div class="none" style="width:{w}px;height:{h}px">no output</div>'
            f"<figcaption><b>{escape(label)}</b></figcaption></figure>"
        )
    try:
        pixels = to_pixels(array, lo, hi)
    except (ValueError, TypeError) as e:
        w, h = size or (192, 192)
        return (
            f'<figure><div class="none" style="width:{w}px;height:{h}px">cannot show</div>'
            f"<figcaption><b>{escape(label)}</b>: {escape(str(e))}</figcaption></figure>"
        )
    ph, pw = pixels.shape[:2]
    k = _scale(*_as_nchw(array).shape[2:])
    return (
        f'<figure style="width:{max(pw * k, 120)}px"><img class="px" alt="{escape(label)}" '
        f'width="{pw * k}" height="{ph * k}" src="{data_uri(pixels)}">'
        f"<figcaption><b>{escape(label)}</b><br>{escape(_stats(array))}</figcaption></figure>"
    )


def _image_pair(api: str, pair: dict, passed: bool | None, note: str = "") -> str:
    ref, student = pair.get("reference"), pair.get("student")
    lo, hi = value_range(ref) if ref is not None else value_range(student if student is not None else [])
    size = None
    if ref is not None:
        try:
            p = to_pixels(ref, lo, hi)
            k = _scale(*_as_nchw(ref).shape[2:])
            size = (p.shape[1] * k, p.shape[0] * k)
        except (ValueError, TypeError):
            pass
    badge = (
        ""
        if passed is None
        else ('<span class="badge pass">PASS</span>' if passed else '<span class="badge fail">FAIL</span>')
    )
    extra = ""
    if student is not None and ref is not None:
        try:
            s, r = np.asarray(student, dtype=np.float64), np.asarray(ref, dtype=np.float64)
            if s.shape == r.shape:
                diff = np.abs(s - r)
                worst = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else float("nan")
                extra = f"max |student − reference| = {worst:.3g}"
            else:
                extra = f"shapes differ: student {_shape(s)}, reference {_shape(r)}"
        except (ValueError, TypeError):
            pass
    scale_note = {(0.0, 1.0): "shown as [0, 1]", (-1.0, 1.0): "shown as [−1, 1]"}.get(
        (lo, hi), f"shown as [{lo:.3g}, {hi:.3g}]"
    )
    if ref is not None:
        n = np.shape(ref)[0] if np.ndim(ref) == 4 else 1
        scale_note = f"{_shape(ref)}" + (f" (first {MAX_TILES} shown)" if n > MAX_TILES else "") + ", " + scale_note
    return (
        f'<div class="pair{"" if passed is not False else " failed"}" id="img-{escape(api)}">'
        f'<h3><span class="api">{escape(api)}</span>{badge}</h3><div class="side">'
        + _figure("student", student, lo, hi, size)
        + _figure("reference", ref, lo, hi, size)
        + f'</div><div class="small muted" style="margin-top:6px">{escape(scale_note)}'
        + (f"; {escape(extra)}" if extra else "")
        + "</div>"
        + (f'<div class="own">{escape(note[0].upper() + note[1:])}</div>' if note else "")
        + "</div>"
    )


#: The worker's messages for a graded name that is not written yet (still ``...``, or raising
#: NotImplementedError); every check of such a name fails with the same sentence.
NOT_IMPLEMENTED = re.compile(r"^(?P<name>[A-Za-z_]\w*) is (still `\.\.\.`|not implemented yet)")


def not_implemented(check) -> str | None:
    """The name a failed check blames as not written yet, else None."""
    m = None if check.passed else NOT_IMPLEMENTED.match(str(check.message or ""))
    return m.group("name") if m else None


def table_rows(checks) -> list[tuple[str, list]]:
    """The checks table, in check order: one row per check, except that all the checks failing because
    one name is not written yet share one row, at its first check: [(name or "", [checks])]."""
    rows: list[tuple[str, list]] = []
    grouped: dict[str, list] = {}
    for c in checks:
        name = not_implemented(c)
        if name is None:
            rows.append(("", [c]))
        elif name in grouped:
            grouped[name].append(c)
        else:
            grouped[name] = [c]
            rows.append((name, grouped[name]))
    return rows


def own_helper_note(check, checks) -> str:
    """For a check judged against the student's own helper: says so, and whether that helper is wrong."""
    helper = getattr(check, "judged_with", "")
    if not helper:
        return ""
    failing = [c for c in checks if c.api == helper and not c.passed]
    text = f"judged against the student's own {helper}"
    if failing:
        text += (
            f", which is itself wrong (it fails {len(failing)} of its own check{'s' if len(failing) > 1 else ''}), "
            f"so the output may differ from the reference"
        )
    return text


def _check_row(c, images, checks) -> str:
    api = escape(str(c.api))
    api_cell = f'<a href="#img-{api}" class="api">{api}</a>' if c.api in images else f'<span class="api">{api}</span>'
    vis = "" if c.visible else ' <span class="small muted">(hidden)</span>'
    own = own_helper_note(c, checks)
    message = escape(str(c.message or "")) + (f'<div class="own">{escape(own)}</div>' if own else "")
    return (
        f'<tr class="{"pass" if c.passed else "fail"}{" own" if own else ""}"><td>{api_cell}</td>'
        f'<td>{escape(str(c.title))}{vis}<div class="small muted"><code>{escape(str(c.name))}</code></div></td>'
        f'<td class="num">{_fmt(c.points if c.passed else 0)} / {_fmt(c.points)}</td>'
        f'<td><span class="badge {"pass" if c.passed else "fail"}">{"PASS" if c.passed else "FAIL"}</span></td>'
        f'<td class="msg">{message}</td>'
        f'<td class="num muted">{float(c.seconds or 0):.2f} s</td></tr>'
    )


def _not_implemented_row(name: str, checks, images) -> str:
    api = escape(name)
    api_cell = f'<a href="#img-{api}" class="api">{api}</a>' if name in images else f'<span class="api">{api}</span>'
    titles = "".join(f"<li>{escape(str(c.title))}{'' if c.visible else ' (hidden)'}</li>" for c in checks)
    return (
        f'<tr class="fail unimplemented"><td>{api_cell}</td>'
        f"<td>not implemented yet: {len(checks)} check{'s' if len(checks) > 1 else ''}"
        f'<ul class="small muted">{titles}</ul></td>'
        f'<td class="num">0 / {_fmt(sum(c.points for c in checks))}</td>'
        f'<td><span class="badge fail">FAIL</span></td>'
        f'<td class="msg">{escape(str(checks[0].message))}</td>'
        f'<td class="num muted">{sum(float(c.seconds or 0) for c in checks):.2f} s</td></tr>'
    )


def render_report(grade) -> str:
    """The HTML page for one graded submission (a :class:`grader.runner.Grade`)."""
    name = Path(str(grade.notebook)).name
    score, max_score = grade.score, grade.max_score
    pct = 100.0 * score / max_score if max_score else 0.0
    total_time = (grade.timings or {}).get("total")
    n_failed = sum(1 for c in grade.checks if not c.passed)
    images = getattr(grade, "images", None) or {}

    out = [
        f"<h1>{escape(name)}</h1>",
        f'<div class="sub">assignment <b>{escape(str(grade.assignment))}</b> · '
        f'<span class="small">{escape(str(grade.notebook))}</span></div>',
        '<div class="cards">',
        f'<div class="card"><div class="k">Score</div><div class="v" id="score">{_fmt(score)} / {_fmt(max_score)}</div>'
        f'<div class="bar"><div style="width:{pct:.1f}%"></div></div></div>',
        f'<div class="card"><div class="k">Percent</div><div class="v">{pct:.0f}%</div></div>',
        f'<div class="card"><div class="k">Checks</div><div class="v">{len(grade.checks) - n_failed} passed'
        f' · <span style="color:var(--{"bad" if n_failed else "ok"})">{n_failed} failed</span></div></div>',
        '<div class="card"><div class="k">Execution time</div><div class="v">'
        + (f"{total_time:.1f} s" if total_time is not None else "—")
        + "</div></div>",
        "</div>",
    ]
    if getattr(grade, "wrong_assignment", None):
        out.append(f'<div class="box error"><b>Wrong assignment?</b> {escape(str(grade.wrong_assignment))}</div>')
    if grade.error:
        out.append(f'<div class="box error"><b>Error:</b> {escape(str(grade.error))}</div>')
    if grade.notes:
        out.append(
            '<div class="box note"><b>Notes</b><ul>'
            + "".join(f"<li>{escape(str(n))}</li>" for n in grade.notes)
            + "</ul></div>"
        )

    out.append("<h2>Checks</h2>")
    if grade.checks:
        out.append(
            '<table class="checks"><thead><tr><th>API</th><th>Check</th><th class="num">Points</th>'
            '<th>Result</th><th>Message</th><th class="num">Time</th></tr></thead><tbody>'
        )
        for name, checks in table_rows(grade.checks):
            out.append(
                _not_implemented_row(name, checks, images) if name else _check_row(checks[0], images, grade.checks)
            )
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No checks ran.</p>')

    if images:
        by_api: dict[str, bool] = {}
        for c in grade.checks:
            by_api[c.api] = by_api.get(c.api, True) and c.passed
        out.append('<h2>Images: student vs reference</h2><div class="images">')
        own = {c.api: own_helper_note(c, grade.checks) for c in grade.checks if own_helper_note(c, grade.checks)}
        for api, pair in images.items():
            out.append(_image_pair(str(api), pair or {}, by_api.get(api), own.get(api, "")))
        out.append("</div>")

    if grade.sandbox or grade.timings:
        out.append("<details><summary>Grading machine and timings (staff)</summary>")
        if grade.sandbox:
            out.append("<ul>" + "".join(f"<li>{escape(str(s))}</li>" for s in grade.sandbox) + "</ul>")
        if grade.timings:
            out.append(
                '<table class="small"><tbody>'
                + "".join(
                    f'<tr><td>{escape(str(k))}</td><td class="num">{float(v):.2f} s</td></tr>'
                    for k, v in grade.timings.items()
                )
                + "</tbody></table>"
            )
        out.append("</details>")
    return _page(f"{name}: {_fmt(score)}/{_fmt(max_score)}", REPORT_CSS, "\n".join(out))


def write_report(grade, path: str | Path) -> Path:
    """Write :func:`render_report` to ``path`` (atomically); returns the path."""
    return _write_atomic(path, render_report(grade))


# --------------------------------------------------------------------------- batch index

INDEX_CSS = CSS + _template("index.css")

SORT_JS = _template("sort.js")


TOP_FAILS = 10


def _short(name: str, tags) -> str:
    """A column header: the check's name without its "api: " prefix when the title repeats the api."""
    tag = str(tags[0]) if tags else ""
    if tag and name.startswith(tag + ": ") and name[len(tag) + 2 :].startswith(tag):
        return name[len(tag) + 2 :]
    return name


def _num(x, default=0.0) -> float:
    try:
        v = float(x)
        return v if math.isfinite(v) else default
    except (TypeError, ValueError):
        return default


def _failed(test: dict) -> bool:
    status = test.get("status")
    if status in ("passed", "failed"):
        return status == "failed"
    return _num(test.get("score")) < _num(test.get("max_score"))


def histogram_svg(percents: list[float], bins: int = 10, width: int = 440, height: int = 210) -> str:
    """Inline SVG bar chart of percentages in ``bins`` equal bins over 0..100 (100 falls in the last)."""
    counts = [0] * bins
    for p in percents:
        counts[min(bins - 1, max(0, int(p * bins // 100)))] += 1
    top = max(counts) or 1
    left, bottom, pad_top = 30, 34, 18
    bw = (width - left - 10) / bins
    ph = height - bottom - pad_top
    parts = [
        f'<svg class="histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="score histogram">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for i, n in enumerate(counts):
        h = ph * n / top
        x = left + i * bw
        y = height - bottom - h
        lo, hi = i * 100 // bins, (i + 1) * 100 // bins
        parts.append(
            f'<rect class="bin" x="{x + 2:.1f}" y="{y:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" '
            f'fill="#4c78a8" rx="2"><title>{lo}–{hi}%: {n}</title></rect>'
        )
        if n:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">{lo}–{hi}</text>')
    parts.append(f'<text x="{left + (width - left) / 2:.1f}" y="{height - 4}" text-anchor="middle">score (%)</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_index(rows: list[tuple[str, dict]], title: str = "Batch grades", links=()) -> str:
    """The batch index page (see :func:`write_index`): one section per assignment when the batch holds several
    (each with its own statistics and check columns), else one; ``links``: (href, text) of pages beside it."""
    heading = f"<h1>{escape(title)}</h1>\n" + "".join(
        f'<p><a href="{escape(quote(href))}">{escape(text)}</a></p>\n' for href, text in links
    )
    groups: dict = {}
    for student, data in rows:
        assignment = ((data or {}).get("extra_data") or {}).get("assignment")
        groups.setdefault(assignment, []).append((student, data))
    if len(groups) <= 1:
        return _page(title, INDEX_CSS, heading + _index_section(rows), SORT_JS)
    sections = [heading]
    for assignment in sorted(groups, key=lambda a: (a is None, a or "")):
        name = assignment or "assignment unknown (grading failed)"
        sections.append(f'<section class="assignment"><h1>{escape(name)}</h1>')
        sections.append(_index_section(groups[assignment]))
        sections.append("</section>")
    return _page(title, INDEX_CSS, "\n".join(sections), SORT_JS)


def _index_section(rows: list[tuple[str, dict]]) -> str:
    """Statistics, the checks that fail most and the sortable students table, for rows of one assignment."""
    columns: list[str] = []
    labels: dict[str, str] = {}
    for _, data in rows:
        for t in (data or {}).get("tests", []) or []:
            n = str(t.get("name", ""))
            if n not in columns:
                columns.append(n)
                labels[n] = _short(n, t.get("tags") or [])

    percents, fails = [], {c: 0 for c in columns}
    body = []
    for student, data in rows:
        data = data or {}
        score, max_score = _num(data.get("score")), _num(data.get("max_score"))
        pct = 100.0 * score / max_score if max_score else 0.0
        percents.append(pct)
        tests = {str(t.get("name", "")): t for t in data.get("tests", []) or []}
        href = escape(quote(str(student), safe="") + "/report.html")
        cells = [
            f'<td data-v="{escape(str(student))}"><a href="{href}">{escape(str(student))}</a></td>',
            f'<td class="num" data-v="{score:g}">{score:g} / {max_score:g}</td>',
            f'<td class="num" data-v="{pct:.4f}">{pct:.0f}%</td>',
        ]
        for c in columns:
            t = tests.get(c)
            if t is None:
                cells.append('<td class="c missing" data-v="">—</td>')
                continue
            bad = _failed(t)
            fails[c] += bad
            s = _num(t.get("score"))
            cells.append(
                f'<td class="c {"fail" if bad else "pass"}" data-v="{s:g}" '
                f'title="{escape(c)}: {s:g}/{_num(t.get("max_score")):g}">{s:g}</td>'
            )
        body.append("<tr>" + "".join(cells) + "</tr>")

    n = len(rows)
    mean = sum(percents) / n if n else 0.0
    median = sorted(percents)[n // 2] if n % 2 else (sum(sorted(percents)[n // 2 - 1 : n // 2 + 1]) / 2 if n else 0.0)
    out = [
        '<div class="cards">',
        f'<div class="card"><div class="k">Students</div><div class="v">{n}</div></div>',
        f'<div class="card"><div class="k">Mean</div><div class="v">{mean:.1f}%</div></div>',
        f'<div class="card"><div class="k">Median</div><div class="v">{median:.1f}%</div></div>',
        f'<div class="card"><div class="k">Full marks</div><div class="v">{sum(p >= 100 - 1e-9 for p in percents)}</div></div>',
        "</div>",
        '<div class="row2"><div><h2>Score distribution</h2>',
        histogram_svg(percents),
        "</div>",
        "<div><h2>Checks that fail most</h2>",
    ]
    failing = sorted(((k, v) for k, v in fails.items() if v), key=lambda kv: (-kv[1], kv[0]))
    if failing:

        def fail_rows(items):
            return "".join(
                f'<tr><td>{escape(name)}</td><td class="num">{count} / {n}</td><td class="bar-cell">'
                f'<div class="bar"><div style="width:{100.0 * count / max(n, 1):.1f}%"></div></div></td></tr>'
                for name, count in items
            )

        head = '<thead><tr><th>Check</th><th class="num">Failing</th><th></th></tr></thead>'
        out.append(f'<table class="fails">{head}<tbody>{fail_rows(failing[:TOP_FAILS])}</tbody></table>')
        if len(failing) > TOP_FAILS:
            out.append(
                f"<details><summary>{len(failing) - TOP_FAILS} more failing checks</summary>"
                f'<table class="fails"><tbody>{fail_rows(failing[TOP_FAILS:])}</tbody></table></details>'
            )
    else:
        out.append('<p class="muted">No check failed for any student.</p>')
    out.append("</div></div>")

    out.append(
        '<h2>Students</h2><p class="small muted">Click a column header to sort; click a name for the report.</p>'
    )
    out.append(
        '<div class="wrap"><table class="sortable students"><thead><tr>'
        '<th data-type="text">Student</th><th class="num">Total</th><th class="num">%</th>'
        + "".join(f'<th class="check" title="{escape(c)}"><span>{escape(labels[c])}</span></th>' for c in columns)
        + "</tr></thead><tbody>"
    )
    out.extend(body)
    out.append("</tbody></table></div>")
    return "\n".join(out)


def write_index(outdir: str | Path, rows: list[tuple[str, dict]], title: str = "Batch grades", links=()) -> Path:
    """Write ``OUTDIR/index.html`` for a batch; ``rows`` = [(student, results.json dict), ...]."""
    return _write_atomic(Path(outdir) / "index.html", render_index(rows, title, links))
