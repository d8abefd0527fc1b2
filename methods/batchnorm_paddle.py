"""Paddle's BatchNorm2D made to train like torch.nn.BatchNorm2d, for every method's paddle port."""
import numpy as np
import paddle
from paddle import nn


class BatchNorm2D(nn.BatchNorm2D):
    """paddle's BatchNorm2D with torch's running-variance rule, so the ports train alike.

    In training mode both frameworks normalise by the biased batch variance, but
    torch.nn.BatchNorm2d folds the unbiased one, var * n/(n-1), into its running variance and
    paddle the biased one (n = batch x height x width; at a 2x2 bottleneck with batch 6 that is
    4%). The upstream code is PyTorch, so this port follows torch; eval mode is paddle's own.
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        mean = x.mean(axis=[0, 2, 3])
        var = x.var(axis=[0, 2, 3], unbiased=False)
        n = int(np.prod(x.shape)) // x.shape[1]
        with paddle.no_grad():
            keep = self._momentum  # paddle's momentum is the weight of the old statistic
            self._mean.set_value(keep * self._mean + (1 - keep) * mean)
            self._variance.set_value(keep * self._variance + (1 - keep) * var * n / (n - 1))
        scale = self.weight / paddle.sqrt(var + self._epsilon)
        return ((x - mean.reshape([1, -1, 1, 1])) * scale.reshape([1, -1, 1, 1])
                + self.bias.reshape([1, -1, 1, 1]))
