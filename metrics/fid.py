"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update
Rule Converge to a Local Nash Equilibrium", NeurIPS) with the `pytorch-fid` package.

Activations are pytorch-fid's InceptionV3 pool3 features (2048-d; inputs resized bilinearly to
299x299 and scaled to [-1,1] inside the model), from the TF FID Inception weights; the
distance is pytorch-fid's calculate_frechet_distance on the activations' mean and covariance.
"""
import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from pytorch_fid.inception import InceptionV3

from metrics import weights

POOL3 = InceptionV3.BLOCK_INDEX_BY_DIM[2048]


@contextlib.contextmanager
def hub_dir_holding(path: Path):
    """Point torch hub at a temporary cache whose checkpoints/ holds only `path` (a symlink).

    pytorch_fid.inception.fid_inception_v3 loads its weights with load_state_dict_from_url
    and no way to pass a file; that function reads <hub dir>/checkpoints/<file name> when it
    exists, so the verified file is served to it and nothing is downloaded. The hub dir is a
    process-wide setting: do not build models in other threads meanwhile.
    """
    # set_dir has no public inverse; restoring the private value (None unless someone called
    # set_dir) keeps $TORCH_HOME honoured afterwards, which set_dir(get_dir()) would not.
    previous = torch.hub._hub_dir
    with tempfile.TemporaryDirectory(prefix="fid-hub-") as hub:
        (Path(hub) / "checkpoints").mkdir()
        os.symlink(Path(path).resolve(), Path(hub) / "checkpoints" / Path(path).name)
        torch.hub.set_dir(hub)
        try:
            yield
        finally:
            torch.hub._hub_dir = previous


def load_inception(weights_dir=None, allow_download: bool = True) -> InceptionV3:
    """pytorch-fid's InceptionV3 (pool3, 2048-d) in eval mode; raises WeightsUnavailable."""
    path = weights.resolve("inception", weights_dir, allow_download)
    with hub_dir_holding(path):
        model = InceptionV3([POOL3], resize_input=True, normalize_input=True)
    return model.eval()


def activations(model: InceptionV3, images, batch_size: int = 32) -> np.ndarray:
    """(N,3,H,W) images in [0,1] (numpy or torch) -> (N,2048) float64 pool3 activations."""
    device = next(model.parameters()).device
    images = torch.as_tensor(images)
    out = np.empty((len(images), 2048), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device, torch.float32)
            features = model(batch)[0]  # (B,2048,1,1): pool3 is a global average pool
            out[start:start + len(batch)] = features.flatten(1).double().cpu().numpy()
    return out


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), pytorch-fid's code."""
    with warnings.catch_warnings():
        # pytorch-fid 0.3.0 passes scipy.linalg.sqrtm's disp=False, which SciPy 1.17 deprecates
        # (removed in 1.18; requirements.txt pins 1.17.1). The result is unaffected.
        warnings.filterwarnings("ignore", message="The `disp` argument is deprecated",
                                category=DeprecationWarning)
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def statistics(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of (N,D) activations: the mean and the unbiased (N-1) covariance, as
    pytorch_fid.fid_score.calculate_activation_statistics computes them (and its .npz holds)."""
    return act.mean(axis=0), np.cov(act, rowvar=False)


def fid(act_a: np.ndarray, act_b: np.ndarray) -> float:
    """FID between two (N,D) activation sets; ValueError unless each has N >= 2 rows.

    With N <= D the covariances are singular and pytorch-fid regularises them (it prints a
    note); such small-set values are strongly biased upwards and only comparable at equal N.
    """
    if len(act_a) < 2 or len(act_b) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(act_a)} and "
                         f"{len(act_b)}")
    return frechet_distance(*statistics(act_a), *statistics(act_b))
