"""Readings the spec allows and mistakes students make, for proj5a."""

from grader.judging.catalogue import Variant

CFG_LINE = "eps_u + scale * (eps_c - eps_u), var_c"
STEP = "image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))"
NO_VARIANCE = (
    "never calls add_variance: each step needs the predicted variance noise added (the update is deterministic)"
)
VARIANCE_PREV_T = (
    "add_variance is called with t' (the next timestep); it takes the current t, the step's own "
    "timestep, like the UNet call"
)
VARIANCE_CLAMPED = (
    "the predicted variance is clamped before add_variance: pass the UNet's variance channels (out[:, 3:]) unchanged"
)

VARIANTS = [
    # ---- forward --------------------------------------------------------------------------
    Variant(
        "forward",
        "alphas-for-alphas_cumprod",
        "uses alphas (1 - beta_t) where the forward process needs alphas_cumprod (abar_t): "
        "the image is barely noised at large t",
        (("forward", "abar = alphas_cumprod[t]", "abar = stage_1.scheduler.alphas[t]"),),
    ),
    Variant(
        "forward",
        "missing-sqrt",
        "missing sqrt: scales by abar_t and (1 - abar_t) instead of sqrt(abar_t) and sqrt(1 - abar_t)",
        (("forward", "abar.sqrt() * im + (1 - abar).sqrt() * noise", "abar * im + (1 - abar) * noise"),),
    ),
    Variant(
        "forward",
        "noise-unscaled",
        "adds the noise without scaling it by sqrt(1 - abar_t) (wrong noise scale)",
        (("forward", "(1 - abar).sqrt() * noise", "noise"),),
    ),
    Variant(
        "forward",
        "image-unscaled",
        "does not scale the image by sqrt(abar_t): the forward process scales as well as adds noise",
        (("forward", "abar.sqrt() * im", "im"),),
    ),
    # ---- blur_denoise -----------------------------------------------------------------------
    Variant(
        "blur_denoise",
        "kernel-sigma-swapped",
        "kernel_size and sigma look swapped in the gaussian_blur call",
        (
            (
                "blur_denoise",
                "kernel_size=kernel_size, sigma=sigma",
                "kernel_size=int(sigma) * 2 + 1, sigma=kernel_size",
            ),
        ),
    ),
    # ---- one_step_denoise -------------------------------------------------------------------
    Variant(
        "one_step_denoise",
        "missing-sqrt",
        "missing sqrt: divides by abar_t and scales the noise by (1 - abar_t) instead of sqrt(abar_t) and sqrt(1 - abar_t)",
        (
            (
                "one_step_denoise",
                "(im_noisy - (1 - abar).sqrt() * eps) / abar.sqrt()",
                "(im_noisy - (1 - abar) * eps) / abar",
            ),
        ),
    ),
    Variant(
        "one_step_denoise",
        "noise-subtracted-unscaled",
        "subtracts the noise estimate without the sqrt(1 - abar_t) and 1/sqrt(abar_t) scaling",
        (("one_step_denoise", "(im_noisy - (1 - abar).sqrt() * eps) / abar.sqrt()", "im_noisy - eps"),),
    ),
    Variant(
        "one_step_denoise",
        "alphas-for-alphas_cumprod",
        "uses alphas (1 - beta_t) where the clean estimate needs alphas_cumprod (abar_t)",
        (("one_step_denoise", "abar = alphas_cumprod[t]", "abar = stage_1.scheduler.alphas[t]"),),
    ),
    # ---- iterative_denoise ------------------------------------------------------------------
    Variant(
        "iterative_denoise",
        "off-by-one-timesteps",
        "calls the UNet and add_variance at the next timestep (t') instead of the current t (off-by-one)",
        (
            (
                "iterative_denoise",
                "eps, predicted_variance = get_eps(image, t, prompt_embeds)",
                "eps, predicted_variance = get_eps(image, t_prev, prompt_embeds)",
            ),
            ("iterative_denoise", "add_variance(predicted_variance, t, ", "add_variance(predicted_variance, t_prev, "),
        ),
    ),
    Variant(
        "iterative_denoise",
        "missing-add-variance",
        NO_VARIANCE,
        (
            (
                "iterative_denoise",
                "image = add_variance(predicted_variance, t, ddpm_step(image, x0, t, t_prev))",
                "image = ddpm_step(image, x0, t, t_prev)",
            ),
        ),
    ),
    Variant(
        "iterative_denoise",
        "abar-for-alpha",
        "uses abar_t where the step needs alpha_t = abar_t / abar_t' (bars matter)",
        (("ddpm_step", "alpha = abar_t / abar_prev", "alpha = abar_t"),),
    ),
    Variant(
        "iterative_denoise",
        "coefficients-swapped",
        "the x0 and x_t coefficients of the DDPM step are swapped",
        (
            (
                "ddpm_step",
                "return (abar_prev.sqrt() * beta / (1 - abar_t)) * x0 + (alpha.sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t",
                "return (abar_prev.sqrt() * beta / (1 - abar_t)) * x_t + (alpha.sqrt() * (1 - abar_prev) / (1 - abar_t)) * x0",
            ),
        ),
    ),
    Variant(
        "iterative_denoise",
        "add-variance-prev-t",
        VARIANCE_PREV_T,
        (("iterative_denoise", "add_variance(predicted_variance, t, ", "add_variance(predicted_variance, t_prev, "),),
    ),
    Variant(
        "iterative_denoise",
        "variance-clamped",
        VARIANCE_CLAMPED,
        (
            (
                "iterative_denoise",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance.clamp(0, 1), t, ",
            ),
        ),
    ),
    # ---- iterative_denoise_cfg --------------------------------------------------------------
    Variant(
        "iterative_denoise_cfg",
        "cfg-reversed",
        "CFG is reversed: it should be eps_u + scale * (eps_c - eps_u)",
        (("cfg_eps", CFG_LINE, "eps_c + scale * (eps_u - eps_c), var_c"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "cfg-scale-ignored",
        "the scale argument is ignored (a fixed scale of 7 is used)",
        (("iterative_denoise_cfg", "uncond_prompt_embeds, scale)", "uncond_prompt_embeds, 7)"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "cfg-conditional-only",
        "the CFG scale has no effect: only the conditional noise estimate is used",
        (("cfg_eps", CFG_LINE, "eps_c, var_c"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "cfg-unconditional-variance",
        "passes the unconditional pass's variance to add_variance; use the conditional one",
        (
            (
                "cfg_eps",
                "eps_u, _ = get_eps(x, t, uncond_prompt_embeds)",
                "eps_u, var_c = get_eps(x, t, uncond_prompt_embeds)",
            ),
        ),
    ),
    Variant(
        "iterative_denoise_cfg",
        "missing-add-variance",
        NO_VARIANCE,
        (("iterative_denoise_cfg", STEP, "image = ddpm_step(image, x0, t, t_prev)"),),
    ),
    Variant(
        "iterative_denoise_cfg",
        "off-by-one-timesteps",
        "calls the UNet and add_variance at the next timestep (t') instead of the current t (off-by-one)",
        (
            ("iterative_denoise_cfg", "cfg_eps(image, t, ", "cfg_eps(image, t_prev, "),
            (
                "iterative_denoise_cfg",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance, t_prev, ",
            ),
        ),
    ),
    Variant(
        "iterative_denoise_cfg",
        "add-variance-prev-t",
        VARIANCE_PREV_T,
        (
            (
                "iterative_denoise_cfg",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance, t_prev, ",
            ),
        ),
    ),
    Variant(
        "iterative_denoise_cfg",
        "variance-clamped",
        VARIANCE_CLAMPED,
        (
            (
                "iterative_denoise_cfg",
                "add_variance(predicted_variance, t, ",
                "add_variance(predicted_variance.clamp(0, 1), t, ",
            ),
        ),
    ),
    # ---- sdedit -----------------------------------------------------------------------------
    Variant(
        "sdedit",
        "index-as-timestep",
        "noises the image to t = i_start instead of t = timesteps[i_start]",
        (("sdedit", "forward(im, timesteps[i_start])", "forward(im, i_start)"),),
    ),
    Variant(
        "sdedit",
        "not-noised",
        "starts denoising from the clean image: noise it first with forward(im, timesteps[i_start])",
        (("sdedit", "noisy = forward(im, timesteps[i_start])", "noisy = im"),),
    ),
    # ---- inpaint ----------------------------------------------------------------------------
    Variant(
        "inpaint",
        "renoise-before-step",
        "accepted: the original is re-noised to t before each step",
        (
            (
                "inpaint",
                """            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)""",
                """            image = mask * image + (1 - mask) * forward(original_image, t)
            eps, predicted_variance = cfg_eps(image, t, prompt_embeds, uncond_prompt_embeds, scale)""",
            ),
            ("inpaint", "            image = mask * image + (1 - mask) * forward(original_image, t_prev)\n", ""),
        ),
        accepted=True,
    ),
    Variant(
        "inpaint",
        "inverted-mask",
        "the mask is inverted: new content must go where mask == 1 and the original stay where mask == 0",
        (("inpaint", "mask * image + (1 - mask) * forward", "(1 - mask) * image + mask * forward"),),
    ),
    Variant(
        "inpaint",
        "clean-paste",
        "pastes the clean original: it must be noised to the current timestep with forward()",
        (("inpaint", "forward(original_image, t_prev)", "original_image"),),
    ),
    # Different from the accepted reading above: there the original is re-noised to t *before* the step, which
    # then takes the whole image to t'; here the step has already taken the image to t' when the original,
    # noised to t, is pasted in: the two regions end each step at different noise levels.
    Variant(
        "inpaint",
        "renoise-to-t-after-step",
        "after each step the original is re-noised to the current t, but the image is then at t': "
        "paste forward(original_image, t') (the next timestep), or re-noise to t before the step",
        (("inpaint", "forward(original_image, t_prev)", "forward(original_image, t)"),),
    ),
    # ---- visual_anagrams --------------------------------------------------------------------
    Variant(
        "visual_anagrams",
        "variance-prompt-2",
        "accepted: the variance of prompt 2 flipped back",
        (
            ("visual_anagrams", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            ("visual_anagrams", "add_variance(var_1, t,", "add_variance(torch.flip(var_2, dims=[-2]), t,"),
        ),
        accepted=True,
    ),
    Variant(
        "visual_anagrams",
        "variance-average",
        "accepted: the average of both variances",
        (
            ("visual_anagrams", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            (
                "visual_anagrams",
                "add_variance(var_1, t,",
                "add_variance((var_1 + torch.flip(var_2, dims=[-2])) / 2, t,",
            ),
        ),
        accepted=True,
    ),
    Variant(
        "visual_anagrams",
        "horizontal-flip",
        "flips horizontally (left-right); an anagram flips upside down (dims=[-2])",
        (
            ("visual_anagrams", "torch.flip(x, dims=[-2])", "torch.flip(x, dims=[-1])"),
            ("visual_anagrams", "torch.flip(eps_2, dims=[-2])", "torch.flip(eps_2, dims=[-1])"),
        ),
    ),
    Variant(
        "visual_anagrams",
        "eps-not-flipped-back",
        "the second noise estimate is not flipped back before averaging",
        (("visual_anagrams", "torch.flip(eps_2, dims=[-2])", "eps_2"),),
    ),
    Variant(
        "visual_anagrams",
        "input-not-flipped",
        "the second prompt sees the image right side up: flip x before the second UNet call",
        (("visual_anagrams", "cfg_eps(torch.flip(x, dims=[-2]), t,", "cfg_eps(x, t,"),),
    ),
    Variant(
        "visual_anagrams",
        "missing-add-variance",
        NO_VARIANCE,
        (
            (
                "visual_anagrams",
                "x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))",
                "x = ddpm_step(x, x0, t, t_prev)",
            ),
        ),
    ),
    Variant(
        "visual_anagrams",
        "unequal-weights",
        "the two estimates are weighted unequally (operator precedence?): average them with equal weights, "
        "(eps_1 + flip(eps_2)) / 2",
        (
            (
                "visual_anagrams",
                "eps = (eps_1 + torch.flip(eps_2, dims=[-2])) / 2",
                "eps = eps_1 + torch.flip(eps_2, dims=[-2]) / 2",
            ),
        ),
    ),
    Variant(
        "visual_anagrams",
        "summed-not-averaged",
        "the two estimates are added, not averaged: divide their sum by 2",
        (
            (
                "visual_anagrams",
                "eps = (eps_1 + torch.flip(eps_2, dims=[-2])) / 2",
                "eps = eps_1 + torch.flip(eps_2, dims=[-2])",
            ),
        ),
    ),
    # ---- make_hybrids -----------------------------------------------------------------------
    Variant(
        "make_hybrids",
        "variance-prompt-2",
        "accepted: the variance of prompt 2",
        (
            ("make_hybrids", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            ("make_hybrids", "add_variance(var_1, t,", "add_variance(var_2, t,"),
        ),
        accepted=True,
    ),
    Variant(
        "make_hybrids",
        "variance-average",
        "accepted: the average of both variances",
        (
            ("make_hybrids", "eps_2, _ = cfg_eps", "eps_2, var_2 = cfg_eps"),
            ("make_hybrids", "add_variance(var_1, t,", "add_variance((var_1 + var_2) / 2, t,"),
        ),
        accepted=True,
    ),
    Variant(
        "make_hybrids",
        "low-high-swapped",
        "low and high frequencies are swapped: low-pass prompt 1, high-pass prompt 2",
        (
            ("make_hybrids", "low = TF.gaussian_blur(eps_1,", "low = TF.gaussian_blur(eps_2,"),
            ("make_hybrids", "high = eps_2 - TF.gaussian_blur(eps_2,", "high = eps_1 - TF.gaussian_blur(eps_1,"),
        ),
    ),
    Variant(
        "make_hybrids",
        "highpass-not-subtracted",
        "the high-pass is not the estimate minus its blur",
        (("make_hybrids", "high = eps_2 - TF.gaussian_blur(eps_2, kernel_size=33, sigma=2)", "high = eps_2"),),
    ),
    Variant(
        "make_hybrids",
        "missing-add-variance",
        NO_VARIANCE,
        (
            (
                "make_hybrids",
                "x = add_variance(var_1, t, ddpm_step(x, x0, t, t_prev))",
                "x = ddpm_step(x, x0, t, t_prev)",
            ),
        ),
    ),
    Variant(
        "make_hybrids",
        "unequal-weights",
        "the two estimates are weighted unequally: the noise estimate is lowpass(eps_1) + highpass(eps_2), "
        "both with weight 1",
        (("make_hybrids", "eps = low + high", "eps = low + 0.5 * high"),),
    ),
    Variant(
        "make_hybrids",
        "averaged",
        "the low- and high-pass estimates are averaged; the noise estimate is their sum, lowpass(eps_1) + "
        "highpass(eps_2)",
        (("make_hybrids", "eps = low + high", "eps = (low + high) / 2"),),
    ),
]
