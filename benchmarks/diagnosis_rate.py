"""How often does a failing check name the mistake a single-mistake notebook really has?

    python benchmarks/diagnosis_rate.py [--assignment proj5a] [--jobs 2] [--corpus DIR] [-v]

Grades every ``kind == "mistake"`` notebook of ``tests/corpus/<assignment>/manifest.json`` and
counts it as *diagnosed* when a failed check of the broken name says the phrase listed for it in
``NAMES`` below (a phrase only the right diagnosis contains: the catalogued mistake's message, the
check's own named cause, or the single edit of the reference that the search names). A notebook
missing from ``NAMES`` falls back to its manifest's ``expect_in_message``. Prints one line per
notebook, the rate per assignment, and the rate on the mistakes the catalogue does not list
(``UNCATALOGUED``: only the search of single edits, grader/judging/mutations.py, can name them).

To measure an older grader on the same notebooks, run this file from that grader's checkout with
``--corpus`` pointing here: ``cd /tmp/old && python3 /path/benchmarks/diagnosis_rate.py --corpus
/path/tests/corpus`` (the grader imported is the one in the current directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: assignment/file -> a phrase that only the right diagnosis contains (case-insensitive).
NAMES = {
    # ---- proj5a ----
    "proj5a/mistake_forward_alphas.ipynb": "uses alphas (1 - beta_t)",
    "proj5a/mistake_forward_missing_sqrt.ipynb": "missing sqrt",
    "proj5a/mistake_forward_noise_unscaled.ipynb": "without scaling it by sqrt(1 - abar_t)",
    "proj5a/mistake_one_step_missing_sqrt.ipynb": "missing sqrt",
    "proj5a/mistake_blur_sigma_kernel_swapped.ipynb": "look swapped",
    "proj5a/mistake_strided_missing_zero.ipynb": "it ends at",
    "proj5a/mistake_iterative_off_by_one.ipynb": "off-by-one",
    "proj5a/mistake_iterative_no_variance.ipynb": "never calls add_variance",
    "proj5a/mistake_iterative_abar_for_alpha.ipynb": "alpha_t = abar_t / abar_t'",
    "proj5a/mistake_cfg_reversed.ipynb": "cfg is reversed",
    "proj5a/mistake_cfg_scale_ignored.ipynb": "scale argument is ignored",
    "proj5a/mistake_cfg_uncond_variance.ipynb": "unconditional pass's variance",
    "proj5a/mistake_cfg_no_variance.ipynb": "never calls add_variance",
    "proj5a/mistake_sdedit_index_as_timestep.ipynb": "instead of t = timesteps[i_start]",
    "proj5a/mistake_inpaint_inverted_mask.ipynb": "mask is inverted",
    "proj5a/mistake_inpaint_clean_paste.ipynb": "pastes the clean original",
    "proj5a/mistake_anagram_horizontal_flip.ipynb": "flips horizontally",
    "proj5a/mistake_anagram_not_flipped_back.ipynb": "not flipped back",
    "proj5a/mistake_hybrid_low_high_swapped.ipynb": "frequencies are swapped",
    "proj5a/mistake_iterative_variance_prev_t.ipynb": "add_variance is called with t'",
    "proj5a/mistake_cfg_variance_prev_t.ipynb": "add_variance is called with t'",
    "proj5a/mistake_iterative_variance_clamped.ipynb": "predicted variance is clamped",
    "proj5a/mistake_inpaint_renoise_to_t.ipynb": "re-noised to the current t",
    "proj5a/mistake_anagram_no_variance.ipynb": "never calls add_variance",
    "proj5a/mistake_hybrid_no_variance.ipynb": "never calls add_variance",
    "proj5a/mistake_anagram_unequal_weights.ipynb": "weighted unequally",
    "proj5a/mistake_hybrid_unequal_weights.ipynb": "weighted unequally",
    "proj5a/mistake_iterative_two_mistakes.ipynb": "two mistakes together",
    # ---- proj5b ----
    "proj5b/mistake_conv_padding0.ipynb": "padding=0",
    "proj5b/mistake_downconv_kernel2.ipynb": "kernel_size=2",
    "proj5b/mistake_upconv_relu.ipynb": "relu where gelu",
    "proj5b/mistake_flatten_maxpool.ipynb": "maxpool2d",
    "proj5b/mistake_unflatten_no_batchnorm.ipynb": "no batchnorm2d",
    "proj5b/mistake_convblock_single_conv.ipynb": "1 convolution(s) where 2",
    "proj5b/mistake_downblock_order.ipynb": "wrong order",
    "proj5b/mistake_upblock_no_convblock.ipynb": "convolution(s) where",
    "proj5b/mistake_fcblock_no_gelu.ipynb": "no gelu",
    "proj5b/mistake_unet_missing_skip.ipynb": "skip connection is missing",
    "proj5b/mistake_time_t2_on_up2.ipynb": "t2 is added in the wrong place",
    "proj5b/mistake_class_mask_inverted.ipynb": "mask is inverted",
    "proj5b/mistake_class_c_added.ipynb": "class embedding is added",
    "proj5b/mistake_add_noise_sigma_squared.ipynb": "sigma ** 2",
    "proj5b/mistake_train_denoiser_noisy_target.ipynb": "compares the output with the noisy input",
    "proj5b/mistake_train_denoiser_no_step.ipynb": "never calls optimizer.step()",
    "proj5b/mistake_schedule_no_cumprod.ipynb": "cumulative product",
    "proj5b/mistake_forward_unnormalised_t.ipynb": "t is not normalised",
    "proj5b/mistake_forward_alphas.ipynb": "uses alphas where alpha_bars",
    "proj5b/mistake_forward_loss_x0.ipynb": "compares the unet output with x_0",
    "proj5b/mistake_sample_noise_last_step.ipynb": "adds noise at the last step",
    "proj5b/mistake_sample_skips_t0.ipynb": "the last step is skipped",
    "proj5b/mistake_sample_unnormalised_t.ipynb": "t is not normalised",
    "proj5b/mistake_train_time_scheduler_every_iteration.ipynb": "stepped every iteration",
    "proj5b/mistake_train_time_gamma.ipynb": "expected exponentiallr gamma",
    "proj5b/mistake_forward_class_no_dropout.ipynb": "never drops the class",
    "proj5b/mistake_forward_class_mask_inverted.ipynb": "the mask is inverted",
    "proj5b/mistake_sample_class_cfg_reversed.ipynb": "cfg is reversed",
    "proj5b/mistake_sample_class_scale_ignored.ipynb": "guidance_scale argument is ignored",
    "proj5b/mistake_train_class_sgd.ipynb": "does not use torch.optim.adam",
    "proj5b/mistake_train_denoiser_adam_betas.ipynb": "betas",
    "proj5b/mistake_train_time_weight_decay.ipynb": "weight_decay",
    "proj5b/mistake_train_class_no_zero_grad.ipynb": "zero_grad",
    "proj5b/mistake_train_denoiser_scheduler_per_batch.ipynb": "learning rate changes",
    "proj5b/mistake_sample_inv_sqrt_abar.ipynb": "1/sqrt(alpha_bar_t)",
    "proj5b/mistake_sample_class_xt_coefficient.ipynb": "x_t is multiplied by",
    "proj5b/mistake_sample_eps_coefficient.ipynb": "coefficient of the noise estimate",
    "proj5b/mistake_flatten_returns_nc.ipynb": "returned shape",
}


#: Single-mistake notebooks written after the search of single edits of the reference (grader.judging.mutations), for
#: mistakes the catalogue does not list (issue 20): only the search can name them. Phrase: the edit it should name.
UNCATALOGUED = {
    "proj5a/mistake_forward_t_minus_one.ipynb": "`alphas_cumprod[t]` replaced by `alphas_cumprod[t - 1]`",
    "proj5a/mistake_forward_noise_subtracted.ipynb": "replaced by `abar.sqrt() * im - (1 - abar).sqrt() * noise`",
    "proj5a/mistake_forward_noise_sqrt_missing.ipynb": "`(1 - abar).sqrt()` replaced by `1 - abar`",
    "proj5a/mistake_one_step_variance_as_noise.ipynb": "`out[:, :3]` replaced by `out[:, 3:]`",
    "proj5a/mistake_one_step_divides_by_abar.ipynb": "`abar.sqrt()` replaced by `abar`",
    "proj5a/mistake_one_step_adds_noise.ipynb": "replaced by `im_noisy + (1 - abar).sqrt() * eps`",
    "proj5a/mistake_iterative_stops_early.ipynb": "replaced by `range(i_start, len(timesteps) - 2)`",
    "proj5a/mistake_iterative_x0_coefficient_abar_t.ipynb": "`abar_prev` (occurrence 1 of 2) replaced by `abar_t`",
    "proj5a/mistake_iterative_xt_coefficient_no_sqrt.ipynb": "`alpha.sqrt()` replaced by `alpha`",
    "proj5a/mistake_iterative_beta_from_abar.ipynb": "`alpha` replaced by `abar_t` in line 5 of ddpm_step",
    "proj5a/mistake_cfg_guides_from_conditional.ipynb": "`eps_u` (occurrence 1 of 2) replaced by `eps_c`",
    "proj5a/mistake_cfg_unet_at_next_t.ipynb": "`t` replaced by `t_prev` in line 6 of iterative_denoise_cfg",
    "proj5a/mistake_cfg_x0_not_rescaled.ipynb": "replaced by `image - (1 - abar_t).sqrt() * eps`",
    "proj5a/mistake_sdedit_prompts_swapped.ipynb": "replaced by `iterative_denoise_cfg(noisy, i_start, uncond_prompt_embeds",
    "proj5a/mistake_sdedit_scale_not_passed.ipynb": "`scale` replaced by `7`",
    "proj5a/mistake_inpaint_never_pastes.ipynb": "without the statement `image = mask * image",
    "proj5a/mistake_inpaint_unconditional_twice.ipynb": "`prompt_embeds` replaced by `uncond_prompt_embeds`",
    "proj5a/mistake_anagram_first_prompt_twice.ipynb": "`prompt_embeds_2` replaced by `prompt_embeds_1`",
    "proj5a/mistake_anagram_x0_from_first_estimate.ipynb": "`eps` replaced by `eps_1`",
    "proj5a/mistake_hybrid_highpass_blurs_first.ipynb": "`eps_2` (occurrence 2 of 2) replaced by `eps_1`",
}
NAMES.update(UNCATALOGUED)


def phrase(assignment: str, entry: dict) -> str:
    return (NAMES.get(f"{assignment}/{entry['file']}") or entry.get("expect_in_message") or "").lower()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assignment", action="append", help="proj5a, proj5b (default: both)")
    ap.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true", help="print the messages of undiagnosed notebooks")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    from grader.batch.command import grade_many

    total_hit = total = 0
    for assignment in args.assignment or ["proj5a", "proj5b"]:
        entries = [
            e for e in json.loads((args.corpus / assignment / "manifest.json").read_text()) if e["kind"] == "mistake"
        ]
        paths = {str(args.corpus / assignment / e["file"]): e for e in entries}
        hits = searched_hits = searched = 0
        for path, grade in sorted(grade_many(list(paths), assignment, jobs=args.jobs), key=lambda pg: str(pg[0])):
            entry = paths[str(path)]
            failed = [c.message for c in grade.checks if not c.passed and c.api == entry["api"]]
            text = " | ".join(failed).lower()
            ok = bool(failed) and phrase(assignment, entry) in text
            hits += ok
            if f"{assignment}/{entry['file']}" in UNCATALOGUED:
                searched, searched_hits = searched + 1, searched_hits + ok
            print(f"{'named ' if ok else 'MISSED'} {assignment}/{entry['file']}")
            if not ok and args.verbose:
                print(f"         {text[:600] or '(no failed check in ' + str(entry['api']) + ')'}")
        print(
            f"{assignment}: {hits}/{len(entries)} single-mistake notebooks named "
            f"({100 * hits / max(1, len(entries)):.0f}%)"
        )
        if searched:
            print(
                f"{assignment}: of which mistakes the catalogue does not list, named by the search of single edits: "
                f"{searched_hits}/{searched} ({100 * searched_hits / searched:.0f}%)"
            )
        total_hit, total = total_hit + hits, total + len(entries)
    print(f"all: {total_hit}/{total} ({100 * total_hit / max(1, total):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
