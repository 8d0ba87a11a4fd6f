"""Notebooks written the way real students write Part A (issue 12): interfaces the grader adapts to.

Used by make_corpus.py. Each entry: stem -> (kind, api, keyword in a failing message, keyword in the notes,
cells). The correct ones must earn full marks, each adaptation named in the notes.
"""

FLIP_ILLUSION = '''
def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7,
                    display=True):
    ...


def make_flip_illusion(image, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    """Prompt 0 right side up, prompt 1 upside down; both estimates averaged."""
    p_up, p_down = prompt_embeds
    x = image
    with torch.no_grad():
        for i in range(i_start, len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            e_up, var_up = cfg_eps(x, t, p_up, uncond_prompt_embeds, scale)
            e_down, _ = cfg_eps(x.flip(-2), t, p_down, uncond_prompt_embeds, scale)
            eps = 0.5 * (e_up + e_down.flip(-2))
            abar_t = alphas_cumprod[t]
            x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            x = add_variance(var_up, t, ddpm_step(x, x0, t, t_prev))
    return x
'''

HYBRIDS_LIST = '''
def make_hybrids(image, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    """prompt_embeds = [far away (low frequencies), close up (high frequencies)]."""
    x = image
    frames = []
    with torch.no_grad():
        for i in range(i_start, len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            e_far, var_far = cfg_eps(x, t, prompt_embeds[0], uncond_prompt_embeds, scale)
            e_near, _ = cfg_eps(x, t, prompt_embeds[1], uncond_prompt_embeds, scale)
            eps = TF.gaussian_blur(e_far, 33, 2) + (e_near - TF.gaussian_blur(e_near, 33, 2))
            abar_t = alphas_cumprod[t]
            x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            x = add_variance(var_far, t, ddpm_step(x, x0, t, t_prev))
            frames.append(x)
    return x, frames
'''

# The stand-in looks like the real pipeline: config, parameters(), device, dtype.
LOOKS_REAL = '''
def get_eps(x, t, prompt_embeds):
    unet = stage_1.unet
    half = unet.config.out_channels // 2
    x = x.to(unet.device, dtype=next(unet.parameters()).dtype)
    out = unet(x, t, encoder_hidden_states=prompt_embeds.to(stage_1.device), return_dict=False)[0]
    assert out.shape[1] == 2 * unet.config.in_channels
    return out[:, :half], out[:, half:]


def one_step_denoise(im_noisy, t, prompt_embeds):
    with torch.no_grad():
        eps, _ = get_eps(im_noisy, t, prompt_embeds)
        abar = alphas_cumprod[t]
        return (im_noisy - (1 - abar).sqrt() * eps) / abar.sqrt()
'''

# Samplers that return (image, intermediate images); sdedit unpacks the tuple of its own sampler.
TUPLES = '''
def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    image = im_noisy
    intermediates = []
    with torch.no_grad():
        for i in range(i_start, len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)
            abar_t = alphas_cumprod[t]
            x0 = (image - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))
            if i % 5 == 0:
                intermediates.append(image.cpu())
    return image, intermediates
'''

SDEDIT_UNPACKS = '''
def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    noisy = forward(im, timesteps[i_start])
    clean, _ = iterative_denoise_cfg(noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=scale,
                                     display=False)
    return clean
'''

INPAINT_UNPACKS = '''
def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    image = torch.randn_like(original_image)
    with torch.no_grad():
        for i in range(len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)
            abar_t = alphas_cumprod[t]
            x0 = (image - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))
            image = mask * image + (1 - mask) * forward(original_image, t_prev)
    return image
'''

# torchvision's functional module imported only inside a try block (a cell the loader drops as top-level work).
IMPORTS_IN_TRY = '''
%matplotlib inline
import torch
import numpy as np
import matplotlib.pyplot as plt
from diffusers import DiffusionPipeline
try:
    import torchvision.transforms.functional as TF
    from google.colab import drive
    drive.mount('/content/drive')
except ImportError:
    print('not on Colab')

device = 'cuda' if torch.cuda.is_available() else 'cpu'
'''

# No `import torch` anywhere (it came in through another cell for the author): only functions that use torch
# directly fail; everything else is written with tensor methods.
NO_TORCH_IMPORTS = '''
%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import torchvision.transforms.functional as TF
from diffusers import DiffusionPipeline

device = 'cuda'
'''

NO_TORCH_BODY = '''
def iterative_denoise(im_noisy, i_start, prompt_embeds, timesteps, display=True):
    image = im_noisy
    for i in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        eps, predicted_variance = get_eps(image, t, prompt_embeds)
        abar_t = alphas_cumprod[t]
        x0 = (image - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))
    return image


def iterative_denoise_cfg(im_noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    image = im_noisy
    for i in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)
        abar_t = alphas_cumprod[t]
        x0 = (image - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))
    return image


def sdedit(im, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7):
    noisy = forward(im, timesteps[i_start])
    return iterative_denoise_cfg(noisy, i_start, prompt_embeds, uncond_prompt_embeds, timesteps, scale=scale,
                                 display=False)


def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    image = original_image.clone().normal_()
    for i in range(len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)
        abar_t = alphas_cumprod[t]
        x0 = (image - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))
        image = mask * image + (1 - mask) * forward(original_image, t_prev)
    return image


def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7,
                    display=True):
    x = image
    for i in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        eps_1, var_1 = cfg_eps(x, t, prompt_embeds_1, uncond_prompt_embeds, scale)
        eps_2, _ = cfg_eps(x.flip(-2), t, prompt_embeds_2, uncond_prompt_embeds, scale)
        eps = (eps_1 + eps_2.flip(-2)) / 2
        abar_t = alphas_cumprod[t]
        x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))
    return x


def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7,
                 display=True):
    x = image
    for i in range(i_start, len(timesteps) - 1):
        t, t_prev = timesteps[i], timesteps[i + 1]
        eps_1, var_1 = cfg_eps(x, t, prompt_embeds_1, uncond_prompt_embeds, scale)
        eps_2, _ = cfg_eps(x, t, prompt_embeds_2, uncond_prompt_embeds, scale)
        eps = TF.gaussian_blur(eps_1, kernel_size=33, sigma=2) + eps_2 - TF.gaussian_blur(eps_2, kernel_size=33, sigma=2)
        abar_t = alphas_cumprod[t]
        x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))
    return x
'''

NO_TORCH_ONE_STEP = '''
def one_step_denoise(im_noisy, t, prompt_embeds):
    eps, _ = get_eps(im_noisy, t, prompt_embeds)
    abar = alphas_cumprod[t]
    return (im_noisy - (1 - abar).sqrt() * eps) / abar.sqrt()
'''


# Issue 20, style 6: the unconditional embedding taken as a pair as well, one per prompt (seven parameters).
ANAGRAM_UNCOND_PAIR = """
def visual_anagrams(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7):
    x = image
    with torch.no_grad():
        for i in range(i_start, len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            eps_1, var_1 = cfg_eps(x, t, prompt_embeds_1, uncond_prompt_embeds[0], scale)
            eps_2, _ = cfg_eps(torch.flip(x, dims=[-2]), t, prompt_embeds_2, uncond_prompt_embeds[1], scale)
            eps = (eps_1 + torch.flip(eps_2, dims=[-2])) / 2
            abar_t = alphas_cumprod[t]
            x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))
    return x
"""

HYBRID_UNCOND_PAIR = """
def make_hybrids(image, i_start, prompt_embeds_1, prompt_embeds_2, uncond_prompt_embeds, timesteps, scale=7):
    uncond_1, uncond_2 = uncond_prompt_embeds
    x = image
    with torch.no_grad():
        for i in range(i_start, len(timesteps) - 1):
            t, t_prev = timesteps[i], timesteps[i + 1]
            eps_1, var_1 = cfg_eps(x, t, prompt_embeds_1, uncond_1, scale)
            eps_2, _ = cfg_eps(x, t, prompt_embeds_2, uncond_2, scale)
            eps = TF.gaussian_blur(eps_1, kernel_size=33, sigma=2) + eps_2 - TF.gaussian_blur(eps_2, kernel_size=33, sigma=2)
            abar_t = alphas_cumprod[t]
            x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))
    return x
"""

# Issue 20, style 10: inpainting from torch.randn_like(original_image), from i = 0, the original re-noised to
# prev_t after each step with its batch dimension squeezed, tensors moved with .half().to(device).
INPAINT_SQUEEZED = """
def inpaint(original_image, mask, prompt_embeds, uncond_prompt_embeds, timesteps, scale=7, display=True):
    image = torch.randn_like(original_image).half().to(device)
    original_image = original_image.half().to(device)
    mask = mask.half().to(device)
    with torch.no_grad():
        for i in range(0, len(timesteps) - 1):
            t = timesteps[i]
            prev_t = timesteps[i + 1]
            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)
            abar_t = alphas_cumprod[t]
            x0 = (image - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
            image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, prev_t)).half().to(device)
            image = mask * image + (1 - mask) * forward(original_image.squeeze(0), prev_t).unsqueeze(0)
    return image
"""


def interface_styles(B, reference_cells):
    """stem -> (kind, api, expect_in_message, expect_note, cells)."""
    none = ("one_step_denoise",)
    return {
        "correct_real_interfaces": ("correct", None, None, "as visual_anagrams", reference_cells({
            "imports": IMPORTS_IN_TRY,
            "get_eps": LOOKS_REAL,
            "iterative_denoise_cfg": TUPLES,
            "sdedit": SDEDIT_UNPACKS, "inpaint": INPAINT_UNPACKS,
            "visual_anagrams": FLIP_ILLUSION,
            "make_hybrids": HYBRIDS_LIST,
        }, drop=none)),
        "correct_uncond_pair": ("correct", None, None, "the unconditional embedding as a pair", reference_cells({
            "visual_anagrams": ANAGRAM_UNCOND_PAIR,
            "make_hybrids": HYBRID_UNCOND_PAIR,
        })),
        "correct_inpaint_squeezed": ("correct", None, None, "was given the draws of shape (1, 3, 64, 64)",
                                     reference_cells({"inpaint": INPAINT_SQUEEZED})),
        # `import torch` never written: the grader supplies the conventional imports, at no cost, and says so
        "correct_no_torch_import": ("correct", None, None, "the grader added `import torch`", reference_cells({
            "imports": NO_TORCH_IMPORTS,
            "iterative_denoise": NO_TORCH_BODY,
            "one_step_denoise": NO_TORCH_ONE_STEP,
        }, drop=("iterative_denoise_cfg", "sdedit", "inpaint", "visual_anagrams", "make_hybrids"))),
    }
