"""1.1 and 2.1 / 2.4: the UNet operations, blocks and the three UNets.

Each module is built with fixed arguments and run on fixed inputs with weights
keyed by layer signature (see ../sealed/harness_modules.py): the output
shape, the layers run (kernel, stride, padding, BatchNorm2d, GELU, AvgPool2d(7),
ConvTranspose2d k7 s7), the parameter count and the outputs with the reference
weights must all agree with the reference. Blocks built from other blocks are
also run with the reference versions of their parts, so a wrong ``Conv`` costs
points under ``Conv`` only.
"""

import pytest

from grader.course.proj5b.judging import ModuleView
from grader.course.proj5b.shared import MODULES, module_probe
from grader.judging.catalogue import Variant

#: One probe per module: its own and its rebound calls (laid out in shared.py, which judging reads).
PROBES = {name: module_probe(name) for name in MODULES}

# ---- readings and mistakes ---------------------------------------------------------------------

#: DownConv with the course figure's values: Conv2d(k3, s2, p1) halves 28 -> 14 -> 7 as k4 s2 p1 does (the contract
#: accepts both). Every module probe that builds a DownConv from the student's class holds this reading too.
DOWNCONV_K3 = (
    (
        "DownConv",
        "nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)",
        "nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1)",
    ),
)
DOWNCONV_USERS = ("DownConv", "DownBlock", "UnconditionalUNet", "TimeConditionalUNet", "ClassConditionalUNet")

VARIANTS = [
    # ---- DownConv k3 (the course figure) or k4 --------------------------------------------------------
    *[
        Variant(
            api,
            "downconv-k3",
            "accepted: DownConv with Conv2d(k3, s2, p1), the course figure's values (k4 s2 p1 is the other reading)",
            DOWNCONV_K3,
            accepted=True,
        )
        for api in DOWNCONV_USERS
    ],
    # ---- TimeConditionalUNet ----------------------------------------------------------------------
    Variant(
        "TimeConditionalUNet",
        "t2-added-to-up2",
        "t2 is added in the wrong place: it modulates the output of the first UpBlock (up1 = up1 + t2)",
        (
            (
                "TimeConditionalUNet",
                "up1 = up1 + t2\n        up2 = self.up2(torch.cat([e2, up1], dim=1))",
                "up2 = self.up2(torch.cat([e2, up1], dim=1)) + t2",
            ),
        ),
    ),
    Variant(
        "TimeConditionalUNet",
        "t1-not-added",
        "t1 never reaches the network: the unflattened bottleneck must be unflatten + t1",
        (("TimeConditionalUNet", "unflatten = unflatten + t1", "unflatten = unflatten"),),
    ),
    Variant(
        "TimeConditionalUNet",
        "t2-not-added",
        "t2 never reaches the network: the first UpBlock's output must be up1 + t2",
        (("TimeConditionalUNet", "up1 = up1 + t2", "up1 = up1"),),
    ),
    # ---- ClassConditionalUNet ---------------------------------------------------------------------
    Variant(
        "ClassConditionalUNet",
        "mask-inverted",
        "the mask is inverted: the class must be dropped where mask == 0 and kept where mask == 1",
        (("ClassConditionalUNet", "c_vec = c_vec * _as_column(mask, x)", "c_vec = c_vec * (1 - _as_column(mask, x))"),),
    ),
    Variant(
        "ClassConditionalUNet",
        "mask-ignored",
        "the mask is ignored: where mask == 0 the one-hot class vector must be zeroed",
        (("ClassConditionalUNet", "c_vec = c_vec * _as_column(mask, x)", "c_vec = c_vec"),),
    ),
    Variant(
        "ClassConditionalUNet",
        "c-added",
        "the class embedding is added; it must scale the features: c1 * unflatten + t1, c2 * up1 + t2",
        (
            ("ClassConditionalUNet", "unflatten = c1 * unflatten + t1", "unflatten = c1 + unflatten + t1"),
            ("ClassConditionalUNet", "up1 = c2 * up1 + t2", "up1 = c2 + up1 + t2"),
        ),
    ),
    Variant(
        "ClassConditionalUNet",
        "t-and-c-swapped",
        "t and c play each other's part: c1 * unflatten + t1 (c scales, t shifts)",
        (
            ("ClassConditionalUNet", "unflatten = c1 * unflatten + t1", "unflatten = t1 * unflatten + c1"),
            ("ClassConditionalUNet", "up1 = c2 * up1 + t2", "up1 = t2 * up1 + c2"),
        ),
    ),
]

# ---- checks ------------------------------------------------------------------------------------

#: name -> (points: runs, structure, outputs; one-line description of the expected layers)
MODULE_POINTS = {
    "Conv": ((1, 1, 1), "Conv2d(k3, s1, p1), BatchNorm2d, GELU"),
    "DownConv": ((1, 1, 1), "Conv2d(k4, s2, p1), BatchNorm2d, GELU: halves the resolution"),
    "UpConv": ((1, 1, 1), "ConvTranspose2d(k4, s2, p1), BatchNorm2d, GELU: doubles the resolution"),
    "Flatten": ((1, 1, 0), "AvgPool2d(7), GELU: 7x7 -> 1x1"),
    "Unflatten": ((1, 1, 1), "ConvTranspose2d(k7, s7, p0), BatchNorm2d, GELU: 1x1 -> 7x7"),
    "ConvBlock": ((1, 1, 1), "Conv, Conv"),
    "DownBlock": ((1, 1, 1), "DownConv, ConvBlock"),
    "UpBlock": ((1, 1, 1), "UpConv, ConvBlock"),
    "FCBlock": ((1, 1, 1), "Linear, GELU, Linear"),
    "UnconditionalUNet": ((1, 3, 3), "the unconditional UNet with three skip connections"),
    "TimeConditionalUNet": ((1, 2, 4), "the UNet with t1 added to unflatten and t2 to up1"),
    "ClassConditionalUNet": ((1, 2, 4), "the UNet with c1 * unflatten + t1 and c2 * up1 + t2, mask drops the class"),
}


def _make(name, kind, points, doc):
    def check(sub, ref):
        view = ModuleView(sub, ref, name)
        {"runs": view.check_runs, "structure": view.check_structure, "outputs": view.check_outputs}[kind]()

    check.__doc__ = doc
    check.__name__ = f"test_{name}_{kind}"
    marks = [pytest.mark.api(name), pytest.mark.points(points)]
    if kind == "runs":
        marks.append(pytest.mark.visible)
    for mark in marks:
        check = mark(check)
    return check


for _name, ((_runs, _structure, _outputs), _what) in MODULE_POINTS.items():
    _args = ", ".join(map(str, MODULES[_name][0]))
    globals()[f"test_{_name}_runs"] = _make(
        _name, "runs", _runs, f"{_name}({_args}) runs and returns the expected shape"
    )
    if _outputs:
        globals()[f"test_{_name}_structure"] = _make(
            _name, "structure", _structure, f"{_name} has the expected layers and parameter count: {_what}"
        )
        globals()[f"test_{_name}_outputs"] = _make(
            _name, "outputs", _outputs, f"{_name} gives the reference's outputs with the reference's weights"
        )
    else:  # no parameters: layers and outputs judged together

        def _both(sub, ref, _n=_name):
            view = ModuleView(sub, ref, _n)
            view.check_structure()
            view.check_outputs()

        _both.__doc__ = f"{_name} runs {_what} and gives the reference's outputs"
        _both.__name__ = f"test_{_name}_layers_and_outputs"
        globals()[_both.__name__] = pytest.mark.points(_structure)(pytest.mark.api(_name)(_both))
