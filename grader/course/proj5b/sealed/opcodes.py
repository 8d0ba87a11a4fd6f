"""The operation codes of a module trace, shared by the worker's tracer and the grading side's judging.

A trace row is ``[op, in, out, kernel, stride, padding]``; ``op`` is one of these codes. Plain data:
imported on both sides of the process boundary.
"""

#: torch function name -> code (functional calls and the modules that call them)
CODES = {
    "conv2d": 1,
    "conv_transpose2d": 2,
    "batch_norm": 3,
    "gelu": 4,
    "avg_pool2d": 5,
    "linear": 6,
    "cat": 7,
    "concat": 7,
    "concatenate": 7,
    "relu": 8,
    "relu_": 8,
    "silu": 9,
    "sigmoid": 10,
    "tanh": 11,
    "leaky_relu": 12,
    "elu": 13,
    "adaptive_avg_pool2d": 14,
    "max_pool2d": 15,
    "layer_norm": 16,
    "group_norm": 17,
    "instance_norm": 18,
    "dropout": 19,
    "dropout2d": 19,
    "softplus": 20,
    "mish": 21,
}
#: code -> what students call it
NAMES = {
    1: "Conv2d",
    2: "ConvTranspose2d",
    3: "BatchNorm2d",
    4: "GELU",
    5: "AvgPool2d",
    6: "Linear",
    7: "cat",
    8: "ReLU",
    9: "SiLU",
    10: "Sigmoid",
    11: "Tanh",
    12: "LeakyReLU",
    13: "ELU",
    14: "AdaptiveAvgPool2d",
    15: "MaxPool2d",
    16: "LayerNorm",
    17: "GroupNorm",
    18: "InstanceNorm",
    19: "Dropout",
    20: "Softplus",
    21: "Mish",
}
ACTIVATIONS = {4, 8, 9, 10, 11, 12, 13, 20, 21}
NORMS = {3, 16, 17, 18}
