"""Part B judging: the training runs' tiny recording net (``harness._TinyNet``) recomputed grading side (numpy).

The records of a training run come from the student's own process, so the grading side checks them
against each other: the first training forwards must be the net's outputs for the recorded inputs under
the recorded parameters, and the first optimizer step's gradients of the output layer must be those of a
squared error between that output and a target (see :mod:`grader.course.proj5b.judging.training`).
"""

from __future__ import annotations

import numpy as np

#: The net's parameters in ``net.parameters()`` order: name and shape (harness ``_TinyNet``).
PARAMS = (
    ("conv1.weight", (8, 1, 3, 3)),
    ("conv1.bias", (8,)),
    ("conv2.weight", (1, 8, 3, 3)),
    ("conv2.bias", (1,)),
    ("fc_t.weight", (8, 1)),
    ("fc_t.bias", (8,)),
    ("fc_c.weight", (8, 10)),
    ("fc_c.bias", (8,)),
)
SIZES = tuple(int(np.prod(shape)) for _, shape in PARAMS)


def unpack(flat: np.ndarray) -> dict[str, np.ndarray]:
    """The parameters by name from one flat row of a step record."""
    out, at = {}, 0
    for (name, shape), size in zip(PARAMS, SIZES):
        out[name] = np.asarray(flat[at : at + size], dtype=np.float64).reshape(shape)
        at += size
    return out


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to about 1e-7 (Abramowitz and Stegun 7.1.26), numpy only."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1 / (1 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def _windows(x: np.ndarray) -> np.ndarray:
    """(n, C, 28, 28, 3, 3): the 3x3 neighbourhoods of a padding-1 convolution."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))


def conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("nchwij,ocij->nohw", _windows(x), w, optimize=True) + b[None, :, None, None]


def hidden(p: dict, x: np.ndarray, t: np.ndarray | None) -> np.ndarray:
    """conv1(x) (+ fc_t(t)): the hidden layer before the class term and the GELU, (n, 8, 28, 28)."""
    h = conv3(x, p["conv1.weight"], p["conv1.bias"])
    if t is not None:
        h = h + (t.reshape(-1, 1) @ p["fc_t.weight"].T + p["fc_t.bias"])[:, :, None, None]
    return h


def class_terms(p: dict) -> np.ndarray:
    """(11, 8): fc_c of each one-hot class, then of an all-zero row (the class dropped)."""
    return np.vstack([p["fc_c.weight"].T + p["fc_c.bias"], p["fc_c.bias"][None]])


def output(p: dict, h: np.ndarray) -> np.ndarray:
    return conv3(gelu(h), p["conv2.weight"], p["conv2.bias"])


def forward_problem(params: np.ndarray, x, t, out, kind: str) -> str | None:
    """Whether ``out`` is the net's output for input x (n, 1, 28, 28) and t under the flat ``params``; for the
    class-conditioned net, under some class (or none) per sample. None when it is."""
    p = unpack(params)
    x = np.asarray(x, dtype=np.float64).reshape(-1, 1, 28, 28)
    out = np.asarray(out, dtype=np.float64).reshape(-1, 1, 28, 28)
    h = hidden(p, x, None if kind == "denoiser" else np.asarray(t, dtype=np.float64))
    tol = 1e-4 * max(1.0, float(np.abs(out).max()))
    if kind != "class":
        return None if np.abs(output(p, h) - out).max() <= tol else "output"
    terms = class_terms(p)
    for i in range(len(x)):
        options = output(p, h[i][None] + terms[:, :, None, None])  # (11, 1, 28, 28)
        if np.abs(options - out[i][None]).reshape(len(terms), -1).max(1).min() > tol:
            return "output"
    return None


def output_layer_input(params: np.ndarray, x, t, out, kind: str) -> np.ndarray:
    """gelu(h) (n, 8, 28, 28): what conv2 reads in the forward that gave ``out``; for the class-conditioned net
    with the class term (or none) per sample that reproduces ``out``, as in :func:`forward_problem`."""
    p = unpack(params)
    x = np.asarray(x, dtype=np.float64).reshape(-1, 1, 28, 28)
    out = np.asarray(out, dtype=np.float64).reshape(-1, 1, 28, 28)
    h = hidden(p, x, None if kind == "denoiser" else np.asarray(t, dtype=np.float64))
    if kind == "class":
        terms = class_terms(p)
        for i in range(len(x)):
            options = output(p, h[i][None] + terms[:, :, None, None])
            best = int(np.abs(options - out[i][None]).reshape(len(terms), -1).max(1).argmin())
            h[i] = h[i] + terms[best][:, None, None]
    return gelu(h)


def output_layer_gradient(features: np.ndarray, out, target) -> np.ndarray:
    """The gradient of sum((out - target) ** 2) / 2 with respect to conv2's weight and bias (73 values, in
    parameter order), given conv2's input ``features``; any squared-error loss's is a positive multiple of it."""
    out = np.asarray(out, dtype=np.float64).reshape(-1, 1, 28, 28)
    g = out - np.asarray(target, dtype=np.float64).reshape(out.shape)
    gw = np.einsum("nchwij,nohw->ocij", _windows(features), g, optimize=True)
    return np.concatenate([gw.reshape(-1), [g.sum()]])


#: Where conv2's weight and bias sit in a flat parameter row.
OUTPUT_LAYER = slice(SIZES[0] + SIZES[1], SIZES[0] + SIZES[1] + SIZES[2] + SIZES[3])
