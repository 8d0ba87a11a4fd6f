"""Arrays as pictures for the HTML reports: value ranges, tiling to pixels, PNG encoding (a tiny
zlib+struct encoder: no imaging library needed) and data URIs."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

# --------------------------------------------------------------------------- PNG


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode a uint8 array, (H, W) grayscale or (H, W, 3) RGB, as a PNG file."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    if a.ndim == 2:
        color_type, channels = 0, 1
    elif a.ndim == 3 and a.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"png_bytes wants (H, W) or (H, W, 3) uint8, got shape {a.shape}")
    h, w = a.shape[:2]
    raw = np.zeros((h, 1 + w * channels), dtype=np.uint8)  # filter byte 0 (None) on every row
    raw[:, 1:] = a.reshape(h, w * channels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def data_uri(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


# --------------------------------------------------------------------------- arrays -> pixels

MAX_TILES = 16
SEPARATOR = 2  # pixels of grey between tiled images


def value_range(reference) -> tuple[float, float]:
    """The value range that maps to black..white, decided from the reference alone.

    [0, 1] for pictures in [0, 1] (MNIST), [-1, 1] for pictures in [-1, 1] (the
    diffusion images, also when noise takes them a little outside), otherwise the
    reference's own min..max. Student and reference
    use the same mapping, so a student's out-of-range values show as clipped.
    """
    r = np.asarray(reference, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return -1.0, 1.0
    lo, hi = float(r.min()), float(r.max())
    if lo >= -1e-3 and hi <= 1.0 + 1e-3:
        return 0.0, 1.0
    if max(-lo, hi) <= 5.0:  # [-1, 1] pictures, possibly with noise added: clip like the notebooks' plots
        return -1.0, 1.0
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


def _as_nchw(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype == object:
        raise ValueError("not a numeric array")
    a = a.astype(np.float32, copy=False)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"cannot show an array of shape {a.shape} as an image")
    if a.shape[1] not in (1, 3) and a.shape[3] in (1, 3):  # channels last
        a = a.transpose(0, 3, 1, 2)
    if a.shape[1] not in (1, 3):
        a = a[:, :1]
    return a


def to_pixels(array, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """(N, C, H, W) floats -> uint8 (H, N*W + gaps) or (H, N*W + gaps, 3): the images tiled in a row."""
    a = _as_nchw(array)[:MAX_TILES]
    a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
    a = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
    a = np.rint(a * 255.0).astype(np.uint8)
    n, c, h, w = a.shape
    out = np.full((c, h, n * w + (n - 1) * SEPARATOR), 128, dtype=np.uint8)
    for i in range(n):
        x = i * (w + SEPARATOR)
        out[:, :, x : x + w] = a[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def _scale(h: int, w: int) -> int:
    """Integer upscaling for display: 64 -> 3x (192 px), 28 -> 3x (84 px), big images 1x."""
    return max(1, min(3, 192 // max(h, w, 1)))


def _stats(array) -> str:
    a = np.asarray(array, dtype=np.float64)
    bad = int(a.size - np.isfinite(a).sum())
    f = a[np.isfinite(a)]
    text = f"values {f.min():.3g} … {f.max():.3g}" if f.size else "no finite values"
    if bad:
        text += f", {bad} NaN/inf"
    return text


def _shape(array) -> str:
    return "×".join(str(s) for s in np.shape(array))
