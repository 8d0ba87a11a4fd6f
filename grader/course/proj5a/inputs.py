"""Part A fixture inputs: public-domain pictures that ship with scikit-image, at 64x64.

Three pictures per stand-in prompt form the stand-in UNet's image bank; two more are the
test images; a fixed noise tensor and two masks complete the inputs.
"""

from __future__ import annotations

import numpy as np

#: scikit-image pictures (public domain or CC0) per stand-in prompt: 3 each.
BANKS = {
    "a high quality photo": ["astronaut", "coffee", "rocket"],
    "an oil painting of an old man": ["camera", "clock", "moon"],
    "an oil painting of people around a campfire": ["hubble_deep_field", "immunohistochemistry", "colorwheel"],
    "a rocket ship": ["retina", "logo", "coins"],
    "a lithograph of a skull": ["brick", "gravel", "text"],
    "a lithograph of waterfalls": ["grass", "page", "cell"],
}
TEST_IMAGES = {"test_image": "cat", "test_image_2": "checkerboard"}


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


def build_inputs() -> dict:
    from grader.course.proj5a.sealed.standins import PROMPTS

    bank, bank_prompt = [], []
    for index, prompt in enumerate(PROMPTS):
        for name in BANKS[prompt]:
            bank.append(_skimage_64(name))
            bank_prompt.append(index)
    inputs = {
        "bank": np.concatenate(bank).astype(np.float32),
        "bank_prompt": np.asarray(bank_prompt, dtype=np.int64),
    }
    for key, name in TEST_IMAGES.items():
        inputs[key] = _skimage_64(name)
    inputs["noise"] = np.random.RandomState(5).randn(1, 3, 64, 64).astype(np.float32)
    mask = np.zeros((1, 3, 64, 64), dtype=np.float32)
    mask[:, :, 6:34, 20:44] = 1.0  # the region to repaint: the top middle
    inputs["mask"] = mask
    mask_2 = np.zeros((1, 3, 64, 64), dtype=np.float32)
    mask_2[:, :, :, 32:] = 1.0  # the right half
    inputs["mask_2"] = mask_2
    return inputs
