"""Training throughput of the learned methods (torch ports): float32 vs bfloat16 + channels-last.

    python -m benchmarks.train_speed [--method pconv|glcic|deepfill_v1] [--size 256] [--batch 16]
                                     [--steps 20] [--device cuda] [--feed-workers 6]

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
Batches are drawn before the clock starts (the step's own rate), or with --feed-workers W by
the training input pipeline (methods/feed.py, W worker processes decoding a PNG split of
stand-in images and drawing holes ahead of the step), as a GPU training job draws them.
A script that prints figures, not a test.
"""
import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import methods
from datasets import store
from methods import feed, training
from methods.deepfill_v1 import batches as deepfill_batches
from methods.deepfill_v1 import train_torch as deepfill_train
from methods.glcic import batches as glcic_batches
from methods.glcic import train_torch as glcic_train
from methods.pconv import loss_torch, model_torch, train_torch


def stand_in_split(folder, size, count=32):
    """A PNG training split of seeded stand-in images: content does not change a step's time."""
    rng = np.random.default_rng([count, size])
    return store.open_train(store.write_png_split(
        folder, rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)))


def batches(draw, workers):
    """step -> batch: four batches drawn before timing (workers None), or the input pipeline's
    next batch (feed.batches with `workers` processes)."""
    if workers is None:
        drawn = [draw(s) for s in range(4)]
        return lambda step: drawn[step % 4]
    stream = feed.batches(draw, 0, 10**9, workers)
    return lambda step: next(stream)[1]


def pconv_step(device, fast, images, batch, workers):
    size = images.shape[-1]
    model = train_torch.build_model({"layers": int(np.log2(size)) - 1, "width": 64}, 0, device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    model_torch.set_train_mode(model, True, freeze_encoder_bn=False)
    vgg = loss_torch.Vgg16Features().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    draw = batches(functools.partial(training.sample_batch, images, batch_size=batch, seed=0),
                   workers)
    return lambda step: train_torch.train_step(model, vgg, optimizer, *draw(step), device, fast)


def glcic_step(device, fast, images, batch, workers, phase):
    nets = glcic_train.build_models({"width": 64}, 0, images.shape[-1], device)
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    settings = {"batch_size": batch, "holes": "rectangles", "lr": 1.0}
    opts = glcic_train.optimizers(nets, settings)
    draw = batches(functools.partial(glcic_batches.sample_batch, images, settings=settings,
                                     seed=0), workers)
    return lambda step: glcic_train.train_step(nets, opts, draw(step), phase, 4e-4, device, fast)


def deepfill_step(device, fast, images, batch, workers, kind):
    nets = deepfill_train.build_models({"cnum": 32, "critic_cnum": 64}, 0, images.shape[-1],
                                       device)
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    spec = methods.load_spec("deepfill_v1")["training"]
    settings = {**spec, "batch_size": batch}
    opts = deepfill_train.optimizers(nets, settings)
    draw = batches(functools.partial(deepfill_batches.sample_batch, images, settings=settings,
                                     seed=0), workers)
    update = deepfill_train.critic_step if kind == "critic" else deepfill_train.generator_step
    return lambda step: update(nets, opts[kind == "critic"], draw(step), settings, device, fast)


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
    parser.add_argument("--feed-workers", type=int, default=None,
                        help="draw batches with the input pipeline's W processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args, stand_in_split(Path(tmp), args.size))


def run(args, images):
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    fed = ("batches drawn beforehand" if args.feed_workers is None else
           f"batches from the input pipeline, {args.feed_workers} workers")
    print(f"{args.method}/torch training, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.steps} timed steps, {name}, torch {torch.__version__}; {fed}")
    torch.backends.cudnn.benchmark = True
    if args.method == "pconv":
        cases = [("", lambda fast: pconv_step(device, fast, images, args.batch,
                                              args.feed_workers))]
    elif args.method == "glcic":
        cases = [(f"phase {p}: ", lambda fast, p=p: glcic_step(device, fast, images, args.batch,
                                                               args.feed_workers, p))
                 for p in (3, 1)]
    else:
        cases = [(f"{k} update: ", lambda fast, k=k: deepfill_step(device, fast, images,
                                                                   args.batch,
                                                                   args.feed_workers, k))
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
