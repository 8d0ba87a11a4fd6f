"""Interface variants of Part B that are graded, not refused (worker side; see grader.worker.adapters).

Declared here, beside the catalogue's accepted readings, and named in the results when used:

* the class-conditioned ``ddpm_forward`` / ``ddpm_sample`` written as later definitions of the
  time-conditioned names (the course's own notebook does this): each check uses the definition
  whose signature fits it;
* a sampler that returns ``(samples, trajectory)`` (its first element is graded), or spells
  ``num_samples`` otherwise, or has no such argument at all (:func:`call_sampler`);
* class labels as integers ``(N,)`` or one-hot ``(N, 10)``, with masks ``(N,)``, ``(N, 1)`` or shaped
  like the one-hot, detected from what the student's own code accepts (:func:`labels_or_one_hot`,
  :func:`note_class_forms`);
* a sampler that returns its whole trajectory, the samples last (``adapters.first_of_tuple``);
* constructors in other layouts: ``Unflatten(in_channels, out_channels)``, ``TimeConditionalUNet(in_channels,
  num_hiddens)`` without ``num_classes`` (:func:`constructor_args`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.worker import adapters
from grader.worker import environment as runtime
from grader.worker.adapters import Interface, rename

NUM_SAMPLES_SPELLINGS = (
    "n_samples",
    "num_sample",
    "n_sample",
    "batch_size",
    "num_images",
    "n_images",
    "num_imgs",
    "n_imgs",
    "n",
    "N",
    "num",
    "samples",
    "count",
)

INTERFACES = {
    "ddpm_forward": Interface(earlier_definitions=True),
    "ddpm_forward_class": Interface(aliases=("ddpm_forward",)),
    "ddpm_sample": Interface(
        forms=tuple(rename("num_samples", NUM_SAMPLES_SPELLINGS)), tuple_result=True, earlier_definitions=True
    ),
    "ddpm_sample_class": Interface(aliases=("ddpm_sample",), tuple_result=True),
}

# ---- class labels and masks --------------------------------------------------------------

#: Which of the class-conditioned module forms (harness._forms: 6 standard, then 3 "class+" tried only when
#: none of those runs) give c as integers, and the mask's layout.
INTEGER_FORMS, ONE_HOT_FORMS = (0, 1, 4, 5, 6), (2, 3, 7, 8)
FLAT_MASK_FORMS, COLUMN_MASK_FORMS, ONE_HOT_MASK_FORMS = (0, 1, 2, 3, 4, 5), (6, 7), (8,)


def note_class_forms(name: str, ran: list[bool]) -> None:
    """Say how the student's class-conditioned UNet was called when it takes only a one-hot c or another mask."""

    def any_of(forms):
        return any(ran[i] for i in forms if i < len(ran))

    if not any_of(INTEGER_FORMS) and any_of(ONE_HOT_FORMS):
        adapters.note(f"your {name} takes one-hot classes (N, 10): the checks passed one-hot")
    if not any_of(FLAT_MASK_FORMS):
        if any_of(COLUMN_MASK_FORMS):
            adapters.note(f"your {name} takes the mask as a column (N, 1): the checks passed it so")
        elif any_of(ONE_HOT_MASK_FORMS):
            adapters.note(f"your {name} takes the mask shaped like the one-hot (N, 10): the checks passed it so")


def labels_or_one_hot(api: str, attempt, labels: torch.Tensor):
    """``attempt(c)`` with integer labels; if that raises, with the same labels one-hot (N, 10), noted."""
    try:
        return attempt(labels.clone())
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        first = e
    try:
        out = attempt(F.one_hot(labels.long().reshape(-1), 10).float())
    except Exception:  # noqa: BLE001 - the integer form's error is the one to report
        raise first from None
    adapters.note(f"your {api} takes the classes one-hot (N, 10): the checks passed one-hot")
    return out


# ---- a sampler without num_samples -------------------------------------------------------------


class _RowNoise:
    """Keyed noise that gives a sampler making N samples per call rows ``offset .. offset+N`` of the draws a
    batch of ``n`` would get: the k-th draw of shape (N, ...) is made of rows of the k-th draw of shape
    (n, ...) (rows past n: fresh noise). So a correct sampler called without num_samples, once or several
    times, produces the same samples as the reference's batch of n."""

    def __init__(self, n: int, offset: int):
        self.n, self.offset = n, offset
        self.counts: dict = {}
        self.noise = runtime.NOISE

    def draw(self, shape):
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            return type(self.noise).draw(self.noise, shape)
        rest, rows = shape[1:], shape[0]
        k = self.counts.get(rest, 0)
        self.counts[rest] = k + 1
        parts = []
        lo, hi = self.offset, self.offset + rows
        if lo < self.n:
            parts.append(self.noise.at(("draw", k), (self.n,) + rest)[lo : min(hi, self.n)])
        if hi > self.n:
            parts.append(self.noise.at(("extra", k, max(lo, self.n)), (hi - max(lo, self.n),) + rest))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def __enter__(self):
        self.noise.draw = self.draw
        return self

    def __exit__(self, *exc):
        del self.noise.draw


def call_sampler(fn, rec, args: tuple, n: int, seed: int, model=None):
    """``fn(model, *args, seed=seed, num_samples=n)``; for a sampler with no num_samples argument, its own batch
    (called as often as it takes to make n samples), with noise rows that match a batch of n. ``model`` is what the
    sampler is given (``rec`` itself, or the student's own module tree around it); ``rec`` keeps the records."""
    model = rec if model is None else model
    kwargs = {"seed": seed, "num_samples": n}
    accepts = getattr(fn, "accepts", None)
    if accepts is None or accepts(model, *args, **kwargs) or not accepts(model, *args, seed=seed):
        return fn(model, *args, **kwargs)
    outs, runs, offset = [], [], 0
    while offset < n and len(outs) < n:
        rec.records = []
        with _RowNoise(n, offset):
            out = fn(model, *args, seed=seed)
        out = torch.as_tensor(out)
        if out.dim() == 3:  # a single sample without its batch dimension
            out = out[None]
        if out.dim() != 4 or out.shape[0] == 0:
            return out
        outs.append(out)
        runs.append(rec.records)
        offset += int(out.shape[0])
    rec.records = _merge_runs(runs, n)
    per_call = int(outs[0].shape[0])
    adapters.note(
        f"your {getattr(fn, '__name__', 'sampler')} takes no num_samples: the checks called it "
        f"{len(outs)} time(s) ({per_call} sample(s) a call) and graded the first {n} samples"
    )
    return torch.cat(outs)[:n]


def _merge_runs(runs: list, n: int) -> list:
    """One record per step across the runs: (t of the first run, total batch, the runs' x joined, dropped)."""
    steps = min(len(r) for r in runs)
    merged = []
    for i in range(steps):
        rows = [r[i] for r in runs]
        x = torch.cat([row[2] for row in rows])[:n]
        merged.append((rows[0][0], sum(row[1] for row in rows), x, rows[0][3]))
    return merged


# ---- constructors in other layouts ----------------------------------------------------------------------


def _same_channels_out(args):
    return [*args, args[-1]] if len(args) == 1 else None


def _without_num_classes(args):
    return [args[0], args[-1]] if len(args) == 3 else None


#: class -> (the contract's arguments -> the student's layout, or None where it does not apply; what the note says)
CONSTRUCTORS = {
    "Unflatten": (
        _same_channels_out,
        "your Unflatten takes (in_channels, out_channels): the checks built Unflatten(C, C)",
    ),
    "TimeConditionalUNet": (
        _without_num_classes,
        "your TimeConditionalUNet takes (in_channels, num_hiddens), without num_classes: the checks built it so",
    ),
}


def constructor_args(cls, args: list) -> list:
    """The arguments to build the student's ``cls`` with: the contract's, else the declared layout its signature
    takes (noted); as given where neither fits (the constructor's own error is then reported)."""
    if adapters.fits(cls, tuple(args), {}):
        return list(args)
    adapt, text = CONSTRUCTORS.get(getattr(cls, "__name__", ""), (None, ""))
    other = adapt(list(args)) if adapt else None
    if other is not None and adapters.fits(cls, tuple(other), {}):
        adapters.note(text)
        return other
    return list(args)
