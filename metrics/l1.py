"""Mean absolute error per image, over the whole image or over the hole only ([0,1] scale).

Raw values: the report builder alone multiplies by 100 and labels the unit (DESIGN.md).
"""
import torch


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) -> (N,) float64 mean |pred - target| over all pixels and channels."""
    diff = (pred.to(torch.float64) - target.to(torch.float64)).abs()
    return diff.flatten(1).mean(dim=1)


def l1_hole(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W), (N,1,H,W) mask with 1 = hole -> (N,) mean |diff| over hole pixels x 3 channels.

    NaN where an image's mask has no hole: the mean over zero pixels is undefined, and a 0
    would pass for a perfect fill.
    """
    diff = (pred.to(torch.float64) - target.to(torch.float64)).abs()
    # Masks are read from 0/255 PNGs, so 0.5 splits them exactly like mask == 1 would.
    hole = (mask > 0.5).to(torch.float64)
    total = (diff * hole).flatten(1).sum(dim=1)
    count = hole.flatten(1).sum(dim=1) * diff.shape[1]
    return torch.where(count > 0, total / count.clamp(min=1), torch.nan)
