"""Pretrained backbone files (LPIPS AlexNet, FID InceptionV3, VGG16): find, download, verify.

DESIGN.md, "Metrics and pretrained backbones": a file is looked for in the configured
`backbone_weights_dir`, then in torch hub's cache, then (if allowed) downloaded into that
cache; every file is checked against its known sha256. When no valid file can be had,
`resolve` raises `WeightsUnavailable` whose message is the one-sentence reason the score
table and the report show; callers must never fall back to random weights.
"""
import http.client
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import NamedTuple

from datasets.io import sha256_file


class Backbone(NamedTuple):
    file: str
    url: str
    sha256: str


# Full sha256 of each published file. Not measured here (this machine is offline): each digest
# is quoted identically by several independent public projects that hashed the downloaded file
# (e.g. VGG16 in plai-group/ubc_primitives' weights manifest, the FID Inception in
# snap-research/discoscene models/inception_model.py), and each begins with the 8-hex prefix
# that torchvision / pytorch-fid put in the file name for torch.hub's check_hash. Sources that
# also quote LPIPS's own lin-layer files give the digests of the copies lpips 0.1.4 installs
# (v0.1/alex.pth df73285e..., v0.1/vgg.pth a78928a0...), a sign that they hashed real files.
KNOWN = {
    # torchvision AlexNet_Weights.IMAGENET1K_V1, the trunk lpips 0.1.4 loads for net='alex'.
    "alexnet": Backbone(
        "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"),
    # pytorch_fid.inception.FID_WEIGHTS_URL: the TF FID Inception (inception-2015-12-05) port.
    "inception": Backbone(
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth",
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"),
    # torchvision VGG16_Weights.IMAGENET1K_V1, for the Partial Convolutions perceptual loss.
    "vgg16": Backbone(
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"),
}

# An offline machine must fail fast instead of hanging in connect(); 15 s still lets a slow
# but working link start the transfer.
DOWNLOAD_TIMEOUT_S = 15


class WeightsUnavailable(RuntimeError):
    """No valid copy of a backbone file could be had; str(error) is the reason, one sentence."""


# (path, size, mtime_ns) of files already verified in this process: a score run resolves each
# backbone more than once (loader and provenance), and hashing AlexNet's 244 MB takes ~0.5 s.
_VERIFIED = set()


def verify(path, expected: str, what=None) -> None:
    """Raise WeightsUnavailable naming the file (or `what`) and both digests on a mismatch."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, expected)
    if key in _VERIFIED:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsUnavailable(
            f"weights rejected: {what or path} has sha256 {actual}, expected {expected} "
            f"(corrupt, truncated or a different file; delete or replace it)")
    _VERIFIED.add(key)


def hub_checkpoints() -> Path:
    """torch.hub's cache folder, where torchvision and pytorch-fid keep downloaded weights:
    torch.hub.get_dir() when torch is loaded (it honours torch.hub.set_dir), else the default
    that function documents, $TORCH_HOME/hub with TORCH_HOME defaulting to
    $XDG_CACHE_HOME/torch and that to ~/.cache (torch/hub.py get_dir, _get_torch_home), so
    that a job which never uses torch does not import it (about 1.5 s) just to look."""
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints"
    home = os.getenv("TORCH_HOME") or os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"),
                                                   "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def download(url: str, dst: Path, expected: str) -> None:
    """Fetch url to dst via a temporary name; only a verified file is renamed into place."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=dst.parent, prefix=dst.name + ".", suffix=".partial")
    os.close(handle)
    try:
        # The timeout bounds each socket operation, not the total: an offline machine fails
        # fast instead of hanging in connect(), a slow but working link still transfers.
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        verify(partial, expected, what=f"the file downloaded from {url}")
        os.replace(partial, dst)  # atomic on one filesystem: readers never see half a file
    finally:
        Path(partial).unlink(missing_ok=True)


def resolve(name: str, weights_dir=None, allow_download: bool = True) -> Path:
    """Path of the verified file of backbone `name` (a key of KNOWN), or WeightsUnavailable."""
    backbone = KNOWN[name]
    hub = hub_checkpoints()
    folders = ([Path(weights_dir)] if weights_dir else []) + [hub]
    for folder in folders:
        path = folder / backbone.file
        if path.is_file():
            verify(path, backbone.sha256)
            return path
    missing = (f"weights missing: {backbone.file} is not in {hub} or backbone_weights_dir "
               f"({weights_dir or 'not set'})")
    if not allow_download:
        raise WeightsUnavailable(f"{missing}, and downloads are disabled")
    try:
        download(backbone.url, hub / backbone.file, backbone.sha256)
    except (OSError, http.client.HTTPException) as err:
        raise WeightsUnavailable(
            f"{missing}, and the download from {backbone.url} failed: {err}") from err
    return hub / backbone.file
