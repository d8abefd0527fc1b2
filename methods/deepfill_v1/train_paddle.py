"""DeepFill v1 training, PaddlePaddle port (read side by side with train_torch.py).

Upstream (JiahuiYu/generative_inpainting v1: train.py, inpaint_model.py
build_graph_with_losses, inpaint.yml): for every generator update, critic_steps (5) updates of
the local and global WGAN-GP critics, each on a fresh batch; Adam (lr 1e-4, betas 0.5 / 0.9)
for both. The generator minimises

    gan_loss_alpha (0.001) x [global_wgan_loss_alpha (1) x (-E critic_global(completed))
                              - E critic_local(completed patch)]
    + l1_loss_alpha (1.2) x [coarse_l1_alpha (1.2) x L1d(x1) + L1d(x2)]   (local patch)
    + ae_loss_alpha (1.2) x [coarse_l1_alpha x L1k(x1) + L1k(x2)]         (known pixels)

where L1d is the mean absolute error over the local patch weighted by the spatial discounting
mask (gamma ** distance to the patch edge) and L1k the mean absolute error outside the hole
divided by the known fraction. The critics minimise E D(fake) - E D(real) for each critic plus
lambda (10) x the gradient penalty, whose slope is taken over the hole's pixels only (neuralgym
gradients_penalty with mask=mask; the local patch's part of the mask for the local critic).

On a GPU the networks run under bfloat16 autocast (NCHW: Paddle picks the layout per layer at
build time, so there is no channels-last switch here), except contextual attention (float32:
bf16 keeps 8 significant bits, so fused cosine scores near 2 would move in steps of 0.008, 0.08
in the logits of its softmax at scale 10) and the losses and gradient penalty (float32); on the
CPU all is float32.
"""
import functools

import paddle

from methods import checkpoint, loop, ops_paddle, parallel, parallel_paddle, training
from methods.deepfill_v1 import batches, geometry, layers, model_paddle

RESUME = loop.RESUME["paddle"]


def build_models(params, seed, size, device):
    """Generator and critics with the framework-neutral initial weights of training.init_state."""
    generator = training.initialised("paddle", lambda: model_paddle.Generator(params["cnum"]),
                                     seed, layers.INIT)
    critics = training.initialised("paddle", lambda: model_paddle.Critics(size,
                                                                          params["critic_cnum"]),
                                   seed, layers.INIT)
    nets = generator, critics
    return nets


def optimizers(nets, settings):
    """Adam per network (train.py: AdamOptimizer(1e-4, beta1=0.5, beta2=0.9))."""
    return tuple(paddle.optimizer.Adam(learning_rate=settings["lr"], beta1=settings["beta1"],
                                       beta2=settings["beta2"], parameters=net.parameters())
                 for net in nets)


def to_tensors(batch, device, fast):
    image, hole, corners, alphas = batch
    image, hole, alphas = (paddle.to_tensor(a) for a in (image, hole, alphas))
    return image * 2 - 1, hole, corners, alphas  # upstream's [-1, 1]


def crop(x, corners, size):
    """The size x size patch of each image at its (row, column) corner."""
    return paddle.stack([x[i, :, top:top + size, left:left + size]
                         for i, (top, left) in enumerate(corners.tolist())])


def generate(generator, real, hole, fast):
    """(coarse, refined, completed): the completed image is the refined output in the hole and
    the input outside (upstream batch_complete)."""
    hole3 = ops_paddle.like(hole, real)
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
        coarse, refined = generator(real * (1 - hole3), hole)
    coarse, refined = coarse.astype("float32"), refined.astype("float32")
    return coarse, refined, refined * hole3 + real * (1 - hole3)


def critic_scores(critics, local, whole, fast):
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
        scores = critics(local, whole)
    return tuple(s.astype("float32") for s in scores)


def gradient_penalty(critic, real, fake, alpha, hole, fast):
    """neuralgym gradients_penalty on random_interpolates: E (|grad D(x^) restricted to the
    hole| - 1)^2 with x^ = real + alpha (fake - real), one alpha per image."""
    mixed = (real + alpha[:, None, None, None] * (fake - real)).detach()
    mixed.stop_gradient = False
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
        score = critic(mixed)
    grad, = paddle.grad(outputs=score.astype("float32").sum(), inputs=mixed, create_graph=True)
    slope = (grad.astype("float32") ** 2 * hole).sum([1, 2, 3]).sqrt()
    return ((slope - 1) ** 2).mean()


def critic_step(nets, opt, batch, settings, device, fast):
    """One update of both critics on a fresh batch; returns the losses as floats."""
    generator, critics = nets
    real, hole, corners, alphas = to_tensors(batch, device, fast)
    side = batches.local_size(real.shape[-1])
    with paddle.no_grad():
        _, _, completed = generate(generator, real, hole, fast)
    real_local, fake_local = crop(real, corners, side), crop(completed, corners, side)
    local, whole = critic_scores(critics, paddle.concat([real_local, fake_local]),
                                 paddle.concat([real, completed]), fast)
    n = real.shape[0]
    wgan = (local[n:].mean() - local[:n].mean()) + (whole[n:].mean() - whole[:n].mean())
    penalty = (gradient_penalty(critics.local_critic, real_local, fake_local, alphas[0],
                                crop(hole, corners, side), fast) +
               gradient_penalty(critics.global_critic, real, completed, alphas[1], hole, fast))
    loss = wgan + settings["wgan_gp_lambda"] * penalty
    opt.clear_grad(set_to_zero=False)
    loss.backward()
    parallel_paddle.average_gradients(critics)
    opt.step()
    return {"d_wgan": wgan.detach(), "d_penalty": penalty.detach(), "d_loss": loss.detach()}


def reconstruction_losses(real, coarse, refined, hole, corners, settings):
    """(l1 over the discounted local patch, ae over the known pixels), upstream's l1_loss and
    ae_loss, each with the coarse output weighted by coarse_l1_alpha; ae's known fraction is
    the global batch's when there are several ranks."""
    side = batches.local_size(real.shape[-1])
    discount = paddle.to_tensor(geometry.discount_mask(side, side, settings["discount_gamma"]),
                                place=real.place)
    real_local = crop(real, corners, side)
    alpha = settings["coarse_l1_alpha"]
    discount = ops_paddle.like(discount, real_local)
    l1 = (alpha * ((real_local - crop(coarse, corners, side)).abs() * discount).mean() +
          ((real_local - crop(refined, corners, side)).abs() * discount).mean())
    known = ops_paddle.like(1 - hole, real)
    ae = parallel_paddle.ratio(alpha * ((real - coarse).abs() * known).mean() +
                             ((real - refined).abs() * known).mean(), known.mean())
    return l1, ae


def generator_step(nets, opt, batch, settings, device, fast):
    """One update of the generator; the critics' weights get no gradient."""
    generator, critics = nets
    real, hole, corners, _ = to_tensors(batch, device, fast)
    side = batches.local_size(real.shape[-1])
    coarse, refined, completed = generate(generator, real, hole, fast)
    l1, ae = reconstruction_losses(real, coarse, refined, hole, corners, settings)
    adversarial = paddle.zeros([])
    if settings["gan_loss_alpha"]:  # weight 0 (reconstruction-only runs): the critics idle
        for parameter in critics.parameters():
            parameter.stop_gradient = True
        local, whole = critic_scores(critics, crop(completed, corners, side), completed, fast)
        for parameter in critics.parameters():
            parameter.stop_gradient = False
        adversarial = settings["global_wgan_loss_alpha"] * -whole.mean() - local.mean()
    loss = (settings["gan_loss_alpha"] * adversarial + settings["l1_loss_alpha"] * l1 +
            settings["ae_loss_alpha"] * ae)
    opt.clear_grad(set_to_zero=False)
    loss.backward()
    parallel_paddle.average_gradients(generator)
    opt.step()
    return {"l1": l1.detach(), "ae": ae.detach(), "g_adversarial": adversarial.detach(),
            "g_loss": loss.detach()}


def train_step(nets, opts, drawn, settings, device, fast):
    """critic_steps critic updates, then one generator update, on the step's batches
    (batches.step_batches); returns the log record."""
    record = {}
    for batch in drawn[:-1]:
        record = critic_step(nets, opts[1], batch, settings, device, fast)
    return {**record, **generator_step(nets, opts[0], drawn[-1], settings, device, fast)}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones, workers=0):
    """Train from scratch or resume; returns (the generator's neutral weights, deviations)."""
    # Paddle names parameters and optimiser accumulators from a process-wide counter; a fresh
    # counter per run makes a saved optimiser state match the run that resumes it.
    with paddle.utils.unique_name.guard():
        return run(data, out_dir, steps=steps, seed=seed, device=device, params=params,
                   settings=settings, workers=workers)


def run(data, out_dir, *, steps, seed, device, params, settings, workers):
    batches.check(settings)
    device = parallel_paddle.start("gpu" if device in ("gpu", "cuda") else device)
    paddle.set_device(device)
    images = training.load_split(data)
    nets = build_models(params, seed, images.shape[-1], device)
    opts = optimizers(nets, settings)
    fast = device.startswith("gpu")  # bfloat16 autocast on a GPU, float32 on the CPU
    for net in nets:
        net.train()
    draw = functools.partial(batches.step_batches, images, settings=settings, seed=seed,
                             part=parallel.part(settings["batch_size"]))
    loop.run(name="deepfill_v1/paddle", framework="paddle", out_dir=out_dir,
             parts={"generator": nets[0], "critics": nets[1],
                    "generator_optimizer": opts[0], "critic_optimizer": opts[1]},
             run_id=training.fingerprint(data, params, settings, seed), steps=steps,
             settings=settings, draw=draw, workers=workers,
             update=lambda step, drawn: train_step(nets, opts, drawn, settings, device, fast))
    nets[0].eval()
    return checkpoint.paddle_state(nets[0]), []
