"""Degenerate output earns nothing: constant outputs of the right shape fail the "runs" checks,
and sdedit is not accepted as matching the student's own (equally constant) CFG."""

import nbformat

from grader.runner import grade

ZEROS = """
import torch

def forward(im, t):
    return torch.zeros_like(im)

def blur_denoise(im, kernel_size, sigma):
    return torch.zeros_like(im)

def one_step_denoise(im, t, prompt_embeds):
    return torch.zeros_like(im)

def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    return torch.zeros_like(im_noisy)

def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    return torch.zeros_like(im_noisy)

def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    return torch.zeros_like(im)

def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    return torch.zeros_like(original_image)

def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7):
    return torch.zeros_like(image)

def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7):
    return torch.zeros_like(image)
"""


def test_constant_outputs_score_nothing(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(ZEROS)]
    path = tmp_path / "zeros.ipynb"
    nbformat.write(nb, str(path))
    g = grade(path, "proj5a")
    earned = {c.name: c.points for c in g.checks if c.passed}
    assert earned == {}, earned
    runs = [c for c in g.checks if c.name.endswith("_runs") and c.api != "blur_denoise"]
    assert runs and all("same value" in c.message for c in runs), [(c.name, c.message) for c in runs]
