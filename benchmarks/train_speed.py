"""Training throughput of the learned methods (torch ports): float32 vs bfloat16 + channels-last.

    python -m benchmarks.train_speed [--method pconv|glcic|deepfill_v1] [--size 256] [--batch 16]
                                     [--steps 20] [--device cuda]

Times whole optimiser steps after warm-up steps, at the papers' network sizes, and prints
images/s for each mode and their ratio. bfloat16 + channels-last runs only on a GPU.
- pconv: forward, the full loss with its VGG16 terms, backward, Adam (width 64, layers
  log2(size) - 1). The VGG16 features keep their random initial weights: only time is
  measured here, never a loss value.
- glcic: a phase-3 step (completion network forward, one discriminator update, one completion
  update through the discriminator; 80% of the paper's schedule) and a phase-1 step (completion
  network alone), width 64, ADADELTA.
- deepfill_v1: a critic update (generator forward, both WGAN critics on real and completed
  images, gradient penalties, Adam) and a generator update (coarse and refined outputs, the
  reconstruction losses, the critics' scores, Adam), cnum 32 / critic cnum 64; upstream's
  iteration is 5 critic updates and 1 generator update, whose rate is printed too.
A script that prints figures, not a test.
"""
import argparse
import time

import numpy as np
import torch

import methods
from methods import training
from methods.deepfill_v1 import batches as deepfill_batches
from methods.deepfill_v1 import train_torch as deepfill_train
from methods.glcic import batches as glcic_batches
from methods.glcic import train_torch as glcic_train
from methods.pconv import loss_torch, model_torch, train_torch


def stand_in_images(size, batch):
    """Seeded stand-in images: content does not change a step's time."""
    rng = np.random.default_rng([batch, size])
    return rng.random((2 * batch, 3, size, size), dtype=np.float32)


def pconv_step(device, fast, size, batch):
    model = train_torch.build_model({"layers": int(np.log2(size)) - 1, "width": 64}, 0, device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    model_torch.set_train_mode(model, True, freeze_encoder_bn=False)
    vgg = loss_torch.Vgg16Features().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    # Batches (and their free-form holes, ~37 ms of CPU work at 256 px x 16) are drawn before
    # the clock starts, so the figure is the training step's, not the mask generator's.
    drawn = [training.sample_batch(stand_in_images(size, batch), s, batch, 0) for s in range(4)]
    return lambda step: train_torch.train_step(model, vgg, optimizer, *drawn[step % 4], device,
                                               fast)


def glcic_step(device, fast, size, batch, phase):
    nets = glcic_train.build_models({"width": 64}, 0, size, device)
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    settings = {"batch_size": batch, "holes": "rectangles", "lr": 1.0}
    opts = glcic_train.optimizers(nets, settings)
    images = stand_in_images(size, batch)
    drawn = [glcic_batches.sample_batch(images, s, settings, 0) for s in range(4)]
    return lambda step: glcic_train.train_step(nets, opts, drawn[step % 4], phase, 4e-4, device,
                                               fast)


def deepfill_step(device, fast, size, batch, kind):
    nets = deepfill_train.build_models({"cnum": 32, "critic_cnum": 64}, 0, size, device)
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    spec = methods.load_spec("deepfill_v1")["training"]
    settings = {**spec, "batch_size": batch}
    opts = deepfill_train.optimizers(nets, settings)
    images = stand_in_images(size, batch)
    drawn = [deepfill_batches.sample_batch(images, s, settings, 0) for s in range(4)]
    if kind == "critic":
        return lambda step: deepfill_train.critic_step(nets, opts[1], drawn[step % 4], settings,
                                                       device, fast)
    return lambda step: deepfill_train.generator_step(nets, opts[0], drawn[step % 4], settings,
                                                      device, fast)


def images_per_second(step, device, batch, steps, warmup):
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["pconv", "glcic", "deepfill_v1"], default="pconv")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{args.method}/torch training, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.steps} timed steps, {name}, torch {torch.__version__}")
    torch.backends.cudnn.benchmark = True
    if args.method == "pconv":
        cases = [("", lambda fast: pconv_step(device, fast, args.size, args.batch))]
    elif args.method == "glcic":
        cases = [(f"phase {p}: ", lambda fast, p=p: glcic_step(device, fast, args.size,
                                                               args.batch, p)) for p in (3, 1)]
    else:
        cases = [(f"{k} update: ", lambda fast, k=k: deepfill_step(device, fast, args.size,
                                                                   args.batch, k))
                 for k in ("critic", "generator")]
    rates = {}
    for label, make in cases:
        timing = (device, args.batch, args.steps, args.warmup)
        base = images_per_second(make(False), *timing)
        rates.setdefault("float32", []).append(base)
        print(f"{label}float32                  : {base:8.1f} images/s")
        if device.type == "cuda":
            fast = images_per_second(make(True), *timing)
            rates.setdefault("bfloat16 + channels-last", []).append(fast)
            print(f"{label}bfloat16 + channels-last : {fast:8.1f} images/s "
                  f"({fast / base:.2f}x float32)")
    if args.method == "deepfill_v1":  # 5 critic updates + 1 generator update per iteration
        for mode, (critic, generator) in rates.items():
            seconds = 5 * args.batch / critic + args.batch / generator
            print(f"upstream iteration, {mode}: {1 / seconds:.2f} iterations/s "
                  f"({args.batch / seconds:.1f} generator images/s)")


if __name__ == "__main__":
    main()
