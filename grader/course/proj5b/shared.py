"""What several topics of Part B (and its judging) share: how a probe's calls are laid out, the keys of what
the instruments record, the training settings, the samplers' catalogue entries.

Modules are built and run by grader-side helpers (``Standin("module_*")``, in this folder's
standins.py) with deterministic weights keyed by layer
signature, so the reference's outputs are the student's outputs exactly when the
architectures agree. Each module probe runs the student's class as written
("own" calls) and again with the reference versions of the building blocks
bound in their place ("rebound" calls): a wrong ``Conv`` is charged to ``Conv``,
not to every block and UNet built from it.

Functions get grader-made arguments: the reference schedule, recording probe
UNets, the analytic MNIST denoisers, a tiny trainable net. What a helper
observes is read back with ``Standin("stash_get")`` in later calls of the probe.
Training calls rebind ``add_noise`` / ``ddpm_forward`` / ``ddpm_forward_class``
to the reference versions for the same reason.
"""

from grader.judging.catalogue import Variant
from grader.probing import Standin, Student, Support, call, probe

BLOCK_NAMES = ("Conv", "DownConv", "UpConv", "Flatten", "Unflatten", "ConvBlock", "DownBlock", "UpBlock", "FCBlock")
REBIND_ALL = {name: Support(f"Ref{name}") for name in BLOCK_NAMES}


def ns(name):
    return Student(name)


def stash(key, label, name=None, stored=True):
    return call(Standin("stash_get"), key, label=label, name=name, stored=stored)


# ---- modules ------------------------------------------------------------------------------

#: name -> (constructor args, input shape, conditioning, names rebound to the reference in "rebound" calls)
MODULES = {
    "Conv": ([3, 5], [4, 3, 28, 28], None, ()),
    "DownConv": ([3, 5], [4, 3, 28, 28], None, ()),
    "UpConv": ([5, 3], [4, 5, 14, 14], None, ()),
    "Flatten": ([], [4, 6, 7, 7], None, ()),
    "Unflatten": ([6], [4, 6, 1, 1], None, ()),
    "ConvBlock": ([3, 5], [4, 3, 28, 28], None, ("Conv",)),
    "DownBlock": ([3, 5], [4, 3, 28, 28], None, ("Conv", "DownConv", "ConvBlock")),
    "UpBlock": ([5, 3], [4, 5, 14, 14], None, ("Conv", "UpConv", "ConvBlock")),
    "FCBlock": ([3, 5], [4, 3], None, ()),
    "UnconditionalUNet": ([1, 8], [4, 1, 28, 28], None, BLOCK_NAMES),
    "TimeConditionalUNet": ([1, 10, 8], [4, 1, 28, 28], "time", BLOCK_NAMES),
    "ClassConditionalUNet": ([1, 10, 8], [4, 1, 28, 28], "class", BLOCK_NAMES),
}
UNETS = ("UnconditionalUNet", "TimeConditionalUNet", "ClassConditionalUNet")

#: Call offsets inside one group (own or rebound) of a module probe.
OUT_EVAL, OUT_TRAIN, TRACE, PARAMS, PARAMS_16, OUT_D4 = range(6)


def _with_d(args, d):
    return args[:-1] + [d]


def _module_calls(name, rebind):
    args, shape, cond, _ = MODULES[name]
    kw = {"label": name}
    calls = [
        call(Standin("module_output"), ns(name), args, shape, cond, "eval", rebind=rebind, **kw),
        call(Standin("module_output"), ns(name), args, shape, cond, "train", **kw),
        call(Standin("module_trace"), ns(name), args, shape, cond, **kw),
        call(Standin("module_params"), ns(name), args, **kw),
    ]
    if name in UNETS:
        calls += [
            call(Standin("module_params"), ns(name), _with_d(args, 16), **kw),
            call(Standin("module_output"), ns(name), _with_d(args, 4), shape, cond, "eval", **kw),
        ]
    return calls


def group_size(name):
    return 6 if name in UNETS else 4


def module_probe(name):
    rebound = MODULES[name][3]
    calls = _module_calls(name, None)
    if rebound:  # after the own calls: a rebind stays in force for the rest of the probe
        calls += _module_calls(name, {n: REBIND_ALL[n] for n in rebound if n != name})
    return probe(name, *calls, cost_ms=400 if name.endswith("UNet") else 80)  # a UNet: 12 builds and up to 44 forwards


# ---- ddpm_forward, ddpm_forward_class ---------------------------------------------------------

FORWARD_KEYS = ("t", "x", "x0", "eps0", "calls")  # the probe UNet's output is 0.5 * x + 0.1


def forward_run(name, helper, seed, **kwargs):
    """A run of a DDPM objective with the recording probe UNet, then what it recorded (FORWARD_KEYS)."""
    return [call(Standin(helper), ns(name), seed=seed, no_grad=False, label=name, **kwargs)] + [
        stash(k, name) for k in FORWARD_KEYS
    ]


# ---- samplers ---------------------------------------------------------------------------------

SAMPLE_KEYS = ("traj", "t_calls", "batch_calls", "dropped_calls")
#: What the sampler-step check reads: only the submission's own records are judged (grading side, in
#: judging.sampler_step_problem), so the fixtures keep none of them.
STEP_STASH = ("steps", "draws")


def step_stash(api, suffix=""):
    return [stash(k, f"{api} (its update steps)", name=k + suffix, stored=False) for k in STEP_STASH]


# ---- training ----------------------------------------------------------------------------------

STEP_KEYS = ("step_before", "step_after", "step_grad", "step_fresh", "step_hyper", "step_live", "step_sizes")
TRAIN_KEYS = (
    ("lrs", "adam", "covers", "changed", "n_fwd", "n_batches", "ret_none", "loop")
    + STEP_KEYS
    + ("fwd_x", "fwd_out", "clean", "fwd_t")
)
#: How many of TRAIN_KEYS every kind of training run stashes: all but the denoiser's t.
TRAIN_COMMON = len(TRAIN_KEYS) - 1
TRAIN_EPOCHS = 3
TRAIN_LR = 1e-2


def train_probe(name, kind, seed, rebind, **kwargs):
    keys = TRAIN_KEYS[:TRAIN_COMMON] if kind == "denoiser" else TRAIN_KEYS
    return probe(
        name,
        *[
            call(
                Standin("run_train"),
                ns(name),
                kind,
                seed=seed,
                no_grad=False,
                label=name,
                rebind=rebind,
                num_epochs=TRAIN_EPOCHS,
                lr=TRAIN_LR,
                **kwargs,
            )
        ]
        + [stash(k, name) for k in keys],
        cost_ms=200,
    )


#: The noise level the spec trains the single-step denoiser at: what a top-level training loop must use.
LOOP_SIGMA = 0.5

# ---- the samplers' readings and mistakes (ddpm_sample and ddpm_sample_class share them) ----------------------

LOOP = "for t in range(num_ts - 1, -1, -1):\n"
ONE_BASED = "for s in range(num_ts, 0, -1):\n        t = s - 1\n"
STEP_NOISE = "    if t > 0:\n        return mean + betas[t].sqrt() * torch.randn_like(x_t)\n    return mean"


def sampler_variants(api: str, n: str) -> list:
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
