"""Training written as a top-level loop: found, described (grading side) and run in place of the function (worker)."""

from __future__ import annotations

import ast

import pytest

from grader.intake import training_loops
from grader.worker import loops

MODELS = {"train_class": ("ClassNet",), "train_plain": ("PlainNet",)}


def statements(*cells: str, kept=lambda node: isinstance(node, (ast.Import, ast.ClassDef, ast.FunctionDef))):
    out = []
    for i, code in enumerate(cells, start=1):
        for node in ast.parse(code).body:
            out.append(training_loops.Statement(i, f"cell {i}", node, ast.get_source_segment(code, node), kept(node)))
    return out


SETUP = """
train_set = datasets.MNIST("data", download=True)
train_loader = DataLoader(train_set, batch_size=256, shuffle=True)
device = "cuda"
unused = heavy_thing()
model = PlainNet(1, 128).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
"""
LOOP = """
for epoch in range(num_epochs):
    for x, _ in tqdm(train_loader):
        loss = ((model(x.to(device)) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    torch.save(model.state_dict(), f"/content/drive/ckpt_{epoch}.pt")
"""


def test_a_loop_is_found_with_the_set_up_it_needs_and_nothing_else():
    found = training_loops.find(statements(SETUP, LOOP), MODELS, provided=set())
    assert list(found) == ["train_plain"]
    rec = found["train_plain"]
    assert [s["source"].split(" =")[0] for s in rec["setup"]] == ["model", "opt"]  # not the data, nor `unused`
    assert rec["data_names"] == ["train_loader"]
    assert rec["cpu_names"] == ["device"]
    assert rec["models"] == ["PlainNet"]
    assert rec["cell"] == 2 and rec["line"] == 2 and rec["epoch_loop"]


def test_the_model_class_decides_the_function_even_through_a_wrapper_module():
    wrapper = "class Wrapper(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.net = ClassNet()\n"
    setup = "model = Wrapper()\nopt = torch.optim.Adam(model.parameters())\n"
    found = training_loops.find(statements(wrapper, setup, LOOP), MODELS, provided=set())
    assert list(found) == ["train_class"]


def test_while_loops_and_loops_over_unknown_models_are_not_graded():
    while_loop = "while step < 10:\n    loss = model(x)\n    loss.backward()\n    step += 1\n"
    found = training_loops.find(statements("model = PlainNet()", while_loop), MODELS, provided=set())
    assert found == {}
    other = LOOP.replace("model", "mystery")
    assert training_loops.find(statements("mystery = OtherNet()", other), MODELS, provided=set()) == {}


def test_the_later_of_two_loops_for_one_function_is_graded():
    found = training_loops.find(statements(SETUP, LOOP, LOOP), MODELS, provided=set())
    assert found["train_plain"]["cell"] == 3


def test_a_progress_bar_bound_inside_the_loop_is_followed_to_its_data():
    code = "for e in range(3):\n    bar = tqdm(loader, desc='x')\n    for x, y in bar:\n        f(x).backward()\n"
    assert loops.describe(ast.parse(code).body[0])["data_names"] == ["bar", "loader"]


def test_the_rewrite_replaces_the_data_cuts_the_epochs_and_drops_saving():
    text = ast.unparse(loops.rewrite(LOOP.strip(), 1))
    assert f"for epoch in {loops.EPOCHS}(range(num_epochs))" in text
    assert f"tqdm({loops.LOADER})" in text
    assert "torch.save" not in text


def test_a_loop_without_an_epoch_loop_is_run_once_per_epoch():
    code = "for x, y in loader:\n    f(x).backward()"
    tree = loops.rewrite(code, 1)
    assert isinstance(tree.body[0], ast.For) and ast.unparse(tree.body[0].iter) == f"{loops.EPOCHS}(None)"
    assert ast.unparse(tree.body[0].body[0].iter) == loops.LOADER


def test_line_numbers_stay_the_students():
    tree = loops.rewrite(LOOP.strip(), 7)
    assert tree.body[0].lineno == 7


torch = pytest.importorskip("torch")


def test_the_loop_runs_on_the_graders_model_and_data_and_reports_the_backward_losses():
    net = torch.nn.Linear(2, 1)
    data = [(torch.ones(4, 2) * k, None) for k in range(3)]
    code = (
        "for epoch in range(num_epochs):\n"
        "    for x, _ in train_loader:\n"
        "        loss = (model(x.to(device)) ** 2).mean()\n"
        "        opt.zero_grad()\n"
        "        loss.backward()\n"
        "        opt.step()\n"
        "    torch.save(model.state_dict(), '/no/such/folder/ckpt.pt')\n"
    )
    record = {
        "api": "train_plain",
        "where": "cell 9",
        "line": 1,
        "source": code,
        "setup": [
            {"source": "model = PlainNet(1, 128).to(device)", "line": 1, "where": "cell 8"},
            {"source": "opt = torch.optim.SGD(model.parameters(), lr=0.1)", "line": 2, "where": "cell 8"},
        ],
        "models": ["PlainNet"],
        "data_names": ["train_loader"],
        "cpu_names": ["device"],
    }
    ns = {"torch": torch, "num_epochs": 20, "device": "cuda", "PlainNet": None}
    run = loops.LoopTraining(ns, record)
    losses = run.run(net, data, epochs=2)
    assert len(losses) == 2 * len(data)  # 2 of its 20 epochs, one loss per batch, read from backward()
    assert run.declared_epochs == 20
    assert ns["model"] is net and str(ns["device"]) == "cpu"
    assert losses[-1] < losses[1]  # SGD on the grader's net lowered the loss


def test_an_error_in_the_loop_names_the_students_cell_and_line():
    record = {
        "api": "train_plain",
        "where": "the cell starting 'for'",
        "line": 4,
        "source": "for x, _ in train_loader:\n    y = undefined_name + 1\n    y.backward()\n",
        "setup": [],
        "models": [],
        "data_names": ["train_loader"],
        "cpu_names": [],
    }
    with pytest.raises(NameError) as info:
        loops.LoopTraining({}, record).run(torch.nn.Linear(1, 1), [(torch.zeros(1), None)], epochs=1)
    frame = info.traceback[-1]
    assert frame.lineno + 1 == 5 and "the cell starting" in str(frame.path)


def test_loaders_and_datasets_of_the_notebook_are_the_graders_and_not_set_up():
    data = (
        "full = datasets.MNIST('data', download=True)\n"
        "train_set, val_set = random_split(full, [50000, 10000])\n"
        "train_loader = DataLoader(train_set, batch_size=128)\n"
        "val_loader = torch.utils.data.DataLoader(dataset=val_set)\n"
    )
    loop = LOOP.replace(
        "    torch.save(",
        "    with torch.no_grad():\n        v = sum(model(x).sum() for x, _ in val_loader) / len(val_set)\n    torch.save(",
    )
    setup = "model = PlainNet()\nopt = torch.optim.Adam(model.parameters())\n"
    rec = training_loops.find(statements(data, setup, loop), MODELS, provided={"device"})["train_plain"]
    assert rec["data_names"] == ["train_loader", "val_loader"]
    assert rec["dataset_names"] == ["val_set"]
    assert not any("MNIST" in s["source"] or "DataLoader" in s["source"] for s in rec["setup"])


def test_notebook_progress_bars_become_plain_ones():
    notebook = pytest.importorskip("tqdm.notebook")
    from tqdm import std

    ns = {"tqdm": notebook.tqdm, "trange": notebook.trange, "other": len}
    loops._plain_progress_bars(ns)
    assert ns["tqdm"] is std.tqdm and ns["trange"] is std.trange and ns["other"] is len


@pytest.mark.parametrize(
    "value,gpu",
    [
        ('"cuda"', True),
        ('torch.device("cuda:0")', True),
        ('"cuda" if torch.cuda.is_available() else "cpu"', True),
        ('torch.device("mps" if ok else "cpu")', True),
        ('"cpu"', False),
        ("TimeConditionalUNet(1, 10, 64).cuda()", False),  # a model moved to the GPU is set-up, not a device
    ],
)
def test_only_devices_count_as_gpu_names(value, gpu):
    assert training_loops._is_gpu_device(ast.parse(value, mode="eval").body) is gpu


def test_a_loop_inside_an_if_is_found_with_the_set_up_in_that_branch():
    code = (
        "TRAIN = True\n"
        "if TRAIN:\n"
        "    model = PlainNet(1, 128)\n"
        "    opt = torch.optim.Adam(model.parameters(), lr=1e-4)\n"
        "    for epoch in range(5):\n"
        "        for x, _ in train_loader:\n"
        "            loss = model(x).mean()\n"
        "            opt.zero_grad()\n"
        "            loss.backward()\n"
        "            opt.step()\n"
        "else:\n"
        "    model = torch.load('model.pt')\n"
    )
    tree = ast.parse(code)
    parts = [p for node in tree.body for p in training_loops.unfold(node, code)]
    stmts = [training_loops.Statement(1, "cell 1", n, text, False) for n, text in parts]
    rec = training_loops.find(stmts, MODELS, provided=set())["train_plain"]
    assert rec["line"] == 5 and rec["source"].startswith("for epoch in range(5):\n    for x, _")
    assert [s["line"] for s in rec["setup"]] == [3, 4]
    assert loops.rewrite(rec["source"], rec["line"]).body[0].lineno == 5


def test_called_as_the_function_the_loop_finds_the_model_data_and_epochs():
    record = {
        "api": "train_plain",
        "where": "cell 9",
        "line": 1,
        "source": "for epoch in range(20):\n    for x, _ in train_loader:\n        model(x).sum().backward()\n",
        "setup": [],
        "models": [],
        "data_names": ["train_loader"],
        "cpu_names": [],
    }
    net = torch.nn.Linear(2, 1)
    data = [(torch.ones(3, 2), None)] * 4
    ns = {"model": net}
    losses = loops.LoopTraining(ns, record)(net, {"betas": 1}, data, num_ts=300, num_epochs=2, lr=1e-3)
    assert len(losses) == 2 * 4
    with pytest.raises(TypeError, match="needs a model and a data loader"):
        loops.LoopTraining(ns, record)(net, num_epochs=1)


def test_free_names_follow_pythons_evaluation_order():
    code = (
        "for step in range(n):\n"
        "    try:\n"
        "        x, _ = next(data_iter)\n"
        "    except StopIteration:\n"
        "        data_iter = iter(loader)\n"
        "        x, _ = next(data_iter)\n"
        "    total += x.sum()\n"
        "    y = [x * k for k in scale]\n"
    )
    assert training_loops._free(ast.parse(code).body[0]) == {"n", "data_iter", "loader", "total", "scale"}


def test_a_loop_over_steps_runs_as_many_steps_as_the_graders_loader_has_batches():
    code = "for step in trange(5000):\n    x, _ = next(data_iter)\n    model(x).sum().backward()\n"
    node = ast.parse(code).body[0]
    assert loops.describe(node) == {"epoch_loop": False, "data_names": []}
    text = ast.unparse(loops.rewrite(code, 1))
    assert f"for step in {loops.STEPS}(trange(5000))" in text and f"{loops.EPOCHS}(None)" in text


def test_a_helper_defined_again_further_down_is_set_up_as_it_was_at_the_loop():
    wrapper = "class Wrap(nn.Module):\n    def forward(self, x):\n        return step(self, x)\n"
    setup = "model = Wrap(PlainNet())\nopt = torch.optim.Adam(model.parameters())\n"
    later = "class Wrap(nn.Module):\n    def forward(self, x, c):\n        return step(self, x, c)\n"
    graded_later = "def step(m, x, c):\n    return 0\n"
    cells = statements("def step(m, x):\n    return 1\n", wrapper, setup, LOOP, later, graded_later)
    rec = training_loops.find(cells, MODELS, provided=set(), graded={"step"})["train_plain"]
    sources = [s["source"] for s in rec["setup"]]
    assert sources[0].startswith("class Wrap") and "forward(self, x):" in sources[0]  # the earlier version
    assert not any(s.startswith("def step") for s in sources)  # a graded name: the probe binds it


def test_a_name_bound_only_in_a_later_cell_is_set_up_from_there():
    later = "opt = torch.optim.Adam(model.parameters(), lr=1e-4)\nunrelated = 3\n"
    rec = training_loops.find(statements("model = PlainNet()", LOOP, later), MODELS, provided={"device"})["train_plain"]
    assert [s["source"].split(" =")[0] for s in rec["setup"]] == ["model", "opt"]
