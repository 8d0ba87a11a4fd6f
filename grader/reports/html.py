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

import re
from html import escape
from pathlib import Path

import numpy as np

from grader.reports.images import (
    MAX_TILES,
    _as_nchw,
    _scale,
    _shape,
    _stats,
    data_uri,
    to_pixels,
    value_range,
)
from grader.reports.page import REPORT_CSS, _fmt, _page, _write_atomic

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
