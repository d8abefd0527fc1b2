"""DeepFill v1 networks: TensorFlow's padding and resizing rules, the layer table's parameter
counts, contextual attention's properties, and torch/paddle agreement in eval mode."""
import numpy as np
import paddle
import pytest
import torch

from methods import checkpoint, training
from methods.deepfill_v1 import batches, geometry, layers, model_paddle, model_torch

PORTS = {"torch": model_torch, "paddle": model_paddle}


def tensor(name, array):
    return torch.from_numpy(array) if name == "torch" else paddle.to_tensor(array)


def numpy(value):
    return value.detach().numpy() if isinstance(value, torch.Tensor) else value.numpy()


def test_same_padding_is_tensorflows():
    # TensorFlow 'SAME': out = ceil(in / s), total = (out - 1) s + (k - 1) d + 1 - in, odd pixel
    # after. 64, k3 s2: out 32, total 62 + 3 - 64 = 1 -> (0, 1). 64, k5 s2: 62 + 5 - 64 = 3 ->
    # (1, 2). 65, k5 s2: out 33, 64 + 5 - 65 = 4 -> (2, 2). 64, k3 s1 d16: 63 + 33 - 64 = 32 ->
    # (16, 16). 64, k4 s2 (contextual attention's raw patches): 62 + 4 - 64 = 2 -> (1, 1).
    assert geometry.same_padding(64, 3, 2) == (0, 1)
    assert geometry.same_padding(64, 5, 2) == (1, 2)
    assert geometry.same_padding(65, 5, 2) == (2, 2)
    assert geometry.same_padding(64, 3, 1, 16) == (16, 16)
    assert geometry.same_padding(64, 4, 2) == (1, 1)


def test_nearest_resize_uses_aligned_corners():
    # align_corners: scale (in - 1) / (out - 1). 64 -> 32: 63/31 = 2.0323; y = 15 -> 30.48 -> 30,
    # y = 16 -> 32.52 -> 33, y = 31 -> 63. Doubling 4 -> 8: scale 3/7, y = 3 -> 1.29 -> 1,
    # y = 4 -> 1.71 -> 2: plain repetition.
    down = geometry.nearest_indices(64, 32)
    assert down[15] == 30 and down[16] == 33 and down[31] == 63
    assert list(geometry.nearest_indices(4, 8)) == [0, 0, 1, 1, 2, 2, 3, 3]
    # 2 -> 379: scale 1/378 in float32 times 189 is 0.49999997 in float32, which roundf takes
    # to 0 (adding 0.5 in float32 would round it up to 1).
    assert geometry.nearest_indices(2, 379)[189] == 0
    for size in (16, 32, 128):
        assert np.array_equal(geometry.nearest_indices(size, 2 * size), np.arange(2 * size) // 2)


@pytest.mark.parametrize("name", ["torch", "paddle"])
def test_nearest_resize_picks_exactly_the_indexed_pixels(name):
    """The products with one-hot selection matrices give the indexed pixels bit for bit, up and
    down and in either axis alone."""
    x = np.random.default_rng(4).normal(size=(2, 3, 17, 10)).astype(np.float32)
    module = {"torch": model_torch, "paddle": model_paddle}[name]
    tensor = {"torch": torch.from_numpy, "paddle": paddle.to_tensor}[name]
    for height, width in [(34, 20), (9, 5), (17, 20), (32, 32)]:
        expected = x[:, :, geometry.nearest_indices(17, height)][
            :, :, :, geometry.nearest_indices(10, width)]
        assert np.array_equal(module.resize_nearest(tensor(x), height, width).numpy(), expected)


def test_discount_mask_follows_upstream():
    # inpaint_ops.py: max(gamma ** min(i, H - i), gamma ** min(j, W - j)); H = W = 4, gamma 0.5:
    # distances per row 0 1 2 1, so the corner is 1, (1, 1) is 0.5 and (2, 2) 0.25.
    weights = geometry.discount_mask(4, 4, 0.5)[0, 0]
    assert weights[0, 0] == 1 and weights[1, 1] == 0.5 and weights[2, 2] == 0.25
    assert weights[3, 3] == 0.5 and weights[2, 0] == 1


@pytest.mark.parametrize("name", PORTS)
def test_parameter_counts_match_the_upstream_layers(name):
    # Hand-derived (k*k*in*out + out per convolution), cnum 32: coarse 1,448,227 (conv1 4,032,
    # conv2 18,496, conv3 36,928, conv4 73,856, conv5-12 8 x 147,584, conv13 73,792, conv14
    # 36,928, conv15 18,464, conv16 4,624, conv17 435); convolution branch 880,480; attention
    # branch 400,800 + 295,168; merge 576,867 (allconv11 9 * 256 * 128 + 128 = 295,040, ...).
    # Critics at 256 px, cnum 64: local 4,864 + 204,928 + 819,456 + 3,277,312 + (8*8*512 + 1);
    # global 4,864 + 204,928 + 819,456 + 1,638,656 + (16*16*256 + 1).
    port = PORTS[name]
    with training.untouched_global_rng(name):
        assert port.parameter_count(port.Generator(32)) == 3_601_542
        assert port.parameter_count(port.Critics(256, 64)) == 4_339_329 + 2_733_441


def blocky_features(rng, channels, side):
    """Non-negative features (the attention branch ends in ReLU) constant on 2x2 blocks, so
    that any nearest downsampling by 2 keeps every block's value."""
    small = rng.random((1, channels, side // 2, side // 2)).astype(np.float32)
    return np.repeat(np.repeat(small, 2, axis=2), 2, axis=3)


@pytest.mark.parametrize("name", PORTS)
def test_attention_reconstructs_a_hole_that_copies_the_background(name):
    """The hole's content (and a 2-block margin) is an exact copy of a region 20 px to the
    right: every hole patch finds its copy (cosine 1), so the pasted output equals the input
    inside the hole, at the default softmax scale of 10."""
    rng = np.random.default_rng(0)
    f = blocky_features(rng, 4, 48)
    f[:, :, 8:24, 28:44] = f[:, :, 8:24, 8:24]  # blocks 4..11 copied 10 blocks to the right
    mask = np.zeros((1, 1, 48, 48), np.float32)
    mask[:, :, 12:20, 12:20] = 1  # blocks 6..9: inside the copied region with 2 blocks spare
    out = numpy(PORTS[name].contextual_attention(tensor(name, f), tensor(name, f),
                                                 tensor(name, mask)))
    hole = mask[0, 0] > 0
    np.testing.assert_allclose(out[0][:, hole], f[0][:, hole], atol=1e-3)


def attention_by_loops(f, b, mask, scale=None):
    """Contextual attention written out with loops, for one image, as upstream's
    inpaint_ops.py computes it: cosine scores of f's 3x3 patches against b's (both halved),
    fused along the diagonals of the (foreground, background) plane row-major and then
    column-major, multiplied by the background patches' validity, softmax(scale x score) times
    the validity again (upstream's masking: invalid weights 0, but exp(0) in the denominator),
    and the 4x4 patches of b pasted with those weights, the 4 overlaps averaged. scale None: an
    infinite scale, each foreground position taking the best valid patch."""
    rows = geometry.nearest_indices(f.shape[1], f.shape[1] // 2)
    cols = geometry.nearest_indices(f.shape[2], f.shape[2] // 2)
    fs, bs, ms = (a[:, rows][:, :, cols] for a in (f, b, mask))
    h, w = fs.shape[1:]
    pad = lambda a: np.pad(a, ((0, 0), (1, 1), (1, 1)))  # noqa: E731
    fp, bp, mp = pad(fs), pad(bs), pad(ms)
    cells = [(i, j) for i in range(h) for j in range(w)]  # row-major, upstream's flattening
    score = np.zeros((h * w, h * w))
    valid = np.zeros(h * w)
    for q, (qi, qj) in enumerate(cells):
        patch = bp[:, qi:qi + 3, qj:qj + 3]
        patch = patch / max(np.sqrt((patch ** 2).sum()), 1e-4)
        valid[q] = mp[:, qi:qi + 3, qj:qj + 3].sum() == 0
        for p, (pi, pj) in enumerate(cells):
            score[p, q] = (fp[:, pi:pi + 3, pj:pj + 3] * patch).sum()

    def diagonal_sum(s):  # a 3x3 identity kernel, zero outside
        out = s.copy()
        out[1:, 1:] += s[:-1, :-1]
        out[:-1, :-1] += s[1:, 1:]
        return out

    fused = diagonal_sum(score)
    column_major = [i * w + j for j in range(w) for i in range(h)]
    order = np.ix_(column_major, column_major)
    transposed = diagonal_sum(fused[order])
    fused = np.empty_like(transposed)
    fused[order] = transposed
    if scale is None:
        weights = np.zeros_like(fused)
        weights[np.arange(h * w), np.argmax(np.where(valid > 0, fused, -np.inf), axis=1)] = 1
    else:
        logits = scale * fused * valid
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights = weights / weights.sum(axis=1, keepdims=True) * valid
    out = np.zeros((b.shape[0], b.shape[1] + 2, b.shape[2] + 2))
    raw = np.pad(b, ((0, 0), (1, 1), (1, 1)))  # 'SAME' pads the 4x4 stride-2 patches by 1
    for p, (pi, pj) in enumerate(cells):
        for q, (qi, qj) in enumerate(cells):
            if weights[p, q]:
                out[:, 2 * pi:2 * pi + 4, 2 * pj:2 * pj + 4] += \
                    weights[p, q] * raw[:, 2 * qi:2 * qi + 4, 2 * qj:2 * qj + 4]
    return out[:, 1:-1, 1:-1] / 4


@pytest.mark.parametrize("name", PORTS)
def test_attention_at_a_large_scale_pastes_the_best_matching_patch(name):
    """Foreground and background differ and the map is not square, so swapped axes or roles
    show."""
    rng = np.random.default_rng(1)
    f, b = rng.random((2, 1, 3, 16, 24)).astype(np.float32)
    mask = np.zeros((1, 1, 16, 24), np.float32)
    mask[:, :, 4:10, 6:15] = 1
    expected = attention_by_loops(f[0], b[0], mask[0])
    out = numpy(PORTS[name].contextual_attention(tensor(name, f), tensor(name, b),
                                                 tensor(name, mask), softmax_scale=1e4))
    np.testing.assert_allclose(out[0], expected, atol=1e-4)


@pytest.mark.parametrize("features", ["zero", "faint"])
@pytest.mark.parametrize("name", PORTS)
def test_attention_masks_the_hole_as_upstream_does(name, features):
    """At the default scale, where the softmax is soft: zero features (ReLU zeros) score 0
    everywhere, so each of the Q background patches gets weight 1/Q and the invalid ones are
    then zeroed (masking with -inf would give the valid ones 1/valid count instead); faint
    features give soft, uneven weights."""
    rng = np.random.default_rng(7)
    b = rng.random((1, 4, 16, 24)).astype(np.float32)
    f = np.zeros_like(b) if features == "zero" else 0.05 * rng.random(b.shape, np.float32)
    mask = np.zeros((1, 1, 16, 24), np.float32)
    mask[:, :, 2:9, 3:11] = 1
    expected = attention_by_loops(f[0], b[0], mask[0], scale=10.0)
    out = numpy(PORTS[name].contextual_attention(tensor(name, f), tensor(name, b),
                                                 tensor(name, mask)))
    np.testing.assert_allclose(out[0], expected, atol=1e-5)


def test_parity_deepfill_v1_contextual_attention_torch_paddle_random_inputs():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(2, 8, 32, 32)).astype(np.float32)
    mask = (rng.random((2, 1, 32, 32)) < 0.3).astype(np.float32)
    out = [numpy(PORTS[name].contextual_attention(tensor(name, f), tensor(name, f),
                                                  tensor(name, mask))) for name in PORTS]
    assert np.abs(out[0]).max() > 0.1
    np.testing.assert_allclose(out[1], out[0], atol=1e-5)


def test_attention_stays_float32_under_bfloat16_autocast():
    """Under autocast (bfloat16 on a GPU; the CPU's autocast checks the same code path) the
    attention's matrix products must still run in float32."""
    rng = np.random.default_rng(6)
    f = torch.from_numpy(rng.random((1, 8, 32, 32)).astype(np.float32))
    mask = torch.from_numpy((rng.random((1, 1, 32, 32)) < 0.3).astype(np.float32))
    expected = model_torch.contextual_attention(f, f, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model_torch.contextual_attention(f, f, mask)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-6)


def test_parity_deepfill_v1_eval_mode_float32():
    """Generator and critics of both ports holding the same weights (torch's, converted through
    the neutral checkpoint), on the same input."""
    paddle.set_device("cpu")
    size, rng = 64, np.random.default_rng(3)
    image = rng.random((2, 3, size, size)).astype(np.float32) * 2 - 1
    hole, _ = batches.boxes(rng, 2, size)
    x = image * (1 - hole)
    nets = {}
    for name, port in PORTS.items():
        nets[name] = (port.build({"params": {"cnum": 8}}, seed=4),
                      training.initialised(name, lambda: port.Critics(size, 16), 9, layers.INIT))
    for torch_net, paddle_net in zip(*nets.values()):  # paddle gets torch's weights
        checkpoint.load_paddle(paddle_net, checkpoint.torch_state(torch_net))
    outputs = {}
    for name, (generator, critics) in nets.items():
        coarse, refined = generator(tensor(name, x), tensor(name, hole))
        local, whole = critics(tensor(name, image[:, :, :32, :32].copy()), tensor(name, image))
        outputs[name] = [numpy(v) for v in (coarse, refined, local, whole)]
    for t, p in zip(outputs["torch"], outputs["paddle"]):
        assert np.abs(t).max() > 1e-3
        np.testing.assert_allclose(p, t, atol=1e-5)


@pytest.mark.parametrize("name", PORTS)
def test_inpaint_maps_to_minus_one_one_with_the_hole_at_zero(name, monkeypatch):
    """The network sees upstream's input: the image in [-1, 1] with the hole at 0."""
    port = PORTS[name]
    model = port.build({"params": {"cnum": 4}})
    seen = {}
    forward = type(model).forward

    def spy(self, x, mask):
        seen["x"], seen["mask"] = numpy(x), numpy(mask)
        return forward(self, x, mask)

    monkeypatch.setattr(type(model), "forward", spy)
    image = np.full((1, 3, 16, 16), 0.75, np.float32)
    mask = np.zeros((1, 1, 16, 16), np.float32)
    mask[..., 4:8, 4:8] = 1
    pred = port.inpaint(model, image * (1 - mask), mask)
    assert pred.shape == image.shape and pred.min() >= 0 and pred.max() <= 1
    np.testing.assert_allclose(seen["x"][0, :, 0, 0], 0.5)
    assert (seen["x"][0, :, 4:8, 4:8] == 0).all()


@pytest.mark.parametrize("name", PORTS)
def test_activations_and_clips_are_upstreams(name):
    """ELU everywhere (values down to -1), ReLU at pmconv6 (the features contextual attention
    compares: none negative), and both stages clipped to [-1, 1]: output biases of +10 / -10
    give exactly 1 / -1."""
    port = PORTS[name]
    model = port.build({"params": {"cnum": 4}}, seed=2)
    state = (checkpoint.torch_state if name == "torch" else checkpoint.paddle_state)(model)
    state["coarse.conv17.conv.bias"][:] = 10
    state["merge.allconv17.conv.bias"][:] = -10
    (checkpoint.load_torch if name == "torch" else checkpoint.load_paddle)(model, state)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 5, 32, 32)).astype(np.float32)
    elu = numpy(model.attention_in.pmconv5(model.attention_in.pmconv4_downsample(
        model.attention_in.pmconv3(model.attention_in.pmconv2_downsample(
            model.attention_in.pmconv1(tensor(name, x)))))))
    relu = numpy(model.attention_in(tensor(name, x)))
    assert -1 <= elu.min() < -0.1 and relu.min() == 0 and (relu == 0).mean() > 0.1
    mask = np.zeros((2, 1, 32, 32), np.float32)
    mask[:, :, 8:20, 8:24] = 1
    coarse, refined = model(tensor(name, x[:, :3] * (1 - mask)), tensor(name, mask))
    assert (numpy(coarse) == 1).all() and (numpy(refined) == -1).all()


@pytest.mark.parametrize("name", PORTS)
def test_a_size_the_network_cannot_restore_is_refused(name):
    model = PORTS[name].build({"params": {"cnum": 4}})
    with pytest.raises(ValueError, match="multiples of 8"):
        PORTS[name].inpaint(model, np.zeros((1, 3, 20, 20), np.float32),
                            np.zeros((1, 1, 20, 20), np.float32))


def test_training_boxes_have_upstream_sizes():
    # inpaint.yml at 256 px: a 128 box, each side shrunk by randint(32 // 2 + 1) = 0..16 px.
    rng = np.random.default_rng(5)
    holes, corners = batches.boxes(rng, 200, 256)
    for hole, (top, left) in zip(holes, corners):
        rows, cols = np.nonzero(hole[0])
        assert 0 <= top < 128 and 0 <= left < 128
        assert rows.min() - top == top + 127 - rows.max() <= 16
        assert cols.min() - left == left + 127 - cols.max() <= 16
    shrink = [np.nonzero(h[0])[0].min() - t for h, (t, _) in zip(holes, corners)]
    assert min(shrink) == 0 and max(shrink) == 16


def test_settings_the_schedule_cannot_mean_are_refused():
    with pytest.raises(ValueError, match="holes must be one of"):
        batches.check({"holes": "rectangle", "critic_steps": 5})
    with pytest.raises(ValueError, match="critic_steps"):
        batches.check({"holes": "rectangles", "critic_steps": -1})
