"""Partial Convolutions training, PaddlePaddle port (read side by side with train_torch.py).

Schedule (Liu et al. 2018, Sec. 4.2): Adam at learning rate 2e-4, then fine-tuning at 5e-5
with the encoder's BatchNorm frozen; the fine-tuning share of the steps is a setting
(finetune_fraction). Training holes come from the harness's free-form generator. On a GPU the
forward pass runs under bfloat16 autocast (NCHW: Paddle picks the layout per layer at build
time, so there is no channels-last switch here); on the CPU in float32.
"""
import functools

import paddle

from methods import checkpoint, loop, parallel, parallel_paddle, training
from methods.pconv import batches, loss_paddle, model_paddle
from methods.pconv.vgg import vgg16_path

RESUME = loop.RESUME["paddle"]


def build_model(params, seed, device):
    """The network with the framework-neutral initial weights of training.init_state."""
    return model_paddle.build({"params": params}, seed=seed)


def train_step(model, vgg, optimizer, image, hole, device, fast):
    """One optimiser step on a numpy batch (this rank's part of it); fast: bfloat16 autocast
    (GPU only). Returns the loss and its terms as tensors on the device."""
    image = paddle.to_tensor(image)
    valid = (1 - paddle.to_tensor(hole)).expand_as(image)
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
        out, _ = model(image * valid, valid)
    terms = loss_paddle.loss_terms(out.astype("float32"), image, valid, vgg)
    loss = loss_paddle.total_loss(terms)
    optimizer.clear_grad(set_to_zero=False)
    loss.backward()
    parallel_paddle.average_gradients(model)
    optimizer.step()
    return {"loss": loss.detach(), **{name: value.detach() for name, value in terms.items()}}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones, workers=0):
    """Train from scratch or resume; returns (neutral weights, deviations from the paper)."""
    batches.check(settings)
    # Paddle names parameters and optimiser accumulators from a process-wide counter; a fresh
    # counter per run makes a saved optimiser state match the run that resumes it.
    with paddle.utils.unique_name.guard():
        return run(data, out_dir, steps=steps, seed=seed, device=device, params=params,
                   settings=settings, backbones=backbones, workers=workers)


def run(data, out_dir, *, steps, seed, device, params, settings, backbones, workers):
    device = parallel_paddle.start("gpu" if device in ("gpu", "cuda") else device)
    paddle.set_device(device)
    model = build_model(params, seed, device)
    parallel_paddle.synchronise_batchnorm([model])
    path, deviations = vgg16_path(settings, backbones)
    vgg = None if path is None else loss_paddle.load_vgg16(path)
    optimizer = paddle.optimizer.Adam(learning_rate=settings["lr"],
                                      parameters=model.parameters())
    fast = device.startswith("gpu")  # bfloat16 autocast on a GPU, float32 on the CPU

    def update(step, batch):
        stage = training.stage(step, steps, settings["finetune_fraction"])
        optimizer.set_lr(settings["lr"] if stage == 1 else settings["finetune_lr"])
        model_paddle.set_train_mode(model, True, freeze_encoder_bn=stage == 2)
        return {"stage": stage, **train_step(model, vgg, optimizer, *batch, device, fast)}

    draw = functools.partial(batches.sample_batch, training.load_split(data),
                             settings=settings, seed=seed,
                             part=parallel.part(settings["batch_size"]))
    loop.run(name="pconv/paddle", framework="paddle", out_dir=out_dir,
             parts={"model": model, "optimizer": optimizer},
             run_id=training.fingerprint(data, params, settings, seed), steps=steps,
             settings=settings, draw=draw, update=update, workers=workers)
    model_paddle.set_train_mode(model, False, freeze_encoder_bn=False)
    return checkpoint.paddle_state(model), deviations
