"""More ways real students write Part B correctly (issue 20): styles the grader used to refuse.

Used by make_corpus.py. Each entry: stem -> (kind, api, keyword in a failing message, keyword in the notes,
cells), as in styles.py. Every correct one must earn full marks with its adaptation named in the notes.
"""

# ---- 1. DownConv with the course figure's values, Conv2d(k3, s2, p1) ----------------------------------------------


def _downconv_k3(B):
    old = "nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)"
    assert B["ops"].count(old) == 1
    return B["ops"].replace(old, "nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1)")


# ---- 2. blocks whose outputs are right, composed otherwise: F.gelu, layers registered in another order, the time
# and class vectors fed to FCBlock as (N, 1, 1, k) and permuted back ------------------------------------------------

FUNCTIONAL_CONV = '''
class Conv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.bn = nn.BatchNorm2d(out_channels)          # registered before the conv it follows
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1)

    def forward(self, x):
        return F.gelu(self.bn(self.conv(x)))
'''

PERMUTED_TIME_UNET = '''
class TimeConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.fc1_t = FCBlock(1, 2 * D)
        self.fc2_t = FCBlock(1, D)
        self.conv_in = ConvBlock(in_channels, D)
        self.down1 = DownBlock(D, D)
        self.down2 = DownBlock(D, 2 * D)
        self.flatten = Flatten()
        self.unflatten = Unflatten(2 * D)
        self.up1 = UpBlock(4 * D, D)
        self.up2 = UpBlock(2 * D, D)
        self.conv_out = ConvBlock(2 * D, D)
        self.final = nn.Conv2d(D, in_channels, 3, 1, 1)

    def forward(self, x, t):
        t = t.reshape(-1, 1, 1, 1).float()                 # (N, 1, 1, 1): Linear acts on the last dim
        t1 = self.fc1_t(t).permute(0, 3, 1, 2)             # (N, 2D, 1, 1)
        t2 = self.fc2_t(t).permute(0, 3, 1, 2)
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        u = self.unflatten(self.flatten(e3)) + t1
        u1 = self.up1(torch.cat([e3, u], dim=1)) + t2
        u2 = self.up2(torch.cat([e2, u1], dim=1))
        return self.final(self.conv_out(torch.cat([e1, u2], dim=1)))
'''

PERMUTED_CLASS_UNET = '''
class ClassConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.num_classes = num_classes
        self.fc1_c = FCBlock(num_classes, 2 * D)
        self.fc2_c = FCBlock(num_classes, D)
        self.fc1_t = FCBlock(1, 2 * D)
        self.fc2_t = FCBlock(1, D)
        self.conv_in = ConvBlock(in_channels, D)
        self.down1 = DownBlock(D, D)
        self.down2 = DownBlock(D, 2 * D)
        self.flatten = Flatten()
        self.unflatten = Unflatten(2 * D)
        self.up1 = UpBlock(4 * D, D)
        self.up2 = UpBlock(2 * D, D)
        self.conv_out = ConvBlock(2 * D, D)
        self.final = nn.Conv2d(D, in_channels, 3, 1, 1)

    def forward(self, x, c, t, mask=None):
        n = x.shape[0]
        onehot = F.one_hot(c.long().reshape(-1), self.num_classes).float()
        if mask is not None:
            onehot = onehot * mask.float().reshape(n, 1)
        cv = onehot.reshape(n, 1, 1, -1)
        t = t.reshape(n, 1, 1, 1).float()
        c1, c2 = self.fc1_c(cv).permute(0, 3, 1, 2), self.fc2_c(cv).permute(0, 3, 1, 2)
        t1, t2 = self.fc1_t(t).permute(0, 3, 1, 2), self.fc2_t(t).permute(0, 3, 1, 2)
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        u = c1 * self.unflatten(self.flatten(e3)) + t1
        u1 = c2 * self.up1(torch.cat([e3, u], dim=1)) + t2
        u2 = self.up2(torch.cat([e2, u1], dim=1))
        return self.final(self.conv_out(torch.cat([e1, u2], dim=1)))
'''

# ---- 3. Flatten returning (N, C), Unflatten(in_channels, out_channels) with k7 s1, TimeConditionalUNet without
# num_classes -----------------------------------------------------------------------------------------------------


def _flat_ops(B):
    ops = B["ops"]
    flatten_old = ops[ops.index("class Flatten(nn.Module):"):ops.index("class Unflatten(nn.Module):")]
    unflatten_old = ops[ops.index("class Unflatten(nn.Module):"):]
    flatten_new = '''class Flatten(nn.Module):
    """7x7 -> a vector per image: AvgPool2d(7), GELU, returned as (N, C)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(7)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.pool(x)).flatten(1)


'''
    unflatten_new = '''class Unflatten(nn.Module):
    """A vector per image -> 7x7: ConvTranspose2d(k7) on the 1x1 map, BN, GELU."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=7, stride=1, padding=0)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()

    def forward(self, x):
        x = x.reshape(x.shape[0], -1, 1, 1)
        return self.act(self.bn(self.up(x)))
'''
    return ops.replace(flatten_old, flatten_new).replace(unflatten_old, unflatten_new)


def _two_arg_unflatten(source):
    assert "self.unflatten = Unflatten(2 * D)" in source
    return source.replace("self.unflatten = Unflatten(2 * D)", "self.unflatten = Unflatten(2 * D, 2 * D)")


def _time_unet_no_classes(B):
    source = _two_arg_unflatten(B["time_unet"])
    old = "def __init__(self, in_channels: int, num_classes: int, num_hiddens: int):"
    assert source.count(old) == 1
    return source.replace(old, "def __init__(self, in_channels: int, num_hiddens: int):")


def _time_run_no_classes(B):
    source = B["time_run"]
    assert "TimeConditionalUNet(in_channels=1, num_classes=10, num_hiddens=64)" in source
    return source.replace("TimeConditionalUNet(in_channels=1, num_classes=10, num_hiddens=64)",
                          "TimeConditionalUNet(in_channels=1, num_hiddens=64)")


# ---- 4. samplers and losses that read attributes of the student's own model ------------------------------------------

READS_OWN_MODEL_FORWARD = '''
def ddpm_forward(unet, ddpm_schedule, x_0, num_ts):
    unet.train()
    dev = unet.final.weight.device                       # the UNet's own last conv
    n = x_0.shape[0]
    t = torch.randint(0, num_ts, (n,), device=dev)
    eps = torch.randn_like(x_0)
    abar = ddpm_schedule["alpha_bars"].to(dev)[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    return F.mse_loss(unet(x_t, (t.float() / num_ts).view(n, 1)), eps)
'''

READS_OWN_MODEL_SAMPLE = '''
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    unet.eval()
    torch.manual_seed(seed)
    channels = unet.final.out_channels                   # as many channels as the UNet makes
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(num_samples, channels, h, w, device=device)
    for t in range(num_ts - 1, -1, -1):
        eps_hat = unet(x_t, torch.full((num_samples, 1), t / num_ts, device=device))
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
    return x_t
'''

READS_OWN_MODEL_FORWARD_CLASS = '''
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    unet.train()
    num_classes = unet.fc1_c.net[0].in_features          # read off the UNet's class embedding
    assert int(c.max()) < num_classes
    n = x_0.shape[0]
    mask = (torch.rand(n, device=x_0.device) >= p_uncond).float()
    t = torch.randint(0, num_ts, (n,), device=x_0.device)
    eps = torch.randn_like(x_0)
    abar = ddpm_schedule["alpha_bars"].to(x_0.device)[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    return F.mse_loss(unet(x_t, c, (t.float() / num_ts).view(n, 1), mask), eps)
'''

READS_OWN_MODEL_SAMPLE_CLASS = '''
@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    unet.eval()
    torch.manual_seed(seed)
    num_classes = unet.fc1_c.net[0].in_features
    c = torch.as_tensor(c, device=device).long().reshape(-1) % num_classes
    n = c.shape[0]
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(n, 1, h, w, device=device)
    for t in range(num_ts - 1, -1, -1):
        tt = torch.full((n, 1), t / num_ts, device=device)
        eps_c = unet(x_t, c, tt, torch.ones(n, device=device))
        eps_u = unet(x_t, c, tt, torch.zeros(n, device=device))
        eps_hat = eps_u + guidance_scale * (eps_c - eps_u)
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
    return x_t
'''

# ---- 5. samplers that return the whole trajectory, the sample last -------------------------------------------------

TRAJECTORY_SAMPLE = '''
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    """Returns every x_t from x_T to x_0 (the GIF's frames); the samples are the last."""
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(num_samples, 1, h, w, device=device)
    trajectory = [x_t.cpu()]
    for t in range(num_ts - 1, -1, -1):
        eps_hat = unet(x_t, torch.full((num_samples, 1), t / num_ts, device=device))
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
        trajectory.append(x_t.cpu())
    return trajectory
'''

TRAJECTORY_SAMPLE_CLASS = '''
@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    """Every x_t from x_T to x_0; the samples are the last."""
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    c = torch.as_tensor(c, device=device).long().reshape(-1)
    n = c.shape[0]
    w, h = img_wh
    x_t = torch.randn(n, 1, h, w, device=device)
    frames = [x_t]
    for t in range(num_ts - 1, -1, -1):
        tt = torch.full((n, 1), t / num_ts, device=device)
        eps_c = unet(x_t, c, tt, torch.ones(n, device=device))
        eps_u = unet(x_t, c, tt, torch.zeros(n, device=device))
        eps_hat = eps_u + guidance_scale * (eps_c - eps_u)
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
        frames.append(x_t)
    return frames
'''


def _results_take_last(B):
    old = "    show_grid(samples,"
    assert old in B["time_run"] and old in B["class_run"]
    return tuple(B[name].replace(old, "    show_grid(samples[-1],") for name in ("time_run", "class_run"))


# ---- 7. display calls inside graded code: media.show_image (mediapy is not installed), a show_image from a cell that
# does not parse, plt from that cell too ---------------------------------------------------------------------------

DISPLAY_IMPORTS = '''
%matplotlib inline
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import make_grid
import mediapy as media

device = 'cuda' if torch.cuda.is_available() else 'cpu'
'''

BROKEN_DISPLAY_CELL = '''
import matplotlib.pyplot as plt

def show_image(img, title=''):
    plt.imshow(torch.as_tensor(img).detach().cpu().squeeze(), cmap='gray')
    plt.title(title)
    plt.axis('off')
    plt.show()

fig, ax = plt.subplots(1 2)
'''

DISPLAY_TRAIN_DENOISER = '''
def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    unet.to(device)
    unet.train()
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    losses = []
    for epoch in range(num_epochs):
        for x, _ in train_loader:
            x = x.to(device)
            loss = F.mse_loss(unet(add_noise(x, sigma)), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        plt.figure()
        plt.plot(losses)
        plt.title(f'epoch {epoch + 1}')
        plt.show()
        show_image(x[0], f'a clean digit, epoch {epoch + 1}')
    return losses
'''

DISPLAY_SAMPLE = '''
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(num_samples, 1, h, w, device=device)
    for t in range(num_ts - 1, -1, -1):
        eps_hat = unet(x_t, torch.full((num_samples, 1), t / num_ts, device=device))
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
        if t % 100 == 0:
            media.show_image(x_t[0, 0].clamp(0, 1).cpu().numpy(), title=f't = {t}')
    return x_t
'''

# ---- 8. definitions the loader used to miss: `import torch` never written (only `from torch import nn`), a helper
# defined inside the for loop of a plotting cell, a notebook constant read by the model -----------------------------

NO_TORCH_IMPORTS = '''
%matplotlib inline
import numpy as np
from torch import nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import make_grid
'''

HYPER_CELL = '''
num_classes = 10
num_hiddens = 64
batch_size = 128
'''

GLOBAL_CLASSES_UNET = '''
class ClassConditionalUNet(nn.Module):
    def __init__(self, in_channels, num_classes, num_hiddens):
        super().__init__()
        D = num_hiddens
        self.conv_in = ConvBlock(in_channels, D)
        self.down1 = DownBlock(D, D)
        self.down2 = DownBlock(D, 2 * D)
        self.flatten = Flatten()
        self.unflatten = Unflatten(2 * D)
        self.up1 = UpBlock(4 * D, D)
        self.up2 = UpBlock(2 * D, D)
        self.conv_out = ConvBlock(2 * D, D)
        self.final = nn.Conv2d(D, in_channels, 3, 1, 1)
        self.fc1_t = FCBlock(1, 2 * D)
        self.fc2_t = FCBlock(1, D)
        self.fc1_c = FCBlock(num_classes, 2 * D)
        self.fc2_c = FCBlock(num_classes, D)

    def forward(self, x, c, t, mask=None):
        c_vec = F.one_hot(c.long().reshape(-1), num_classes).float()   # the notebook's constant
        if mask is not None:
            c_vec = c_vec * mask.float().reshape(-1, 1)
        t = t.float().reshape(-1, 1)
        c1, c2 = self.fc1_c(c_vec)[..., None, None], self.fc2_c(c_vec)[..., None, None]
        t1, t2 = self.fc1_t(t)[..., None, None], self.fc2_t(t)[..., None, None]
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        u = c1 * self.unflatten(self.flatten(e3)) + t1
        u1 = c2 * self.up1(torch.cat([e3, u], dim=1)) + t2
        u2 = self.up2(torch.cat([e2, u1], dim=1))
        return self.final(self.conv_out(torch.cat([e1, u2], dim=1)))
'''

SAMPLE_WITHOUT_STEP = '''
@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, num_samples=1):
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(device) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(num_samples, 1, h, w, device=device)
    for t in range(num_ts - 1, -1, -1):
        eps_hat = unet(x_t, torch.full((num_samples, 1), t / num_ts, device=device))
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)   # defined with the plots below
    return x_t
'''

PLOT_CELL_WITH_STEP = '''
schedule = ddpm_schedule(1e-4, 0.02, 300)
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, key in zip(axes, ("betas", "alpha_bars")):
    def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
        abar_t = alpha_bars[t]
        abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
        mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
            + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
        if t > 0:
            return mean + betas[t].sqrt() * torch.randn_like(x_t)
        return mean
    ax.plot(schedule[key].numpy())
    ax.set_title(key)
plt.show()
'''

# ---- 9. train_time_conditioned never written: a top-level loop trains the time-conditioned model, shows samples
# through show_image (from the cell that does not parse) and reads num_ts from a plain cell --------------------------

TIME_TOP_LEVEL_LOOP = '''
num_ts = 300
num_epochs = 20
schedule = ddpm_schedule(1e-4, 0.02, num_ts)
train_loader = DataLoader(train_dataset, batch_size=128, shuffle=True)
time_unet = TimeConditionalUNet(1, 10, 64).to(device)
optimizer = torch.optim.Adam(time_unet.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
time_losses = []
for epoch in range(num_epochs):
    for x, _ in train_loader:
        loss = ddpm_forward(time_unet, schedule, x.to(device), num_ts)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        time_losses.append(loss.item())
    scheduler.step()
    show_image(ddpm_sample(time_unet, schedule, (28, 28), num_ts)[0], f'epoch {epoch + 1}')
    plt.plot(time_losses)
    plt.show()
'''


def student_styles(B, reference_cells):
    """stem -> (kind, api, expect_in_message, expect_note, cells)."""
    time_run, class_run = _results_take_last(B)
    display_cells = reference_cells({
        "imports": DISPLAY_IMPORTS,
        "train_denoiser": DISPLAY_TRAIN_DENOISER,
        "ddpm_sample": DISPLAY_SAMPLE,
    })
    display_cells.insert(2, ("code", BROKEN_DISPLAY_CELL))
    loader_cells = reference_cells({
        "imports": NO_TORCH_IMPORTS,
        "class_unet": GLOBAL_CLASSES_UNET,
        "ddpm_sample": SAMPLE_WITHOUT_STEP,
        "ddpm_schedule": B["ddpm_schedule"] + "\n\n" + PLOT_CELL_WITH_STEP,
    })
    loader_cells.insert(2, ("code", HYPER_CELL))
    loop_cells = reference_cells({"imports": DISPLAY_IMPORTS, "train_time": TIME_TOP_LEVEL_LOOP},
                                 drop=("time_run",))
    loop_cells.insert(2, ("code", BROKEN_DISPLAY_CELL))
    return {
        "correct_style_downconv_k3": ("correct", None, None, "k3", reference_cells({"ops": _downconv_k3(B)})),
        "correct_style_composition": ("correct", None, None, "judged by its outputs", reference_cells({
            "ops": B["ops"].replace(B["ops"][:B["ops"].index("class DownConv")], FUNCTIONAL_CONV.strip("\n") + "\n\n\n"),
            "time_unet": B["time_unet"][:B["time_unet"].index("class TimeConditionalUNet")] + PERMUTED_TIME_UNET,
            "class_unet": PERMUTED_CLASS_UNET,
        })),
        "correct_style_flatten_nc": ("correct", None, None, "(N, C)", reference_cells({
            "ops": _flat_ops(B),
            "unet": _two_arg_unflatten(B["unet"]),
            "time_unet": _time_unet_no_classes(B),
            "class_unet": _two_arg_unflatten(B["class_unet"]),
            "time_run": _time_run_no_classes(B),
        })),
        "correct_style_reads_own_model": ("correct", None, None, "module tree", reference_cells({
            "ddpm_forward": READS_OWN_MODEL_FORWARD,
            "ddpm_sample": READS_OWN_MODEL_SAMPLE,
            "ddpm_forward_class": READS_OWN_MODEL_FORWARD_CLASS,
            "ddpm_sample_class": READS_OWN_MODEL_SAMPLE_CLASS,
        })),
        "correct_style_trajectory": ("correct", None, None, "trajectory", reference_cells({
            "ddpm_sample": TRAJECTORY_SAMPLE,
            "ddpm_sample_class": TRAJECTORY_SAMPLE_CLASS,
            "time_run": time_run,
            "class_run": class_run,
        })),
        "correct_style_display_calls": ("correct", None, None, "did nothing", display_cells),
        "correct_style_loader_misses": ("correct", None, None, "kept it as if it stood at top level", loader_cells),
        "correct_style_time_loop_display": ("correct", None, None, "as train_time_conditioned", loop_cells),
    }
