"""The public checks of Part B, as otter exception-based test functions (one per question).

Each check is one self-contained ``def test_<name>(env)`` (otter keeps a test cell only when it is
a single function), so the shared helpers below are pasted into every check by :func:`test_source`.
The checks are quick sanity checks that run on the student's own machine, with or without a GPU,
in well under a second: they call the student's code on tiny made-up inputs and stand-in models
and say what was expected, what came back, and the likely cause. They are not the hidden grader.

Used by ``tools/author_proj5b_solution.py``; nothing here is imported at grading time.
"""

from __future__ import annotations

import textwrap

#: Pasted at the top of every check: imports, the device, and two helpers.
COMMON = r'''
import traceback
import torch
from torch import nn

dev = torch.device(str(env.get('device', 'cpu')))
if dev.type == 'cuda' and not torch.cuda.is_available():
    dev = torch.device('cpu')

def call(what, fn, *args, **kwargs):
    """Run notebook code; an error becomes a message that points at the failing line."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        own = call.__code__.co_filename  # the check's own frames (its stand-ins) are not the student's lines
        mine = [f for f in traceback.extract_tb(e.__traceback__)[1:] if 'packages' not in f.filename and f.filename != own]
        where = f' at `{mine[-1].line.strip()}`' if mine and mine[-1].line else ''
        text = f'{type(e).__name__}: {e}' if str(e) else type(e).__name__
        if isinstance(e, NotImplementedError):
            cause = 'it is not written yet'
        elif isinstance(e, NameError):
            cause = 'it uses a name that is not defined yet; run the cells above this one first'
        elif 'NoneType' in str(e):
            cause = 'a method or function it uses still holds `...` (so it gives None) or has no `return`'
        elif 'device' in str(e):
            cause = "tensors on different devices; make new tensors on the input's device (e.g. torch.randn_like(x))"
        elif any(w in str(e) for w in ('size', 'shape', 'channels', 'match')):
            cause = 'two shapes do not fit in that line (check channel counts, concatenations and reshapes)'
        else:
            cause = 'an error in your code' + (' at that line' if where else '')
        raise AssertionError(f'{what} raised {text}{where}. Likely cause: {cause}.') from None

def tensor(what, out, shape, hint='an operation changed the shape (check strides, reshapes and concatenations)'):
    """The result as a float CPU tensor, after checking its type, shape and values."""
    shape = tuple(shape)
    assert out is not None, f'{what} returned None; expected a tensor of shape {shape}. Likely cause: it still holds `...` or has no `return`.'
    try:
        out = torch.as_tensor(out)
    except Exception:
        raise AssertionError(f'{what} returned a {type(out).__name__}; expected a tensor of shape {shape}. Likely cause: return the tensor itself, not a list, tuple or dict.') from None
    assert tuple(out.shape) == shape, f'{what} returned shape {tuple(out.shape)}; expected {shape}. Likely cause: {hint}.'
    out = out.detach().float().cpu()
    bad = int((~torch.isfinite(out)).sum())
    assert bad == 0, f'{what} returned {bad} NaN or infinite values out of {out.numel()}. Likely cause: a division by zero or the square root of a negative number.'
    return out
'''

#: Pasted into the checks of the nn.Module classes.
MODULE = r'''
def build(name, *args):
    cls = env.get(name)
    sig = f'{name}({", ".join(map(str, args))})'
    assert isinstance(cls, type), f'{name} is not defined yet: run the cell with `class {name}(nn.Module)`, then this check.'
    assert issubclass(cls, nn.Module), f'{name} must subclass nn.Module (`class {name}(nn.Module)`), so that its layers are registered and trained.'
    torch.manual_seed(0)
    return sig, call(sig, cls, *args)

def count(sig, m, want, layers):
    kinds = sorted({type(l).__name__ for l in m.modules() if not list(l.children())})
    n = sum(p.numel() for p in m.parameters())
    if n == 0:
        cause = '__init__ creates no layers yet (it still holds `...`), or keeps them in a plain list instead of nn.Sequential / nn.ModuleList'
    elif n < want:
        cause = 'a layer is missing or has too few channels'
    else:
        cause = 'an extra layer, or wrong kernel sizes or channel counts'
    assert n == want, f'{sig} has {n} trainable parameters (layers: {", ".join(kinds) or "none"}); expected {want}, from {layers}. Likely cause: {cause}.'

def first_form(what, m, forms):
    """Call m with the first accepted form of arguments that runs (e.g. t as (N, 1) or (N,); c as labels or one-hot)."""
    for form in forms[1:]:
        try:
            return form, m(*form)
        except Exception:
            pass
    return forms[0], call(what, m, *forms[0])  # every form failed: report the first one's error

def ends_in_gelu(sig, out, cause='ReLU (or no activation followed by a clamp) instead of GELU'):
    low = float(out.min())
    assert low < 0, f'{sig} gave no negative outputs at all; a block that ends in GELU gives small negative values. Likely cause: {cause}.'
    assert low >= -0.171, f'{sig} gave outputs as low as {low:.3f}; GELU never goes below -0.17. Likely cause: the block does not end in GELU (check the order: layer, BatchNorm2d, GELU).'
'''


def _indent(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), "    ")


def test_source(name: str, doc: str, *pieces: str, module: bool = False) -> str:
    """``def test_<name>(env)`` with the shared helpers pasted in, then ``pieces`` (each dedented on its own)."""
    parts = [f"def test_{name}(env):", f'    """{doc}"""', _indent(COMMON)]
    if module:
        parts.append(_indent(MODULE))
    parts.extend(_indent(piece) for piece in pieces)
    return "\n".join(parts) + "\n"


# ---- the blocks ------------------------------------------------------------------------------------

#: name -> (constructor args, input shape, output shape, parameter count, layer description, ends in GELU)
BLOCKS = {
    "Conv": ((3, 5), (2, 3, 8, 8), (2, 5, 8, 8), "a 3x3 Conv2d with bias and a BatchNorm2d", True),
    "DownConv": ((3, 5), (2, 3, 8, 8), (2, 5, 4, 4), "a 4x4 stride-2 Conv2d with bias and a BatchNorm2d", True),
    "UpConv": ((3, 5), (2, 3, 8, 8), (2, 5, 16, 16), "a 4x4 stride-2 ConvTranspose2d with bias and a BatchNorm2d", True),
    "Flatten": ((), (2, 3, 7, 7), (2, 3, 1, 1), "no layer with weights (AvgPool2d and GELU)", True),
    "Unflatten": ((3,), (2, 3, 1, 1), (2, 3, 7, 7), "a 7x7 stride-7 ConvTranspose2d with bias and a BatchNorm2d", True),
    "ConvBlock": ((3, 5), (2, 3, 8, 8), (2, 5, 8, 8), "two Conv blocks (3 -> 5, then 5 -> 5)", True),
    "DownBlock": ((3, 5), (2, 3, 8, 8), (2, 5, 4, 4), "a DownConv (3 -> 5) and a ConvBlock (5 -> 5)", True),
    "UpBlock": ((3, 5), (2, 3, 8, 8), (2, 5, 16, 16), "an UpConv (3 -> 5) and a ConvBlock (5 -> 5)", True),
    "FCBlock": ((3, 5), (2, 3), (2, 5), "two Linear layers with bias (3 -> 5, 5 -> 5)", False),
}

SHAPE_HINTS = {
    "Conv": "padding=1 keeps the resolution of a 3x3 convolution",
    "DownConv": "a 4x4 kernel with stride 2 and padding 1 halves the resolution",
    "UpConv": "a 4x4 ConvTranspose2d with stride 2 and padding 1 doubles the resolution",
    "Flatten": "AvgPool2d(7) turns a 7x7 map into 1x1",
    "Unflatten": "a 7x7 ConvTranspose2d with stride 7 turns 1x1 into 7x7, keeping the channels",
    "ConvBlock": "both convolutions keep the resolution; the second one maps out_channels to out_channels",
    "DownBlock": "DownConv halves the resolution, then the ConvBlock keeps it",
    "UpBlock": "UpConv doubles the resolution, then the ConvBlock keeps it",
    "FCBlock": "Linear(in, out), GELU, Linear(out, out)",
}


def block_test(name: str, params: int) -> str:
    args, shape_in, shape_out, layers, gelu = BLOCKS[name]
    sig = f"{name}({', '.join(map(str, args))})"
    doc = f"{sig}: {params} parameters, maps a {shape_in} batch to {shape_out}" + (", ends in GELU." if gelu else ".")
    body = f"""
        sig, m = build({name!r}{''.join(', ' + repr(a) for a in args)})
        count(sig, m, {params}, {layers!r})
        m = m.to(dev).train()
        x = torch.randn({', '.join(map(str, shape_in))}, generator=torch.Generator().manual_seed(0)).to(dev)
        out = tensor(sig + '(x)', call(sig + '(x)', m, x), {shape_out}, {SHAPE_HINTS[name]!r})
    """
    if gelu and name == "Flatten":  # the max of 49 values is rarely negative: MaxPool2d looks like a missing GELU
        last = "ends_in_gelu(sig + '(x)', out, 'MaxPool2d instead of AvgPool2d (a maximum of 49 values is hardly ever negative), or ReLU instead of GELU')"
    elif gelu:
        last = "ends_in_gelu(sig + '(x)', out)"
    else:  # FCBlock: the GELU between the two layers makes it non-affine
        last = """
        y = torch.randn(2, 3, generator=torch.Generator().manual_seed(1)).to(dev)
        mid = tensor(sig + '((x + y) / 2)', call(sig, m, (x + y) / 2), (2, 5))
        ends = (out + tensor(sig + '(y)', call(sig, m, y), (2, 5))) / 2
        assert (mid - ends).abs().max() > 1e-4, f'{sig} is affine (its output at the midpoint of two inputs is the midpoint of its outputs). Likely cause: the GELU between the two Linear layers is missing.'
        """
    return test_source(name, doc, body, last, module=True)


def unet_tests(params: dict) -> dict:
    tests = {}
    tests["UnconditionalUNet"] = test_source(
        "UnconditionalUNet", f"UnconditionalUNet(1, 4): {params['UnconditionalUNet']} parameters, (2, 1, 28, 28) in and out.", f"""
        sig, m = build('UnconditionalUNet', 1, 4)
        count(sig, m, {params['UnconditionalUNet']}, 'the blocks of the figure with D = 4 and a final 3x3 Conv2d to 1 channel')
        m = m.to(dev).train()
        x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(dev)
        tensor(sig + '(x)', call(sig + '(x)', m, x), (2, 1, 28, 28), 'the output has the input\\'s shape; check the skip concatenations (dim=1) and the final convolution to in_channels')
        """, module=True)
    tests["TimeConditionalUNet"] = test_source(
        "TimeConditionalUNet", f"TimeConditionalUNet(1, 10, 4): {params['TimeConditionalUNet']} parameters; t (N, 1) or (N,) changes the output.", f"""
        sig, m = build('TimeConditionalUNet', 1, 10, 4)
        count(sig, m, {params['TimeConditionalUNet']}, 'the UnconditionalUNet with D = 4 plus FCBlock(1, 8) and FCBlock(1, 4) for t')
        m = m.to(dev).train()
        x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)).expand(2, 1, 28, 28).contiguous().to(dev)
        t = torch.tensor([[0.1], [0.9]], device=dev)
        with torch.no_grad():
            _, out = first_form(sig + '(x, t) with t of shape (2, 1)', m, [(x, t), (x, t.reshape(2))])
        out = tensor(sig + '(x, t)', out, (2, 1, 28, 28))
        change = float((out[0] - out[1]).abs().max())
        assert change > 1e-4, f'{{sig}}(x, t) gives the same output for the same image at t = 0.1 and t = 0.9. Likely cause: the t embeddings never reach the network: unflatten + t1 and up1 + t2 (t1, t2 from the two FCBlocks, reshaped to (N, C, 1, 1)).'
        """, module=True)
    tests["ClassConditionalUNet"] = test_source(
        "ClassConditionalUNet", f"ClassConditionalUNet(1, 10, 4): {params['ClassConditionalUNet']} parameters; the class changes the output where mask is 1, not where it is 0.", f"""
        sig, m = build('ClassConditionalUNet', 1, 10, 4)
        count(sig, m, {params['ClassConditionalUNet']}, 'the TimeConditionalUNet with D = 4 plus FCBlock(10, 8) and FCBlock(10, 4) for the one-hot class')
        m = m.to(dev).train()
        x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)).expand(2, 1, 28, 28).contiguous().to(dev)
        t = torch.full((2, 1), 0.5, device=dev)
        c = torch.tensor([3, 7], device=dev)
        onehot = torch.nn.functional.one_hot(c, 10).float()

        def forms(mask):
            \"\"\"Accepted calls: c as labels or one-hot, t as (N, 1) or (N,), mask float or bool.\"\"\"
            return [(x, cc, tt, mm) for cc in (c, onehot) for tt in (t, t.reshape(2)) for mm in (mask, mask.bool())]

        with torch.no_grad():
            what = sig + '(x, c=[3, 7], t, mask=[1, 1])'
            form, kept = first_form(what, m, forms(torch.ones(2, device=dev)))
            kept = tensor(what, kept, (2, 1, 28, 28))
            what = sig + '(x, c=[3, 7], t, mask=[0, 0])'
            dropped = tensor(what, call(what, m, *form[:3], torch.zeros_like(form[3])), (2, 1, 28, 28))
            what = sig + '(x, c, t) without a mask'
            tensor(what, call(what, m, *form[:3]), (2, 1, 28, 28), 'mask is optional (mask=None keeps the class)')
        kept, dropped = float((kept[0] - kept[1]).abs().max()), float((dropped[0] - dropped[1]).abs().max())
        if kept <= 1e-4 and dropped > 1e-4:
            cause = 'the mask is inverted: keep the class where mask == 1 and zero the one-hot vector where mask == 0'
        else:
            cause = 'the class never reaches the network: one-hot encode c (F.one_hot(c, num_classes)), embed it with the two FCBlocks, and scale: c1 * unflatten + t1, c2 * up1 + t2'
        assert kept > 1e-4, f'with mask = 1, {{sig}} gives the same output for one image labelled 3 and labelled 7. Likely cause: {{cause}}.'
        assert dropped <= 1e-6, f'with mask = 0, {{sig}} still depends on the class (the image labelled 3 and labelled 7 give outputs up to {{dropped:.3g}} apart). Likely cause: the mask is ignored or inverted: multiply the one-hot class vector by the mask, so mask == 0 drops the class.'
        """, module=True)
    return tests


# ---- the functions -----------------------------------------------------------------------------------

#: A DDPM schedule built inside a check, so that checks don't depend on the student's ddpm_schedule.
SCHEDULE = r'''
T = 300
betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
abar = torch.cumprod(1 - betas, 0)
sched = {'betas': betas.float().to(dev), 'alphas': (1 - betas).float().to(dev), 'alpha_bars': abar.float().to(dev)}
ramp = torch.linspace(0, 1, 28).expand(1, 1, 28, 28)

def classes(c, mask, n):
    """What the model was told about the class: (labels, kept) for c as labels (N,) or one-hot (N, 10) with
    all-zero rows for a dropped class, and an optional mask (0 drops the class)."""
    c = torch.as_tensor(c).detach().cpu()
    if c.dim() == 2 and c.shape[-1] == 10:
        labels, kept = c.argmax(1), c.abs().sum(1) > 0
    else:
        labels, kept = c.reshape(-1).long(), torch.ones(c.numel(), dtype=torch.bool)
    given = torch.ones(kept.numel()) if mask is None else torch.as_tensor(mask).detach().cpu().reshape(-1).expand(kept.numel())
    return labels.expand(n), (kept & (given > 0.5)).expand(n)

def steps(t, n):
    """A conditioning t as it reached the model: n values, and the two step readings (t * T and t * T - 1)."""
    t = torch.as_tensor(t).detach().double().cpu().reshape(-1)
    t = t.expand(n) if t.numel() == 1 else t
    k = (t * T).round().long()
    return t, k.clamp(0, T - 1), (k - 1).clamp(0, T - 1)
'''

#: Pasted into the training checks: a one-parameter stand-in model and a tiny loader.
PROBE = r'''
class Probe(nn.Module):
    """A stand-in model with one weight: it returns w * x and records what it was given."""
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.5))
        self.seen = []

    def forward(self, x, *args, **kwargs):
        if self.training and torch.is_grad_enabled():
            given = list(args) + [kwargs[k] for k in ('c', 't', 'mask') if k in kwargs]
            self.seen.append((x.detach().cpu().clone(), [a.detach().cpu().clone() if torch.is_tensor(a) else a for a in given], float(self.w.detach())))
        return self.w * x

g = torch.Generator().manual_seed(0)
loader = [(torch.rand(4, 1, 28, 28, generator=g), torch.randint(0, 10, (4,), generator=g)) for _ in range(3)]

def called_per_batch(what, probe, cause):
    assert len(probe.seen) >= 6, f'{what} called the model {len(probe.seen)} times in training mode; expected once per batch (6). Likely cause: {cause}, or the model runs under torch.no_grad().'

def weight_moved(what, probe):
    assert float(probe.w.detach()) != 0.5, f'after {what} the model\'s weight is unchanged. Likely cause: the optimizer never steps; call optimizer.zero_grad(), loss.backward() and optimizer.step() for every batch, with an optimizer over unet.parameters().'

def losses_of(what, losses, n):
    assert losses is not None, f'{what} returned None; expected the list of {n} per-iteration losses. Likely cause: it still holds `...` or has no `return losses`.'
    try:
        values = [float(v) for v in losses]
    except Exception:
        raise AssertionError(f'{what} returned a {type(losses).__name__}; expected a list of {n} floats (loss.item() for every batch).') from None
    assert len(values) == n, f'{what} returned {len(values)} losses for 2 epochs of 3 batches; expected {n}, one per iteration. Likely cause: ' + ('one loss per epoch; append loss.item() inside the batch loop' if len(values) == 2 else 'the loop over epochs or batches, or the list is reset each epoch') + '.'
    assert all(v == v and abs(v) != float('inf') for v in values), f'{what} returned NaN or infinite losses: {values}.'
    return values
'''


def function_tests() -> dict:
    tests = {}
    tests["add_noise"] = test_source("add_noise", "add_noise(x, sigma): x plus Gaussian noise of standard deviation sigma, not clamped.", """
        fn = env.get('add_noise')
        assert callable(fn), 'add_noise is not defined yet: run the cell with `def add_noise(x, sigma)`, then this check.'
        zeros = torch.zeros(8, 1, 28, 28, device=dev)
        for sigma in (0.5, 0.2):
            what = f'add_noise(zeros, {sigma})'
            out = tensor(what, call(what, fn, zeros.clone(), sigma), zeros.shape, 'return an image batch of the input\\'s shape')
            std = float(out.std())
            if abs(std - sigma ** 2) < 0.02:
                cause = 'the noise is scaled by sigma ** 2 instead of sigma'
            elif abs(std - 1) < 0.05:
                cause = 'the noise is not scaled by sigma'
            elif std < 1e-6:
                cause = 'no noise is added'
            elif out.min() >= 0:
                cause = 'the result is clamped; z = x + sigma * eps is not clamped'
            else:
                cause = 'the sigma argument is not used as given: z = x + sigma * eps with eps ~ N(0, 1)'
            assert abs(std - sigma) < 0.03, f'{what} should be noise with standard deviation {sigma}; got {std:.3f}. Likely cause: {cause}.'
        low = float(out.min())
        assert low < 0, f'add_noise(zeros, 0.2) has no negative values. Likely cause: the result is clamped to [0, 1]; z = x + sigma * eps is not clamped.'
        grey = torch.full((2, 1, 28, 28), 0.3, device=dev)
        out = tensor('add_noise(grey, 0.0)', call('add_noise(grey, 0.0)', fn, grey.clone(), 0.0), grey.shape)
        diff = float((out - 0.3).abs().max())
        assert diff < 1e-6, f'add_noise(x, 0.0) should return x unchanged; it differs by up to {diff:.3f}. Likely cause: the sigma argument is ignored.'
        """)
    tests["train_denoiser"] = test_source("train_denoiser", "train_denoiser on a one-weight stand-in model: noisy inputs, L2 to the clean image, one loss per batch, weights updated.", PROBE, """
        fn = env.get('train_denoiser')
        assert callable(fn), 'train_denoiser is not defined yet: run the cell with `def train_denoiser(unet, train_loader, ...)`, then this check.'
        probe = Probe()
        what = 'train_denoiser(stand_in, loader, sigma=0.5, num_epochs=2, lr=0.01)'
        torch.manual_seed(0)
        values = losses_of(what, call(what, fn, probe, loader, sigma=0.5, num_epochs=2, lr=0.01, device=str(dev)), 6)
        called_per_batch(what, probe, 'the model is not called on every batch')
        z, _, w = probe.seen[0]
        x = loader[0][0]
        noise = float((z - x).std())
        assert abs(noise - 0.5) < 0.05, f'the model should see x + 0.5 * eps; what it saw differs from the clean batch by noise of standard deviation {noise:.3f}. Likely cause: ' + ('the clean images go in; noise them with add_noise(x, sigma) first' if noise < 0.01 else 'sigma is not used as given (z = x + sigma * eps)') + '.'
        clean = float(((w * z - x) ** 2).mean())
        noisy = float(((w * z - z) ** 2).mean())
        cause = 'the target is the noisy input; compare the model\\'s output with the clean image x' if abs(values[0] - noisy) < 1e-4 * max(noisy, 1e-3) else 'the loss must be the mean squared error between unet(z) and the clean x'
        assert abs(values[0] - clean) < 1e-4 * max(clean, 1e-3), f'the first loss is {values[0]:.5f}; expected {clean:.5f}, the L2 loss between the model\\'s output and the clean batch. Likely cause: {cause}.'
        weight_moved(what, probe)
        """)
    tests["ddpm_schedule"] = test_source("ddpm_schedule", "ddpm_schedule(1e-4, 0.02, 300): betas, alphas and alpha_bars, 300 values each.", """
        fn = env.get('ddpm_schedule')
        assert callable(fn), 'ddpm_schedule is not defined yet: run the cell with `def ddpm_schedule(beta1, beta2, num_ts)`, then this check.'
        out = call('ddpm_schedule(1e-4, 0.02, 300)', fn, 1e-4, 0.02, 300)
        assert out is not None, 'ddpm_schedule(1e-4, 0.02, 300) returned None; expected a dict with the keys betas, alphas and alpha_bars. Likely cause: it still holds `...` or has no `return`.'
        assert isinstance(out, dict), f'ddpm_schedule(1e-4, 0.02, 300) returned a {type(out).__name__}; expected a dict with the keys betas, alphas and alpha_bars.'
        missing = [k for k in ('betas', 'alphas', 'alpha_bars') if k not in out]
        assert not missing, f'ddpm_schedule(1e-4, 0.02, 300) returned the keys {sorted(out)}; it lacks {missing}. Likely cause: the dict keys must be spelled betas, alphas and alpha_bars.'
        b = tensor("ddpm_schedule(...)['betas']", out['betas'], (300,), 'num_ts values, e.g. torch.linspace(beta1, beta2, num_ts)').double()
        a = tensor("ddpm_schedule(...)['alphas']", out['alphas'], (300,)).double()
        ab = tensor("ddpm_schedule(...)['alpha_bars']", out['alpha_bars'], (300,)).double()
        ends = (float(b[0]), float(b[-1]))
        assert abs(ends[0] - 1e-4) < 1e-7 and abs(ends[1] - 0.02) < 1e-6, f'betas should run from 1e-4 to 0.02; they run from {ends[0]:.3g} to {ends[1]:.3g}. Likely cause: betas are evenly spaced from beta1 to beta2 inclusive (linspace, not arange).'
        even = float((b[1:] - b[:-1] - (0.02 - 1e-4) / 299).abs().max())
        assert even < 1e-6, 'betas should be evenly spaced (a linear schedule). Likely cause: linspace(beta1, beta2, num_ts).'
        assert float((a - (1 - b)).abs().max()) < 1e-6, 'alphas should be 1 - betas.'
        want = torch.cumprod(1 - b, 0)
        err = float((ab - want).abs().max())
        cause = 'alpha_bars is the cumulative product of alphas (torch.cumprod), not of betas' if abs(float(ab[-1]) - float(torch.cumprod(b, 0)[-1])) < 1e-9 else 'alpha_bars[t] is the product of alphas[0..t] (torch.cumprod(alphas, 0))'
        assert err < 1e-5, f'alpha_bars should be the running product of alphas (alpha_bars[-1] = {float(want[-1]):.4f}); got alpha_bars[-1] = {float(ab[-1]):.4f}. Likely cause: {cause}.'
        """)
    tests["ddpm_forward"] = test_source("ddpm_forward", "ddpm_forward with a stand-in model that predicts 0: a scalar loss equal to the mean square of the noise in x_t.", SCHEDULE, PROBE, """
        fn = env.get('ddpm_forward')
        assert callable(fn), 'ddpm_forward is not defined yet: run the cell with `def ddpm_forward(unet, ddpm_schedule, x_0, num_ts)`, then this check.'
        probe = Probe()
        probe.w.data.zero_()
        x0 = ramp.expand(64, 1, 28, 28).contiguous().to(dev)
        what = 'ddpm_forward(stand_in, schedule, x_0, 300)'
        loss = call(what, fn, probe, sched, x0.clone(), T)
        assert loss is not None, f'{what} returned None; expected the loss, a scalar tensor. Likely cause: it still holds `...` or has no `return`.'
        assert torch.is_tensor(loss) and loss.numel() == 1, f'{what} returned {type(loss).__name__ if not torch.is_tensor(loss) else "a tensor of shape " + str(tuple(loss.shape))}; expected a scalar tensor, the loss to call .backward() on. Likely cause: return F.mse_loss(...) itself (not .item(), not a list).'
        assert loss.requires_grad, f'{what} returned a loss without a gradient. Likely cause: .item() or torch.no_grad() around the model call; return the loss tensor itself.'
        assert probe.seen, f'{what} never called the model in training mode (with gradients).'
        x_t, args, _ = probe.seen[-1]
        assert args, f'{what} called the model with x_t only; it takes (x_t, t) with t normalised to [0, 1].'
        t, k1, k0 = steps(args[0], 64)
        assert float(t.max()) <= 1 and float(t.min()) >= 0, f'the model got t from {float(t.min()):.3g} to {float(t.max()):.3g}; expected t / num_ts, in [0, 1]. Likely cause: the timestep is not normalised (divide it by num_ts).'
        assert len(set(t.tolist())) > 1, f'all 64 images got the same t = {float(t[0]):.3f}. Likely cause: draw one random timestep per image (shape (N,)), not one per batch.'
        x_t = x_t.double()
        implied = [float((((x_t - abar[k].view(-1, 1, 1, 1).sqrt() * ramp.double()) / (1 - abar[k]).view(-1, 1, 1, 1).sqrt()) ** 2).mean()) for k in (k1, k0)]
        got = float(loss.detach())
        assert min(abs(got - v) for v in implied) < 1e-3 * max(implied), f'{what} returned {got:.4f}; with a model that predicts 0 the loss should be the mean square of the noise eps in x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, here {implied[0]:.4f}. Likely cause: the noising formula (both square roots, abar_t = alpha_bars[t], not alphas), or a loss that does not compare the model\\'s output with eps (F.mse_loss(unet(x_t, t / num_ts), eps)).'
        """)
    tests["ddpm_sample"] = test_source("ddpm_sample", "ddpm_sample with a stand-in model that knows the clean image: it ends at that image, shape (num_samples, 1, 28, 28).", SCHEDULE, """
        fn = env.get('ddpm_sample')
        assert callable(fn), 'ddpm_sample is not defined yet: run the cell with `def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1)`, then this check.'
        seen = []

        class Oracle(nn.Module):
            \"\"\"Predicts the noise exactly, as if it knew that every sample is a left-to-right ramp.\"\"\"
            def forward(self, x, t, *args, **kwargs):
                t, k, _ = steps(t, x.shape[0])
                seen.append(float(t.max()))
                a = abar[k].view(-1, 1, 1, 1).to(x.device, x.dtype)
                return (x - a.sqrt() * ramp.to(x.device, x.dtype)) / (1 - a).sqrt()

        what = 'ddpm_sample(stand_in, schedule, (28, 28), 300, seed=0, num_samples=3)'
        out = tensor(what, call(what, fn, Oracle(), sched, (28, 28), T, seed=0, num_samples=3), (3, 1, 28, 28), 'one (1, H, W) image per sample: (num_samples, 1, H, W)')
        assert seen, f'{what} never called the model.'
        assert max(seen) <= 1, f'the model got t up to {max(seen):.3g}; expected t / num_ts, in [0, 1]. Likely cause: the timestep is not normalised (divide it by num_ts).'
        assert len(seen) >= T - 1, f'{what} called the model {len(seen)} times; expected once per step, {T} steps from t = {T - 1} down to 0.'
        err = float((out - ramp).abs().mean())
        assert err < 0.02, f'with a stand-in model that predicts the noise exactly, {what} should end at the clean image (a left-to-right ramp from 0 to 1); it is off by {err:.3f} on average (values {float(out.min()):.2f} to {float(out.max()):.2f}). Likely cause: the clean estimate x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) (alpha_bars, not alphas), or the update: the coefficients of x0 and x_t, with abar_prev = 1 at t = 0.'
        """)
    tests["train_time_conditioned"] = test_source("train_time_conditioned", "train_time_conditioned on a one-weight stand-in model: one loss per batch, t in [0, 1], weights updated.", SCHEDULE, PROBE, """
        fn = env.get('train_time_conditioned')
        assert callable(fn), 'train_time_conditioned is not defined yet: run the cell with `def train_time_conditioned(unet, ddpm_schedule, train_loader, ...)`, then this check.'
        probe = Probe()
        what = 'train_time_conditioned(stand_in, schedule, loader, num_ts=300, num_epochs=2, lr=0.01)'
        torch.manual_seed(0)
        losses_of(what, call(what, fn, probe, sched, loader, num_ts=T, num_epochs=2, lr=0.01, device=str(dev)), 6)
        called_per_batch(what, probe, 'the batches do not go through ddpm_forward')
        t = torch.cat([torch.as_tensor(args[0]).double().reshape(-1) for _, args, _ in probe.seen if args])
        assert t.numel() and float(t.max()) <= 1 and float(t.min()) >= 0, 'the model should get t / num_ts, in [0, 1]. Likely cause: the timestep is not normalised.'
        weight_moved(what, probe)
        """)
    tests["ddpm_forward_class"] = test_source("ddpm_forward_class", "ddpm_forward_class: the labels reach the model, the class is kept when p_uncond = 0 and dropped when it is 1, and the loss is the noise's MSE.", SCHEDULE, PROBE, """
        fn = env.get('ddpm_forward_class')
        assert callable(fn), 'ddpm_forward_class is not defined yet: run the cell with `def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts)`, then this check.'
        x0 = ramp.expand(64, 1, 28, 28).contiguous().to(dev)
        c = torch.arange(64, device=dev) % 10
        masks = {}
        for p in (0.0, 1.0):
            probe = Probe()
            probe.w.data.zero_()
            what = f'ddpm_forward_class(stand_in, schedule, x_0, c, {p}, 300)'
            loss = call(what, fn, probe, sched, x0.clone(), c, p, T)
            assert loss is not None, f'{what} returned None; expected the loss, a scalar tensor. Likely cause: it still holds `...` or has no `return`.'
            assert torch.is_tensor(loss) and loss.numel() == 1 and loss.requires_grad, f'{what} should return the loss as a scalar tensor with a gradient (not .item()).'
            assert probe.seen and len(probe.seen[-1][1]) >= 2, f'{what} should call the model as unet(x_t, c, t, mask).'
            x_t, args, _ = probe.seen[-1]
            labels, kept = classes(args[0], args[2] if len(args) > 2 else None, 64)
            assert bool((labels[kept] == c.cpu()[kept]).all()), f'{what} should pass the batch\\'s labels c to the model (as labels, or one-hot).'
            t, k1, k0 = steps(args[1], 64)
            assert float(t.max()) <= 1 and float(t.min()) >= 0, f'the model got t from {float(t.min()):.3g} to {float(t.max()):.3g}; expected t / num_ts, in [0, 1].'
            masks[p] = kept.double()
        x_t = x_t.double()
        implied = [float((((x_t - abar[k].view(-1, 1, 1, 1).sqrt() * ramp.double()) / (1 - abar[k]).view(-1, 1, 1, 1).sqrt()) ** 2).mean()) for k in (k1, k0)]
        kept, dropped = float(masks[0.0].mean()), float(masks[1.0].mean())
        assert kept == 1 and dropped == 0, f'with p_uncond = 0 every class should be kept (mask 1) and with p_uncond = 1 every class dropped (mask 0); the masks averaged {kept:.2f} and {dropped:.2f}. Likely cause: ' + ('the mask is inverted: mask = 1 where a uniform draw is at least p_uncond' if kept == 0 and dropped == 1 else 'the mask: 1 with probability 1 - p_uncond, else 0, one value per image') + '.'
        got = float(loss.detach())
        assert min(abs(got - v) for v in implied) < 1e-3 * max(implied), f'{what} returned {got:.4f}; with a model that predicts 0 the loss should be the mean square of the noise in x_t, here {implied[0]:.4f}. Likely cause: the noising formula (both square roots, alpha_bars[t]) or a loss that does not compare the output with eps.'
        """)
    tests["ddpm_sample_class"] = test_source("ddpm_sample_class", "ddpm_sample_class with a stand-in model that knows each class's image: guidance eps_u + g (eps_c - eps_u) ends at the guided image.", SCHEDULE, """
        fn = env.get('ddpm_sample_class')
        assert callable(fn), 'ddpm_sample_class is not defined yet: run the cell with `def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0)`, then this check.'
        masks, seen = set(), []

        def clean(c, keep):
            \"\"\"The stand-in's clean image: a ramp scaled by (c + 1) / 10 for a kept class, else 0.5 everywhere.\"\"\"
            c = torch.as_tensor(c).reshape(-1, 1, 1, 1).double().cpu()
            return torch.where(keep.view(-1, 1, 1, 1), ramp.double() * (c + 1) / 10, torch.full_like(c * ramp.double(), 0.5))

        class Oracle(nn.Module):
            def forward(self, x, c, t, mask=None):
                t, k, _ = steps(t, x.shape[0])
                seen.append(float(t.max()))
                labels, keep = classes(c, mask, x.shape[0])
                masks.update(keep.tolist())
                a = abar[k].view(-1, 1, 1, 1)
                eps = (x.detach().double().cpu() - a.sqrt() * clean(labels, keep)) / (1 - a).sqrt()
                return eps.to(x.device, x.dtype)

        labels = torch.tensor([1, 8])
        what = 'ddpm_sample_class(stand_in, schedule, c=[1, 8], (28, 28), 300, guidance_scale=2.0, seed=0)'
        out = tensor(what, call(what, fn, Oracle(), sched, labels.to(dev), (28, 28), T, guidance_scale=2.0, seed=0), (2, 1, 28, 28), 'one (1, H, W) image per label in c')
        assert seen and max(seen) <= 1, f'the model should get t / num_ts, in [0, 1]; it got up to {max(seen or [0]):.3g}. Likely cause: the timestep is not normalised.'
        assert masks == {True, False}, 'classifier-free guidance needs two passes per step: the conditional one (mask = 1) and the unconditional one (mask = 0); ' + ('only the conditional pass ran' if masks == {True} else 'only the unconditional pass ran') + '.'
        yes, no = clean(labels, torch.ones(2, dtype=torch.bool)), clean(labels, torch.zeros(2, dtype=torch.bool))
        readings = {'the conditional estimate only (no guidance)': yes, 'the unconditional estimate only': no,
                    'reversed guidance, eps_c + g (eps_u - eps_c)': yes + 2 * (no - yes), 'a fixed scale of 5 (guidance_scale ignored)': no + 5 * (yes - no)}
        err = float((out.double() - (no + 2 * (yes - no))).abs().mean())
        cause = next((k for k, v in readings.items() if float((out.double() - v).abs().mean()) < 0.02), 'the guided noise eps_u + guidance_scale * (eps_c - eps_u), or the DDPM update')
        assert err < 0.02, f'with a stand-in model that knows each class\\'s clean image, {what} should end at the guided image eps_u + 2 (eps_c - eps_u) implies; it is off by {err:.3f} on average. Likely cause: {cause}.'
        """)
    tests["train_class_conditioned"] = test_source("train_class_conditioned", "train_class_conditioned on a one-weight stand-in model: the batch's labels reach the model, one loss per batch, weights updated.", SCHEDULE, PROBE, """
        fn = env.get('train_class_conditioned')
        assert callable(fn), 'train_class_conditioned is not defined yet: run the cell with `def train_class_conditioned(unet, ddpm_schedule, train_loader, ...)`, then this check.'
        probe = Probe()
        what = 'train_class_conditioned(stand_in, schedule, loader, num_ts=300, p_uncond=0.1, num_epochs=2, lr=0.01)'
        torch.manual_seed(0)
        losses_of(what, call(what, fn, probe, sched, loader, num_ts=T, p_uncond=0.1, num_epochs=2, lr=0.01, device=str(dev)), 6)
        called_per_batch(what, probe, 'the batches do not go through ddpm_forward_class')
        args = probe.seen[0][1]
        ok = len(args) >= 2
        if ok:
            labels, kept = classes(args[0], args[2] if len(args) > 2 else None, 4)
            ok = bool((labels[kept] == loader[0][1][kept]).all())
        assert ok, f'{what} should give the model the labels of each batch (for x, c in train_loader). Likely cause: the labels are dropped or replaced.'
        weight_moved(what, probe)
        """)
    return tests
