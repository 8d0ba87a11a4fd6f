"""The bits every HTML page of the reports shares: stylesheets shipped as package data, the page
frame, number formatting and atomic writing."""

from __future__ import annotations

from html import escape
from pathlib import Path

from grader.reports.results import write_text_atomic

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
