"""``similarity.csv`` and ``similarity.html``: the ranked pairs, and each flagged pair side by side.

Everything a student controls (file names, labels, code) is HTML-escaped in the page, and every CSV cell
goes through :func:`grader.reports.sanitize.cell` (one that a spreadsheet would read as a formula gets a
leading single quote).
"""

from __future__ import annotations

import csv
import io
from html import escape
from pathlib import Path

from grader.reports.sanitize import cell
from grader.similarity.compare import Match
from grader.similarity.extract import Source

CSV_NAME, HTML_NAME = "similarity.csv", "similarity.html"
COLUMNS = (
    "rank",
    "student_a",
    "student_b",
    "score",
    "a_in_b",
    "b_in_a",
    "flagged",
    "shared_graded_names",
    "matching_lines_a",
    "matching_lines_b",
    "file_a",
    "file_b",
)
#: Pairs scoring at least this share of the threshold are listed (the rest are noise).
LISTED_SHARE = 0.5
#: Flagged pairs shown side by side in the page (the best first; every pair is in the table and the CSV).
MAX_VIEWS = 100
CAVEAT = (
    "A flag is a reason to look, not a verdict. Solutions to the same exercise, written on the same skeleton, "
    "resemble each other, and short functions most of all; the score counts shared runs of code after names, "
    "comments and formatting are set aside, and says nothing about who wrote what or why. Read the pair side "
    "by side, and talk with the students, before drawing any conclusion."
)


# --------------------------------------------------------------------------- where the shared code is


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        elif end > start:
            out.append([start, end])
    return [(a, b) for a, b in out]


def _pieces(line_start: int, line: str, spans: list[tuple[int, int]], cursor: int) -> tuple[list, int]:
    """(text, shared) pieces of one line, given the merged spans and the index of the first span that may reach
    it; returns the pieces and the index for the next line."""
    end = line_start + len(line)
    while cursor < len(spans) and spans[cursor][1] <= line_start:
        cursor += 1
    pieces, pos, i = [], line_start, cursor
    while i < len(spans) and spans[i][0] < end:
        a, b = max(spans[i][0], pos), min(spans[i][1], end)
        if a > pos:
            pieces.append((line[pos - line_start : a - line_start], False))
        if b > a:
            pieces.append((line[a - line_start : b - line_start], True))
        pos = max(pos, b)
        if spans[i][1] > end:
            break
        i += 1
    if pos < end:
        pieces.append((line[pos - line_start :], False))
    return pieces, cursor


def _lines(text: str, spans: list[tuple[int, int]]):
    """(line number, [(text, shared), ...]) for each line of ``text``."""
    spans, cursor, pos = _merged(spans), 0, 0
    for number, line in enumerate(text.split("\n"), start=1):
        pieces, cursor = _pieces(pos, line, spans, cursor)
        yield number, pieces
        pos += len(line) + 1


def _unit_lines(source: Source) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of each unit in ``source.text`` (1-based, inclusive)."""
    out, line = [], 1
    for unit in source.units:
        n = unit.code.count("\n") + 1
        out.append((unit.name, line, line + n - 1))
        line += n + 1  # units are separated by one blank line
    return out


def matching_lines(source: Source, spans: list[tuple[int, int]]) -> str:
    """The shared lines of ``source``, by unit and line within it: ``forward 1-3; inpaint 2-9``."""
    lines = {n for n, pieces in _lines(source.text, spans) if any(shared for _, shared in pieces)}
    parts = []
    for name, first, last in _unit_lines(source):
        own = sorted(n - first + 1 for n in lines if first <= n <= last)
        if own:
            parts.append(f"{name} {_ranges(own)}")
    return "; ".join(parts)


def _ranges(numbers: list[int]) -> str:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


# --------------------------------------------------------------------------- CSV


def write_csv(path: Path, matches: list[Match], threshold: float) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for rank, m in enumerate(matches, start=1):
        row = (
            rank,
            m.a.label,
            m.b.label,
            f"{m.score:.3f}",
            f"{m.scores[0]:.3f}",
            f"{m.scores[1]:.3f}",
            "yes" if m.score >= threshold else "no",
            " ".join(m.shared_names(threshold)),
            matching_lines(m.a, m.spans[0]),
            matching_lines(m.b, m.spans[1]),
            str(m.a.path),
            str(m.b.path),
        )
        writer.writerow([cell(c) for c in row])
    return _write(path, buffer.getvalue())


def _write(path: Path, text: str) -> Path:
    from grader.reports.results import write_text_atomic

    write_text_atomic(path, text)
    return path


# --------------------------------------------------------------------------- HTML

CSS = """
:root { --line: #d8dde3; --muted: #5f6b7a; --head: #f3f5f8; --mark: #ffe08a; --flag: #c62828; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: #1f2328; background: #fafbfc; margin: 0; padding: 24px 32px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
.sub, .muted { color: var(--muted); } .small { font-size: 12px; }
.caveat { background: #fff6dc; border: 1px solid #efd98f; border-radius: 6px; padding: 10px 14px; margin: 12px 0;
          max-width: 980px; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { border-bottom: 1px solid var(--line); padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: var(--head); white-space: nowrap; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.flagged td { background: #fff8f8; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700;
         background: #fdecec; color: var(--flag); }
.meter { width: 90px; height: 8px; background: #eef1f4; border-radius: 4px; overflow: hidden; display: inline-block;
         vertical-align: middle; margin-left: 6px; } .meter > div { height: 100%; background: var(--flag); }
.pair { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 18px 0; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.side > div { min-width: 0; }
pre { margin: 0; font: 12.5px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f8f9fb;
      border: 1px solid var(--line); border-radius: 6px; padding: 8px 0; overflow-x: auto; }
pre .l { display: block; padding: 0 10px; white-space: pre; }
pre .n { display: inline-block; width: 3em; color: #9aa4b1; user-select: none; }
pre .u { display: block; padding: 4px 10px 2px; color: var(--muted); font-weight: 600; border-top: 1px dashed var(--line); }
mark { background: var(--mark); }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
"""


def _code_html(source: Source, spans: list[tuple[int, int]]) -> str:
    """``source.text`` with a heading per unit, numbered lines (per unit) and the shared characters marked."""
    starts = {first: name for name, first, _ in _unit_lines(source)}
    between = {last + 1 for _, _, last in _unit_lines(source)}  # the blank line that joins two units
    out, unit_first = [], 1
    for number, pieces in _lines(source.text, spans):
        if number in between:
            continue
        if number in starts:
            unit_first = number
            out.append(f'<span class="u">{escape(starts[number])}</span>')
        body = "".join(f"<mark>{escape(t)}</mark>" if shared else escape(t) for t, shared in pieces)
        out.append(f'<span class="l"><span class="n">{number - unit_first + 1}</span>{body}</span>')
    return "<pre>" + "".join(out) + "</pre>"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def render_html(
    matches: list[Match], sources: list[Source], threshold: float, assignment: str, unlisted: int = 0
) -> str:
    students = [s for s in sources if not s.reference]
    references = [s for s in sources if s.reference]
    flagged = [m for m in matches if m.score >= threshold]
    title = f"Code similarity: {assignment}"
    out = [
        f"<h1>{escape(title)}</h1>",
        f'<div class="sub">{len(students)} notebooks compared with each other and with {len(references)} '
        f"earlier solution(s); {len(flagged)} pair(s) at or over the threshold of {_pct(threshold)}.</div>",
        f'<div class="caveat"><b>Read this first.</b> {escape(CAVEAT)}</div>',
        '<p class="small muted">What is compared: each notebook\'s graded code as the grader reads it (its kept '
        "definitions, printed again without comments, docstrings, type hints, prints or dead code; helpers no "
        "graded function uses are left out), with the code of the assignment notebook that every student "
        "receives removed. Names do not count: every identifier is one letter to the comparison, so renaming "
        "changes nothing. A pair's score is the larger share of one side's code found in the other "
        "(a\u2192b: of a's code, how much is in b).</p>",
        "<h2>Pairs, most similar first</h2>",
    ]
    if matches:
        out.append(
            '<table><thead><tr><th>#</th><th>a</th><th>b</th><th class="num">score</th><th class="num">a\u2192b</th>'
            '<th class="num">b\u2192a</th><th>graded names shared</th><th></th></tr></thead><tbody>'
        )
        for rank, m in enumerate(matches, start=1):
            flag = m.score >= threshold
            names = ", ".join(m.shared_names(threshold)) or "—"
            link = f'<a href="#pair-{rank}">side by side</a>' if flag and rank <= MAX_VIEWS else ""
            out.append(
                f'<tr class="{"flagged" if flag else ""}"><td class="num">{rank}</td>'
                f"<td>{escape(m.a.label)}</td><td>{escape(m.b.label)}</td>"
                f'<td class="num">{_pct(m.score)}<span class="meter"><div style="width:{100 * m.score:.0f}%"></div>'
                f'</span></td><td class="num">{_pct(m.scores[0])}</td><td class="num">{_pct(m.scores[1])}</td>'
                f"<td><code>{escape(names)}</code></td><td>"
                + ('<span class="badge">look</span> ' if flag else "")
                + f"{link}</td></tr>"
            )
        out.append("</tbody></table>")
        if unlisted:
            out.append(
                f'<p class="muted">{unlisted} more pair(s) scored at least {_pct(LISTED_SHARE * threshold)}; '
                "only the most similar are listed here and in the CSV.</p>"
            )
    else:
        out.append('<p class="muted">No pair shares code beyond the skeleton.</p>')
    if flagged:
        out.append("<h2>Flagged pairs side by side</h2>")
        out.append(
            '<p class="small muted">Shared code is marked. Line numbers count from the start of each '
            "definition as printed here, not as in the notebook."
            + (
                f" The first {MAX_VIEWS} flagged pairs are shown; the CSV lists them all."
                if len(flagged) > MAX_VIEWS
                else ""
            )
            + "</p>"
        )
    for rank, m in enumerate(matches[:MAX_VIEWS], start=1):
        if m.score < threshold:
            continue
        names = ", ".join(f"{n} ({_pct(s)})" for n, s in m.names.items() if s >= threshold) or "none on its own"
        out.append(
            f'<div class="pair" id="pair-{rank}"><h3>#{rank}: {escape(m.a.label)} and {escape(m.b.label)}: '
            f"{_pct(m.score)}</h3>"
            f'<div class="small muted">graded names shared: {escape(names)}</div><div class="side">'
            f'<div><div class="small"><b>{escape(m.a.label)}</b> <span class="muted">{escape(str(m.a.path))} · '
            f"{_pct(m.scores[0])} of it shared</span></div>{_code_html(m.a, m.spans[0])}</div>"
            f'<div><div class="small"><b>{escape(m.b.label)}</b> <span class="muted">{escape(str(m.b.path))} · '
            f"{_pct(m.scores[1])} of it shared</span></div>{_code_html(m.b, m.spans[1])}</div>"
            "</div></div>"
        )
    unread = [s for s in sources if s.error]
    if unread:
        out.append("<h2>Not compared</h2><ul>")
        out.extend(f"<li>{escape(s.label)}: {escape(s.error)}</li>" for s in unread)
        out.append("</ul>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(out)
        + "\n</body>\n</html>\n"
    )


def write_html(
    path: Path, matches: list[Match], sources: list[Source], threshold: float, assignment: str, unlisted: int = 0
) -> Path:
    return _write(path, render_html(matches, sources, threshold, assignment, unlisted))
