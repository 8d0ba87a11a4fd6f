"""Grader-side instruments for the proj5b checks, run inside the worker.

Probes reach these as ``Standin("NAME")`` (the worker looks them up in the
assignment's sealed folder, ``Spec.worker_module_names``). They take
student objects (``Student("UpBlock")``), run them on fixed inputs and return
plain data (arrays and numbers), never the objects themselves.

Modules
    ``module_output`` / ``module_trace`` / ``module_params`` build the student's
    class with given arguments. Before a forward pass every parameter is set
    from a generator keyed by its *signature*: (layer type, parameter name,
    shape), e.g. ("Conv2d", "weight", (8, 4, 3, 3)). Equal architectures
    therefore get equal weights whatever the attributes are called, whatever
    order they were registered in, and whether nn.Sequential or explicit layers
    were used. A conv that reads a channel concatenation of equal parts gets
    weights that repeat over those parts, so ``cat([skip, h])`` and
    ``cat([h, skip])`` give the same output (both orders are correct). The
    fixture builder runs the same helpers on the reference notebook, so the
    student's output is compared with the reference's "after loading the
    reference weights".

    ``module_trace`` records the layers a forward pass runs, in order, as rows
    ``[op, in, out, kernel, stride, padding]`` (codes in :mod:`grader.course.proj5b.sealed.opcodes`); functional calls
    (``F.gelu``, ``torch.cat``) count as well as modules.

Functions
    ``run_*`` helpers call a student function on grader-made arguments (the
    reference schedule, a recording probe UNet, the analytic denoisers, a tiny
    trainable recording net and loader), keep what they observed in a per-probe
    stash and return the function's own result. ``stash_get(key)`` returns an
    observation as data in a later call of the same probe.

Reference parts (``RefConv`` ... ``RefFCBlock``, ``ref_add_noise``, ``ref_ddpm_forward``,
``reference_schedule``) are not here: they live grading-side in ``support.py`` and reach a
probe only as ``$support:NAME`` (see :mod:`grader.judging.support`), never in a probe of the name
they would answer.
"""

from __future__ import annotations

import numpy as np
import torch

from grader.course.proj5b.sealed import interfaces
from grader.course.proj5b.sealed.harness_common import (  # noqa: F401
    _STASH,
    _crc,
    _digits,
    _one_line,
    _scalar,
    _seed_all,
    reference_schedule,
    stash_get,
)
from grader.course.proj5b.sealed.harness_modules import *  # noqa: F401,F403 - the names probes call as Standin(...)
from grader.course.proj5b.sealed.harness_modules import (  # noqa: F401
    _build,  # noqa: F401 - tests build classes through it
    wear_student_model,
    with_student_model,
)
from grader.course.proj5b.sealed.harness_sampling import *  # noqa: F401,F403
from grader.course.proj5b.sealed.harness_sampling import _RecordingClassDenoiser, _RecordingDenoiser  # noqa: F401
from grader.course.proj5b.sealed.harness_training import *  # noqa: F401,F403
from grader.course.proj5b.sealed.harness_training import _TinyClassNet, _TinyDenoiser, _TinyTimeNet  # noqa: F401
from grader.course.proj5b.sealed.standins import (
    ProbeClassUNet,
    ProbeUNet,
)
from grader.worker import environment as runtime

# ---- schedule ---------------------------------------------------------------------------------

_KEYS = {
    "betas": ("betas", "beta", "beta_t", "betas_t"),
    "alphas": ("alphas", "alpha", "alpha_t", "alphas_t"),
    "alpha_bars": (
        "alpha_bars",
        "alpha_bar",
        "alphas_bar",
        "alphas_cumprod",
        "alpha_cumprod",
        "abar",
        "abars",
        "alpha_bar_t",
        "alphas_bars",
        "bar_alphas",
        "alpha_hat",
        "alphas_hat",
    ),
}


def schedule_entries(schedule) -> list:
    """[betas, alphas, alpha_bars] from a dict (known spellings) or a 3-sequence."""
    if isinstance(schedule, dict):
        lower = {str(k).lower(): v for k, v in schedule.items()}
        out = []
        for key, names in _KEYS.items():
            found = next((lower[n] for n in names if n in lower), None)
            if found is None:
                raise KeyError(f"the returned dict has no {key!r} entry (keys: {', '.join(map(str, schedule))})")
            out.append(found)
        return out
    if isinstance(schedule, (list, tuple)) and len(schedule) == 3:
        return list(schedule)
    raise TypeError(f"returned a {type(schedule).__name__}; expected a dict with betas, alphas and alpha_bars")


def run_schedule(fn, beta1, beta2, num_ts):
    """(3, L) float64: betas, alphas, alpha_bars (NaN-padded to the longest)."""
    entries = [
        np.asarray(
            torch.as_tensor(np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)),
            dtype=np.float64,
        ).reshape(-1)
        for v in schedule_entries(fn(beta1, beta2, num_ts))
    ]
    n = max(len(e) for e in entries)
    out = np.full((3, n), np.nan)
    for i, e in enumerate(entries):
        out[i, : len(e)] = e
    return out


# ---- ddpm_forward and ddpm_forward_class with a recording probe --------------------------------


def _record_forward(probe: ProbeUNet, x0, labels=None) -> None:
    rec = probe.data()
    _STASH.clear()
    _STASH.update(
        {
            "x0": x0,
            "eps0": runtime.NOISE.at(("draw", 0), tuple(x0.shape)),
            "calls": torch.tensor(probe.num_calls()),
            "batch": rec.get("batch"),
        }
    )
    if probe.num_calls():
        _STASH.update(
            {
                "t": rec["t"],
                "x": rec["x"],
                "out": rec["out"],
                "c": rec["c"],
                "mask": rec["mask"],
                "training": rec["training"],
            }
        )
    if labels is not None:
        _STASH["labels"] = labels


#: The student class whose module tree a stand-in model wears when the student's code reads attributes off its
#: model, and the arguments it is built with (small: only its attributes are read, never its computation).
def run_ddpm_forward(fn, n=32, num_ts=300, seed=0):
    """The loss ddpm_forward returns with a recording probe UNet; stashes what the UNet was given."""
    x0, _ = _digits(n)
    probes: list = []

    def make():
        probes.append(ProbeUNet())
        return probes[-1]

    def attempt(model, probe):
        _seed_all(seed)
        runtime.NOISE.reset(runtime.NOISE.seed)
        _STASH.clear()
        return fn(model, reference_schedule(num_ts), x0.clone(), num_ts)

    loss = with_student_model(fn, "time", make, attempt)
    _record_forward(probes[-1], x0)
    return _scalar(loss)


def run_ddpm_forward_class(fn, n=200, p_uncond=0.2, num_ts=300, seed=0):
    """As run_ddpm_forward for ddpm_forward_class; also stashes the labels given."""
    x0, labels = _digits(n)
    probes: list = []

    def make():
        probes.append(ProbeClassUNet())
        return probes[-1]

    def attempt(c):
        def once(model, probe):
            _seed_all(seed)
            runtime.NOISE.reset(runtime.NOISE.seed)
            _STASH.clear()
            return fn(model, reference_schedule(num_ts), x0.clone(), c, p_uncond, num_ts)

        return with_student_model(fn, "class", make, once)

    loss = interfaces.labels_or_one_hot("ddpm_forward_class", attempt, labels)
    _record_forward(probes[-1], x0, labels)
    return _scalar(loss)
