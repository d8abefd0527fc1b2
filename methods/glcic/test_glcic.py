"""Goldens for GLCIC: layer shapes and parameter counts against arithmetic from the paper's
tables, the two ports against each other on the same weights, the training holes against the
paper's sizes, and the post-processing against a hand-derived Poisson solution."""
import numpy as np
import paddle
import pytest
import torch

import methods
from methods import checkpoint, training
from methods.glcic import batches, model_paddle, model_torch, postprocess

PARITY_ATOL = 1e-4  # DESIGN.md: the two ports agree to 1e-4 in eval mode, float32


@pytest.fixture(autouse=True, scope="module")
def paddle_on_cpu():
    paddle.set_device("cpu")


def neutral_state(net):
    return (checkpoint.torch_state if isinstance(net, torch.nn.Module)
            else checkpoint.paddle_state)(net)


def trained_like_state(net, seed):
    """init_state plus random BatchNorm statistics and mean pixel, so eval mode is exercised
    with non-trivial running values."""
    state = training.init_state({k: v.shape for k, v in neutral_state(net).items()}, seed)
    rng = np.random.default_rng([seed, 1])
    for key, value in state.items():
        if key.endswith(("running_mean", "bias", "mean_pixel")):
            state[key] = rng.uniform(-0.2, 0.6, value.shape).astype(np.float32)
        elif key.endswith("running_var") or (key.endswith("weight") and value.ndim == 1):
            state[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    return state


def test_completion_network_parameter_count_matches_the_paper_table():
    # Table 1 at width 64, conv weights (no bias before BatchNorm) k*k*in*out:
    #   conv1 5x5 4->64: 6,400; conv2 3x3 64->128: 73,728; conv3 128->128: 147,456;
    #   conv4 128->256: 294,912; conv5-12 (incl. the 4 dilated) 8 x 589,824 = 4,718,592;
    #   deconv 4x4 256->128: 524,288; conv 128->128: 147,456; deconv 4x4 128->64: 131,072;
    #   conv 64->32: 18,432; output 3x3 32->3 + bias: 867            -> 6,063,203
    # BatchNorm scale + shift on 64+128+128+256x9+128+128+64+32 = 2,976 channels -> 5,952
    assert model_torch.parameter_count(model_torch.CompletionNetwork(64)) == 6_069_155
    assert model_paddle.parameter_count(model_paddle.CompletionNetwork(64)) == 6_069_155


def test_discriminator_parameter_count_matches_the_paper_table():
    # Table 2 at 256 px: global 5x5 convs 3->64->128->256->512->512->512:
    #   4,800 + 204,800 + 819,200 + 3,276,800 + 2 x 6,553,600 = 17,412,800, BN 3,968,
    #   FC 512*4*4 -> 1024: 8,389,632                                   -> 25,806,400
    # local (128 px) the same without the last conv: 10,859,200 + 2,944 + 8,389,632
    #                                                                   -> 19,251,776
    # concatenation FC 2048 -> 1: 2,049                       total     -> 45,060,225
    assert model_torch.parameter_count(model_torch.ContextDiscriminator(256)) == 45_060_225
    assert model_paddle.parameter_count(model_paddle.ContextDiscriminator(256)) == 45_060_225


@pytest.mark.parametrize("port", [model_torch, model_paddle], ids=["torch", "paddle"])
def test_discriminator_layers_reach_4x4_at_any_power_of_two(port):
    for size, layers in ((256, 6), (128, 5), (64, 4)):
        assert port.ContextDiscriminator(size, width=8).global_d.layers == layers
    with pytest.raises(ValueError, match="4 x a power of 2"):
        port.ContextDiscriminator(96, width=8)


def test_parity_glcic_eval_mode_float32():
    """Both ports on the same weights (the demo's 128 px, width 16) and the same input."""
    rng = np.random.default_rng([4, 0])
    image = rng.random((2, 3, 128, 128), dtype=np.float32)
    hole = np.zeros((2, 1, 128, 128), np.float32)
    hole[0, :, 30:90, 40:100], hole[1, :, 0:50, 70:128] = 1, 1
    corners = np.array([[10, 20], [64, 0]])
    outs = {}
    for name, port, load, to in (
            ("torch", model_torch, checkpoint.load_torch, torch.from_numpy),
            ("paddle", model_paddle, checkpoint.load_paddle, paddle.to_tensor)):
        completion, disc = port.CompletionNetwork(16), port.ContextDiscriminator(128, 16)
        load(completion, trained_like_state(completion, 1))
        load(disc, trained_like_state(disc, 2))
        completion.eval()
        disc.eval()
        with torch.no_grad(), paddle.no_grad():
            out = completion(to(image), to(hole))
            logit = disc(out, corners)
        outs[name] = [np.asarray(t.numpy()) for t in (out, logit)]
    np.testing.assert_allclose(outs["paddle"][0], outs["torch"][0], atol=PARITY_ATOL)
    np.testing.assert_allclose(outs["paddle"][1], outs["torch"][1], atol=PARITY_ATOL,
                               rtol=1e-5)
    assert outs["torch"][0].std() > 0.01  # a real output, not a saturated constant


@pytest.mark.parametrize("port", [model_torch, model_paddle], ids=["torch", "paddle"])
def test_the_hole_is_filled_with_the_mean_pixel_before_the_network(port):
    """What the hole held never reaches the network: only the mean pixel and the mask do."""
    net = port.CompletionNetwork(8)
    load = checkpoint.load_torch if port is model_torch else checkpoint.load_paddle
    load(net, trained_like_state(net, 3))
    net.eval()
    rng = np.random.default_rng([5])
    image = rng.random((1, 3, 32, 32), dtype=np.float32)
    hole = np.zeros((1, 1, 32, 32), np.float32)
    hole[..., 8:20, 4:30] = 1
    other = np.where(hole > 0, rng.random(image.shape, dtype=np.float32), image)
    to = torch.from_numpy if port is model_torch else paddle.to_tensor
    with torch.no_grad(), paddle.no_grad():
        a, b = (np.asarray(net(to(x), to(hole)).numpy()) for x in (image, other))
    np.testing.assert_array_equal(a, b)


def test_training_rectangles_have_the_paper_sizes_and_a_patch_centred_on_them():
    # 256 px: local patch 128, hole sides in [96, 128] (paper, "Training" and Sec. 3.2).
    assert batches.local_size(256) == 128 and batches.hole_side_range(256) == (96, 128)
    assert batches.hole_side_range(128) == (48, 64)
    images = np.zeros((3, 3, 128, 128), np.float32)
    _, holes, corners, _ = batches.sample_batch(images, 0, {"batch_size": 64,
                                                            "holes": "rectangles"}, seed=0)
    centred = 0
    for hole, (top, left) in zip(holes, corners):
        rows, cols = np.nonzero(hole[0])
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert 48 <= height <= 64 and 48 <= width <= 64 and hole.sum() == height * width
        assert top <= rows.min() and rows.max() < top + 64  # the patch holds the whole hole
        assert left <= cols.min() and cols.max() < left + 64
        # centred on the hole (to the pixel) unless the image edge moved it
        centred += abs(2 * top + 64 - rows.min() - rows.max() - 1) <= 1 and \
            abs(2 * left + 64 - cols.min() - cols.max() - 1) <= 1
    assert 0 < centred < 64 and {0, 64} <= set(corners.ravel())  # both cases occur


def test_irregular_training_holes_get_a_patch_around_them():
    images = np.zeros((3, 3, 64, 64), np.float32)
    settings = {"batch_size": 4, "holes": "irregular"}
    image, hole, fake, real = batches.sample_batch(images, 0, settings, seed=0)
    for h, (top, left) in zip(hole, fake):
        rows, cols = np.nonzero(h[0])
        assert 0 <= top <= 32 and 0 <= left <= 32
        centre = (rows.min() + rows.max() + 1) // 2, (cols.min() + cols.max() + 1) // 2
        assert top <= centre[0] < top + 32 and left <= centre[1] < left + 32
    assert real.shape == (4, 2) and (real >= 0).all() and (real <= 32).all()


def test_phases_follow_the_paper_proportions():
    spec = methods.load_spec("glcic")
    settings = spec["training"]
    # T_C = 90,000 and T_D = 10,000 of T_train = 500,000 (paper, Algorithm 1).
    assert [batches.phase(s, settings) for s in (0, 89_999, 90_000, 99_999, 100_000)] == \
        [1, 1, 2, 2, 3]


def ramp_image(size=64):
    rows, cols = np.mgrid[0:size, 0:size] / (size - 1)
    return np.stack([0.2 + 0.5 * cols, 0.3 + 0.4 * rows, 0.25 + 0.3 * (rows + cols) / 2])


def test_poisson_blending_removes_a_colour_offset_inside_the_hole():
    """The completion has the right gradients but is 0.2 too bright in the hole: Poisson
    blending keeps its gradients and takes the boundary values from the image, so it must
    return the image itself (hand-derived: the offset satisfies Laplace's equation with zero
    boundary values, so it vanishes), up to 8-bit quantisation and the solver."""
    image = ramp_image().astype(np.float32)
    mask = np.zeros((1, 1, 64, 64), np.float32)
    mask[..., 20:40, 10:50] = 1
    completion = np.clip(image + 0.2 * mask[0], 0, 1)[None]
    out = postprocess.blend(completion, image[None], mask)[0]
    hole = mask[0, 0] > 0
    assert np.abs(completion[0] - image)[:, hole].mean() == pytest.approx(0.2, abs=1e-6)
    assert np.abs(out - image)[:, hole].mean() < 0.01  # 2.5 grey levels, from 51
    assert np.abs(out - image)[:, ~hole].max() <= 0.5 / 255 + 1e-6  # outside: 8-bit rounding


def gradients(image):
    return np.concatenate([np.diff(image, axis=1)[:, :, :-1], np.diff(image, axis=2)[:, :-1]])


@pytest.mark.parametrize("box", [(20, 40, 10, 50), (0, 25, 0, 17), (0, 24, 0, 16),
                                 (40, 64, 48, 64), (0, 25, 10, 30), (39, 64, 0, 33)])
def test_poisson_blending_keeps_the_completion_where_it_was(box):
    """Inside the hole the blend keeps the completion's gradients (that is what Poisson blending
    does), so a striped completion must line up with its own stripes, not with a copy moved by
    one pixel; holes on the border with odd and even sides included (seamlessClone clears its
    mask's outer pixels, which moved some of them by one pixel)."""
    rows, cols = np.mgrid[0:64, 0:64]
    image = np.stack([0.5 + 0.1 * cols / 63, 0.4 + 0.1 * rows / 63, 0.5 + 0 * rows])
    stripes = np.stack([0.5 + 0.3 * np.sin(cols * 2 * np.pi / 6),
                        0.5 + 0.3 * np.sin(rows * 2 * np.pi / 5),
                        0.5 + 0.2 * np.sin((rows + cols) * 2 * np.pi / 7)])
    mask = np.zeros((1, 1, 64, 64), np.float32)
    mask[..., box[0]:box[1], box[2]:box[3]] = 1
    completion = np.where(mask[0] > 0, stripes, image).astype(np.float32)[None]
    out = postprocess.blend(completion, image[None].astype(np.float32), mask)[0]
    inner = np.zeros((64, 64), bool)  # the hole two pixels in from its edge
    inner[box[0] + 2:box[1] - 2, box[2] + 2:box[3] - 2] = True
    inner = inner[:-1, :-1]
    error = {(dy, dx): np.abs(gradients(out) - gradients(
        np.roll(completion[0], (dy, dx), axis=(1, 2))))[:, inner].mean()
        for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    moved = min(v for k, v in error.items() if k != (0, 0))
    assert error[(0, 0)] < 0.7 * moved, error


@pytest.mark.parametrize("port", [model_torch, model_paddle], ids=["torch", "paddle"])
def test_a_size_the_network_cannot_restore_is_refused(port):
    to = torch.from_numpy if port is model_torch else paddle.to_tensor
    image, hole = np.zeros((1, 3, 30, 32), np.float32), np.zeros((1, 1, 30, 32), np.float32)
    with pytest.raises(ValueError, match="multiples of 4, got \\(30, 32\\)"):
        port.CompletionNetwork(8)(to(image), to(hole))


def test_settings_the_schedule_cannot_mean_are_refused():
    settings = dict(methods.load_spec("glcic")["training"])
    batches.check(settings)
    with pytest.raises(ValueError, match="holes must be one of"):
        batches.check({**settings, "holes": "rectangle"})
    with pytest.raises(ValueError, match="sum to at most 1"):
        batches.check({**settings, "completion_fraction": 0.9, "discriminator_fraction": 0.2})
