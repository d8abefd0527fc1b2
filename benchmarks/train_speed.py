"""Training throughput of Partial Convolutions (torch port): float32 vs bfloat16 + channels-last.

    python -m benchmarks.train_speed [--size 256] [--batch 16] [--steps 20] [--device cuda]

Times whole optimiser steps (forward, the full loss with its VGG16 terms, backward, Adam) of the
paper's network (width 64, layers log2(size) - 1) after warm-up steps, and prints images/s for
each mode and their ratio. bfloat16 + channels-last runs only on a GPU. The VGG16 features keep
their random initial weights: only time is measured here, never a loss value. A script that
prints figures, not a test.
"""
import argparse
import time

import numpy as np
import torch

from methods import training
from methods.pconv import loss_torch, model_torch, train_torch


def images_per_second(device, fast, size, batch, steps, warmup):
    model = train_torch.build_model({"layers": int(np.log2(size)) - 1, "width": 64}, 0, device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    model_torch.set_train_mode(model, True, freeze_encoder_bn=False)
    vgg = loss_torch.Vgg16Features().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    rng = np.random.default_rng([batch, size])  # seeded stand-in images: content does not
    images = rng.random((2 * batch, 3, size, size), dtype=np.float32)  # change a step's time
    # Batches (and their free-form holes, ~37 ms of CPU work at 256 px x 16) are drawn before
    # the clock starts, so the figure is the training step's, not the mask generator's.
    batches = [training.sample_batch(images, step, batch, seed=0) for step in range(4)]
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        image, hole = batches[step % len(batches)]
        train_torch.train_step(model, vgg, optimizer, image, hole, device, fast)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"pconv/torch training, {args.size}x{args.size}, batch {args.batch}, {args.steps} "
          f"timed steps, {name}, torch {torch.__version__}")
    torch.backends.cudnn.benchmark = True
    sizes = (args.size, args.batch, args.steps, args.warmup)
    base = images_per_second(device, False, *sizes)
    print(f"float32                  : {base:8.1f} images/s")
    if device.type == "cuda":
        fast = images_per_second(device, True, *sizes)
        print(f"bfloat16 + channels-last : {fast:8.1f} images/s ({fast / base:.2f}x float32)")


if __name__ == "__main__":
    main()
