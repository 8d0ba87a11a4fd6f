"""Interface variants of Part A that are graded, not refused (worker side; see grader.worker.adapters).

Beside the catalogue's accepted readings of the maths, these are accepted ways of writing the
same logic: other names the course's materials and students use for a graded function, the two
prompts of an anagram or a hybrid passed as one list, a sampler that returns its image with
something else (``(image, intermediates)``), an anagram or a hybrid that takes the unconditional embedding
as a pair, one per prompt. Each is named in the results when it is used.
"""

from grader.worker.adapters import Interface, pack, pair_arg

PROMPT_PAIR = pack(2, ("prompt_embeds_1", "prompt_embeds_2"))
#: uncond_prompt_embeds=(u1, u2), one per prompt (issue 20): the same parameters, so tried when the call raises
UNCOND_PAIR = pair_arg(4, "uncond_prompt_embeds", "the unconditional embedding")

INTERFACES = {
    "forward": Interface(aliases=("forward_process", "noise_image")),
    "blur_denoise": Interface(aliases=("gaussian_blur_denoise", "classical_denoise", "blur_denoising")),
    "one_step_denoise": Interface(aliases=("one_step_denoising", "onestep_denoise", "denoise_one_step")),
    "iterative_denoise": Interface(aliases=("iterative_denoising",), tuple_result=True),
    "iterative_denoise_cfg": Interface(
        aliases=("iterative_denoise_with_cfg", "cfg_iterative_denoise", "iterative_denoise_CFG"), tuple_result=True
    ),
    "sdedit": Interface(aliases=("SDEdit", "sd_edit"), tuple_result=True),
    "inpaint": Interface(aliases=("inpainting", "repaint"), tuple_result=True),
    "visual_anagrams": Interface(
        aliases=(
            "make_flip_illusion",
            "flip_illusion",
            "visual_anagram",
            "make_visual_anagram",
            "make_visual_anagrams",
            "make_anagram",
        ),
        forms=(PROMPT_PAIR, UNCOND_PAIR),
        tuple_result=True,
    ),
    "make_hybrids": Interface(
        aliases=("make_hybrid", "make_hybrid_image", "make_hybrid_images", "hybrid_images", "hybrid_image"),
        forms=(PROMPT_PAIR, UNCOND_PAIR),
        tuple_result=True,
    ),
}
