"""GLCIC training, PyTorch port (read side by side with train_paddle.py).

The paper's Algorithm 1 ("Training"): phase 1 trains the completion network C alone on the
weighted MSE; phase 2 trains the context discriminator D alone; phase 3 trains both, D on
binary cross-entropy and C on MSE + alpha x adversarial loss (alpha = 0.0004). The adversarial
gradient reaches C (JixuH/PaddlePaddle_Image_Completion train.py minimises only the MSE for its
generator; test_glcic_train.py shows that here C's update changes with alpha). ADADELTA for
both networks. On a GPU the networks run under bfloat16 autocast with channels-last tensors,
the losses in float32; on the CPU everything is float32.
"""
import functools

import torch
import torch.nn.functional as F

from methods import checkpoint, loop, parallel, parallel_torch, training
from methods.glcic import batches, model_torch

RESUME = loop.RESUME["torch"]
# The paper trains with ADADELTA and gives no constants; these are the defaults of Torch7's
# optim.adadelta (rho 0.9, eps 1e-6), the framework the authors used, and of torch.optim.
ADADELTA = {"rho": 0.9, "eps": 1e-6}


def build_models(params, seed, size, device):
    """C and D with the framework-neutral initial weights of training.init_state."""
    width, centred = params["width"], params["centred_input"]
    nets = (training.initialised("torch", lambda: model_torch.CompletionNetwork(width, centred),
                                 seed),
            training.initialised("torch", lambda: model_torch.ContextDiscriminator(size, width),
                                 seed))
    return tuple(net.to(device) for net in nets)


def optimizers(nets, settings):
    return tuple(torch.optim.Adadelta(net.parameters(), lr=settings["lr"], **ADADELTA)
                 for net in nets)


def completion_loss(out, image, hole):
    """The paper's weighted MSE (Eq. 2) as a mean over the hole's pixels and channels (of the
    global batch, when there are several ranks)."""
    return parallel_torch.ratio(((out - image) ** 2 * hole).sum(), hole.sum() * out.shape[1])


def bce(logits, real):
    """Binary cross-entropy of D's logits against all-real (1) or all-fake (0), float32."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def set_trainable(net, trainable):
    for parameter in net.parameters():
        parameter.requires_grad_(trainable)


def to_tensors(batch, device, fast):
    image, hole, fake, real = batch
    image, hole = (torch.from_numpy(a).to(device) for a in (image, hole))
    if fast:
        image, hole = (t.contiguous(memory_format=torch.channels_last) for t in (image, hole))
    return image, hole, fake, real


def discriminator_step(discriminator, optimizer, image, completed, fake, real, fast):
    """One update of D on a completed batch (fake) and the real batch."""
    with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=fast):
        fake_logits = discriminator(completed.detach(), fake)
        real_logits = discriminator(image, real)
    loss = bce(fake_logits, 0) + bce(real_logits, 1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parallel_torch.average_gradients(discriminator)
    optimizer.step()
    return loss.detach()


def train_step(nets, opts, batch, phase, alpha, device, fast):
    """One step of the given phase on a numpy batch (this rank's part of it); returns the
    losses as tensors on the device."""
    completion, discriminator = nets
    image, hole, fake, real = to_tensors(batch, device, fast)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast), \
            torch.set_grad_enabled(phase != 2):
        out = completion(image, hole)
    out = out.float()
    mse = completion_loss(out, image, hole)
    completed = out * hole + image * (1 - hole)  # D judges the completed image
    record = {"mse": mse.detach()}
    if phase >= 2:
        record["d_loss"] = discriminator_step(discriminator, opts[1], image, completed, fake,
                                              real, fast)
    if phase == 2:
        return record
    loss = mse
    if phase == 3:
        set_trainable(discriminator, False)  # C's step: D's weights need no gradient
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            adversarial = bce(discriminator(completed, fake), 1)
        loss = mse + alpha * adversarial
        record["adversarial"] = adversarial.detach()
    opts[0].zero_grad(set_to_none=True)
    loss.backward()
    parallel_torch.average_gradients(completion)
    opts[0].step()
    set_trainable(discriminator, True)
    return {**record, "loss": loss.detach()}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones, workers=0):
    """Train from scratch or resume; returns (C's neutral weights, deviations)."""
    batches.check(settings)
    device = torch.device(parallel_torch.start("cuda" if device == "gpu" else device))
    images = training.load_split(data)
    nets = build_models(params, seed, images.shape[-1], device)
    nets[0].mean_pixel.copy_(torch.from_numpy(batches.mean_pixel(images)))
    parallel_torch.synchronise_batchnorm(nets)
    opts = optimizers(nets, settings)
    fast = device.type == "cuda"  # bfloat16 + channels-last on a GPU, float32 on the CPU
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()

    def update(step, batch):
        phase = batches.phase(step, settings)
        return {"phase": phase,
                **train_step(nets, opts, batch, phase, settings["alpha"], device, fast)}

    draw = functools.partial(batches.sample_batch, images, settings=settings, seed=seed,
                             part=parallel.part(settings["batch_size"]))
    loop.run(name="glcic/torch", framework="torch", out_dir=out_dir,
             parts={"completion": nets[0], "discriminator": nets[1],
                    "completion_optimizer": opts[0], "discriminator_optimizer": opts[1]},
             run_id=training.fingerprint(data, params, settings, seed), steps=steps,
             settings=settings, draw=draw, update=update, workers=workers)
    nets[0].eval()
    return checkpoint.torch_state(nets[0]), []
