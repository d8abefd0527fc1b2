"""Data-parallel pieces, PyTorch side (read side by side with parallel_paddle.py).

Why not DistributedDataParallel: the GAN methods run several forward passes per backward, take
gradients with respect to inputs (DeepFill's gradient penalty, autograd.grad with
create_graph) and switch the critics' requires_grad between updates, all of which DDP's
reducer handles only in part (torch docs, DistributedDataParallel: autograd.grad is not
supported, a forward without its backward needs find_unused_parameters). Averaging the
gradients in one flat all_reduce before each optimiser step is what DDP computes, for every
method alike; it does not overlap the exchange with the backward pass, which for these models
(4 to 36 MB of gradients) is a fraction of a millisecond on NVLink.

BatchNorm: statistics over the global batch (SyncBatchNorm2d), as the one-GPU runs the papers
report normalise over their whole batch of 6 (Partial Convolutions) or 96 (GLCIC); per-rank
statistics would normalise over 6 / ranks images, another model. torch.nn.SyncBatchNorm runs
on GPUs only, so the harness has its own, on any backend, tested against the one-process run.
"""
import torch
import torch.distributed as dist
from torch import nn

from methods import parallel


def start(device):
    """Join the launcher's process group; returns this rank's device ('cuda:<local rank>')."""
    _, size, local = parallel.ranks()
    if size == 1:
        return device
    gpu = device.startswith("cuda")
    if gpu:
        torch.cuda.set_device(local)  # NCCL's own work lands on this rank's GPU, not GPU 0
    if not dist.is_initialized():
        dist.init_process_group("nccl" if gpu else "gloo")
    return f"cuda:{local}" if gpu else device


def finish():
    """Leave the process group (a no-op with one rank)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def size():
    return dist.get_world_size() if dist.is_initialized() else 1


def average_gradients(net):
    """Replace each gradient of net by its mean over the ranks (one all_reduce)."""
    if size() == 1:
        return
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size()
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset:offset + grad.numel()].view(grad.shape))
        offset += grad.numel()


def total(value):
    """value summed over the ranks, as a constant (no gradient): a loss's global denominator."""
    if size() == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value


def ratio(numerator, denominator):
    """numerator / denominator over the global batch, as this rank's share: averaged over the
    ranks (average_gradients), it is the one-process loss; with one rank, exactly
    numerator / denominator."""
    if size() == 1:
        return numerator / denominator
    return numerator / total(denominator) * size()


def is_tensor(value):
    return isinstance(value, torch.Tensor)


def read_back(values):
    """0-d tensors (loss terms) as floats, averaged over the ranks, in one transfer."""
    stacked = torch.stack([v.detach().float() for v in values])
    if size() > 1:
        dist.all_reduce(stacked)
        stacked /= size()
    return stacked.tolist()


class AllReduce(torch.autograd.Function):
    """Sum over the ranks whose gradient is the sum of the ranks' gradients (each rank's
    statistics feed every rank's output)."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch (module docstring).
    Same parameters and buffers as BatchNorm2d, so checkpoints do not change."""

    def forward(self, x):
        if not self.training or size() == 1:
            return super().forward(x)
        channels = x.shape[1]
        h = x.float()
        count = torch.tensor([h.numel() // channels], dtype=h.dtype, device=h.device)
        # two passes, as torch's own kernels: the mean, then the mean squared deviation from it
        # (E[x^2] - mean^2 loses digits where the mean is large against the spread)
        stats = AllReduce.apply(torch.cat([h.sum((0, 2, 3)), count]))
        n = stats[-1]
        mean = stats[:channels] / n
        centred = h - mean.view(1, channels, 1, 1)
        var = AllReduce.apply((centred * centred).sum((0, 2, 3))) / n
        with torch.no_grad():  # torch's rule: the unbiased batch variance, weight `momentum`
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
            self.num_batches_tracked += 1
        shape = (1, channels, 1, 1)
        scale = torch.rsqrt(var + self.eps) * self.weight
        return centred * scale.view(shape) + self.bias.view(shape)


def synchronise_batchnorm(nets):
    """Give every BatchNorm2d of nets global-batch statistics when there are several ranks. The
    class is switched in place, so the parameters an optimiser already holds stay the same."""
    if size() == 1:
        return
    for net in nets:
        for module in net.modules():
            if type(module) is nn.BatchNorm2d:
                if module.momentum is None or not module.affine:
                    raise ValueError("synchronise_batchnorm: BatchNorm2d with momentum None or "
                                     "without affine parameters is not supported")
                module.__class__ = SyncBatchNorm2d
