"""bfloat16 + channels-last against float32 training on a GPU: how far apart do they end?

    python -m benchmarks.mixed_precision [--method pconv|glcic|deepfill_v1] [--size 256]
                                         [--batch 16] [--steps 50]

Trains the same network from the same initial weights on the same batches (seeded stand-in
images with the methods' own holes; for pconv one VGG16 with random weights, the same in both
runs: the loss's arithmetic, not its meaning) in both modes and prints, every 10 steps, each mode's
training loss and their relative difference, then the mean absolute difference of the two
final networks' eval-mode outputs on a held-out batch. A script that prints figures, not a
test; it needs a GPU.
"""
import argparse

import numpy as np
import torch

import methods
from methods import training
from methods.deepfill_v1 import batches as deepfill_batches
from methods.deepfill_v1 import model_torch as deepfill_model
from methods.deepfill_v1 import train_torch as deepfill_train
from methods.glcic import batches as glcic_batches
from methods.glcic import model_torch as glcic_model
from methods.glcic import train_torch as glcic_train
from methods.pconv import loss_torch, model_torch, train_torch


def images(size, count, seed):
    """Smooth seeded stand-ins (cumulative sums: structure a network can learn)."""
    rng = np.random.default_rng([seed, size])
    ramps = np.cumsum(rng.random((count, 3, size, size), dtype=np.float32), axis=2) / size
    return np.clip(ramps, 0, 1).astype(np.float32)


def run_pconv(fast, data, held_out, steps, batch, device, vgg):
    model = train_torch.build_model({"layers": int(np.log2(data.shape[-1])) - 1, "width": 64},
                                    0, device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    model_torch.set_train_mode(model, True, freeze_encoder_bn=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    losses = [float(train_torch.train_step(model, vgg, optimizer, *training.sample_batch(
        data, s, batch, 0), device, fast)["loss"]) for s in range(steps)]
    model_torch.set_train_mode(model, False, freeze_encoder_bn=False)
    image, hole = held_out
    return losses, model_torch.inpaint(model, image * (1 - hole), hole)


def run_glcic(fast, data, held_out, steps, batch, device, vgg):
    nets = glcic_train.build_models({"width": 64}, 0, data.shape[-1], device)
    nets[0].mean_pixel.copy_(torch.from_numpy(data.mean(axis=(0, 2, 3), keepdims=True)))
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    settings = {"batch_size": batch, "holes": "rectangles", "lr": 1.0, "steps": steps,
                "completion_fraction": 0.5, "discriminator_fraction": 0.1}
    opts = glcic_train.optimizers(nets, settings)
    losses = []
    for s in range(steps):
        phase = glcic_batches.phase(s, settings)
        record = glcic_train.train_step(nets, opts, glcic_batches.sample_batch(
            data, s, settings, 0), phase, 4e-4, device, fast)
        losses.append(float(record["loss"] if "loss" in record else record["d_loss"]))
    nets[0].eval()
    nets[0].postprocess = False
    image, hole = held_out
    return losses, glcic_model.inpaint(nets[0], image * (1 - hole), hole)


def run_deepfill(fast, data, held_out, steps, batch, device, vgg):
    """Upstream's schedule (5 critic updates per generator update); the generator's loss."""
    nets = deepfill_train.build_models({"cnum": 32, "critic_cnum": 64}, 0, data.shape[-1],
                                       device)
    for net in nets:
        net.to(memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    settings = {**methods.load_spec("deepfill_v1")["training"], "batch_size": batch}
    opts = deepfill_train.optimizers(nets, settings)
    losses = [float(deepfill_train.train_step(nets, opts, deepfill_batches.step_batches(
        data, s, settings, 0), settings, device, fast)["g_loss"]) for s in range(steps)]
    nets[0].eval()
    image, hole = held_out
    return losses, deepfill_model.inpaint(nets[0], image * (1 - hole), hole)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["pconv", "glcic", "deepfill_v1"], default="glcic")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    data = images(args.size, 4 * args.batch, 0)
    held_image = images(args.size, 8, 1)
    held_out = training.sample_batch(held_image, 0, 8, seed=99)
    run = {"pconv": run_pconv, "glcic": run_glcic, "deepfill_v1": run_deepfill}[args.method]
    # One VGG16 for both modes (its random weights are drawn once): only the network's
    # precision differs between the two runs.
    vgg = loss_torch.Vgg16Features().to(device) if args.method == "pconv" else None
    full, full_out = run(False, data, held_out, args.steps, args.batch, device, vgg)
    fast, fast_out = run(True, data, held_out, args.steps, args.batch, device, vgg)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{args.method}: float32 vs bfloat16 + channels-last, {args.size}x{args.size}, "
          f"batch {args.batch}, {name}")
    for s in range(0, args.steps, 10):
        print(f"step {s:4d}: loss {full[s]:.5f} vs {fast[s]:.5f} "
              f"(relative difference {abs(fast[s] - full[s]) / abs(full[s]):.2e})")
    print(f"final eval-mode outputs: mean |difference| {np.abs(full_out - fast_out).mean():.2e},"
          f" max {np.abs(full_out - fast_out).max():.2e} (images in [0,1])")


if __name__ == "__main__":
    main()
