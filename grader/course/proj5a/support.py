"""Reference parts of Part A, grading side: sent with a probe as source, never imported by a worker.

``reference_forward`` stands in for a student's ``forward`` while its callers are checked
(``sdedit``, ``inpaint``), so a wrong ``forward`` costs points once. It is executed with the
provided globals (``alphas_cumprod``) and is left out of every probe of ``forward`` itself.
"""

import torch

#: definition -> the graded name it answers
ANSWERS = {"reference_forward": "forward"}


def reference_forward(im, t):
    im = torch.as_tensor(im).float()
    abar = alphas_cumprod[int(t)]  # noqa: F821 - a provided global
    return abar.sqrt() * im + (1 - abar).sqrt() * torch.randn_like(im)
