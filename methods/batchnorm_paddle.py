"""Paddle's BatchNorm2D made to train like torch.nn.BatchNorm2d, for every method's paddle port."""
import warnings

import paddle
from paddle import nn

# paddle's BatchNorm warns at every training forward that it tracks the running statistics
# (paddle/nn/layer/norm.py), which is what both ports want; the notice only fills the logs.
warnings.filterwarnings("ignore", message="When training, we now always track global mean",
                        category=UserWarning)


class BatchNorm2D(nn.BatchNorm2D):
    """paddle's BatchNorm2D with torch's running-variance rule, so the ports train alike.

    In training mode both frameworks normalise by the biased batch variance, but
    torch.nn.BatchNorm2d folds the unbiased one, var * n/(n-1), into its running variance and
    paddle the biased one (n = batch x height x width; at a 2x2 bottleneck with batch 6 that is
    4%). The upstream code is PyTorch, so this port follows torch: paddle's own kernel
    normalises and updates the running statistics, then the running variance gets the missing
    (1 - momentum) * var / (n - 1). The kernel's statistics are accurate to float32 (Tensor.mean
    and Tensor.var on the CPU are not: 1e-4 off over 131,072 values a channel, measured).
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        before = self._variance.clone()
        out = super().forward(x)
        n = x.size // x.shape[1]
        with paddle.no_grad():
            # paddle's momentum is the weight of the old statistic: the kernel added
            # (1 - momentum) * biased batch variance to momentum * before.
            folded = self._variance - self._momentum * before
            self._variance.set_value(self._variance + folded / (n - 1))
        return out
