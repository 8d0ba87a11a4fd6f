"""diffgrade: the autograder for the "Fun with Diffusion Models" assignment."""

import os as _os

# On CPUs with AVX512-FP16 (Sapphire Rapids and later), oneDNN's just-in-time kernel for a half-precision
# depthwise convolution with a large kernel (torchvision's gaussian_blur with kernel_size 33 on an fp16
# image: a correct notebook's hybrid images) takes many minutes to generate. Capping oneDNN below that ISA
# costs nothing in float32 and keeps it to milliseconds. Read once, at oneDNN's first use: set here, before
# any torch work of the grading process or of the notebook kernels and workers it starts.
_os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
