"""Part B: a UNet trained as a denoiser and a diffusion model on MNIST."""

from grader.course import Spec

SPEC = Spec(
    name="proj5b",
    title="Part B: training a diffusion UNet on MNIST",
    provided=frozenset({"device"}),
    recognised_by=("class UnconditionalUNet", "def ddpm_schedule", "class DownBlock", "def add_noise"),
    probe_timeout=30.0,
    student_kit=True,
    training_functions={
        "train_class_conditioned": ("ClassConditionalUNet",),
        "train_time_conditioned": ("TimeConditionalUNet",),
        "train_denoiser": ("UnconditionalUNet",),
    },
    # The order Part B declared its probes and catalogue in before it had topic modules (which gather in file
    # order), kept for what lists them: similarity's units, the report's images, the fixture build's log.
    order=(
        *("Conv", "DownConv", "UpConv", "Flatten", "Unflatten", "ConvBlock", "DownBlock", "UpBlock", "FCBlock"),
        *("UnconditionalUNet", "TimeConditionalUNet", "ClassConditionalUNet"),
        *("add_noise", "ddpm_schedule", "ddpm_forward", "ddpm_forward_class"),
        *("ddpm_sample", "ddpm_sample_fallback", "ddpm_sample_class", "ddpm_sample_class_fallback"),
        *(
            f"{api}/downconv-k3"
            for api in ("DownConv", "DownBlock", "UnconditionalUNet", "TimeConditionalUNet", "ClassConditionalUNet")
        ),
        *(f"add_noise/{mistake}" for mistake in ("sigma-squared", "noise-unscaled", "sigma-ignored", "clamped")),
    ),
)
