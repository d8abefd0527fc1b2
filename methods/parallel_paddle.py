"""Data-parallel pieces, PaddlePaddle side (read side by side with parallel_torch.py).

Why not paddle.DataParallel, and why global-batch BatchNorm: see parallel_torch.py; the same
reasons hold (paddle.nn.SyncBatchNorm, too, runs on GPUs only). paddle.distributed.launch
starts the ranks; on the CPU it joins them with gloo, on GPUs with NCCL.
"""
import paddle
import paddle.distributed as dist

from methods import parallel
from methods.batchnorm_paddle import BatchNorm2D


def start(device):
    """Join the launcher's process group; returns this rank's device ('gpu:<its id>')."""
    if parallel.ranks()[1] == 1:
        return device
    dist.init_parallel_env()
    return f"gpu:{dist.ParallelEnv().device_id}" if device.startswith("gpu") else device


def finish():
    """Nothing to leave: paddle's process group ends with its launcher's processes."""


def size():
    return dist.get_world_size() if parallel.ranks()[1] > 1 else 1


def average_gradients(net):
    """Replace each gradient of net by its mean over the ranks (one all_reduce)."""
    if size() == 1:
        return
    params = [p for p in net.parameters() if p.grad is not None]
    flat = paddle.concat([p.grad.reshape([-1]) for p in params])
    dist.all_reduce(flat)
    flat = flat / size()
    offset = 0
    for param in params:
        param.grad.set_value(flat[offset:offset + param.grad.size].reshape(param.grad.shape))
        offset += param.grad.size


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
    return isinstance(value, paddle.Tensor)


def read_back(values):
    """0-d tensors (loss terms) as floats, averaged over the ranks, in one transfer."""
    stacked = paddle.stack([v.detach().astype("float32") for v in values])
    if size() > 1:
        dist.all_reduce(stacked)
        stacked = stacked / size()
    return stacked.tolist()


class AllReduce(paddle.autograd.PyLayer):
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


class SyncBatchNorm2D(BatchNorm2D):
    """The ports' BatchNorm2D whose training statistics are those of the global batch; running
    statistics by torch's rule (methods/batchnorm_paddle.py). Same parameters and buffers."""

    def forward(self, x):
        if not self.training or size() == 1:
            return super().forward(x)
        channels = x.shape[1]
        h = x.astype("float32")
        count = paddle.to_tensor([float(h.size // channels)], dtype="float32")
        # two passes, as parallel_torch.SyncBatchNorm2d
        stats = AllReduce.apply(paddle.concat([h.sum([0, 2, 3]), count]))
        n = stats[-1]
        mean = stats[:channels] / n
        centred = h - mean.reshape([1, channels, 1, 1])
        var = AllReduce.apply((centred * centred).sum([0, 2, 3])) / n
        with paddle.no_grad():  # paddle's momentum weighs the old statistic
            self._mean.set_value(self._momentum * self._mean + (1 - self._momentum) * mean)
            self._variance.set_value(self._momentum * self._variance
                                     + (1 - self._momentum) * var * n / (n - 1))
        shape = [1, channels, 1, 1]
        scale = paddle.rsqrt(var + self._epsilon) * self.weight
        return centred * scale.reshape(shape) + self.bias.reshape(shape)


def synchronise_batchnorm(nets):
    """Give every BatchNorm2D of nets global-batch statistics when there are several ranks (the
    class is switched in place: the optimiser's parameters stay the same)."""
    if size() == 1:
        return
    for net in nets:
        for layer in net.sublayers(include_self=True):
            if type(layer) is BatchNorm2D:
                layer.__class__ = SyncBatchNorm2D
