"""LPIPS distance (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR), the `lpips` package's v0.1 metric on an AlexNet trunk.

The package would download torchvision's AlexNet itself, unverified, from inside its
constructor. Instead the model is built with a random trunk (pnet_rand=True: nothing is
fetched; the calibrated 1x1 "lin" layers ship inside the package and load as usual) and the
trunk is then overwritten from the file `weights.resolve` verified. A missing file raises
WeightsUnavailable before any model is built, so random trunk weights never reach a score.
"""
import warnings

import lpips
import torch
import torchvision

from metrics import weights


def load_alexnet_trunk(model: lpips.LPIPS, path) -> None:
    """Copy the torchvision AlexNet `features` weights in `path` into model's five slices."""
    alexnet = torchvision.models.alexnet(weights=None)
    # strict: the whole file must be the torchvision AlexNet, not just something shaped alike.
    alexnet.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    # lpips.pretrained_networks.alexnet splits tv.alexnet().features into slice1..slice5
    # keeping each layer's index as its name, so layer "3" of slice2 is features[3].
    for slice_ in (model.net.slice1, model.net.slice2, model.net.slice3,
                   model.net.slice4, model.net.slice5):
        for index, layer in slice_.named_children():
            layer.load_state_dict(alexnet.features[int(index)].state_dict())


def load_lpips(weights_dir=None, allow_download: bool = True) -> lpips.LPIPS:
    """LPIPS v0.1 / AlexNet in eval mode without gradients; raises WeightsUnavailable."""
    path = weights.resolve("alexnet", weights_dir, allow_download)
    with warnings.catch_warnings():
        # lpips 0.1.4 calls tv.alexnet(pretrained=False), which torchvision >= 0.13 flags as
        # deprecated while doing what is wanted here (weights=None); the trunk is loaded below.
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    load_alexnet_trunk(model, path)
    return model.eval().requires_grad_(False)


def lpips_distance(model: lpips.LPIPS, pred, target, batch_size: int = 32) -> torch.Tensor:
    """(N,3,H,W) images in [0,1] -> (N,) float64 LPIPS, run on the model's device."""
    device = next(model.parameters()).device
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    out = torch.empty(len(pred), dtype=torch.float64)
    with torch.inference_mode():
        for start in range(0, len(pred), batch_size):
            # lpips expects [-1,1] inputs (its forward(normalize=True) does the same 2x - 1).
            p = 2 * pred[start:start + batch_size].to(device, torch.float32) - 1
            t = 2 * target[start:start + batch_size].to(device, torch.float32) - 1
            out[start:start + len(p)] = model(p, t).flatten().double().cpu()
    return out
