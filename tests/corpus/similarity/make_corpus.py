"""Generate the similarity corpus: notebooks built on the proj5a skeleton, and one earlier-term solution.

Run from anywhere:  python tests/corpus/similarity/make_corpus.py

Each student notebook is ``assignments/proj5a.ipynb`` with its stub cells replaced by one author's code
(the cell is found by the first name it defines). Written here:

* ``submissions/alice.ipynb``: Alice's own solution;
* ``submissions/bob.ipynb``: Bob's own solution, written independently (another style, same skeleton);
* ``submissions/mallory.ipynb``: Alice's code disguised: names changed, reformatted, comments and docstrings
  rewritten, cells reordered, dead code added;
* ``submissions/erin.ipynb``: the skeleton as handed out, nothing filled in;
* ``submissions/trudy.ipynb``: the earlier-term solution, renamed and pasted into the skeleton;
* ``against/fa23_solution.py``: a solution from an earlier term (percent-format script), as course staff
  collect them.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

SKELETON = ROOT / "assignments" / "proj5a.ipynb"

ALICE = {}
ALICE["forward"] = '''
def forward(im, t):
    # noisy image at timestep t
    abar = alphas_cumprod[t]
    eps = torch.randn_like(im)
    return torch.sqrt(abar) * im + torch.sqrt(1 - abar) * eps
'''
ALICE["blur_denoise"] = '''
def blur_denoise(im_noisy, kernel_size, sigma):
    return TF.gaussian_blur(im_noisy, kernel_size, sigma)
'''
ALICE["get_eps"] = '''
def get_eps(x, t, prompt_embeds):
    pred = stage_1.unet(x, t, encoder_hidden_states=prompt_embeds, return_dict=False)[0]
    noise_est, var_est = torch.split(pred, x.shape[1], dim=1)
    return noise_est, var_est


def one_step_denoise(im_noisy, t, prompt_embeds):
    with torch.no_grad():
        noise_est, _ = get_eps(im_noisy, t, prompt_embeds)
    abar = alphas_cumprod[t]
    clean = (im_noisy - torch.sqrt(1 - abar) * noise_est) / torch.sqrt(abar)
    return clean
'''
ALICE["strided_timesteps"] = '''
strided_timesteps = []
for step in range(990, -1, -30):
    strided_timesteps.append(step)
stage_1.scheduler.set_timesteps(timesteps=strided_timesteps)
'''
ALICE["ddpm_step"] = '''
def ddpm_step(x_t, x0, t, t_prev):
    a_bar = alphas_cumprod[t]
    a_bar_prev = alphas_cumprod[t_prev]
    a_t = a_bar / a_bar_prev
    b_t = 1 - a_t
    coef_x0 = torch.sqrt(a_bar_prev) * b_t / (1 - a_bar)
    coef_xt = torch.sqrt(a_t) * (1 - a_bar_prev) / (1 - a_bar)
    return coef_x0 * x0 + coef_xt * x_t


def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    x = im_noisy
    steps = list(zip(timesteps[i_start:-1], timesteps[i_start + 1:]))
    for k, (t, t_prev) in enumerate(steps):
        with torch.no_grad():
            noise_est, var_est = get_eps(x, t, prompt_embeds)
        a_bar = alphas_cumprod[t]
        x0_hat = (x - torch.sqrt(1 - a_bar) * noise_est) / torch.sqrt(a_bar)
        x = ddpm_step(x, x0_hat, t, t_prev)
        x = add_variance(var_est, t, x)
        if display and k % 5 == 0:
            show_images([x], [f"step {k}"])
    return x
'''
ALICE["cfg_eps"] = '''
def cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale):
    cond, var_est = get_eps(x, t, prompt_embeds)
    uncond, _ = get_eps(x, t, uncond_prompt_embeds)
    guided = uncond + scale * (cond - uncond)
    return guided, var_est


def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    x = im_noisy
    steps = list(zip(timesteps[i_start:-1], timesteps[i_start + 1:]))
    for k, (t, t_prev) in enumerate(steps):
        with torch.no_grad():
            noise_est, var_est = cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale)
        a_bar = alphas_cumprod[t]
        x0_hat = (x - torch.sqrt(1 - a_bar) * noise_est) / torch.sqrt(a_bar)
        x = add_variance(var_est, t, ddpm_step(x, x0_hat, t, t_prev))
        if display and k % 5 == 0:
            show_images([x], [f"cfg step {k}"])
    return x
'''
ALICE["sdedit"] = '''
def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    start = forward(im, timesteps[i_start])
    return iterative_denoise_cfg(start, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=scale, display=False)
'''
ALICE["inpaint"] = '''
def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    x = torch.randn_like(original_image)
    for k in range(len(timesteps) - 1):
        t, t_prev = timesteps[k], timesteps[k + 1]
        with torch.no_grad():
            noise_est, var_est = cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale)
        a_bar = alphas_cumprod[t]
        x0_hat = (x - torch.sqrt(1 - a_bar) * noise_est) / torch.sqrt(a_bar)
        x = add_variance(var_est, t, ddpm_step(x, x0_hat, t, t_prev))
        known = forward(original_image, t_prev)
        x = torch.where(mask.bool(), x, known)
    return x
'''
ALICE["visual_anagrams"] = '''
def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7, display=True):
    x = image
    for k in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[k], timesteps[k + 1]
        with torch.no_grad():
            up, var_est = cfg_eps(x, t, prompt_embeds_1, uncond_prompt_embeds, scale)
            down, _ = cfg_eps(x.flip(-2), t, prompt_embeds_2, uncond_prompt_embeds, scale)
        noise_est = 0.5 * (up + down.flip(-2))
        a_bar = alphas_cumprod[t]
        x0_hat = (x - torch.sqrt(1 - a_bar) * noise_est) / torch.sqrt(a_bar)
        x = add_variance(var_est, t, ddpm_step(x, x0_hat, t, t_prev))
    return x
'''
ALICE["make_hybrids"] = '''
def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7, display=True):
    x = image
    for k in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[k], timesteps[k + 1]
        with torch.no_grad():
            far, var_est = cfg_eps(x, t, prompt_embeds_1, uncond_prompt_embeds, scale)
            near, _ = cfg_eps(x, t, prompt_embeds_2, uncond_prompt_embeds, scale)
        lowpass = TF.gaussian_blur(far, 33, 2.0)
        highpass = near - TF.gaussian_blur(near, 33, 2.0)
        a_bar = alphas_cumprod[t]
        x0_hat = (x - torch.sqrt(1 - a_bar) * (lowpass + highpass)) / torch.sqrt(a_bar)
        x = add_variance(var_est, t, ddpm_step(x, x0_hat, t, t_prev))
    return x
'''

# Bob: written on his own; small helpers, keyword-heavy calls, loops over indices.
BOB = {}
BOB["forward"] = '''
def forward(im, t):
    """Add noise for timestep t (equation A.2)."""
    alpha_bar_t = alphas_cumprod[t].to(im.device)
    return im * alpha_bar_t ** 0.5 + torch.randn(im.shape, device=im.device, dtype=im.dtype) * (1.0 - alpha_bar_t) ** 0.5
'''
BOB["blur_denoise"] = '''
def blur_denoise(im_noisy, kernel_size, sigma):
    k = kernel_size if kernel_size % 2 == 1 else kernel_size + 1
    return TF.gaussian_blur(im_noisy, kernel_size=[k, k], sigma=[sigma, sigma])
'''
BOB["get_eps"] = '''
def get_eps(x, t, prompt_embeds):
    with torch.no_grad():
        unet_out = stage_1.unet(x, t, encoder_hidden_states=prompt_embeds, return_dict=False)[0]
    c = unet_out.shape[1] // 2
    return unet_out[:, :c], unet_out[:, c:]


def one_step_denoise(im_noisy, t, prompt_embeds):
    e, _v = get_eps(im_noisy, t, prompt_embeds)
    ab = alphas_cumprod[t]
    return (im_noisy - e * (1.0 - ab) ** 0.5) * (1.0 / ab ** 0.5)
'''
BOB["strided_timesteps"] = '''
strided_timesteps = [990 - 30 * i for i in range(34)]
stage_1.scheduler.set_timesteps(timesteps=strided_timesteps)
'''
BOB["ddpm_step"] = '''
def ddpm_step(x_t, x0, t, t_prev):
    ab, ab_prev = alphas_cumprod[t], alphas_cumprod[t_prev]
    alpha = ab / ab_prev
    first = (ab_prev ** 0.5) * (1.0 - alpha) / (1.0 - ab)
    second = (alpha ** 0.5) * (1.0 - ab_prev) / (1.0 - ab)
    return first * x0 + second * x_t


def estimate_clean(x, e, t):
    ab = alphas_cumprod[t]
    return (x - e * (1.0 - ab) ** 0.5) * (1.0 / ab ** 0.5)


def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    cur = im_noisy.clone()
    n = len(timesteps)
    i = i_start
    while i < n - 1:
        e, v = get_eps(cur, timesteps[i], prompt_embeds)
        cur = ddpm_step(cur, estimate_clean(cur, e, timesteps[i]), timesteps[i], timesteps[i + 1])
        cur = add_variance(v, timesteps[i], cur)
        i += 1
    if display:
        show_images([cur], ["denoised"])
    return cur
'''
BOB["cfg_eps"] = '''
def cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale):
    both = torch.cat([x, x])
    embeds = torch.cat([uncond_prompt_embeds, prompt_embeds])
    with torch.no_grad():
        out = stage_1.unet(both, t, encoder_hidden_states=embeds, return_dict=False)[0]
    c = x.shape[1]
    e_u, e_c = out[:1, :c], out[1:, :c]
    return e_u + scale * (e_c - e_u), out[1:, c:]


def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    cur = im_noisy.clone()
    for i in range(i_start, len(timesteps) - 1):
        t_now, t_next = timesteps[i], timesteps[i + 1]
        e, v = cfg_eps(cur, t_now, prompt_embeds, uncond_prompt_embeds, scale)
        cur = add_variance(v, t_now, ddpm_step(cur, estimate_clean(cur, e, t_now), t_now, t_next))
    if display:
        show_images([cur], [f"scale {scale}"])
    return cur
'''
BOB["sdedit"] = '''
def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    t0 = timesteps[i_start]
    noisy = forward(im, t0)
    out = iterative_denoise_cfg(noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale, False)
    return out
'''
BOB["inpaint"] = '''
def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    cur = torch.randn(original_image.shape, device=original_image.device, dtype=original_image.dtype)
    n = len(timesteps)
    for i in range(n - 1):
        e, v = cfg_eps(cur, timesteps[i], prompt_embeds, uncond_prompt_embeds, scale)
        cur = ddpm_step(cur, estimate_clean(cur, e, timesteps[i]), timesteps[i], timesteps[i + 1])
        cur = add_variance(v, timesteps[i], cur)
        cur = cur * mask + forward(original_image, timesteps[i + 1]) * (1 - mask)
    return cur
'''
BOB["visual_anagrams"] = '''
def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7, display=True):
    cur = image.clone()
    for i in range(i_start, len(timesteps) - 1):
        e1, v = cfg_eps(cur, timesteps[i], prompt_embeds_1, uncond_prompt_embeds, scale)
        flipped = torch.flip(cur, dims=(2,))
        e2 = torch.flip(cfg_eps(flipped, timesteps[i], prompt_embeds_2, uncond_prompt_embeds, scale)[0], dims=(2,))
        x0 = estimate_clean(cur, (e1 + e2) / 2.0, timesteps[i])
        cur = add_variance(v, timesteps[i], ddpm_step(cur, x0, timesteps[i], timesteps[i + 1]))
    return cur
'''
BOB["make_hybrids"] = '''
def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7, display=True):
    cur = image.clone()
    blur = lambda z: TF.gaussian_blur(z, kernel_size=[33, 33], sigma=[2.0, 2.0])
    for i in range(i_start, len(timesteps) - 1):
        e1, v = cfg_eps(cur, timesteps[i], prompt_embeds_1, uncond_prompt_embeds, scale)
        e2 = cfg_eps(cur, timesteps[i], prompt_embeds_2, uncond_prompt_embeds, scale)[0]
        e = blur(e1) + e2 - blur(e2)
        cur = add_variance(v, timesteps[i], ddpm_step(cur, estimate_clean(cur, e, timesteps[i]), timesteps[i], timesteps[i + 1]))
    return cur
'''

# Mallory: Alice's notebook, disguised by hand.
MALLORY = {}
MALLORY["forward"] = '''
def forward(img, step):
    """Forward diffusion: q(x_t | x_0)."""
    ab = alphas_cumprod[step]  # cumulative product of alphas
    z = torch.randn_like(img)
    return (torch.sqrt(ab) * img
            + torch.sqrt(1 - ab) * z)
'''
MALLORY["blur_denoise"] = '''
def blur_denoise(im_noisy, kernel_size, sigma):
    # classical baseline
    return TF.gaussian_blur(im_noisy, kernel_size, sigma)
'''
MALLORY["get_eps"] = '''
def predict_noise(inp, timestep, emb):
    """Run the UNet; returns (noise, variance)."""
    output = stage_1.unet(inp, timestep,
                          encoder_hidden_states=emb,
                          return_dict=False)[0]
    n, v = torch.split(output, inp.shape[1], dim=1)
    return n, v


def one_step_denoise(im_noisy, t, prompt_embeds):
    with torch.no_grad():
        n, _ = predict_noise(im_noisy, t, prompt_embeds)
    ab = alphas_cumprod[t]
    debug_scale = 1.0  # not needed
    result = (im_noisy - torch.sqrt(1 - ab) * n) / torch.sqrt(ab)
    return result
'''
MALLORY["strided_timesteps"] = '''
strided_timesteps = []
for s in range(990, -1, -30):
    strided_timesteps.append(s)
stage_1.scheduler.set_timesteps(timesteps=strided_timesteps)
'''
MALLORY["ddpm_step"] = '''
def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    """Denoise from timesteps[i_start] down to timesteps[-1]."""
    img = im_noisy
    pairs = list(zip(timesteps[i_start:-1], timesteps[i_start + 1:]))
    for j, (cur_t, prev_t) in enumerate(pairs):
        with torch.no_grad():
            n, v = predict_noise(img, cur_t, prompt_embeds)
        ab = alphas_cumprod[cur_t]
        clean_est = (img - torch.sqrt(1 - ab) * n) / torch.sqrt(ab)
        img = posterior_mean(img, clean_est, cur_t, prev_t)
        img = add_variance(v, cur_t, img)
        if display and j % 5 == 0:
            show_images([img], [f"t={cur_t}"])
    return img
    print("done")


def posterior_mean(xt, x_zero, step, prev_step):
    # DDPM posterior mean (eq. 3)
    ab = alphas_cumprod[step]
    ab_prev = alphas_cumprod[prev_step]
    alpha = ab / ab_prev
    beta = 1 - alpha
    w0 = torch.sqrt(ab_prev) * beta / (1 - ab)
    wt = torch.sqrt(alpha) * (1 - ab_prev) / (1 - ab)
    return w0 * x_zero + wt * xt


def unused_helper(x):
    # kept for later
    y = x * 2
    for _ in range(3):
        y = y + 1
    return y
'''
MALLORY["cfg_eps"] = '''
def guided_noise(inp, timestep, emb, null_emb, w):
    c, v = predict_noise(inp, timestep, emb)
    u, _ = predict_noise(inp, timestep, null_emb)
    g = u + w * (c - u)
    return g, v


def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    img = im_noisy
    pairs = list(zip(timesteps[i_start:-1], timesteps[i_start + 1:]))
    for j, (cur_t, prev_t) in enumerate(pairs):
        with torch.no_grad():
            n, v = guided_noise(img, cur_t, prompt_embeds, uncond_prompt_embeds, scale)
        ab = alphas_cumprod[cur_t]
        clean_est = (img - torch.sqrt(1 - ab) * n) / torch.sqrt(ab)
        img = add_variance(v, cur_t, posterior_mean(img, clean_est, cur_t, prev_t))
        if False:
            img = img.clamp(-1, 1)
        if display and j % 5 == 0:
            show_images([img], [f"guided t={cur_t}"])
    return img
'''
MALLORY["sdedit"] = '''
def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    # project onto the image manifold
    noisy_start = forward(im, timesteps[i_start])
    return iterative_denoise_cfg(
        noisy_start, i_start, prompt_embeds, uncond_prompt_embeds, timesteps,
        scale=scale, display=False,
    )
'''
MALLORY["inpaint"] = '''
def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    img = torch.randn_like(original_image)
    for j in range(len(timesteps) - 1):
        cur_t, prev_t = timesteps[j], timesteps[j + 1]
        with torch.no_grad():
            n, v = guided_noise(img, cur_t, prompt_embeds, uncond_prompt_embeds, scale)
        ab = alphas_cumprod[cur_t]
        clean_est = (img - torch.sqrt(1 - ab) * n) / torch.sqrt(ab)
        img = add_variance(v, cur_t, posterior_mean(img, clean_est, cur_t, prev_t))
        outside = forward(original_image, prev_t)
        img = torch.where(mask.bool(), img, outside)
    return img
'''
MALLORY["visual_anagrams"] = '''
def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7, display=True):
    img = image
    for j in range(i_start, len(timesteps) - 1):
        cur_t, prev_t = timesteps[j], timesteps[j + 1]
        with torch.no_grad():
            upright, v = guided_noise(img, cur_t, prompt_embeds_1, uncond_prompt_embeds, scale)
            flipped, _ = guided_noise(img.flip(-2), cur_t, prompt_embeds_2, uncond_prompt_embeds, scale)
        n = 0.5 * (upright + flipped.flip(-2))
        ab = alphas_cumprod[cur_t]
        clean_est = (img - torch.sqrt(1 - ab) * n) / torch.sqrt(ab)
        img = add_variance(v, cur_t, posterior_mean(img, clean_est, cur_t, prev_t))
    return img
'''
MALLORY["make_hybrids"] = '''
def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7, display=True):
    img = image
    for j in range(i_start, len(timesteps) - 1):
        cur_t, prev_t = timesteps[j], timesteps[j + 1]
        with torch.no_grad():
            a, v = guided_noise(img, cur_t, prompt_embeds_1, uncond_prompt_embeds, scale)
            b, _ = guided_noise(img, cur_t, prompt_embeds_2, uncond_prompt_embeds, scale)
        low = TF.gaussian_blur(a, 33, 2.0)
        high = b - TF.gaussian_blur(b, 33, 2.0)
        ab = alphas_cumprod[cur_t]
        clean_est = (img - torch.sqrt(1 - ab) * (low + high)) / torch.sqrt(ab)
        img = add_variance(v, cur_t, posterior_mean(img, clean_est, cur_t, prev_t))
    return img
'''
#: Mallory moved the part 1.7 cell before part 1.6 and hybrids before anagrams.
MALLORY_ORDER = {"sdedit": "cfg_eps", "make_hybrids": "visual_anagrams"}

# An earlier term's solution (a script exported from its notebook), and Trudy's copy of it.
FA23 = {}
FA23["forward"] = '''
def forward(im, t):
    a = alphas_cumprod[t]
    return a.sqrt() * im + (1 - a).sqrt() * torch.randn_like(im)
'''
FA23["get_eps"] = '''
def get_eps(x, t, prompt_embeds):
    model_out = stage_1.unet(x, t, encoder_hidden_states=prompt_embeds, return_dict=False)[0]
    return model_out[:, :3], model_out[:, 3:]


def one_step_denoise(im_noisy, t, prompt_embeds):
    a = alphas_cumprod[t]
    with torch.no_grad():
        noise, _ = get_eps(im_noisy, t, prompt_embeds)
    return (im_noisy - (1 - a).sqrt() * noise) / a.sqrt()
'''
FA23["strided_timesteps"] = '''
strided_timesteps = list(range(990, -1, -30))
stage_1.scheduler.set_timesteps(timesteps=strided_timesteps)
'''
FA23["ddpm_step"] = '''
def ddpm_step(x_t, x0, t, t_prev):
    a_t, a_prev = alphas_cumprod[t], alphas_cumprod[t_prev]
    alpha = a_t / a_prev
    return (a_prev.sqrt() * (1 - alpha) / (1 - a_t)) * x0 + (alpha.sqrt() * (1 - a_prev) / (1 - a_t)) * x_t


def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    x = im_noisy
    for i in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        with torch.no_grad():
            noise, var = get_eps(x, t, prompt_embeds)
        a_t = alphas_cumprod[t]
        x0 = (x - (1 - a_t).sqrt() * noise) / a_t.sqrt()
        x = add_variance(var, t, ddpm_step(x, x0, t, t_prev))
        if display and i % 5 == 0:
            show_images([x], [str(t_prev)])
    return x
'''
FA23["cfg_eps"] = '''
def cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale):
    noise_c, var = get_eps(x, t, prompt_embeds)
    noise_u, _ = get_eps(x, t, uncond_prompt_embeds)
    return noise_u + scale * (noise_c - noise_u), var


def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    x = im_noisy
    for i in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        with torch.no_grad():
            noise, var = cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale)
        a_t = alphas_cumprod[t]
        x0 = (x - (1 - a_t).sqrt() * noise) / a_t.sqrt()
        x = add_variance(var, t, ddpm_step(x, x0, t, t_prev))
    return x
'''
FA23["inpaint"] = '''
def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    x = torch.randn_like(original_image)
    for i in range(len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        with torch.no_grad():
            noise, var = cfg_eps(x, t, prompt_embeds, uncond_prompt_embeds, scale)
        a_t = alphas_cumprod[t]
        x0 = (x - (1 - a_t).sqrt() * noise) / a_t.sqrt()
        x = add_variance(var, t, ddpm_step(x, x0, t, t_prev))
        x = mask * x + (1 - mask) * forward(original_image, t_prev)
    return x
'''


def _renamed(blocks: dict, renames: dict) -> dict:
    """The blocks with whole-word renames (Trudy's disguise)."""
    import re

    out = {}
    for key, code in blocks.items():
        for old, new in renames.items():
            code = re.sub(rf"\b{old}\b", new, code)
        out[key] = code
    return out


TRUDY = _renamed(FA23, {"noise": "eps_hat", "var": "sigma", "a_t": "alpha_bar", "a_prev": "alpha_bar_prev", "x0": "x_start"})


def _first_name(source: str) -> str | None:
    """The first name a skeleton cell defines (the key of the blocks that fill it)."""
    try:
        tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return node.name
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            return node.targets[0].id
    return None


def filled(blocks: dict, order: dict | None = None):
    """The skeleton with its stub cells replaced by ``blocks`` (by first defined name); ``order`` moves the cell
    filled by key K just before the cell filled by ``order[K]``."""
    nb = nbformat.read(str(SKELETON), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            key = _first_name(cell.source)
            if key in blocks:
                cell.source = blocks[key].strip("\n")
                cell.metadata["key"] = key
    for key, before in (order or {}).items():
        moved = next(c for c in nb.cells if c.metadata.get("key") == key)
        nb.cells.remove(moved)
        nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c.metadata.get("key") == before), moved)
    for cell in nb.cells:
        cell.metadata.pop("key", None)
    return nb


def script(blocks: dict) -> str:
    header = "#!/usr/bin/env python\n# Exported from a solution notebook of an earlier term.\n"
    return header + "".join(f"\n# %%\n{code.strip()}\n" for code in blocks.values())


def main() -> None:
    (HERE / "submissions").mkdir(exist_ok=True)
    (HERE / "against").mkdir(exist_ok=True)
    notebooks = {
        "alice": filled(ALICE),
        "bob": filled(BOB),
        "mallory": filled(MALLORY, MALLORY_ORDER),
        "erin": filled({}),
        "trudy": filled(TRUDY),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, str(HERE / "submissions" / f"{name}.ipynb"))
    (HERE / "against" / "fa23_solution.py").write_text(script(FA23))


if __name__ == "__main__":
    main()
