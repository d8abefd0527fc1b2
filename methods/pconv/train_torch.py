"""Partial Convolutions training, PyTorch port (read side by side with train_paddle.py).

Schedule (Liu et al. 2018, Sec. 4.2): Adam at learning rate 2e-4, then fine-tuning at 5e-5
with the encoder's BatchNorm frozen; the fine-tuning share of the steps is a setting
(finetune_fraction). Training holes come from the harness's free-form generator. On a GPU the
forward pass runs under bfloat16 autocast with channels-last tensors; on the CPU in float32.
"""
import functools

import torch

from methods import checkpoint, loop, parallel, parallel_torch, training
from methods.pconv import batches, loss_torch, model_torch
from methods.pconv.vgg import vgg16_path

RESUME = loop.RESUME["torch"]


def build_model(params, seed, device):
    """The network with the framework-neutral initial weights of training.init_state."""
    return model_torch.build({"params": params}, seed=seed).to(device)


def train_step(model, vgg, optimizer, image, hole, device, fast):
    """One optimiser step on a numpy batch (this rank's part of it); fast: bfloat16 autocast
    (GPU only). Returns the loss and its terms as tensors on the device."""
    image = torch.from_numpy(image).to(device)
    valid = (1 - torch.from_numpy(hole).to(device)).expand_as(image).contiguous()
    if fast:
        image, valid = (t.to(memory_format=torch.channels_last) for t in (image, valid))
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
        out, _ = model(image * valid, valid)
    terms = loss_torch.loss_terms(out.float(), image, valid, vgg)
    loss = loss_torch.total_loss(terms)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parallel_torch.average_gradients(model)
    optimizer.step()
    return {"loss": loss.detach(), **{name: value.detach() for name, value in terms.items()}}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones, workers=0):
    """Train from scratch or resume; returns (neutral weights, deviations from the paper)."""
    batches.check(settings)
    device = torch.device(parallel_torch.start("cuda" if device == "gpu" else device))
    model = build_model(params, seed, device)
    parallel_torch.synchronise_batchnorm([model])
    path, deviations = vgg16_path(settings, backbones)
    vgg = None if path is None else loss_torch.load_vgg16(path).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    fast = device.type == "cuda"  # bfloat16 + channels-last on a GPU, float32 on the CPU
    if fast:
        model = model.to(memory_format=torch.channels_last)

    def update(step, batch):
        stage = training.stage(step, steps, settings["finetune_fraction"])
        for group in optimizer.param_groups:
            group["lr"] = settings["lr"] if stage == 1 else settings["finetune_lr"]
        model_torch.set_train_mode(model, True, freeze_encoder_bn=stage == 2)
        return {"stage": stage, **train_step(model, vgg, optimizer, *batch, device, fast)}

    draw = functools.partial(batches.sample_batch, training.load_split(data),
                             settings=settings, seed=seed,
                             part=parallel.part(settings["batch_size"]))
    loop.run(name="pconv/torch", framework="torch", out_dir=out_dir,
             parts={"model": model, "optimizer": optimizer},
             run_id=training.fingerprint(data, params, settings, seed), steps=steps,
             settings=settings, draw=draw, update=update, workers=workers)
    model_torch.set_train_mode(model, False, freeze_encoder_bn=False)
    return checkpoint.torch_state(model), deviations
