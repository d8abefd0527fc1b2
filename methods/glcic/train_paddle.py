"""GLCIC training, PaddlePaddle port (read side by side with train_torch.py).

The paper's Algorithm 1 ("Training"): phase 1 trains the completion network C alone on the
weighted MSE; phase 2 trains the context discriminator D alone; phase 3 trains both, D on
binary cross-entropy and C on MSE + alpha x adversarial loss (alpha = 0.0004). The adversarial
gradient reaches C (JixuH/PaddlePaddle_Image_Completion train.py minimises only the MSE for its
generator; test_glcic_train.py shows that here C's update changes with alpha). ADADELTA for
both networks. On a GPU the networks run under bfloat16 autocast (NCHW: Paddle picks the layout
per layer at build time, so there is no channels-last switch here), the losses in float32; on
the CPU everything is float32.
"""
import functools

import paddle
import paddle.nn.functional as F

from methods import checkpoint, loop, ops_paddle, parallel, parallel_paddle, training
from methods.glcic import batches, model_paddle

RESUME = loop.RESUME["paddle"]
# The paper trains with ADADELTA and gives no constants; these are the defaults of Torch7's
# optim.adadelta (rho 0.9, eps 1e-6), the framework the authors used, and of torch.optim.
ADADELTA = {"rho": 0.9, "epsilon": 1e-6}


def build_models(params, seed, size, device):
    """C and D with the framework-neutral initial weights of training.init_state."""
    width, centred = params["width"], params["centred_input"]
    nets = (training.initialised("paddle", lambda: model_paddle.CompletionNetwork(width, centred),
                                 seed),
            training.initialised("paddle", lambda: model_paddle.ContextDiscriminator(size, width),
                                 seed))
    return nets


def optimizers(nets, settings):
    return tuple(paddle.optimizer.Adadelta(learning_rate=settings["lr"],
                                           parameters=net.parameters(), **ADADELTA)
                 for net in nets)


def completion_loss(out, image, hole):
    """The paper's weighted MSE (Eq. 2) as a mean over the hole's pixels and channels (of the
    global batch, when there are several ranks)."""
    return parallel_paddle.ratio(((out - image) ** 2 * ops_paddle.like(hole, out)).sum(),
                                 hole.sum() * out.shape[1])


def bce(logits, real):
    """Binary cross-entropy of D's logits against all-real (1) or all-fake (0), float32."""
    logits = logits.astype("float32")
    return F.binary_cross_entropy_with_logits(logits, paddle.full_like(logits, float(real)))


def set_trainable(net, trainable):
    for parameter in net.parameters():
        parameter.stop_gradient = not trainable


def to_tensors(batch, device, fast):
    image, hole, fake, real = batch
    image, hole = (paddle.to_tensor(a) for a in (image, hole))
    return image, hole, fake, real


def discriminator_step(discriminator, optimizer, image, completed, fake, real, fast):
    """One update of D on a completed batch (fake) and the real batch."""
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
        fake_logits = discriminator(completed.detach(), fake)
        real_logits = discriminator(image, real)
    loss = bce(fake_logits, 0) + bce(real_logits, 1)
    optimizer.clear_grad(set_to_zero=False)
    loss.backward()
    parallel_paddle.average_gradients(discriminator)
    optimizer.step()
    return loss.detach()


def train_step(nets, opts, batch, phase, alpha, device, fast):
    """One step of the given phase on a numpy batch (this rank's part of it); returns the
    losses as tensors on the device."""
    completion, discriminator = nets
    image, hole, fake, real = to_tensors(batch, device, fast)
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"), \
            paddle.set_grad_enabled(phase != 2):
        out = completion(image, hole)
    out = out.astype("float32")
    mse = completion_loss(out, image, hole)
    hole3 = ops_paddle.like(hole, out)
    completed = out * hole3 + image * (1 - hole3)  # D judges the completed image
    record = {"mse": mse.detach()}
    if phase >= 2:
        record["d_loss"] = discriminator_step(discriminator, opts[1], image, completed, fake,
                                              real, fast)
    if phase == 2:
        return record
    loss = mse
    if phase == 3:
        set_trainable(discriminator, False)  # C's step: D's weights need no gradient
        with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
            adversarial = bce(discriminator(completed, fake), 1)
        loss = mse + alpha * adversarial
        record["adversarial"] = adversarial.detach()
    opts[0].clear_grad(set_to_zero=False)
    loss.backward()
    parallel_paddle.average_gradients(completion)
    opts[0].step()
    set_trainable(discriminator, True)
    return {**record, "loss": loss.detach()}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones, workers=0):
    """Train from scratch or resume; returns (C's neutral weights, deviations)."""
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
    nets[0].mean_pixel.set_value(paddle.to_tensor(batches.mean_pixel(images)))
    parallel_paddle.synchronise_batchnorm(nets)
    opts = optimizers(nets, settings)
    fast = device.startswith("gpu")  # bfloat16 autocast on a GPU, float32 on the CPU
    for net in nets:
        net.train()

    def update(step, batch):
        phase = batches.phase(step, settings)
        return {"phase": phase,
                **train_step(nets, opts, batch, phase, settings["alpha"], device, fast)}

    draw = functools.partial(batches.sample_batch, images, settings=settings, seed=seed,
                             part=parallel.part(settings["batch_size"]))
    loop.run(name="glcic/paddle", framework="paddle", out_dir=out_dir,
             parts={"completion": nets[0], "discriminator": nets[1],
                    "completion_optimizer": opts[0], "discriminator_optimizer": opts[1]},
             run_id=training.fingerprint(data, params, settings, seed), steps=steps,
             settings=settings, draw=draw, update=update, workers=workers)
    nets[0].eval()
    return checkpoint.paddle_state(nets[0]), []
