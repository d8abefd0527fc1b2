"""Partial Convolutions loss (Liu et al. 2018, Sec. 3.4) in both ports: hand-derived values,
torch-vs-paddle parity of every term and of d total / d output, and the VGG16 loader against
torchvision's own vgg16 run on the same (random: no ImageNet weights here) state dict."""
import numpy as np
import paddle
import pytest
import torch
import torchvision

from methods.pconv import loss_paddle, loss_torch

paddle.set_device("cpu")
PORTS = {"torch": loss_torch, "paddle": loss_paddle}
# torchvision vgg16 `features` index -> (out, in) channels of each 3x3 conv up to pool3 (cfg "D"),
# written out here rather than taken from the code under test.
VGG16_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128),
               12: (256, 256), 14: (256, 256)}
POOL_INDICES = (4, 9, 16)  # pool1, pool2, pool3 in torchvision vgg16.features


def tensor(port, array, grad=False):
    array = np.asarray(array, dtype=np.float32)
    if port == "torch":
        return torch.tensor(array, requires_grad=grad)
    return paddle.to_tensor(array, stop_gradient=not grad)


def to_numpy(value):
    return value.detach().numpy() if isinstance(value, torch.Tensor) else value.numpy()


def random_vgg_state(seed):
    """He-scaled random convs in torchvision's key layout (features neither vanish nor blow up)."""
    rng = np.random.default_rng(seed)
    state = {}
    for index, (out, inp) in VGG16_CONVS.items():
        state[f"features.{index}.weight"] = rng.normal(
            0, np.sqrt(2 / (inp * 9)), (out, inp, 3, 3)).astype(np.float32)
        state[f"features.{index}.bias"] = rng.normal(0, 0.01, out).astype(np.float32)
    return state


def random_batch(seed, n=2, size=32):
    """output, target in [0,1] and a valid mask (1 = known) with box holes and scattered pixels."""
    rng = np.random.default_rng(seed)
    output = rng.random((n, 3, size, size))
    target = rng.random((n, 3, size, size))
    valid = (rng.random((n, 1, size, size)) > 0.1).astype(np.float32)
    valid[0, :, 4:14, 6:20] = 0
    valid[1, :, 18:30, 2:12] = 0
    return output, target, np.repeat(valid, 3, axis=1)


def tiny_example():
    """1x3x2x2: target 0, output 0.1*(c+1) in channel c, hole at pixel (0,0) of every channel."""
    output = np.broadcast_to(np.array([0.1, 0.2, 0.3])[None, :, None, None], (1, 3, 2, 2))
    valid = np.ones((1, 3, 2, 2))
    valid[:, :, 0, 0] = 0
    return output, np.zeros((1, 3, 2, 2)), valid


@pytest.mark.parametrize("port", PORTS)
def test_valid_hole_perceptual_style_hand_values(port):
    # |out-gt| is 0.1, 0.2, 0.3 in channels 0..2 at all 4 pixels; 12 elements in all.
    # valid: 3 known pixels x (0.1+0.2+0.3) = 1.8 -> /12 = 0.15 (not /9 = 0.2: the paper's
    # N_Igt = C*H*W counts every element). hole: 1 pixel x 0.6 = 0.6 -> /12 = 0.05.
    # With identity "features" (one map psi = image): perceptual = mean|out-gt| + mean|comp-gt|
    # = 2.4/12 + 0.6/12 = 0.25 (comp-gt is nonzero only at the hole pixel).
    # style_out: G(gt) = 0; G(out)_ab = 4 * 0.01(a+1)(b+1) / (C*H*W=12), sum over the 3x3
    # entries = 0.04*36/12 = 0.12, mean over the C^2 = 9 entries = 0.12/9.
    # style_comp: comp keeps only the hole pixel, so G_ab = 0.01(a+1)(b+1)/12, mean 0.03/9.
    output, target, valid = (tensor(port, a) for a in tiny_example())
    terms = PORTS[port].loss_terms(output, target, valid, vgg=lambda x: [x])
    got = {name: float(to_numpy(value)) for name, value in terms.items()}
    expected = {"valid": 0.15, "hole": 0.05, "perceptual": 0.25, "style_out": 0.12 / 9,
                "style_comp": 0.03 / 9}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-6), name


@pytest.mark.parametrize("port", PORTS)
def test_gram_matrix_hand_values(port):
    # One image, C=2 channels over H*W = 1x2 pixels: rows F0 = (1, 2), F1 = (3, 4).
    # F F^T = [[1+4, 3+8], [3+8, 9+16]] = [[5, 11], [11, 25]], divided by C*H*W = 4.
    feat = tensor(port, [[[[1, 2]], [[3, 4]]]])
    gram = to_numpy(PORTS[port].gram_matrix(feat))
    np.testing.assert_allclose(gram, [[[1.25, 2.75], [2.75, 6.25]]], rtol=1e-6)


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("hole, expected", [
    # Hole (1,1): P = its 3x3 block, rows and cols 0..2. Pairs with both ends in P: 3 rows x 2
    # horizontal pairs of difference 0.1 = 0.6, and 2 x 3 vertical pairs of 0.4 = 2.4.
    # (3.0)/(C*H*W = 16) = 0.1875. Whole-image TV (naoto0804) would give 0.1 + 0.4 = 0.5.
    ((1, 1), 3.0 / 16),
    # Hole (0,0) at the corner: P = {(0,0),(0,1),(1,0),(1,1)}: 2 horizontal pairs (0.2) and
    # 2 vertical pairs (0.8): 1.0/16. A 4-neighbour (cross) dilation would give 0.5/16.
    ((0, 0), 1.0 / 16),
])
def test_total_variation_hand_values(port, hole, expected):
    # comp[i, j] = 0.1 * (4i + j) on one 4x4 channel: right neighbour +0.1, down neighbour +0.4.
    comp = 0.1 * (4 * np.arange(4)[:, None] + np.arange(4)[None, :])[None, None]
    valid = np.ones((1, 1, 4, 4))
    valid[0, 0][hole] = 0
    tv = PORTS[port].total_variation(tensor(port, comp), tensor(port, valid))
    assert float(to_numpy(tv)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("port", PORTS)
def test_output_equal_to_target_zeroes_every_difference_term(port):
    _, target, valid = random_batch(seed=1)
    vgg = PORTS[port].vgg16_from_state(random_vgg_state(seed=2))
    terms = PORTS[port].loss_terms(tensor(port, target), tensor(port, target),
                                   tensor(port, valid), vgg)
    for name in ("valid", "hole", "perceptual", "style_out", "style_comp"):
        assert float(to_numpy(terms[name])) == 0.0, name
    # tv is a smoothness penalty on comp (= target here), not a difference: it stays positive.
    assert float(to_numpy(terms["tv"])) > 0


@pytest.mark.parametrize("port", PORTS)
def test_terms_without_vgg_and_weights(port):
    output, target, valid = (tensor(port, a) for a in random_batch(seed=3))
    terms = PORTS[port].loss_terms(output, target, valid)
    assert list(terms) == ["valid", "hole", "tv"]
    # Paper Sec. 3.4, L_total: L_valid + 6 L_hole + 0.1 L_tv when no VGG terms are present.
    value = {name: float(to_numpy(v)) for name, v in terms.items()}
    total = float(to_numpy(PORTS[port].total_loss(terms)))
    assert total == pytest.approx(value["valid"] + 6 * value["hole"] + 0.1 * value["tv"], rel=1e-6)
    assert PORTS[port].WEIGHTS == {"valid": 1, "hole": 6, "perceptual": 0.05, "style_out": 120,
                                   "style_comp": 120, "tv": 0.1}


def loss_and_grad(port, seed):
    output, target, valid = random_batch(seed)
    vgg = PORTS[port].vgg16_from_state(random_vgg_state(seed + 1))
    output = tensor(port, output, grad=True)
    terms = PORTS[port].loss_terms(output, tensor(port, target), tensor(port, valid), vgg)
    total = PORTS[port].total_loss(terms)
    total.backward()
    values = {name: float(to_numpy(value)) for name, value in terms.items()}
    return values, float(to_numpy(total)), to_numpy(output.grad)


def test_torch_paddle_parity_of_terms_total_and_gradient():
    terms_t, total_t, grad_t = loss_and_grad("torch", seed=10)
    terms_p, total_p, grad_p = loss_and_grad("paddle", seed=10)
    assert list(terms_t) == list(terms_p) == list(loss_torch.WEIGHTS)
    for name, value in terms_t.items():
        assert value > 0 and terms_p[name] == pytest.approx(value, rel=1e-4), name
    assert total_p == pytest.approx(total_t, rel=1e-4)
    # Element-wise, relative to the largest gradient (entries near 0 have no relative scale).
    assert np.abs(grad_p - grad_t).max() <= 1e-4 * np.abs(grad_t).max()


@pytest.mark.parametrize("port", PORTS)
def test_vgg_is_frozen_and_rejects_a_bad_state(port):
    vgg = PORTS[port].vgg16_from_state(random_vgg_state(seed=4))
    assert not vgg.training
    for param in vgg.parameters():
        assert (not param.requires_grad) if port == "torch" else param.stop_gradient
    state = random_vgg_state(seed=4)
    del state["features.14.bias"]
    with pytest.raises(KeyError, match="features.14.bias"):
        PORTS[port].vgg16_from_state(state)
    state = random_vgg_state(seed=4)
    state["features.7.weight"] = state["features.7.weight"][:, :32]
    with pytest.raises(ValueError, match="features.7.weight"):
        PORTS[port].vgg16_from_state(state)


@pytest.fixture(scope="module")
def torchvision_vgg16_file(tmp_path_factory):
    """A full torchvision vgg16 state dict (random init, classifier included) saved with torch."""
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval()
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.mark.parametrize("port", PORTS)
def test_load_vgg16_matches_torchvision_features(port, torchvision_vgg16_file):
    path, model = torchvision_vgg16_file
    image = np.random.default_rng(5).random((2, 3, 32, 32)).astype(np.float32)
    # Reference: torchvision's own features[:17] after its VGG16 preprocessing normalisation.
    preprocess = torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms()
    h = torchvision.transforms.functional.normalize(
        torch.from_numpy(image), preprocess.mean, preprocess.std)
    expected = []
    with torch.no_grad():
        for index, layer in enumerate(model.features[:17]):
            h = layer(h)
            if index in POOL_INDICES:
                expected.append(h.numpy())
    feats = PORTS[port].load_vgg16(path)(tensor(port, image))
    assert len(feats) == 3
    for got, want in zip(feats, expected):
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-4,
                                   atol=1e-5 * np.abs(want).max())
