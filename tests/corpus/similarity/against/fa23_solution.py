#!/usr/bin/env python
# Exported from a solution notebook of an earlier term.

# %%
def forward(im, t):
    a = alphas_cumprod[t]
    return a.sqrt() * im + (1 - a).sqrt() * torch.randn_like(im)

# %%
def get_eps(x, t, prompt_embeds):
    model_out = stage_1.unet(x, t, encoder_hidden_states=prompt_embeds, return_dict=False)[0]
    return model_out[:, :3], model_out[:, 3:]


def one_step_denoise(im_noisy, t, prompt_embeds):
    a = alphas_cumprod[t]
    with torch.no_grad():
        noise, _ = get_eps(im_noisy, t, prompt_embeds)
    return (im_noisy - (1 - a).sqrt() * noise) / a.sqrt()

# %%
strided_timesteps = list(range(990, -1, -30))
stage_1.scheduler.set_timesteps(timesteps=strided_timesteps)

# %%
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

# %%
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

# %%
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
