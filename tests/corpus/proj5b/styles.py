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

# ---- 3. training written as top-level loops (graded by running the loop on the grader's model and data) ---------

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


# the skeleton's stub kept, the training done below it: tqdm, a GPU device, inline noise, a criterion object and a
# checkpoint saved to Google Drive every epoch
DENOISER_LOOP = '''
from tqdm.auto import tqdm


def train_denoiser(unet, train_loader, sigma=0.5, num_epochs=5, lr=1e-4, device="cpu"):
    ...  # I trained in the cell below instead


dev = torch.device("cuda")
sigma = 0.5
denoiser = UnconditionalUNet(1, 128).to(dev)
criterion = nn.MSELoss()
opt = torch.optim.Adam(denoiser.parameters(), lr=1e-4)
train_losses = []
for epoch in tqdm(range(5), desc="epochs"):
    for i, (images, labels) in enumerate(tqdm(train_loader, leave=False)):
        images = images.to(dev)
        noisy = images + sigma * torch.randn_like(images)
        opt.zero_grad()
        out = denoiser(noisy)
        loss = criterion(out, images)
        loss.backward()
        opt.step()
        train_losses.append(loss.item())
    torch.save(denoiser.state_dict(), f"/content/drive/MyDrive/cs180/denoiser_{epoch}.pt")
'''

# one-based epochs, a progress bar bound to a name, the objective called directly, samples every fifth epoch
CLASS_LOOP = '''
from tqdm.auto import tqdm

num_epochs = 20
class_unet = ClassConditionalUNet(1, 10, 64).to(device)
schedule = ddpm_schedule(1e-4, 0.02, 300)
optimizer = torch.optim.Adam(class_unet.parameters(), lr=1e-3)
lr_sched = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1 / num_epochs))
class_losses = []
for epoch in range(1, num_epochs + 1):
    class_unet.train()
    pbar = tqdm(train_loader, desc=f"epoch {epoch}")
    for x, c in pbar:
        x, c = x.to(device), c.to(device)
        loss = ddpm_forward_class(class_unet, schedule, x, c, 0.1, 300)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        class_losses.append(loss.item())
        pbar.set_postfix(loss=loss.item())
    lr_sched.step()
    if epoch % 5 == 0:
        class_unet.eval()
        samples = ddpm_sample_class(class_unet, schedule, torch.arange(10).repeat(4), (28, 28), 300)
        show_grid(samples, nrow=10, title=f"epoch {epoch}")
'''

# a loop over iterations with while: the grader cannot run it in place of the function (explained, not graded)
WHILE_LOOP = '''
num_epochs = 20
ddpm_sched = ddpm_schedule(1e-4, 0.02, 300)
time_unet = TimeConditionalUNet(1, 10, 64).to(device)
optimizer = torch.optim.Adam(time_unet.parameters(), lr=1e-3)
step, batches = 0, iter(train_loader)
while step < num_epochs * len(train_loader):
    try:
        x, _ = next(batches)
    except StopIteration:
        batches = iter(train_loader)
        x, _ = next(batches)
    loss = ddpm_forward(time_unet, ddpm_sched, x.to(device), 300)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    step += 1
'''


# the objective written inline (not ddpm_forward_class): one-hot classes, its own mask and noise, a validation pass
CLASS_INLINE_LOOP = '''
from tqdm import trange

num_epochs = 20
p_uncond = 0.1
T = 300
sched = ddpm_schedule(1e-4, 0.02, T)
cunet = ClassConditionalUNet(1, 10, 64).to(device)
test_loader = DataLoader(test_dataset, batch_size=128)
optim = torch.optim.Adam(cunet.parameters(), lr=1e-3)
decay = torch.optim.lr_scheduler.ExponentialLR(optim, gamma=0.1 ** (1 / num_epochs))
criterion = nn.MSELoss()
history = []
for epoch in trange(num_epochs):
    cunet.train()
    total = 0.0
    for step, (x, c) in enumerate(train_loader):
        x = x.to(device)
        c1h = F.one_hot(c, 10).float().to(device)
        mask = (torch.rand(x.shape[0], device=device) >= p_uncond).float()
        t = torch.randint(0, T, (x.shape[0],), device=device)
        eps = torch.randn_like(x)
        ab = sched["alpha_bars"].to(device)[t].view(-1, 1, 1, 1)
        x_t = ab.sqrt() * x + (1 - ab).sqrt() * eps
        loss = criterion(cunet(x_t, c1h, (t / T).view(-1, 1), mask), eps)
        optim.zero_grad()
        loss.backward()
        optim.step()
        total += loss.item() * x.shape[0]
        history.append(loss.item())
    decay.step()
    print(f"epoch {epoch}: {total / len(train_dataset):.4f}")
    cunet.eval()
    with torch.no_grad():
        val = sum(F.mse_loss(cunet(x, F.one_hot(y, 10).float(), torch.zeros(len(x), 1), torch.ones(len(x))), x).item()
                  for x, y in test_loader)
'''

# the time-conditioned objective written inside the training function
TIME_INLINE_TRAIN = '''
def train_time_conditioned(unet, ddpm_schedule, train_loader, num_ts=300, num_epochs=20, lr=1e-3, device="cpu"):
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
    alpha_bars = ddpm_schedule["alpha_bars"].to(device)
    losses = []
    for _ in range(num_epochs):
        for x_0, _ in train_loader:
            x_0 = x_0.to(device)
            t = torch.randint(0, num_ts, (x_0.shape[0],), device=device)
            eps = torch.randn_like(x_0)
            abar = alpha_bars[t].reshape(-1, 1, 1, 1)
            x_t = abar.sqrt() * x_0 + (1 - abar).sqrt() * eps
            loss = F.mse_loss(unet(x_t, (t.float() / num_ts).reshape(-1, 1)), eps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
'''


# a loop over steps that takes its batches with next(), restarting the iterator at the end of the data
STEPS_LOOP = '''
num_steps = 5000
model = UnconditionalUNet(1, 128).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
data_iter = iter(train_loader)
losses = []
for step in range(num_steps):
    try:
        x, _ = next(data_iter)
    except StopIteration:
        data_iter = iter(train_loader)
        x, _ = next(data_iter)
    loss = F.mse_loss(model(add_noise(x, 0.5)), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if step % 500 == 0:
        print(step, loss.item())
'''


# the course notebook's whole layout: a DDPM wrapper module trained by a loop, then the wrapper, ddpm_forward and
# ddpm_sample all defined again, class-conditioned, under the same names, and a second loop
CLASS_DDPM_LOOP = '''
class DDPM(nn.Module):
    def __init__(self, unet, num_ts=300, p_uncond=0.1):
        super().__init__()
        self.unet = unet
        self.num_ts = num_ts
        self.p_uncond = p_uncond
        self.schedule = ddpm_schedule(1e-4, 0.02, num_ts)

    def forward(self, x, c):
        return ddpm_forward(self.unet, self.schedule, x, c, self.p_uncond, self.num_ts)


num_epochs = 20
class_ddpm = DDPM(ClassConditionalUNet(1, 10, 64)).to(device)
optimizer = torch.optim.Adam(class_ddpm.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / num_epochs))
class_losses = []
for epoch in range(num_epochs):
    for x, c in train_loader:
        loss = class_ddpm(x.to(device), c.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        class_losses.append(loss.item())
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
        "correct_real_time_loop": ("correct", None, None, "graded your training loop", reference_cells({
            "train_time": DDPM_LOOP,
        })),
        "correct_real_course_layout_loops": ("correct", None, None, "as train_class_conditioned", reference_cells({
            "train_time": DDPM_LOOP,
            "ddpm_forward_class": CLASS_REDEFINED,
            "train_class": CLASS_DDPM_LOOP,
        })),
        "correct_real_denoiser_loop": ("correct", None, None, "as train_denoiser", reference_cells({
            "train_denoiser": DENOISER_LOOP,
        })),
        "correct_real_denoiser_steps_loop": ("correct", None, None, "as train_denoiser", reference_cells({
            "train_denoiser": STEPS_LOOP,
        })),
        "correct_real_class_loop": ("correct", None, None, "as train_class_conditioned", reference_cells({
            "train_class": CLASS_LOOP,
        })),
        # mistakes inside a top-level loop lose points in the training function's checks, named as usual
        "mistake_loop_denoiser_noisy_target": ("mistake", "train_denoiser", "noisy input", "as train_denoiser",
                                               reference_cells({
            "train_denoiser": DENOISER_LOOP.replace("loss = criterion(out, images)", "loss = criterion(out, noisy)"),
        })),
        "mistake_loop_time_scheduler_per_batch": ("mistake", "train_time_conditioned", "every iteration",
                                                  "graded your training loop", reference_cells({
            "train_time": DDPM_LOOP.replace("        time_losses.append(loss.item())\n    scheduler.step()",
                                            "        time_losses.append(loss.item())\n        scheduler.step()"),
        })),
        "mistake_loop_class_no_zero_grad": ("mistake", "train_class_conditioned", "never zeroes",
                                            "as train_class_conditioned", reference_cells({
            "train_class": CLASS_LOOP.replace("        optimizer.zero_grad()\n", ""),
        })),
        "correct_real_class_inline_loop": ("correct", None, None, "as train_class_conditioned", reference_cells({
            "train_class": CLASS_INLINE_LOOP,
        })),
        "correct_train_time_inline_objective": ("correct", None, None, None, reference_cells({
            "train_time": TIME_INLINE_TRAIN,
        })),
        # the objective written inline is judged too: t not normalised, x_0 as the target, alphas for alpha_bars
        "mistake_loop_class_inline_t_unnormalised": ("mistake", "train_class_conditioned", "t / num_ts",
                                                     "as train_class_conditioned", reference_cells({
            "train_class": CLASS_INLINE_LOOP.replace("(t / T).view(-1, 1)", "t.float().view(-1, 1)"),
        })),
        "mistake_loop_class_inline_target_x0": ("mistake", "train_class_conditioned", "with x_0",
                                                "as train_class_conditioned", reference_cells({
            "train_class": CLASS_INLINE_LOOP.replace("(t / T).view(-1, 1), mask), eps)", "(t / T).view(-1, 1), mask), x)"),
        })),
        "mistake_train_time_inline_alphas": ("mistake", "train_time_conditioned", "made with alphas", None, reference_cells({
            "train_time": TIME_INLINE_TRAIN.replace('ddpm_schedule["alpha_bars"]', 'ddpm_schedule["alphas"]'),
        })),
        "mistake_train_time_while_loop": ("mistake", "train_time_conditioned", "top-level loop",
                                          "training written as a top-level loop", reference_cells({
            "train_time": WHILE_LOOP,
        })),
    }
