"""Readings the spec allows and mistakes students make, for proj5b.

Only names whose outputs are deterministic on the fixtures are catalogued here
(the sampler, add_noise, the conditioning wiring of the UNets); structural
mistakes of the modules and the random parts of training are diagnosed by the
checks themselves from what the helpers observe.
"""

from grader.judging.catalogue import Variant

LOOP = "for t in range(num_ts - 1, -1, -1):\n"
ONE_BASED = "for s in range(num_ts, 0, -1):\n        t = s - 1\n"
STEP_NOISE = "    if t > 0:\n        return mean + betas[t].sqrt() * torch.randn_like(x_t)\n    return mean"
CFG = "eps_hat = eps_u + guidance_scale * (eps_c - eps_u)"


def _sampler_variants(api: str, n: str) -> list:
    """Readings and mistakes shared by ddpm_sample (n = num_samples) and ddpm_sample_class (n = n)."""
    t_norm = f"t_norm = torch.full(({n}, 1), t / num_ts, device=device)"
    return [
        Variant(
            api,
            "one-based",
            "accepted: t runs T..1, alpha_bars[t - 1], the UNet sees t / T",
            (
                (
                    api,
                    LOOP + f"        {t_norm}",
                    ONE_BASED + f"        t_norm = torch.full(({n}, 1), s / num_ts, device=device)",
                ),
            ),
            accepted=True,
        ),
        Variant(
            api,
            "posterior-variance",
            "accepted: the posterior variance beta_tilde for the added noise",
            (
                (
                    "_ddpm_step",
                    "return mean + betas[t].sqrt() * torch.randn_like(x_t)",
                    "return mean + ((1 - abar_prev) / (1 - abar_t) * betas[t]).sqrt() * torch.randn_like(x_t)",
                ),
            ),
            accepted=True,
        ),
        Variant(
            api,
            "noise-at-last-step",
            "adds noise at the last step too: the final step (t = 0, or t = 1 counting from 1) must add no noise",
            (("_ddpm_step", STEP_NOISE, "    return mean + betas[t].sqrt() * torch.randn_like(x_t)"),),
        ),
        Variant(
            api,
            "skipped-t0",
            "stops before the last step: the loop must include t = 0 (or t = 1 counting from 1)",
            ((api, LOOP, "for t in range(num_ts - 1, 0, -1):\n"),),
        ),
        Variant(
            api,
            "unnormalised-t",
            "passes the raw timestep to the UNet: t must be normalised to [0, 1] (t / num_ts)",
            ((api, t_norm, f"t_norm = torch.full(({n}, 1), float(t), device=device)"),),
        ),
        Variant(
            api,
            "alphas-for-alpha-bars",
            "the clean-image estimate uses alphas where alpha_bars (the cumulative products) are needed",
            ((api, "abar_t = alpha_bars[t]", "abar_t = alphas[t]"),),
        ),
        Variant(
            api,
            "noise-beta-not-sqrt",
            "scales the added noise by beta_t instead of sqrt(beta_t)",
            (
                (
                    "_ddpm_step",
                    "return mean + betas[t].sqrt() * torch.randn_like(x_t)",
                    "return mean + betas[t] * torch.randn_like(x_t)",
                ),
            ),
        ),
    ]


#: DownConv with the course figure's values: Conv2d(k3, s2, p1) halves 28 -> 14 -> 7 as k4 s2 p1 does (the contract
#: accepts both). Every module probe that builds a DownConv from the student's class holds this reading too.
DOWNCONV_K3 = (
    (
        "DownConv",
        "nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)",
        "nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1)",
    ),
)
DOWNCONV_USERS = ("DownConv", "DownBlock", "UnconditionalUNet", "TimeConditionalUNet", "ClassConditionalUNet")

VARIANTS = [
    # ---- DownConv k3 (the course figure) or k4 --------------------------------------------------------
    *[
        Variant(
            api,
            "downconv-k3",
            "accepted: DownConv with Conv2d(k3, s2, p1), the course figure's values (k4 s2 p1 is the other reading)",
            DOWNCONV_K3,
            accepted=True,
        )
        for api in DOWNCONV_USERS
    ],
    # ---- add_noise ------------------------------------------------------------------------------
    Variant(
        "add_noise",
        "sigma-squared",
        "scales the noise by sigma ** 2; z = x + sigma * eps",
        (("add_noise", "x + sigma * torch.randn_like(x)", "x + sigma ** 2 * torch.randn_like(x)"),),
    ),
    Variant(
        "add_noise",
        "noise-unscaled",
        "adds unit noise: scale it by sigma (z = x + sigma * eps)",
        (("add_noise", "x + sigma * torch.randn_like(x)", "x + torch.randn_like(x)"),),
    ),
    Variant(
        "add_noise",
        "sigma-ignored",
        "ignores the sigma argument (a fixed sigma of 0.5 is used)",
        (("add_noise", "x + sigma * torch.randn_like(x)", "x + 0.5 * torch.randn_like(x)"),),
    ),
    Variant(
        "add_noise",
        "clamped",
        "clamps the noisy image to [0, 1]; z = x + sigma * eps is not clamped",
        (("add_noise", "x + sigma * torch.randn_like(x)", "(x + sigma * torch.randn_like(x)).clamp(0, 1)"),),
    ),
    # ---- TimeConditionalUNet ----------------------------------------------------------------------
    Variant(
        "TimeConditionalUNet",
        "t2-added-to-up2",
        "t2 is added in the wrong place: it modulates the output of the first UpBlock (up1 = up1 + t2)",
        (
            (
                "TimeConditionalUNet",
                "up1 = up1 + t2\n        up2 = self.up2(torch.cat([e2, up1], dim=1))",
                "up2 = self.up2(torch.cat([e2, up1], dim=1)) + t2",
            ),
        ),
    ),
    Variant(
        "TimeConditionalUNet",
        "t1-not-added",
        "t1 never reaches the network: the unflattened bottleneck must be unflatten + t1",
        (("TimeConditionalUNet", "unflatten = unflatten + t1", "unflatten = unflatten"),),
    ),
    Variant(
        "TimeConditionalUNet",
        "t2-not-added",
        "t2 never reaches the network: the first UpBlock's output must be up1 + t2",
        (("TimeConditionalUNet", "up1 = up1 + t2", "up1 = up1"),),
    ),
    # ---- ClassConditionalUNet ---------------------------------------------------------------------
    Variant(
        "ClassConditionalUNet",
        "mask-inverted",
        "the mask is inverted: the class must be dropped where mask == 0 and kept where mask == 1",
        (("ClassConditionalUNet", "c_vec = c_vec * _as_column(mask, x)", "c_vec = c_vec * (1 - _as_column(mask, x))"),),
    ),
    Variant(
        "ClassConditionalUNet",
        "mask-ignored",
        "the mask is ignored: where mask == 0 the one-hot class vector must be zeroed",
        (("ClassConditionalUNet", "c_vec = c_vec * _as_column(mask, x)", "c_vec = c_vec"),),
    ),
    Variant(
        "ClassConditionalUNet",
        "c-added",
        "the class embedding is added; it must scale the features: c1 * unflatten + t1, c2 * up1 + t2",
        (
            ("ClassConditionalUNet", "unflatten = c1 * unflatten + t1", "unflatten = c1 + unflatten + t1"),
            ("ClassConditionalUNet", "up1 = c2 * up1 + t2", "up1 = c2 + up1 + t2"),
        ),
    ),
    Variant(
        "ClassConditionalUNet",
        "t-and-c-swapped",
        "t and c play each other's part: c1 * unflatten + t1 (c scales, t shifts)",
        (
            ("ClassConditionalUNet", "unflatten = c1 * unflatten + t1", "unflatten = t1 * unflatten + c1"),
            ("ClassConditionalUNet", "up1 = c2 * up1 + t2", "up1 = t2 * up1 + c2"),
        ),
    ),
    # ---- ddpm_sample --------------------------------------------------------------------------------
    *_sampler_variants("ddpm_sample", "num_samples"),
    # ---- ddpm_sample_class --------------------------------------------------------------------------
    *_sampler_variants("ddpm_sample_class", "n"),
    Variant(
        "ddpm_sample_class",
        "cfg-reversed",
        "CFG is reversed (or the conditional and unconditional passes are swapped): eps_u + g * (eps_c - eps_u)",
        (("ddpm_sample_class", CFG, "eps_hat = eps_c + guidance_scale * (eps_u - eps_c)"),),
    ),
    Variant(
        "ddpm_sample_class",
        "cfg-scale-ignored",
        "the guidance_scale argument is ignored (a fixed scale of 5 is used)",
        (("ddpm_sample_class", CFG, "eps_hat = eps_u + 5.0 * (eps_c - eps_u)"),),
    ),
    Variant(
        "ddpm_sample_class",
        "cfg-conditional-only",
        "no classifier-free guidance: only the conditional noise estimate is used (eps_u + g * (eps_c - eps_u))",
        (("ddpm_sample_class", CFG, "eps_hat = eps_c"),),
    ),
    Variant(
        "ddpm_sample_class",
        "cfg-unconditional-only",
        "only the unconditional estimate is used: the class is dropped in both passes",
        (("ddpm_sample_class", CFG, "eps_hat = eps_u"),),
    ),
]
