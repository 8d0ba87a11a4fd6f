"""Part A: sampling and editing with a pretrained text-to-image model (DeepFloyd IF stage I, 64x64)."""

from grader.course import Spec

SPEC = Spec(
    name="proj5a",
    title="Part A: diffusion sampling with a pretrained model",
    provided=frozenset({"stage_1", "alphas_cumprod", "add_variance", "prompt_embeds_dict", "device"}),
    recognised_by=("def forward", "def iterative_denoise", "def visual_anagrams", "def inpaint"),
    probe_timeout=30.0,
    student_kit=True,
    error_hints=(
        ("(6)", "the UNet output has 6 channels: the first 3 are the noise estimate, the last 3 the variance"),
    ),
    doubled_channels_hint="the UNet output has 6 channels: the first 3 are the noise estimate, "
    "the last 3 the predicted variance",
    searched=(
        "forward",
        "blur_denoise",
        "one_step_denoise",
        "iterative_denoise",
        "iterative_denoise_cfg",
        "sdedit",
        "inpaint",
        "visual_anagrams",
        "make_hybrids",
    ),
)
