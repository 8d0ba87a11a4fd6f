"""The reference earns full marks, the skeleton earns nothing, and bad inputs fail cleanly."""

import json

import numpy as np
import pytest
from conftest import assert_rebuild_matches, check_by_api
from nbtools import write_notebook

from grader import fixtures
from grader.reports.results import results_json
from grader.runner import grade


@pytest.fixture(scope="module")
def reference_grade(root):
    return grade(root / "solutions" / "proj5a.ipynb", "proj5a")


def test_reference_earns_full_marks(reference_grade):
    g = reference_grade
    assert g.max_score == 100 and g.score == 100, [(c.name, c.message) for c in g.checks if not c.passed]
    assert g.notes == []


def test_every_contract_name_has_a_check(reference_grade):
    names = {
        "forward",
        "blur_denoise",
        "one_step_denoise",
        "strided_timesteps",
        "iterative_denoise",
        "iterative_denoise_cfg",
        "sdedit",
        "inpaint",
        "visual_anagrams",
        "make_hybrids",
    }
    assert {c.api for c in reference_grade.checks} == names


def test_results_json_follows_gradescope_format(reference_grade):
    data = results_json(reference_grade)
    assert set(data) >= {"score", "max_score", "execution_time", "output", "visibility", "tests"}
    json.dumps(data)
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility", "tags"}
        assert t["status"] in ("passed", "failed") and t["visibility"] in (
            "visible",
            "hidden",
            "after_due_date",
            "after_published",
        )
        assert len(t["tags"]) == 1
    assert sum(t["score"] for t in data["tests"]) == data["score"]


def test_skeleton_earns_zero_with_not_implemented(root):
    g = grade(root / "assignments" / "proj5a.ipynb", "proj5a")
    assert g.score == 0 and g.max_score == 100
    messages = [c.message for c in g.checks]
    assert all(messages), "every failed check says why"
    assert sum("not implemented" in m or "None" in m for m in messages) >= len(messages) - 1


def test_skeleton_has_no_solution_lines(root):
    skeleton = json.loads((root / "assignments" / "proj5a.ipynb").read_text())
    skel = {l for c in skeleton["cells"] if c["cell_type"] == "code" for l in "".join(c["source"]).splitlines()}
    for needle in [
        "(1 - abar).sqrt() * noise",
        "eps_u + scale * (eps_c - eps_u)",
        "torch.flip(eps_2, dims=[-2])",
        "list(range(990, -1, -30))",
        "forward(original_image, t_prev)",
    ]:
        assert not any(needle in l for l in skel), needle


@pytest.mark.parametrize("content", [b"", b"{broken", b"print('a script')\n"])
def test_unreadable_notebook_scores_zero_with_one_line_reason(tmp_path, content):
    path = tmp_path / "proj5a_sub.ipynb"
    path.write_bytes(content)
    g = grade(path, "proj5a")
    assert g.score == 0 and g.max_score == 100 and g.error and "\n" not in g.error
    assert all(c.message == g.error for c in g.checks)
    assert g.error in results_json(g)["output"]


def test_empty_notebook_reports_missing_names(tmp_path):
    path = write_notebook(tmp_path / "empty.ipynb", [("md", "nothing here")], assignment="proj5a")
    g = grade(path)
    assert g.score == 0
    assert any(c.message == "forward is not defined in your notebook" for c in g.checks)


@pytest.mark.slow
def test_committed_fixtures_match_a_rebuild():
    committed = fixtures.load_expected("proj5a")
    rebuilt = fixtures.build_expected("proj5a", log=lambda *a: None)
    assert_rebuild_matches(committed, rebuilt)
    inputs = fixtures.build_inputs("proj5a")
    stored = fixtures.load_inputs("proj5a")
    assert set(inputs) == set(stored) and all(np.array_equal(inputs[k], stored[k]) for k in inputs)
    size = sum(p.stat().st_size for p in fixtures.fixture_dir("proj5a").rglob("*") if p.is_file())
    assert size < 10 * 1024 * 1024


def test_wrong_signature_wrong_dtype_and_non_data_fail_only_their_checks(tmp_path, root):
    import nbformat

    nb = nbformat.read(str(root / "solutions" / "proj5a.ipynb"), as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "def forward(im):\n    return im\n\n"
            "def blur_denoise(im_noisy, kernel_size, sigma):\n    return torch.zeros(1, 3, 64, 64, dtype=torch.complex64)\n\n"
            "def one_step_denoise(im_noisy, t, prompt_embeds):\n    return {'image': object()}\n"
        )
    )
    path = tmp_path / "proj5a_variants.ipynb"
    nbformat.write(nb, str(path))
    g = grade(path, "proj5a")
    by_api = check_by_api(g)
    assert {api for api, (got, total, _) in by_api.items() if got < total} == {
        "forward",
        "blur_denoise",
        "one_step_denoise",
    }
    assert all("could not be called as the assignment specifies" in m for m in by_api["forward"][2])
    assert all("complex64" in m for m in by_api["blur_denoise"][2])
    assert all("expected a tensor" in m for m in by_api["one_step_denoise"][2])
