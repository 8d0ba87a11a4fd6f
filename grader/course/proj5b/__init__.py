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
)
