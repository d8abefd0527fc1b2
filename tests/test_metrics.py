"""Metric maths against independent references: scikit-image (PSNR, SSIM), hand-derived values
(L1, SSIM of flat images, Frechet distance of Gaussians), and a hand re-implementation of LPIPS
run on a seeded random AlexNet trunk (the real ImageNet weights are not on this machine)."""
import math

import lpips as lpips_package
import numpy as np
import pytest
import skimage.data
import torch
import torchvision
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

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
