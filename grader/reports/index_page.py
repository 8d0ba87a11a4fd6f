"""The batch index, ``OUTDIR/index.html``: a sortable table of students (a few lines of inline
JavaScript), a score histogram (inline SVG) and the checks that fail most. Student text is escaped."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from urllib.parse import quote

from grader.reports.page import CSS, _page, _template, _write_atomic

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
