"""The TA's visual reports: one HTML page per submission, and the batch index."""

from __future__ import annotations

import base64
import copy
import dataclasses
import io
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from grader.reports import html as report_html
from grader.reports import images, index_page

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "tests" / "corpus" / "proj5a" / "mistake_cfg_reversed.ipynb"
PNG_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def graded():
    from grader.runner import grade

    return grade(NOTEBOOK, "proj5a")


@pytest.fixture
def g(graded):
    return copy.deepcopy(graded)


def decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG reader for what png_bytes writes (8-bit, gray or RGB, filter 0), checking CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, color, *_ = header
    assert depth == 8 and color in (0, 2)
    channels = 3 if color == 2 else 1
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * channels)
    assert (raw[:, 0] == 0).all()
    pixels = raw[:, 1:].reshape(h, w, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


# --------------------------------------------------------------------------- (a) the report's content


def test_report_has_score_checks_and_images(g):
    page = report_html.render_report(g)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert f"{g.score:g} / {g.max_score:g}" in page
    assert g.score < g.max_score  # the corpus mistake loses points: the report shows FAIL rows
    assert "FAIL" in page and "PASS" in page
    assert "mistake_cfg_reversed.ipynb" in page and "proj5a" in page
    for c in g.checks:
        assert f">{c.api}<" in page
        assert c.name in page
    assert g.images, "proj5a's image-producing functions should give pictures"
    assert all(v["student"] is not None for v in g.images.values())
    assert len(PNG_URI.findall(page)) == 2 * len(g.images)
    for api in g.images:
        assert f'id="img-{api}"' in page
    assert "image-rendering: pixelated" in page
    # self-contained: no external assets, no script
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page


def test_report_escapes_student_text(g, tmp_path):
    g.checks[0] = dataclasses.replace(g.checks[0], passed=False, message=f"boom {XSS}")
    g.notes.append(f"note {XSS}")
    g.error = f"error {XSS}"
    g.notebook = str(tmp_path / f"{XSS}.ipynb")
    page = report_html.render_report(g)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 4
    path = report_html.write_report(g, tmp_path / "deep" / "report.html")
    assert path.read_text(encoding="utf-8") == page


def test_report_without_student_output(g):
    api = next(iter(g.images))
    g.images[api]["student"] = None
    page = report_html.render_report(g)
    assert "no output" in page
    assert len(PNG_URI.findall(page)) == 2 * len(g.images) - 1


def test_report_for_a_notebook_that_did_not_load(tmp_path):
    from grader.judging.plugin import CheckResult
    from grader.runner import Grade

    g = Grade(
        notebook="x.ipynb",
        assignment="proj5a",
        error="your notebook is not valid JSON",
        checks=[CheckResult("test_a", "a runs", "a", 2.0, True, False, "not loaded", 0.0)],
    )
    page = report_html.render_report(g)
    assert "your notebook is not valid JSON" in page and "0 / 2" in page and "data:image" not in page


def test_report_says_a_check_was_judged_against_the_students_own_wrong_helper(g):
    # the corpus notebook reverses CFG: its sdedit is right given its own iterative_denoise_cfg, and passes
    sdedit = next(c for c in g.checks if c.name == "test_sdedit_matches_reference")
    assert sdedit.passed and sdedit.judged_with == "iterative_denoise_cfg"
    assert not all(c.passed for c in g.checks if c.api == "iterative_denoise_cfg")
    page = report_html.render_report(g)
    row = re.search(r"<tr class=\"pass own\">.*?</tr>", page, re.S).group(0)
    assert "test_sdedit_matches_reference" in row
    assert "judged against the student&#x27;s own iterative_denoise_cfg, which is itself wrong" in row
    start = page.index('id="img-sdedit"')
    pair = page[start : page.find('<div class="pair', start)]  # the sdedit picture, up to the next one
    assert re.search(
        r'<div class="own">Judged against the student&#x27;s own iterative_denoise_cfg, which is itself wrong', pair
    )
    # with a helper that passes its checks, the page still says whose helper it was, but not that it is wrong
    for i, c in enumerate(g.checks):
        if c.api == "iterative_denoise_cfg":
            g.checks[i] = dataclasses.replace(c, passed=True, message="")
    page = report_html.render_report(g)
    assert "judged against the student&#x27;s own iterative_denoise_cfg" in page and "itself wrong" not in page


def test_a_name_not_implemented_yet_has_one_row():
    from grader.judging.plugin import CheckResult
    from grader.runner import Grade
    from grader.worker.calls import stub_message as _stub_message

    stub = _stub_message("UnconditionalUNet")
    raised = "train_denoiser is not implemented yet (it raised NotImplementedError)"
    checks = [
        CheckResult(f"test_unet_{i}", f"unet check {i}", "UnconditionalUNet", 2.0, i == 0, False, stub, 0.1)
        for i in range(3)
    ]
    checks += [
        CheckResult("test_add_noise", "add_noise adds noise", "add_noise", 3.0, True, False, "wrong scale", 0.1),
        CheckResult("test_train_a", "trains", "train_denoiser", 1.0, True, False, raised, 0.1),
        CheckResult("test_train_b", "learns", "train_denoiser", 4.0, False, False, raised, 0.1),
    ]
    page = report_html.render_report(Grade(notebook="erin.ipynb", assignment="proj5b", checks=checks))
    assert page.count(stub) == 1 and page.count(raised) == 1
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    assert body.count("<tr ") == 3
    unet = re.search(r'<tr class="fail unimplemented">.*?</tr>', body, re.S).group(0)
    assert "UnconditionalUNet" in unet and "3 checks" in unet and "0 / 6" in unet
    assert all(f"unet check {i}" in unet for i in range(3))
    assert body.index("UnconditionalUNet") < body.index("add_noise") < body.index("train_denoiser")


# --------------------------------------------------------------------------- (b) the embedded PNGs


def test_embedded_png_decodes_to_the_array(g):
    page = report_html.render_report(g)
    first_api = next(iter(g.images))
    student = g.images[first_api]["student"]
    data = base64.b64decode(PNG_URI.findall(page)[0])  # the first picture: the first api's student output
    pixels = decode_png(data)
    assert pixels.shape == (64, 64, 3)
    lo, hi = images.value_range(g.images[first_api]["reference"])
    assert (lo, hi) == (-1.0, 1.0)
    expected = np.rint(np.clip((student[0].transpose(1, 2, 0) + 1) / 2, 0, 1) * 255).astype(np.uint8)
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1
    # an independent decoder agrees
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    assert im.size == (64, 64) and im.mode == "RGB"
    assert np.array_equal(np.asarray(im), pixels)
    # shown upscaled 3x
    assert 'width="192" height="192"' in page


def test_grayscale_digits_are_tiled_in_a_row():
    rng = np.random.default_rng(0)
    digits = rng.random((3, 1, 28, 28)).astype(np.float32)
    assert images.value_range(digits) == (0.0, 1.0)
    pixels = images.to_pixels(digits, 0.0, 1.0)
    gap = images.SEPARATOR
    assert pixels.shape == (28, 3 * 28 + 2 * gap) and pixels.dtype == np.uint8
    decoded = decode_png(images.png_bytes(pixels))
    assert np.array_equal(decoded, pixels)
    for i in range(3):
        x = i * (28 + gap)
        assert np.array_equal(decoded[:, x : x + 28], np.rint(digits[i, 0] * 255).astype(np.uint8))
    assert (decoded[:, 28 : 28 + gap] == 128).all()
    page = report_html.render_report(_fake_grade({"sample": {"student": digits[:2], "reference": digits}}))
    uris = PNG_URI.findall(page)
    assert len(uris) == 2
    assert decode_png(base64.b64decode(uris[0])).shape == (28, 2 * 28 + gap)
    assert decode_png(base64.b64decode(uris[1])).shape == (28, 3 * 28 + 2 * gap)
    assert "shapes differ" in page


def test_odd_values_do_not_break_the_picture():
    ref = np.zeros((1, 3, 8, 8), np.float32)
    ref[0, 0, 0, 0] = -1
    weird = np.full((1, 3, 8, 8), np.nan, np.float32)
    weird[0, :, 1] = 1e9
    pixels = images.to_pixels(weird, *images.value_range(ref))
    assert pixels.shape == (8, 8, 3) and pixels[1].min() == 255 and pixels[0].max() == 0
    page = report_html.render_report(_fake_grade({"f": {"student": weird, "reference": ref}}))
    assert "NaN/inf" in page and len(PNG_URI.findall(page)) == 2


def _fake_grade(images):
    from grader.judging.plugin import CheckResult
    from grader.runner import Grade

    checks = [CheckResult(f"test_{a}", f"{a} works", a, 1.0, True, True, "", 0.1) for a in images]
    return Grade(notebook="fake.ipynb", assignment="proj5b", checks=checks, images=images, timings={"total": 1.5})


# --------------------------------------------------------------------------- (c) the batch index


def _results(scores: dict[str, tuple[float, float]]) -> dict:
    tests = [
        {
            "name": name,
            "score": got,
            "max_score": total,
            "status": "passed" if got == total else "failed",
            "tags": [name.split(":")[0]],
            "output": "",
        }
        for name, (got, total) in scores.items()
    ]
    return {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests), "tests": tests}


INDEX_ROWS = [
    ("alice", _results({"forward: runs": (2, 2), "forward: matches": (8, 8), "sdedit: matches": (8, 8)})),
    ("bob", _results({"forward: runs": (2, 2), "forward: matches": (0, 8), "sdedit: matches": (0, 8)})),
    (f"eve{XSS}", _results({"forward: runs": (0, 2), "forward: matches": (0, 8), "sdedit: matches": (8, 8)})),
]


def test_index_table_histogram_and_failures(tmp_path):
    path = index_page.write_index(tmp_path, INDEX_ROWS)
    assert path == tmp_path / "index.html"
    page = path.read_text(encoding="utf-8")
    # links to each student's report, names escaped
    assert 'href="alice/report.html"' in page and 'href="bob/report.html"' in page
    assert XSS not in page and "eve&lt;script&gt;" in page
    assert page.count("<script") == 1  # our own sort script only
    # the sort script: works offline, sorts on clicked headers
    assert "addEventListener('click'" in page and "table.sortable" in page
    assert re.search(r"<script>.*tBodies\[0\].*</script>", page, re.S)
    # one column per check, with each student's score
    for name in ("forward: runs", "forward: matches", "sdedit: matches"):
        assert f'title="{name}"' in page
    assert 'data-v="18">18 / 18' in page and 'data-v="2">2 / 18' in page and 'data-v="8">8 / 18' in page
    # the histogram: inline SVG, 10 bins, 3 students
    svg = re.search(r"<svg class=\"histogram\".*?</svg>", page, re.S).group(0)
    assert svg.count('class="bin"') == 10
    assert (
        "<title>10–20%: 1</title>" in svg and "<title>90–100%: 1</title>" in svg and "<title>40–50%: 1</title>" in svg
    )
    # the checks that fail most, most-failed first
    fails = re.search(r"Checks that fail most.*?</table>", page, re.S).group(0)
    assert fails.index("forward: matches") < fails.index("forward: runs")
    assert "2 / 3" in fails and "1 / 3" in fails


def test_index_of_a_batch_with_two_assignments_has_a_section_each():
    def of(assignment, scores):
        data = _results(scores)
        data["extra_data"] = {"assignment": assignment}
        return data

    rows = [
        ("ann", of("proj5a", {"forward: runs": (2, 2)})),
        ("ben", of("proj5b", {"Conv: runs": (0, 1), "ddpm_sample: runs": (3, 3)})),
        ("cat", of("proj5a", {"forward: runs": (0, 2)})),
    ]
    page = index_page.render_index(rows)
    first, second = page.split('<section class="assignment">')[1:]
    assert first.startswith("<h1>proj5a</h1>") and second.startswith("<h1>proj5b</h1>")
    assert 'title="forward: runs"' in first and "Conv: runs" not in first  # each its own columns
    assert 'title="Conv: runs"' in second and "forward: runs" not in second
    assert "ann/report.html" in first and "cat/report.html" in first and "ann/" not in second
    assert '<div class="k">Students</div><div class="v">2</div>' in first  # its own statistics
    assert page.count("<script") == 1


def test_index_with_no_failures_and_missing_tests(tmp_path):
    rows = [("a", _results({"x: ok": (1, 1)})), ("b", {"score": 0, "max_score": 0, "tests": []})]
    page = index_page.write_index(tmp_path, rows).read_text(encoding="utf-8")
    assert "No check failed" in page and 'class="c missing"' in page


# --------------------------------------------------------------------------- (d) a real browser renders them

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_chromium
def test_chromium_renders_the_report(graded, tmp_path):
    report = report_html.write_report(graded, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    from PIL import Image

    im = Image.open(shot).convert("RGB")
    assert im.size == (1200, 1600)
    colors = im.getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 50  # text, badges, rows: not a blank page


@needs_chromium
def test_chromium_sorts_the_index(tmp_path):
    page = index_page.render_index(INDEX_ROWS)
    # click "Total" twice (descending), then dump the DOM
    click = "<script>var th = document.querySelectorAll('table.sortable thead th')[1]; th.click(); th.click();</script>"
    (tmp_path / "index.html").write_text(page.replace("</body>", click + "</body>"), encoding="utf-8")
    proc = chromium(tmp_path, "--dump-dom", (tmp_path / "index.html").as_uri())
    dom = proc.stdout
    assert re.search(r'<th class="num" aria-sort="descending">Total</th>', dom), proc.stderr[-2000:]
    body = dom[dom.index("<tbody", dom.index('class="sortable')) :]
    order = [body.index(f'href="{n}/report.html"') for n in ("alice", "bob")] + [body.index('href="eve')]
    assert order[0] < order[2] < order[1]  # 18, then 8 (eve), then 2 (bob)
