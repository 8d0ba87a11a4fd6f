"""What the proj5b checks run in the worker.

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

from grader.probing import Input, Standin, Student, Support, call, probe

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
    return probe(name, *calls)


PROBES = {name: module_probe(name) for name in MODULES}

# ---- add_noise, ddpm_schedule ---------------------------------------------------------------

PX = Input("probe_x")
PROBES["add_noise"] = probe(
    "add_noise",
    call("add_noise", PX, 0.5, seed=11, name="sigma0.5"),
    call("add_noise", PX, 0.2, seed=12, name="sigma0.2"),
)
PROBES["ddpm_schedule"] = probe(
    "ddpm_schedule",
    call(Standin("run_schedule"), ns("ddpm_schedule"), 1e-4, 0.02, 300, label="ddpm_schedule"),
    call(Standin("run_schedule"), ns("ddpm_schedule"), 1e-3, 0.05, 50, label="ddpm_schedule"),
)

# ---- ddpm_forward, ddpm_forward_class ---------------------------------------------------------

FORWARD_KEYS = ("t", "x", "x0", "eps0", "calls")  # the probe UNet's output is 0.5 * x + 0.1


def _forward_run(name, helper, seed, **kwargs):
    return [call(Standin(helper), ns(name), seed=seed, no_grad=False, label=name, **kwargs)] + [
        stash(k, name) for k in FORWARD_KEYS
    ]


#: Call indices: run r's FORWARD_KEYS entries follow its index.
PROBES["ddpm_forward"] = probe(
    "ddpm_forward",
    *_forward_run("ddpm_forward", "run_ddpm_forward", 21, n=32, num_ts=300)
    + _forward_run("ddpm_forward", "run_ddpm_forward", 22, n=16, num_ts=50),
)
FORWARD_RUNS = {"ddpm_forward": {300: 0, 50: 1 + len(FORWARD_KEYS)}}

CLASS_KEYS = ("c", "mask", "labels", "calls")


def _dropout_run(seed, p):
    return [
        call(
            Standin("run_ddpm_forward_class"),
            ns("ddpm_forward_class"),
            seed=seed,
            no_grad=False,
            label="ddpm_forward_class",
            n=200,
            p_uncond=p,
            num_ts=300,
        )
    ] + [stash(k, "ddpm_forward_class") for k in CLASS_KEYS]


PROBES["ddpm_forward_class"] = probe(
    "ddpm_forward_class",
    *_forward_run("ddpm_forward_class", "run_ddpm_forward_class", 31, n=32, p_uncond=0.2, num_ts=300)
    + _dropout_run(32, 0.2)
    + _dropout_run(33, 0.5),
)
# 0 objective run (n = 32), then per dropout run: run, c, mask, labels, calls
_D0 = 1 + len(FORWARD_KEYS)
CLASS_DROP = {0.2: tuple(range(_D0, _D0 + 5)), 0.5: tuple(range(_D0 + 5, _D0 + 10))}

# ---- samplers ---------------------------------------------------------------------------------

SAMPLE_KEYS = ("traj", "t_calls", "batch_calls", "dropped_calls")
#: What the sampler-step check reads: only the submission's own records are judged (grading side, in
#: judging.sampler_step_problem), so the fixtures keep none of them.
STEP_STASH = ("steps", "draws")


def _step_stash(api, suffix=""):
    return [stash(k, f"{api} (its update steps)", name=k + suffix, stored=False) for k in STEP_STASH]


PROBES["ddpm_sample"] = probe(
    "ddpm_sample",
    call(Standin("run_sample"), ns("ddpm_sample"), n=4, offset=0, seed=41, label="ddpm_sample", name="samples"),
    *[stash(k, "ddpm_sample", name=k) for k in SAMPLE_KEYS[:3]],
    *_step_stash("ddpm_sample"),
)
#: Asked for only when the exact comparison fails (noise drawn in another order): the 1-based denoiser's samples.
PROBES["ddpm_sample_fallback"] = probe(
    "ddpm_sample",
    call(Standin("run_sample"), ns("ddpm_sample"), n=4, offset=-1, seed=41, label="ddpm_sample", name="samples"),
    on_demand=True,
)

CLASS_LABELS = ([7, 3, 0, 9], [1, 5, 2, 8])


def _class_samples(labels, guidance_scale, seed, name, **reading):
    """ddpm_sample_class with the analytic class denoiser (``reading``: ``offset=-1`` for the 1-based one)."""
    return call(
        Standin("run_sample_class"),
        ns("ddpm_sample_class"),
        labels,
        guidance_scale,
        **reading,
        seed=seed,
        label="ddpm_sample_class",
        name=name,
    )


PROBES["ddpm_sample_class"] = probe(
    "ddpm_sample_class",
    _class_samples(CLASS_LABELS[0], None, 51, "samples"),
    *[stash(k, "ddpm_sample_class", name=k) for k in SAMPLE_KEYS],
    *_step_stash("ddpm_sample_class"),
    _class_samples(CLASS_LABELS[1], 2.0, 52, "samples_scale2"),
    stash("traj", "ddpm_sample_class", name="traj_scale2"),
    *_step_stash("ddpm_sample_class", "_scale2"),
)
PROBES["ddpm_sample_class_fallback"] = probe(
    "ddpm_sample_class",
    _class_samples(CLASS_LABELS[0], None, 51, "samples", offset=-1),
    _class_samples(CLASS_LABELS[1], 2.0, 52, "samples_scale2", offset=-1),
    on_demand=True,
)

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


def _train_probe(name, kind, seed, rebind, **kwargs):
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
    )


PROBES["train_denoiser"] = _train_probe(
    "train_denoiser", "denoiser", 61, {"add_noise": Support("ref_add_noise")}, sigma=0.3
)
PROBES["train_time_conditioned"] = _train_probe(
    "train_time_conditioned", "time", 71, {"ddpm_forward": Support("ref_ddpm_forward")}
)
# ddpm_forward too: a notebook may define its class-conditioned objective again under that name (interfaces.py)
PROBES["train_class_conditioned"] = _train_probe(
    "train_class_conditioned",
    "class",
    81,
    {"ddpm_forward_class": Support("ref_ddpm_forward_class"), "ddpm_forward": Support("ref_ddpm_forward_class")},
    p_uncond=0.1,
)
TRAIN_SIGMA = 0.3
#: The noise level the spec trains the single-step denoiser at: what a top-level training loop must use.
LOOP_SIGMA = 0.5
