"""Write the judge attacks: notebooks that implement nothing but try to earn points from the judge.

Each attacks the grading side's judgement, not the sandbox: evidence the student's process
reports (step records, optimizer steps) faked or left empty, and outputs that do not depend on
the inputs. ``manifest.json`` lists, per notebook, its assignment and the graded names it really
implements (none here): every other name must earn nothing. Run from the repository root:
``python tests/corpus/judge_attacks/make_corpus.py``.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nbtools import write_notebook  # noqa: E402

# Part B: samplers that compute nothing. Every step but the last calls the UNet on NaN (so every
# recorded step is NaN), then one jump at t = 0 lands on the digit nearest to fresh noise.
SAMPLERS_COMPUTE_NOTHING = '''
import torch


def _jump(x, eps, ddpm_schedule):
    b = ddpm_schedule["betas"][0]  # 1 - alpha_bar_0, without float32's cancellation
    return (x - b.sqrt() * eps) / (1 - b).sqrt()


def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    nan = torch.full((num_samples, 1, *img_wh), float("nan"))
    for t in range(num_ts - 1, 0, -1):
        unet(nan, torch.full((num_samples, 1), t / num_ts))
    x = torch.randn(num_samples, 1, *img_wh)
    return _jump(x, unet(x, torch.zeros(num_samples, 1)), ddpm_schedule)


def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    n = len(c)
    nan = torch.full((n, 1, *img_wh), float("nan"))
    on, off, t0 = torch.ones(n), torch.zeros(n), torch.zeros(n, 1)
    for t in range(num_ts - 1, 1, -1):
        tt = torch.full((n, 1), t / num_ts)
        unet(nan, c, tt, on)
        unet(nan, c, tt, off)
    # a stored digit of each class, from a throwaway call at t = 1 (its step record stays NaN: the
    # unconditional half is NaN); then one guided jump at t = 0 from right next to that digit
    abar1 = ddpm_schedule["alpha_bars"][1]
    noise = torch.randn(n, 1, *img_wh)
    eps = unet(noise, c, torch.full((n, 1), 1 / num_ts), on)
    unet(nan, c, torch.full((n, 1), 1 / num_ts), off)
    digit = (noise - (1 - abar1).sqrt() * eps) / abar1.sqrt()
    x = (1 - ddpm_schedule["betas"][0]).sqrt() * digit
    eps_c, eps_u = unet(x, c, t0, on), unet(x, c, t0, off)
    return _jump(x, eps_u + guidance_scale * (eps_c - eps_u), ddpm_schedule)
'''

# Part B: no training code. A class body runs while the notebook loads and replaces the harness's
# run_train with one that reports fabricated records: a falling loss, Adam's lr schedule, changed
# weights, no optimizer-step record, and forwards in an odd layout.
FAKE_TRAINING = '''
import numpy as np
import torch


class _Patch:
    import sys as _sys

    _h = _sys.modules.get("grader.course.proj5b.sealed.harness")
    if _h is not None:

        def _fake(fn, kind, num_epochs=3, lr=1e-2, sigma=0.5, p_uncond=0.1, num_ts=300, seed=0, _h=_h):
            nb, steps = 4, 4 * num_epochs
            gamma = 0.1 ** (1 / num_epochs)
            lrs = [lr if kind == "denoiser" else lr * gamma ** (i // nb) for i in range(steps)]
            g = torch.Generator().manual_seed(0)
            clean = torch.rand(2, 32, 1, 28, 28, generator=g)
            z = clean + sigma * torch.randn(2, 32, 1, 28, 28, generator=g)
            out = clean + 0.1 * torch.randn(2, 32, 1, 28, 28, generator=g)
            losses = np.linspace(1.0, 0.1, steps)
            losses[:2] = ((out - clean) ** 2).reshape(2, -1).mean(1).numpy()
            _h._STASH.clear()
            _h._STASH.update({
                "lrs": torch.tensor(lrs, dtype=torch.float64),
                "adam": torch.ones(steps, dtype=torch.long),
                "covers": torch.ones(steps, dtype=torch.long),
                "changed": torch.tensor(0.5),
                "n_fwd": torch.tensor(steps),
                "n_batches": torch.tensor(nb),
                "ret_none": torch.tensor(0),
                "loop": torch.tensor([0, 0]),
                "step_before": np.zeros((0, 0)), "step_after": np.zeros((0, 0)), "step_grad": np.zeros((0, 0)),
                "step_fresh": np.zeros((0, 0)), "step_hyper": np.zeros((0, 0)), "step_live": np.zeros((0, 0)),
                "step_sizes": np.zeros(0, dtype=np.int64),
            })
            if kind == "denoiser":
                _h._STASH.update({"fwd_x": z, "fwd_out": out, "clean": clean})
            else:  # an "output in another layout": half the pixels
                _h._STASH.update({
                    "fwd_x": z[:, :, :, :14], "fwd_out": out[:, :, :, :14], "clean": clean,
                    "fwd_t": torch.full((2, 32), 0.5),
                })
            return np.asarray(losses, dtype=np.float64)

        _h.run_train = _fake


def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    return []


def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    return []


def train_class_conditioned(
    unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3, device="cpu"
):
    return []
'''

# Part A: every function returns one fixed, non-constant stripe pattern (so no output is constant).
STRIPES = '''
import torch


def _stripes(like):
    x = torch.zeros(1, 3, 64, 64)
    x[..., ::2, :] = 0.5
    x[..., 1::4, :] = -0.5
    return x


def forward(im, t):
    return _stripes(im)


def blur_denoise(im_noisy, kernel_size, sigma):
    return _stripes(im_noisy)


def one_step_denoise(im_noisy, t, prompt_embeds):
    return _stripes(im_noisy)


strided_timesteps = []


def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    return _stripes(im_noisy)


def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    return _stripes(im_noisy)


def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    return _stripes(im)


def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    return _stripes(original_image)


def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7,
                    display=True):
    return _stripes(image)


def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7,
                 display=True):
    return _stripes(image)
'''

#: name -> (assignment, source, the graded names it really implements, the score it got before the fix)
ATTACKS = {
    "samplers_compute_nothing": ("proj5b", SAMPLERS_COMPUTE_NOTHING, [], 17),
    "fake_training_records": ("proj5b", FAKE_TRAINING, [], 15),
    "stripes_everywhere": ("proj5a", STRIPES, [], 26),
}


def main():
    manifest = []
    for name, (assignment, source, implements, before) in ATTACKS.items():
        write_notebook(HERE / f"{name}.ipynb", [("code", source)], assignment=assignment)
        manifest.append(
            {"file": f"{name}.ipynb", "assignment": assignment, "implements": implements, "score_before_fix": before}
        )
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
