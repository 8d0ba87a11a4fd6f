"""`grader assign`: otter-assign masters in solutions/ become the student notebooks in assignments/.

No solution line and no hidden test reaches assignments/; regenerating gives the committed
files byte for byte; the student notebook's public checks (otter's ``grader.check``) pass on
the reference solution, fail with a message (not a crash) on the unfilled notebook, and each
runs in under a second on a CPU (proj5a with or without the real model).
"""

import re
import subprocess
import sys
import time

import nbformat
import pytest
from nbtools import write_notebook

from grader import course
from grader.intake.load import load_notebook
from grader.judging.plugin import points_by_api
from grader.publish import assign

#: assignment -> its graded names, as the checks declare them (api markers), for every registered
#: assignment with a master notebook in solutions/
QUESTIONS = {spec.name: list(points_by_api(spec.checks_dir)) for spec in course.all_specs() if spec.solution.exists()}
#: Solution lines that must not reach the student notebook, and what must (placeholders, check cells).
NEEDLES = {
    "proj5a": [
        "(1 - abar).sqrt() * noise",
        "eps_u + scale * (eps_c - eps_u)",
        "torch.flip(eps_2, dims=[-2])",
        "list(range(990, -1, -30))",
        "forward(original_image, t_prev)",
    ],
    "proj5b": [
        "nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)",
        "torch.cumprod(alphas, dim=0)",
        "eps_hat = eps_u + guidance_scale * (eps_c - eps_u)",
        "c_vec = c_vec * _as_column(mask, x)",
        "def _ddpm_step(",
        "def _as_column(",
        "unflatten = c1 * unflatten + t1",
        "x + sigma * torch.randn_like(x)",
    ],
}
SHOWN = {
    "proj5a": ["strided_timesteps = ...", 'grader.check("forward")'],
    "proj5b": [
        'grader.check("Conv")',
        'grader.check("train_class_conditioned")',
        "class Conv(nn.Module):",
        "def add_noise(x: torch.Tensor, sigma: float) -> torch.Tensor:",
        "def show_grid(images, nrow=8, title=None, ax=None):",
    ],
}


def _masters(root):
    out = {}
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        if assign.is_master(nb):
            out[path.stem] = nb
    return out


def _solution_lines(master):
    """Independent of grader.publish.assign: non-trivial lines between the inline solution markers
    (or ending in ``# SOLUTION``) of code cells inside raw ``# BEGIN SOLUTION`` blocks,
    minus lines that the master shows outside solutions and tests anyway."""
    depth = {"solution": 0, "tests": 0}
    hidden_lines, shown = [], set()
    for cell in master.cells:
        first = cell.source.strip().split("\n")[0]
        m = re.match(r"#\s+(BEGIN|END)\s+(SOLUTION|TESTS)\b", first, re.I)
        if cell.cell_type == "raw":
            if m:
                depth[m.group(2).lower()] += 1 if m.group(1).upper() == "BEGIN" else -1
            continue
        lines = [l.strip() for l in cell.source.splitlines()]
        if depth["tests"]:
            continue
        if not depth["solution"] or cell.cell_type != "code":
            shown.update(lines)
            continue
        inside = False
        for line in lines:
            if line.endswith("# BEGIN SOLUTION"):
                inside = True
            elif line.endswith("# END SOLUTION"):
                inside = False
            elif inside or re.search(r"#\s?SOLUTION$", line):
                hidden_lines.append(re.sub(r"\s*#\s?SOLUTION$", "", line))
            else:
                shown.add(line)
    return [l for l in hidden_lines if len(re.findall(r"\w+", l)) >= 3 and not l.startswith("#") and l not in shown]


def _student_text(nb):
    tests = nb.metadata.get("otter", {}).get("tests", {})
    return [l.strip() for part in [c.source for c in nb.cells] + list(tests.values()) for l in str(part).splitlines()]


def test_every_solution_is_a_master_with_the_hidden_checks_questions(root):
    masters = _masters(root)
    assert set(masters) == set(QUESTIONS), "every notebook in solutions/ is an otter-assign master"
    for name, master in masters.items():
        assert set(assign.question_points(master)) == set(QUESTIONS[name])
        # points are declared once, beside each check; the master's questions must agree, one by one
        assert assign.question_points(master) == points_by_api(course.get(name).checks_dir)
        assert sum(assign.question_points(master).values()) == 100


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_no_solution_line_or_hidden_test_reaches_assignments(root, name):
    master = _masters(root)[name]
    student = nbformat.read(str(root / "assignments" / f"{name}.ipynb"), as_version=4)
    secret = _solution_lines(master)
    assert len(secret) >= 40, len(secret)
    assert set(secret) <= set(assign.solution_lines(master)), "grader.publish.assign's own leak check sees every line"
    public = set(_student_text(student))
    leaked = [l for l in secret if l in public]
    assert not leaked, f"{name}: solution lines in assignments/: {leaked[:3]}"
    assert assign.leaks(student, master) == []
    # every test that reaches the student is a public test of the master, one per question
    tests = student.metadata["otter"]["tests"]
    assert sorted(tests) == sorted(QUESTIONS[name])
    assert all("hidden=False" in t and "hidden=True" not in t for t in tests.values())
    text = "\n".join(_student_text(student))
    for needle in NEEDLES[name]:
        assert needle not in text, needle
    for shown in SHOWN[name]:
        assert shown in text, shown


def _tiny_master(path, public_test_line="assert f(2) == 4"):
    cells = [
        (
            "raw",
            "# ASSIGNMENT CONFIG\nname: tiny\nexport_cell: false\ngenerate: false\nrun_tests: false\n"
            "tests:\n    files: false\n    ok_format: false",
        ),
        ("raw", "# BEGIN QUESTION\nname: f\npoints: 2"),
        ("md", "Write `f(x)`."),
        ("raw", "# BEGIN SOLUTION"),
        (
            "code",
            "def f(x):\n    # BEGIN SOLUTION\n    secret_square = x * x\n    return secret_square\n    # END SOLUTION",
        ),
        ("raw", "# END SOLUTION"),
        ("raw", "# BEGIN TESTS"),
        ("code", f"def test_public(f):\n    {public_test_line}"),
        ("code", "# HIDDEN\ndef test_hidden_secret(f):\n    assert f(3) == 9"),
        ("raw", "# END TESTS"),
        ("raw", "# END QUESTION"),
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src in cells:
        nb.cells.append(
            {"raw": nbformat.v4.new_raw_cell, "md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}[
                kind
            ](src)
        )
    nbformat.write(nb, str(path))
    return path


def test_assign_strips_solutions_and_hidden_tests_and_refuses_leaks(tmp_path):
    student = assign.build_student(_tiny_master(tmp_path / "tiny.ipynb"), "tiny")
    text = "\n".join(_student_text(student))
    assert "secret_square" not in text and "test_hidden_secret" not in text and "f(3) == 9" not in text
    assert "def f(x):" in text and "test_public" in text and 'grader.check("f")' in text
    assert student.metadata["diffgrade"] == {"assignment": "tiny"}
    assert [c.id for c in student.cells] == [f"tiny-{i:03d}" for i in range(len(student.cells))]
    # a public test that spells out a solution line is refused, not written
    with pytest.raises(assign.AssignError, match="would reach the student notebook"):
        assign.build_student(_tiny_master(tmp_path / "leaky.ipynb", "secret_square = x * x"), "tiny")
    # a reference notebook without otter markup is not a master
    plain = write_notebook(tmp_path / "plain.ipynb", [("code", "def f(x):\n    return x")])
    with pytest.raises(assign.AssignError, match="not an otter-assign master"):
        assign.build_student(plain)


def test_regenerating_gives_the_committed_files(root, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "grader", "assign", "--out", str(tmp_path)], capture_output=True, text=True, cwd=root
    )
    assert run.returncode == 0, run.stderr
    made = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert made == ["proj5a.ipynb", "proj5b.ipynb"]
    for name in made:
        assert (tmp_path / name).read_bytes() == (root / "assignments" / name).read_bytes(), (
            f"assignments/{name} is stale: run `grader assign` and commit the result"
        )
    # the unstarted sample submission is the student notebook as handed out
    assert (root / "samples" / "proj5a" / "erin_unstarted.ipynb").read_bytes() == (
        root / "assignments" / "proj5a.ipynb"
    ).read_bytes()


# ---- the public checks, run as in the notebook -------------------------------------------------


@pytest.fixture(scope="module")
def otter_notebooks(root, tmp_path_factory):
    """otter's Notebook API on each committed student notebook (its log goes to a temporary folder)."""
    import os

    import otter

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("otter"))
    try:
        yield {name: otter.Notebook(str(root / "assignments" / f"{name}.ipynb")) for name in QUESTIONS}
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def otter_notebook(otter_notebooks):
    return otter_notebooks["proj5a"]


def _namespace(notebook, in_class: bool, assignment: str = "proj5a") -> dict:
    """The notebook's definitions, as after running its cells. For proj5a in class, stage_1,
    alphas_cumprod, add_variance and prompt_embeds_dict exist (the grader's stand-ins play the model);
    on a machine without the model, its loading cell failed and only the notebook's own code ran.
    proj5b needs no model: its notebooks define ``device`` in their imports cell."""
    from grader import fixtures
    from grader.course.proj5a.sealed import standins

    ns = {"__name__": "__main__"}
    if assignment == "proj5b":
        ns["device"] = "cpu"
    elif in_class:
        ns.update(standins.build(fixtures.load_inputs("proj5a")))
    # an assignment with no provided names keeps the notebook's own add_variance
    chunks, _ = load_notebook(notebook, assignment if in_class else "no-model")
    for chunk in chunks:
        try:
            exec(compile(chunk.source, f"<cell {chunk.cell}>", "exec"), ns)
        except Exception:  # e.g. alphas_cumprod = stage_1.scheduler... without the model
            pass
    return ns


def _run_checks(nb_api, ns, assignment="proj5a"):
    before = {k: ns.get(k) for k in ("stage_1", "alphas_cumprod")}
    nb_api.check(
        QUESTIONS[assignment][0], global_env=dict(ns)
    )  # the process's first torch calls pay a one-off start-up
    out = {}
    for q in QUESTIONS[assignment]:
        start = time.perf_counter()
        result = nb_api.check(q, global_env=ns)
        out[q] = (result, time.perf_counter() - start)
    assert {k: ns.get(k) for k in before} == before, "a check left the notebook's stage_1 or alphas_cumprod changed"
    return out


def _messages(result):
    return [r.message for r in result.test_case_results if not r.passed]


SETTINGS = [("proj5a", True), ("proj5a", False), ("proj5b", True)]
SETTING_IDS = ["proj5a-in-class", "proj5a-no-model", "proj5b"]


@pytest.mark.parametrize("assignment,in_class", SETTINGS, ids=SETTING_IDS)
def test_public_checks_pass_on_the_reference(root, otter_notebooks, assignment, in_class):
    nb_api = otter_notebooks[assignment]
    results = _run_checks(
        nb_api, _namespace(root / "solutions" / f"{assignment}.ipynb", in_class, assignment), assignment
    )
    assert set(nb_api._nbmeta_config.tests) == set(QUESTIONS[assignment])
    for q, (result, seconds) in results.items():
        assert result.passed_all, (q, _messages(result))


@pytest.mark.parametrize("assignment,in_class", SETTINGS, ids=SETTING_IDS)
def test_public_checks_fail_with_a_message_on_the_unfilled_notebook(root, otter_notebooks, assignment, in_class):
    nb_api = otter_notebooks[assignment]
    results = _run_checks(
        nb_api, _namespace(root / "assignments" / f"{assignment}.ipynb", in_class, assignment), assignment
    )
    for q, (result, seconds) in results.items():
        assert not result.passed_all, q
        for message in _messages(result):
            # our own assertion message (expected / got / likely cause), not a crash of the test
            assert "AssertionError: " in message and message.count("Error:") == 1, (q, message)
            if assignment == "proj5a":
                assert "returned None" in message or "not set yet" in message, (q, message)
            else:  # every proj5b check names the placeholder left to fill
                assert "`...`" in message and "Likely cause" in message, (q, message)


CORRECT = {
    "proj5a": [
        "correct_alt_readings",
        "correct_batched_cfg",
        "correct_fp16_device",
        "correct_inline",
        "correct_numpy_returns",
    ],
    "proj5b": [
        "correct_alt_readings",
        "correct_colab_mess",
        "correct_explicit_onebased",
        "correct_inline_onehot",
        "correct_numpy_eps_form",
    ],
}
CAUGHT = {  # single-mistake notebooks whose mistake the quick checks already see, and a word of the hint
    "proj5a": {
        "mistake_forward_alphas": ("forward", "alphas_cumprod (not alphas)"),
        "mistake_forward_missing_sqrt": ("forward", "missing square roots"),
        "mistake_forward_noise_unscaled": ("forward", "without scaling it"),
        "mistake_one_step_missing_sqrt": ("one_step_denoise", "both square roots"),
        "mistake_iterative_off_by_one": ("iterative_denoise", "at t' instead of t"),
        "mistake_inpaint_inverted_mask": ("inpaint", "the mask is inverted"),
        "mistake_anagram_horizontal_flip": ("visual_anagrams", "upside down (dims=[-2])"),
        "mistake_strided_missing_zero": ("strided_timesteps", "it ends at 30, not 0"),
        "wrong_shape": ("forward", "returned shape (3, 64, 64); expected (1, 3, 64, 64)"),
        "raises": ("one_step_denoise", "raised RuntimeError"),
    },
    "proj5b": {
        "mistake_add_noise_sigma_squared": ("add_noise", "sigma ** 2 instead of sigma"),
        "mistake_class_mask_inverted": ("ClassConditionalUNet", "the mask is inverted"),
        "mistake_conv_padding0": ("Conv", "padding=1 keeps the resolution"),
        "mistake_convblock_single_conv": ("ConvBlock", "has 150 trainable parameters"),
        "mistake_downconv_kernel2": ("DownConv", "expected 255, from a 4x4 stride-2 Conv2d"),
        "mistake_fcblock_no_gelu": ("FCBlock", "GELU between the two Linear layers is missing"),
        "mistake_flatten_maxpool": ("Flatten", "MaxPool2d instead of AvgPool2d"),
        "mistake_upconv_relu": ("UpConv", "ReLU"),
        "mistake_upblock_no_convblock": ("UpBlock", "expected 735"),
        "mistake_downblock_order": ("DownBlock", "expected 735"),
        "mistake_unet_missing_skip": ("UnconditionalUNet", "expected 8357"),
        "mistake_train_denoiser_noisy_target": ("train_denoiser", "the target is the noisy input"),
        "mistake_train_denoiser_no_step": ("train_denoiser", "the optimizer never steps"),
        "mistake_schedule_no_cumprod": ("ddpm_schedule", "cumprod"),
        "mistake_forward_alphas": ("ddpm_forward", "not alphas"),
        "mistake_forward_loss_x0": ("ddpm_forward", "with eps"),
        "mistake_forward_unnormalised_t": ("ddpm_forward", "not normalised"),
        "mistake_sample_unnormalised_t": ("ddpm_sample", "not normalised"),
        "mistake_forward_class_mask_inverted": ("ddpm_forward_class", "the mask is inverted"),
        "mistake_forward_class_no_dropout": ("ddpm_forward_class", "1 with probability 1 - p_uncond"),
        "mistake_sample_class_cfg_reversed": ("ddpm_sample_class", "reversed guidance"),
        "mistake_sample_class_scale_ignored": ("ddpm_sample_class", "guidance_scale ignored"),
    },
}


@pytest.mark.parametrize("assignment", sorted(QUESTIONS))
def test_public_checks_accept_other_correct_styles_and_explain_mistakes(root, otter_notebooks, assignment):
    nb_api = otter_notebooks[assignment]
    corpus = root / "tests" / "corpus" / assignment
    for name in CORRECT[assignment]:
        results = _run_checks(nb_api, _namespace(corpus / f"{name}.ipynb", True, assignment), assignment)
        failed = {q: _messages(r) for q, (r, _) in results.items() if not r.passed_all}
        assert not failed, (name, failed)
    for name, (question, hint) in CAUGHT[assignment].items():
        result = nb_api.check(question, global_env=_namespace(corpus / f"{name}.ipynb", True, assignment))
        messages = _messages(result)
        assert messages and all(hint in m and "Likely cause" in m for m in messages), (name, messages)


def test_public_checks_say_when_their_stand_in_cannot_be_used(root, otter_notebook):
    """A UNet reached through another name escapes the check's stand-in: the check says so."""
    ns = _namespace(root / "solutions" / "proj5a.ipynb", in_class=True)
    exec(
        "unet = stage_1.unet\n"
        "def one_step_denoise(im_noisy, t, prompt_embeds):\n"
        "    eps = unet(im_noisy, t, encoder_hidden_states=prompt_embeds, return_dict=False)[0][:, :3]\n"
        "    return (im_noisy - (1 - alphas_cumprod[t]).sqrt() * eps) / alphas_cumprod[t].sqrt()\n",
        ns,
    )
    messages = _messages(otter_notebook.check("one_step_denoise", global_env=ns))
    assert messages and "never called stage_1.unet" in messages[0] and "Likely cause" in messages[0], messages


def test_grader_check_prints_a_header_one_line_per_check_and_a_hint():
    from types import SimpleNamespace as NS

    from grader.reports.results import check_summary

    checks = [
        NS(api="forward", title="forward returns an image", passed=True, message="", points=2),
        NS(
            api="blur_denoise",
            title="blur_denoise blurs",
            passed=False,
            points=5,
            message="blur_denoise returned None (not implemented yet, or a missing return?); expected ...",
        ),
    ]
    text = check_summary(NS(notebook="/x/my proj5a.ipynb", assignment="proj5a", error=None, notes=[], checks=checks))
    lines = text.splitlines()
    assert lines[0] == "my proj5a.ipynb (proj5a): 1 of 2 visible checks pass"
    assert lines[1].split() == ["ok", "forward", "forward", "returns", "an", "image"]
    assert lines[2].split()[:3] == ["FAIL", "blur_denoise", "blur_denoise"] and "returned None" in lines[2]
    assert (
        len(lines) == 4
        and lines[3].startswith("Hint: start with blur_denoise")
        and "grader check 'my proj5a.ipynb'" in lines[3]
    )
    broken = check_summary(
        NS(notebook="a.ipynb", assignment="proj5a", error="a.ipynb is empty", notes=[], checks=checks)
    )
    assert broken.splitlines()[1] == "  ! a.ipynb is empty" and len(broken.splitlines()) == 3


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_the_notebook_checks_work_renamed_and_export_without_latex(root, tmp_path, monkeypatch, name):
    """A student saves `proj5a (1).ipynb` next to another notebook: the first cell still finds the checks
    stored in this notebook, a check runs, and grader.export() makes a zip without LaTeX."""
    import shutil
    import zipfile

    shutil.copy(root / "assignments" / f"{name}.ipynb", tmp_path / f"{name} (1).ipynb")
    shutil.copy(root / "samples" / "proj5a" / "alice.ipynb", tmp_path / "scratch.ipynb")
    init = next(
        c
        for c in nbformat.read(str(tmp_path / f"{name} (1).ipynb"), as_version=4).cells
        if c.cell_type == "code" and "start_checks" in c.source
    )
    assert "pip install -q otter-grader" in init.source
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec("\n".join(line for line in init.source.splitlines() if not line.startswith("%")), ns)
    grader = ns["grader"]
    assert grader._notebook == f"{name} (1).ipynb"
    question = QUESTIONS[name][0]
    failed = str(grader.check(question, global_env={}))  # nothing defined: the check fails
    assert question in failed and "Error at line" not in failed, failed
    grader.export(display_link=False)
    (archive,) = tmp_path.glob("*.zip")
    assert zipfile.ZipFile(archive).testzip() is None and f"{name} (1).ipynb" in zipfile.ZipFile(archive).namelist()
