"""Metric maths against independent references: scikit-image (PSNR, SSIM), hand-derived values
(L1, SSIM of flat images, Frechet distance of Gaussians), and a hand re-implementation of LPIPS
run on a seeded random AlexNet trunk (the real ImageNet weights are not on this machine)."""
import math
import pickle

import lpips as lpips_package
import numpy as np
import pytest
import skimage.data
import torch
import torchvision
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from metrics import fid as fid_module
from metrics import ssim as ssim_module
from metrics import weights
from metrics.fid import fid, frechet_distance
from metrics.l1 import l1, l1_hole
from metrics.lpips import load_lpips, lpips_distance
from metrics.psnr import psnr
from metrics.ssim import ssim

SIZES = [(11, 11), (11, 23), (16, 16), (31, 17), (64, 48)]  # 11 = smallest Gaussian window


def noisy_pairs(seed, n, h, w, noise=0.1):
    rng = np.random.default_rng([seed, h, w])
    target = rng.random((n, 3, h, w))
    pred = np.clip(target + noise * rng.standard_normal(target.shape), 0, 1)
    return pred, target


def astronaut_pair(seed=0):
    """scikit-image's astronaut photograph, resized to 96x128 (non-square), and a noisy copy."""
    image = resize(skimage.data.astronaut()[:384], (96, 128), anti_aliasing=True)
    target = image.transpose(2, 0, 1)[None]
    rng = np.random.default_rng([seed])
    pred = np.clip(target + 0.05 * rng.standard_normal(target.shape), 0, 1)
    return pred, target


def skimage_ssim(a, b):
    # The Wang et al. settings named in metrics/ssim.py, applied per (3,H,W) image.
    return structural_similarity(a, b, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1)


def all_pairs():
    yield from (noisy_pairs(0, 3, h, w) for h, w in SIZES)
    yield astronaut_pair()


@pytest.mark.parametrize("pair", list(all_pairs()), ids=lambda p: "x".join(map(str, p[0].shape)))
def test_psnr_and_ssim_match_scikit_image(pair):
    pred, target = pair
    ours_psnr = psnr(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    ours_ssim = ssim(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    # The reference sees the same float32-rounded pixels, promoted to float64.
    pred, target = (a.astype(np.float32).astype(np.float64) for a in (pred, target))
    ref_psnr = [peak_signal_noise_ratio(t, p, data_range=1) for p, t in zip(pred, target)]
    ref_ssim = [skimage_ssim(p, t) for p, t in zip(pred, target)]
    assert ours_psnr.dtype == ours_ssim.dtype == torch.float64
    np.testing.assert_allclose(ours_psnr.numpy(), ref_psnr, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours_ssim.numpy(), ref_ssim, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n, h, w", [(5, 150, 170), (2, 256, 264)])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_ssim_in_several_passes_matches_scikit_image_per_image(n, h, w, kind, monkeypatch):
    # 150x170 = 25,500 pixels: PIXELS_PER_PASS = 2^16 holds 2 whole images, so 5 images take
    # passes of 2, 2 and 1 (a short last pass); 256x264 = 67,584 pixels exceeds a pass, so
    # each image is a pass of its own (the "at least one image" rule). On the CPU, torch
    # tensors and numpy arrays get the same CPU pass size.
    per_pass = max(1, ssim_module.PIXELS_PER_PASS // (h * w))
    assert per_pass < n  # several passes, else this test guards nothing
    passes = []
    maps_mean = ssim_module.ssim_maps_mean
    monkeypatch.setattr(ssim_module, "ssim_maps_mean",
                        lambda x, y: passes.append(len(x)) or maps_mean(x, y))
    pred, target = noisy_pairs(7, n, h, w)
    pred, target = (a.astype(np.float32) for a in (pred, target))
    got = ssim(*(map(torch.from_numpy, (pred, target)) if kind == "torch" else (pred, target)))
    expected = [skimage_ssim(p, t) for p, t in zip(pred.astype(np.float64),
                                                    target.astype(np.float64))]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-5)
    whole = [3 * per_pass] * (n // per_pass)  # channel maps per pass: 3 per image
    assert passes == whole + ([3 * (n % per_pass)] if n % per_pass else [])


def test_ssim_rejects_images_smaller_than_the_window():
    x = torch.zeros(1, 3, 10, 32)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x, x)


def test_ssim_of_flat_images_is_the_luminance_term():
    # Constant images: every local variance and covariance is 0, so the contrast-structure
    # factor is C2/C2 = 1 and S = (2ab + C1) / (a^2 + b^2 + C1) at every position.
    a, b, c1 = 0.2, 0.7, 0.01**2
    x, y = torch.full((1, 3, 16, 20), a), torch.full((1, 3, 16, 20), b)
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-6)  # float32 a, b


def test_psnr_of_a_uniform_offset():
    # |diff| = 0.1 everywhere -> MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB.
    target = torch.full((2, 3, 8, 8), 0.25, dtype=torch.float64)
    assert psnr(target + 0.1, target).tolist() == pytest.approx([20.0, 20.0], abs=1e-9)


def test_identical_images():
    image = torch.from_numpy(astronaut_pair()[1]).float()
    mask = torch.zeros(1, 1, *image.shape[2:])
    mask[..., 10:30, 20:60] = 1
    assert psnr(image, image).item() == math.inf
    assert ssim(image, image).item() == pytest.approx(1.0, abs=1e-12)
    assert l1(image, image).item() == 0.0
    assert l1_hole(image, image, mask).item() == 0.0


def l1_example():
    """2x2 images: the target is 0; the prediction differs only at pixel (0,0), by 0.1, 0.2
    and 0.4 in R, G, B. Whole image: (0.1 + 0.2 + 0.4) / (3 channels x 4 pixels) = 0.7/12.
    Hole {(0,0), (1,1)}: (0.1 + 0.2 + 0.4) / (3 x 2) = 0.7/6; hole {(1,1)} only: 0."""
    target = torch.zeros(1, 3, 2, 2)
    pred = target.clone()
    pred[0, :, 0, 0] = torch.tensor([0.1, 0.2, 0.4])
    return pred, target


def test_l1_hand_derived():
    pred, target = l1_example()
    assert l1(pred, target).item() == pytest.approx(0.7 / 12, abs=1e-7)


def test_l1_hole_hand_derived():
    pred, target = l1_example()
    masks = torch.zeros(4, 1, 2, 2)
    masks[0, 0, 0, 0] = masks[0, 0, 1, 1] = 1  # hole holding the differing pixel
    masks[1, 0, 1, 1] = 1                       # hole elsewhere
    masks[2] = 1                                # whole image: equals l1
    values = l1_hole(pred.expand(4, -1, -1, -1), target.expand(4, -1, -1, -1), masks)
    assert values[:3].tolist() == pytest.approx([0.7 / 6, 0.0, 0.7 / 12], abs=1e-7)
    assert math.isnan(values[3].item())         # masks[3] is empty: undefined, not 0


def diagonal_closed_form(mu1, s1, mu2, s2):
    # Diagonal (or jointly diagonalisable) covariances commute, so (S1 S2)^(1/2) has the
    # eigenvalues sqrt(s1 s2) and FID = |mu1 - mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2)).
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2)))


def test_frechet_distance_of_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    # By hand: |dmu|^2 = 1 + 0 + 6.25; traces: (1+9-6) + (4+1-4) + (0.5-0.5) = 5 -> 12.25.
    assert got == pytest.approx(12.25, abs=1e-9)
    assert got == pytest.approx(diagonal_closed_form(mu1, s1, mu2, s2), abs=1e-9)


def test_frechet_distance_of_commuting_rotated_gaussians():
    q, _ = np.linalg.qr(np.random.default_rng([3]).standard_normal((4, 4)))  # orthonormal
    s1, s2 = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 0.5, 0.5, 1.0])
    mu1, mu2 = np.zeros(4), np.array([0.5, -0.5, 1.0, 0.0])
    got = frechet_distance(mu1, q @ np.diag(s1) @ q.T, mu2, q @ np.diag(s2) @ q.T)
    assert got == pytest.approx(diagonal_closed_form(mu1, s1, mu2, s2), abs=1e-8)


def test_frechet_distance_of_non_commuting_2d_gaussians():
    # S1 = diag(1, 4); S2 = the same ellipse rotated by 45 degrees = [[2.5, 1.5], [1.5, 2.5]].
    # For 2x2 M = S1 S2 with positive eigenvalues l1, l2: (tr M^(1/2))^2 = l1 + l2 + 2 sqrt(l1 l2)
    # = tr M + 2 sqrt(det M). tr(S1 S2) = 2.5 + 10 = 12.5, det M = 4 * 4 = 16, so
    # tr (S1 S2)^(1/2) = sqrt(20.5) and FID = tr S1 + tr S2 - 2 sqrt(20.5) = 10 - 2 sqrt(20.5).
    s1, s2 = np.diag([1.0, 4.0]), np.array([[2.5, 1.5], [1.5, 2.5]])
    got = frechet_distance(np.zeros(2), s1, np.zeros(2), s2)
    assert got == pytest.approx(10 - 2 * math.sqrt(20.5), abs=1e-9)


def test_fid_of_small_sets_uses_the_unbiased_covariance():
    # a: the 4 corners of [0,2]^2 -> mean (1,1), squared deviations 4 per axis, no covariance:
    #    unbiased cov = diag(4/3, 4/3). b: the 4 edge midpoints, moved by (3,-1) -> mean (4,0),
    #    squared deviations 2 per axis: diag(2/3, 2/3). FID = |(3,-1)|^2
    #    + 2 (4/3 + 2/3 - 2 sqrt(8/9)) = 10 + 4 - (8/3) sqrt(2). (pytorch-fid divides by N-1;
    #    dividing by N would scale the trace part by 3/4.)
    a = np.array([[0, 0], [2, 0], [0, 2], [2, 2]], dtype=np.float64)
    b = np.array([[0, 1], [2, 1], [1, 0], [1, 2]], dtype=np.float64) + [3, -1]
    assert fid(a, b) == pytest.approx(14 - 8 / 3 * math.sqrt(2), abs=1e-9)


# N <= D: singular covariances, as fid() documents; this product is diagonal and exact.
@pytest.mark.filterwarnings("ignore:Matrix is singular")
def test_fid_of_two_images_per_set_by_hand():
    # N = 2, the smallest set allowed. a = {(0,0), (2,0)}: mean (1,0), unbiased covariance
    # diag(2, 0) (deviations +-1 on the first axis, divided by N - 1 = 1); b = {(3,1), (5,1)}:
    # mean (4,1), the same covariance. S1 S2 = diag(4, 0), whose square root has trace 2:
    # FID = |(3, 1)|^2 + (2 + 2 - 2 * 2) = 10.
    a, b = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[3.0, 1.0], [5.0, 1.0]])
    assert fid(a, b) == pytest.approx(10.0, abs=1e-9)
    assert fid(b, a) == pytest.approx(10.0, abs=1e-9)


def test_fid_needs_two_images_per_set():
    with pytest.raises(ValueError, match="at least 2 images per set, got 1 and 4"):
        fid(np.zeros((1, 3)), np.ones((4, 3)))


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng([4])
    mu1, mu2 = np.zeros(4), np.array([1.0, 0.0, -1.0, 0.5])
    s1, s2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 2.0, 1.0, 0.25])
    n = 20000
    a = mu1 + np.sqrt(s1) * rng.standard_normal((n, 4))
    b = mu2 + np.sqrt(s2) * rng.standard_normal((n, 4))
    # Exact value 2.25 + 0.934 = 3.18. With 20,000 samples per set the estimate's bias is
    # about tr(S1 + S2)/n = 5e-4 and its spread a few 1e-2 (mean and covariance estimation
    # error, each O(1/sqrt(n)) times O(1) terms), so 0.1 is loose yet still catches a wrong
    # covariance normalisation, a swapped argument or a missing square root.
    assert fid(a, b) == pytest.approx(diagonal_closed_form(mu1, s1, mu2, s2), abs=0.1)


# The attributes pytorch_fid.inception.InceptionV3 takes from fid_inception_v3() to make its
# four blocks (pytorch_fid 0.3.0, inception.py).
INCEPTION_PARTS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                   "Conv2d_4a_3x3", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                   "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


def stand_in_fid_inception():
    """A seeded stand-in for fid_inception_v3()'s network (the TF FID weights are not here,
    and a random full-size one takes seconds to draw): each part a 3x3 convolution and a
    ReLU, of stride 2 where the real part reduces the size, the last one a 1x1 convolution
    widening to pool3's 2048 channels."""
    generator = torch.Generator().manual_seed(14)
    net = torch.nn.Module()
    for name in INCEPTION_PARTS:
        stride = 2 if name in ("Conv2d_1a_3x3", "Mixed_6a", "Mixed_7a") else 1
        conv = (torch.nn.Conv2d(3, 2048, 1) if name == INCEPTION_PARTS[-1]
                else torch.nn.Conv2d(3, 3, 3, stride=stride, padding=1))
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.5)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.1)
        setattr(net, name, torch.nn.Sequential(conv, torch.nn.ReLU()))
    return net


def test_fid_activations_see_pytorch_fids_preprocessing(tmp_path, monkeypatch):
    """Images in [0,1] reach the network resized to 299x299 (bilinear, align_corners False)
    and scaled to [-1,1], as pytorch_fid.inception.InceptionV3(resize_input=True,
    normalize_input=True) does. Reference: pytorch-fid's own InceptionV3 with both switched
    off, around the same stand-in network, fed that preprocessing written out by hand."""
    import pytorch_fid.inception
    file = tmp_path / weights.KNOWN["inception"].file
    file.write_bytes(b"stand-in: the network comes from the patched fid_inception_v3")
    monkeypatch.setitem(weights.KNOWN, "inception",
                        weights.KNOWN["inception"]._replace(sha256=weights.sha256_file(file)))
    monkeypatch.setattr(pytorch_fid.inception, "fid_inception_v3", stand_in_fid_inception)
    model = fid_module.load_inception(weights_dir=tmp_path, allow_download=False)
    bare = pytorch_fid.inception.InceptionV3([fid_module.POOL3], resize_input=False,
                                             normalize_input=False).eval()
    images = torch.from_numpy(np.random.default_rng([9]).random((3, 3, 40, 56),
                                                                dtype=np.float32))
    with torch.no_grad():
        x = torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear",
                                            align_corners=False)
        expected = bare(2 * x - 1)[0].flatten(1).double().numpy()
        unscaled = bare(x)[0].flatten(1).double().numpy()
    got = fid_module.activations(model, images, batch_size=2)
    assert got.shape == (3, 2048) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)  # float32, values ~30
    assert np.abs(unscaled - expected).max() > 1e-2  # the stand-in is not blind to the scale


# --- LPIPS: the package's maths, checked on a seeded random trunk ------------------------

RELU_TAPS = (1, 4, 7, 9, 11)  # ReLU outputs of torchvision alexnet().features (Zhang et al.)
# lpips ScalingLayer constants (PerceptualSimilarity lpips/lpips.py), on [-1,1] inputs.
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


def random_alexnet_state(seed):
    """torchvision AlexNet with seeded He-normal weights and small random biases."""
    net = torchvision.models.alexnet(weights=None)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in net.named_parameters():
            fan_in = param[0].numel() if param.dim() > 1 else 1
            std = math.sqrt(2 / fan_in) if param.dim() > 1 else 0.05
            param.copy_(torch.randn(param.shape, generator=generator) * std)
    return net.state_dict()


@pytest.fixture(scope="module")
def random_trunk(tmp_path_factory):
    """A random AlexNet file for the production loader, which gets its real sha256 below."""
    folder = tmp_path_factory.mktemp("weights")
    state = random_alexnet_state(seed=11)
    path = folder / weights.KNOWN["alexnet"].file
    torch.save(state, path)
    yield folder, state, weights.sha256_file(path)
    path.unlink()  # 244 MB; pytest keeps the temporary folders of the last 3 runs


def reference_lpips(alexnet_state, x, y):
    """LPIPS v0.1 by hand: sum over the 5 taps of the spatial mean of w . (f(x)/|f(x)| -
    f(y)/|f(y)|)^2, features unit-normalised over channels (eps 1e-10), w the shipped lins."""
    features = torchvision.models.alexnet(weights=None)
    features.load_state_dict(alexnet_state)
    features = features.features.eval()
    lin_path = f"{lpips_package.__path__[0]}/weights/v0.1/alex.pth"
    lins = torch.load(lin_path, map_location="cpu", weights_only=True)

    def taps(image):
        z, out = ((2 * image - 1) - SHIFT) / SCALE, []
        for index, layer in enumerate(features):
            z = layer(z)
            if index in RELU_TAPS:
                out.append(z.clone())
        return out

    total = torch.zeros(len(x), dtype=torch.float64)
    with torch.no_grad():
        for k, (fx, fy) in enumerate(zip(taps(x), taps(y))):
            fx = fx / (fx.square().sum(1, keepdim=True).sqrt() + 1e-10)
            fy = fy / (fy.square().sum(1, keepdim=True).sqrt() + 1e-10)
            w = lins[f"lin{k}.model.1.weight"].view(1, -1, 1, 1)
            total += ((fx - fy).square() * w).sum(1).mean((1, 2)).double()
    return total


def test_lpips_matches_a_hand_reimplementation(random_trunk, monkeypatch):
    folder, state, digest = random_trunk
    known = weights.KNOWN["alexnet"]
    monkeypatch.setitem(weights.KNOWN, "alexnet", known._replace(sha256=digest))
    model = load_lpips(weights_dir=folder, allow_download=False)
    pred, target = noisy_pairs(5, 5, 64, 80, noise=0.2)
    pred, target = torch.from_numpy(pred).float(), torch.from_numpy(target).float()
    got = lpips_distance(model, pred, target, batch_size=2)
    expected = reference_lpips(state, pred, target)
    assert got.dtype == torch.float64 and (expected > 0).all()
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=0)
    assert lpips_distance(model, pred, pred).abs().max().item() == 0.0


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return {}


class RunsCodeWhenUnpickled:
    """A pickle that calls a function on loading: what a tampered weights file could do."""

    def __reduce__(self):
        return _record_unpickling, ()


def test_the_lpips_trunk_file_is_never_unpickled_as_code(tmp_path, monkeypatch):
    # weights_only loading refuses anything but tensors and containers, before running it;
    # the sha256 check stands in front of it, but a tampered KNOWN digest must not mean
    # code execution.
    path = tmp_path / weights.KNOWN["alexnet"].file
    torch.save(RunsCodeWhenUnpickled(), path)
    monkeypatch.setitem(weights.KNOWN, "alexnet",
                        weights.KNOWN["alexnet"]._replace(sha256=weights.sha256_file(path)))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_lpips(weights_dir=tmp_path, allow_download=False)
    assert UNPICKLED == []
