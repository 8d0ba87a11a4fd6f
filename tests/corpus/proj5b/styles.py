"""Notebooks written the way real students write Part B (issue 12): interfaces the grader adapts to.

Used by make_corpus.py. Each entry: stem -> (kind, api, keyword in a failing message, keyword in the notes,
cells). The correct ones must earn full marks, each adaptation named in the notes.
"""

# ---- 1. the course notebook's layout: the class-conditioned ddpm_forward / ddpm_sample are the time-conditioned
# names defined again further down; samplers return (samples, frames); code reads attributes off the model ----

READS_MODEL = '''
def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    device = next(unet.parameters()).device
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    losses = []
    for epoch in range(num_epochs):
        unet.train()
        for x, _ in train_loader:
            x = x.to(device)
            loss = F.mse_loss(unet(add_noise(x, sigma)), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
'''

TIME_SAMPLE_TUPLE = '''
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0, n_samples=1):
    """Returns (samples, frames): the frames make the GIF."""
    dev = next(unet.parameters()).device
    unet.eval()
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(dev) for k in ("betas", "alphas", "alpha_bars"))
    w, h = img_wh
    x_t = torch.randn(n_samples, unet.in_channels, h, w, device=dev)
    frames = []
    for t in range(num_ts - 1, -1, -1):
        eps_hat = unet(x_t, torch.full((n_samples, 1), t / num_ts, device=dev))
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
        if t % 50 == 0:
            frames.append(x_t.cpu())
    return x_t, frames
'''

CLASS_REDEFINED = '''
def ddpm_forward(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    """Class-conditioned objective (same name as the time-conditioned one, as in the course notebook)."""
    unet.train()
    n = x_0.shape[0]
    dev = next(unet.parameters()).device
    alpha_bars = ddpm_schedule["alpha_bars"].to(dev)
    mask = (torch.rand(n, device=dev) >= p_uncond).float()
    t = torch.randint(0, num_ts, (n,), device=dev)
    eps = torch.randn_like(x_0)
    abar = alpha_bars[t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    return F.mse_loss(unet(x_t, c, (t.float() / num_ts).view(n, 1), mask), eps)


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    """Class-conditioned CFG sampling; returns (samples, frames)."""
    dev = next(unet.parameters()).device
    unet.eval()
    torch.manual_seed(seed)
    assert unet.num_classes == 10
    betas, alphas, alpha_bars = (ddpm_schedule[k].to(dev) for k in ("betas", "alphas", "alpha_bars"))
    c = torch.as_tensor(c, device=dev).long().reshape(-1)
    n = c.shape[0]
    w, h = img_wh
    x_t = torch.randn(n, unet.in_channels, h, w, device=dev)
    frames = []
    for t in range(num_ts - 1, -1, -1):
        t_norm = torch.full((n, 1), t / num_ts, device=dev)
        eps_c = unet(x_t, c, t_norm, torch.ones(n, device=dev))
        eps_u = unet(x_t, c, t_norm, torch.zeros(n, device=dev))
        eps_hat = eps_u + guidance_scale * (eps_c - eps_u)
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
        frames.append(x_t)
    return x_t, frames
'''

CLASS_TRAIN_REDEFINED = '''
def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, c in train_loader:
            loss = ddpm_forward(unet, ddpm_schedule, x.to(device), c.to(device), p_uncond, num_ts)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
'''

# ---- 2. one-hot classes everywhere, the mask shaped like the one-hot, a sampler without num_samples -------------

ONE_HOT_UNET = '''
class ClassConditionalUNet(nn.Module):
    """c arrives one-hot (N, 10), as the spec suggests; mask is shaped like c (zeros drop the class)."""

    def __init__(self, in_channels: int, num_classes: int, num_hiddens: int):
        super().__init__()
        D = num_hiddens
        self.num_classes = num_classes
        self.conv_in = ConvBlock(in_channels, D)
        self.down1 = DownBlock(D, D)
        self.down2 = DownBlock(D, 2 * D)
        self.flatten = Flatten()
        self.unflatten = Unflatten(2 * D)
        self.up1 = UpBlock(4 * D, D)
        self.up2 = UpBlock(2 * D, D)
        self.conv_out = ConvBlock(2 * D, D)
        self.final = nn.Conv2d(D, in_channels, kernel_size=3, stride=1, padding=1)
        self.fc1_t = FCBlock(1, 2 * D)
        self.fc2_t = FCBlock(1, D)
        self.fc1_c = FCBlock(num_classes, 2 * D)
        self.fc2_c = FCBlock(num_classes, D)

    def forward(self, x, c, t, mask=None):
        if mask is not None:
            c = c * mask
        t = t.reshape(-1, 1).float()
        c1 = self.fc1_c(c).unsqueeze(-1).unsqueeze(-1)
        c2 = self.fc2_c(c).unsqueeze(-1).unsqueeze(-1)
        t1 = self.fc1_t(t).unsqueeze(-1).unsqueeze(-1)
        t2 = self.fc2_t(t).unsqueeze(-1).unsqueeze(-1)
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        u = c1 * self.unflatten(self.flatten(e3)) + t1
        u1 = c2 * self.up1(torch.cat([e3, u], dim=1)) + t2
        u2 = self.up2(torch.cat([e2, u1], dim=1))
        return self.final(self.conv_out(torch.cat([e1, u2], dim=1)))
'''

ONE_HOT_FORWARD = '''
def ddpm_forward_class(unet, ddpm_schedule, x_0, c, p_uncond, num_ts):
    n = x_0.shape[0]
    c_vec = F.one_hot(c.long(), 10).float()
    keep = (torch.rand(n, 1) >= p_uncond).float()
    mask = keep.repeat(1, 10)
    t = torch.randint(0, num_ts, (n,))
    eps = torch.randn_like(x_0)
    abar = ddpm_schedule["alpha_bars"][t].view(n, 1, 1, 1)
    x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
    return F.mse_loss(unet(x_t, c_vec, (t / num_ts).view(n, 1).float(), mask), eps)
'''

NO_NUM_SAMPLES = '''
def _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars):
    abar_t = alpha_bars[t]
    abar_prev = alpha_bars[t - 1] if t > 0 else torch.ones_like(abar_t)
    mean = (abar_prev.sqrt() * betas[t] / (1 - abar_t)) * x0_hat \\
        + (alphas[t].sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t > 0:
        return mean + betas[t].sqrt() * torch.randn_like(x_t)
    return mean


@torch.no_grad()
def ddpm_sample(unet, ddpm_schedule, img_wh, num_ts, seed=0):
    """One sample per call: the results cell calls it 40 times."""
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = ddpm_schedule["betas"], ddpm_schedule["alphas"], ddpm_schedule["alpha_bars"]
    x_t = torch.randn(1, 1, img_wh[1], img_wh[0])
    for t in reversed(range(num_ts)):
        eps_hat = unet(x_t, torch.tensor([[t / num_ts]]))
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
    return x_t
'''

ONE_HOT_SAMPLE = '''
@torch.no_grad()
def ddpm_sample_class(unet, ddpm_schedule, c, img_wh, num_ts, guidance_scale=5.0, seed=0):
    torch.manual_seed(seed)
    betas, alphas, alpha_bars = ddpm_schedule["betas"], ddpm_schedule["alphas"], ddpm_schedule["alpha_bars"]
    c_vec = F.one_hot(torch.as_tensor(c).long(), 10).float()
    n = c_vec.shape[0]
    on, off = torch.ones(n, 10), torch.zeros(n, 10)
    x_t = torch.randn(n, 1, img_wh[1], img_wh[0])
    for t in reversed(range(num_ts)):
        t_in = torch.full((n, 1), t / num_ts)
        eps_c, eps_u = unet(x_t, c_vec, t_in, on), unet(x_t, c_vec, t_in, off)
        eps_hat = eps_u + guidance_scale * (eps_c - eps_u)
        x0_hat = (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
        x_t = _ddpm_step(x_t, x0_hat, t, betas, alphas, alpha_bars)
    return x_t
'''

ONE_HOT_TRAIN = '''
def train_class_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, p_uncond=0.1, num_epochs=20, lr=1e-3,
                            device="cpu"):
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
    losses = []
    for epoch in range(num_epochs):
        for x, c in train_loader:
            loss = ddpm_forward_class(unet, ddpm_schedule, x, c, p_uncond, num_ts)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
'''

# ---- 3. time-conditioned training written as a loop around a small DDPM module (not graded: detected) ----------

DDPM_LOOP = '''
class DDPM(nn.Module):
    def __init__(self, unet, num_ts=300):
        super().__init__()
        self.unet = unet
        self.num_ts = num_ts
        self.schedule = ddpm_schedule(1e-4, 0.02, num_ts)

    def forward(self, x):
        return ddpm_forward(self.unet, self.schedule, x, self.num_ts)

    @torch.no_grad()
    def sample(self, img_wh, seed=0, num_samples=1):
        return ddpm_sample(self.unet, self.schedule, img_wh, self.num_ts, seed, num_samples)


num_epochs = 20
ddpm = DDPM(TimeConditionalUNet(1, 10, 64)).to(device)
optimizer = torch.optim.Adam(ddpm.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
time_losses = []
for epoch in range(num_epochs):
    for x, _ in train_loader:
        loss = ddpm(x.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        time_losses.append(loss.item())
    scheduler.step()
'''


def interface_styles(B, reference_cells):
    """stem -> (kind, api, expect_in_message, expect_note, cells)."""
    return {
        "correct_real_redefined": ("correct", None, None, "as ddpm_forward_class", reference_cells({
            "train_denoiser": READS_MODEL,
            "ddpm_sample": TIME_SAMPLE_TUPLE,
            "ddpm_forward_class": CLASS_REDEFINED,
            "train_class": CLASS_TRAIN_REDEFINED,
        }, drop=("ddpm_sample_class",))),
        # a real mistake in the redefined class objective costs points in ddpm_forward_class only (training is judged
        # with the grader's objective bound under both names)
        "mistake_redefined_class_mask_inverted": ("mistake", "ddpm_forward_class", "inverted", "as ddpm_forward_class",
                                                  reference_cells({
            "train_denoiser": READS_MODEL,
            "ddpm_sample": TIME_SAMPLE_TUPLE,
            "ddpm_forward_class": CLASS_REDEFINED.replace("mask = (torch.rand(n, device=dev) >= p_uncond).float()",
                                                          "mask = (torch.rand(n, device=dev) < p_uncond).float()"),
            "train_class": CLASS_TRAIN_REDEFINED,
        }, drop=("ddpm_sample_class",))),
        "correct_real_one_hot": ("correct", None, None, "takes one-hot classes", reference_cells({
            "class_unet": ONE_HOT_UNET,
            "ddpm_forward_class": ONE_HOT_FORWARD,
            "ddpm_sample": NO_NUM_SAMPLES,
            "ddpm_sample_class": ONE_HOT_SAMPLE,
            "train_class": ONE_HOT_TRAIN,
        })),
        "mistake_train_time_top_level_loop": ("mistake", "train_time_conditioned", "top-level loop",
                                              "training written as a top-level loop", reference_cells({
            "train_time": DDPM_LOOP,
        })),
    }
