"""diffgrade: the autograder for the "Fun with Diffusion Models" assignment."""

import os as _os

# On CPUs with AVX512-FP16 (Sapphire Rapids and later), oneDNN's just-in-time kernel for a half-precision
# depthwise convolution with a large kernel (torchvision's gaussian_blur with kernel_size 33 on an fp16
# image: a correct notebook's hybrid images) takes many minutes to generate. Capping oneDNN below that ISA
# costs nothing in float32 and keeps it to milliseconds. Read once, at oneDNN's first use: set here, before
# any torch work of the grading process or of the notebook kernels and workers it starts.
_os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")

# The grading process's own numpy work (re-computing small networks to judge a training run, decoding answers)
# is a few small matrix products at a time: OpenBLAS's thread pool only spins beside it (measured: a spinning
# thread took 0.3 s of CPU per Part B grade, on the cores the probes need). Read at numpy's import.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
