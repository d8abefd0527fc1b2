"""Goldens for Partial Convolutions: the layer against ordinary convolution and a hand-derived
window, the parameter count against arithmetic from the upstream layer table, the two ports
against each other on the same weights, and the conversion rules of methods/checkpoint.py."""
import numpy as np
import paddle
import pytest
import torch

from methods import checkpoint
from methods.pconv import model_paddle, model_torch

PORTS = {"torch": model_torch, "paddle": model_paddle}
PARITY_ATOL = 1e-4  # DESIGN.md: the two ports agree to 1e-4 in eval mode, float32


@pytest.fixture(autouse=True, scope="module")
def paddle_on_cpu():
    paddle.set_device("cpu")


def tensor(framework, array):
    array = np.asarray(array, np.float32)
    return torch.from_numpy(array) if framework == "torch" else paddle.to_tensor(array)


def numpy(value):
    return value.detach().numpy() if isinstance(value, torch.Tensor) else value.numpy()


def conv2d(framework, x, weight, bias, stride, padding):
    """The framework's own ordinary convolution: the reference for PartialConv2d."""
    functional = torch.nn.functional if framework == "torch" else paddle.nn.functional
    args = [tensor(framework, a) for a in (x, weight, bias)]
    return numpy(functional.conv2d(*args, stride=stride, padding=padding))


def partial_layer(framework, weight, bias, stride, padding):
    out_ch, in_ch, kernel, _ = weight.shape
    layer = PORTS[framework].PartialConv2d(in_ch, out_ch, kernel, stride, padding, bias=True)
    loader = checkpoint.load_torch if framework == "torch" else checkpoint.load_paddle
    loader(layer, {"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)})
    return layer


def run_layer(framework, layer, x, valid):
    out, new_valid = layer(tensor(framework, x), tensor(framework, valid))
    return numpy(out), numpy(new_valid)


@pytest.mark.parametrize("framework", PORTS)
def test_all_valid_mask_is_ordinary_convolution(framework):
    rng = np.random.default_rng([3, 1])
    x = rng.normal(size=(2, 3, 8, 8))
    weight, bias = rng.normal(size=(5, 3, 3, 3)), rng.normal(size=5)
    valid = np.ones_like(x)
    # Without padding every window is fully valid: sum(1)/sum(M) = 1, plain convolution.
    out, new_valid = run_layer(framework, partial_layer(framework, weight, bias, 1, 0), x, valid)
    np.testing.assert_allclose(out, conv2d(framework, x, weight, bias, 1, 0), atol=1e-5)
    assert new_valid.shape == (2, 5, 6, 6) and (new_valid == 1).all()
    # 3x3, stride 2, padding 1 on 8x8: output row/column 0 reaches into the zero padding, which
    # counts as hole (paper Sec. 3.2, partial convolution as padding): 6 of 9 taps are valid
    # on an edge (ratio 9/6), 4 of 9 in the corner (ratio 9/4); elsewhere the ratio is 1.
    ratio = np.ones((4, 4))
    ratio[0, :], ratio[:, 0], ratio[0, 0] = 9 / 6, 9 / 6, 9 / 4
    out, new_valid = run_layer(framework, partial_layer(framework, weight, bias, 2, 1), x, valid)
    unbiased = conv2d(framework, x, weight, np.zeros(5), 2, 1)
    np.testing.assert_allclose(out, unbiased * ratio + bias[:, None, None], atol=1e-5)
    assert (new_valid == 1).all()


@pytest.mark.parametrize("framework", PORTS)
def test_hand_derived_window(framework):
    # One channel, 3x3 all-ones kernel, bias 0.5, stride 1, padding 1. X = 1..16 row-major;
    # the top-left 2x2 pixels (X = 1, 2, 5, 6) are hole. out = sum(X*M) * 9/sum(M) + 0.5:
    #   (0,0): window rows/cols -1..1 -> only the 2x2 hole: no valid pixel -> out 0, mask 0
    #   (0,1): rows 0..1, cols 0..2 -> valid X = 3, 7: 10 * 9/2 + 0.5 = 45.5
    #   (1,0): rows 0..2, cols 0..1 -> valid X = 9, 10: 19 * 9/2 + 0.5 = 86
    #   (1,1): rows 0..2, cols 0..2 -> valid X = 3, 7, 9, 10, 11: 40 * 9/5 + 0.5 = 72.5
    #   (3,3): rows 2..3, cols 2..3 -> valid X = 11, 12, 15, 16: 54 * 9/4 + 0.5 = 122
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    valid = np.ones_like(x)
    valid[0, 0, :2, :2] = 0
    layer = partial_layer(framework, np.ones((1, 1, 3, 3)), np.array([0.5]), 1, 1)
    out, new_valid = run_layer(framework, layer, x * valid, valid)
    for (i, j), expected in {(0, 0): 0.0, (0, 1): 45.5, (1, 0): 86.0, (1, 1): 72.5,
                             (3, 3): 122.0}.items():
        assert out[0, 0, i, j] == pytest.approx(expected, rel=1e-6), (i, j)
    expected_valid = np.ones((1, 1, 4, 4))
    expected_valid[0, 0, 0, 0] = 0
    np.testing.assert_array_equal(new_valid, expected_valid)


@pytest.mark.parametrize("framework", PORTS)
def test_parameter_count_256px(framework):
    # k*k*in*out for each conv of naoto0804 net.py PConvUNet(layer_size=7) (paper Sec. 3.2):
    convs = (7 * 7 * 3 * 64              # enc_1
             + 5 * 5 * 64 * 128          # enc_2
             + 5 * 5 * 128 * 256         # enc_3
             + 3 * 3 * 256 * 512         # enc_4
             + 3 * (3 * 3 * 512 * 512)   # enc_5..enc_7
             + 3 * (3 * 3 * 1024 * 512)  # dec_7..dec_5: 512 upsampled + 512 skip channels
             + 3 * 3 * 768 * 256         # dec_4: 512 + 256
             + 3 * 3 * 384 * 128         # dec_3: 256 + 128
             + 3 * 3 * 192 * 64          # dec_2: 128 + 64
             + 3 * 3 * 67 * 3)           # dec_1: 64 + the 3-channel input image
    # BatchNorm weight and bias on every block but enc_1 and dec_1:
    batch_norm = 2 * (128 + 256 + 512 + 3 * 512 + 3 * 512 + 256 + 128 + 64)
    # Conv bias only where no BatchNorm follows: enc_1 (64) and dec_1 (3).
    biases = 64 + 3
    derived = convs + batch_norm + biases
    model = PORTS[framework].PConvUNet(layers=7, width=64)
    count = PORTS[framework].parameter_count(model)
    print(f"{framework} PConvUNet(7, 64): {count} parameters, derived {derived}")
    assert count == derived


def block_shapes(framework, model, size):
    """(name, output feature shape, output mask shape) of every block, in call order."""
    shapes = []
    for i in range(1, model.layers + 1):
        for name in (f"enc_{i}", f"dec_{i}"):
            def hook(_, __, output, name=name):
                shapes.append((name, tuple(output[0].shape), tuple(output[1].shape)))
            block = getattr(model, name)
            if framework == "torch":
                block.register_forward_hook(hook)
            else:
                block.register_forward_post_hook(hook)
    image = np.zeros((1, 3, size, size), np.float32)
    model(tensor(framework, image), tensor(framework, np.ones_like(image)))
    return shapes


@pytest.mark.parametrize("framework", PORTS)
@pytest.mark.parametrize("layers, size", [(6, 128), (7, 256)])
def test_spatial_shapes(framework, layers, size):
    width = 4
    model = PORTS[framework].PConvUNet(layers=layers, width=width)
    shapes = block_shapes(framework, model, size)
    # Paper Sec. 3.2: stride-2 encoder, channels w, 2w, 4w, 8w, 8w...; decoder dec_i restores
    # enc_{i-1}'s size and channels; dec_1 returns the 3-channel image at full size.
    channels = [3] + [width * 2 ** min(i, 3) for i in range(layers)]
    expected = [(f"enc_{i}", (1, channels[i], size >> i, size >> i)) for i in range(1, layers + 1)]
    expected += [(f"dec_{i}", (1, channels[i - 1], size >> (i - 1), size >> (i - 1)))
                 for i in range(layers, 0, -1)]
    assert [(name, feature) for name, feature, _ in shapes] == expected
    assert all(feature == mask for _, feature, mask in shapes)
    assert expected[layers - 1][1][2:] == (2, 2)  # layers = log2(size) - 1: a 2x2 bottleneck


def random_state(state, seed):
    """A seeded neutral state shaped like `state`, with BatchNorm statistics away from 0/1."""
    rng = np.random.default_rng([seed])
    out = {}
    for name, array in sorted(state.items()):
        leaf = name.rsplit(".", 1)[-1]
        if array.dtype == np.int64:
            value = np.full(array.shape, 7)
        elif leaf == "running_var":
            value = rng.uniform(0.5, 1.5, array.shape)
        elif array.ndim >= 2:  # conv (out, in, kh, kw), Linear (out, in): LeCun-normal scale
            value = rng.normal(0, np.sqrt(1 / np.prod(array.shape[1:])), array.shape)
        else:  # BatchNorm weight near 1; biases, BatchNorm shift and mean near 0
            value = (leaf == "weight") + rng.normal(0, 0.1, array.shape)
        out[name] = np.asarray(value, array.dtype)
    return out


def twin_models(layers, width, seed):
    """The torch and paddle PConvUNet with the same weights, both in eval mode."""
    torch_model = model_torch.PConvUNet(layers=layers, width=width).eval()
    checkpoint.load_torch(torch_model, random_state(checkpoint.torch_state(torch_model), seed))
    paddle_model = model_paddle.PConvUNet(layers=layers, width=width)
    paddle_model.eval()
    checkpoint.load_paddle(paddle_model, checkpoint.torch_state(torch_model))
    return torch_model, paddle_model


def random_inputs(size, seed, batch=2):
    """Image in [0,1] with its hole zeroed, and a blocky hole mask (1 = hole) of about 40%."""
    rng = np.random.default_rng([seed, size])
    blocks = (rng.random((batch, 1, size // 8, size // 8)) < 0.4).astype(np.float32)
    mask = blocks.repeat(8, axis=2).repeat(8, axis=3)
    image = rng.random((batch, 3, size, size)).astype(np.float32) * (1 - mask)
    return image, mask


@pytest.mark.parametrize("size, layers, width", [(64, 5, 8), (128, 6, 16)])
def test_parity_pconv_ports_agree_in_eval_mode(size, layers, width):
    torch_model, paddle_model = twin_models(layers, width, seed=size)
    image, mask = random_inputs(size, seed=1)
    valid = np.repeat(1 - mask, 3, axis=1)
    outputs = {}
    for framework, model in (("torch", torch_model), ("paddle", paddle_model)):
        with torch.no_grad(), paddle.no_grad():
            out, out_valid = model(tensor(framework, image), tensor(framework, valid))
        outputs[framework] = numpy(out), numpy(out_valid)
    (torch_out, torch_valid), (paddle_out, paddle_valid) = outputs["torch"], outputs["paddle"]
    difference = np.abs(torch_out - paddle_out).max()
    print(f"pconv parity {size}px layers={layers} width={width}: max |torch - paddle| = "
          f"{difference:.3g} (output std {torch_out.std():.3g})")
    assert difference < PARITY_ATOL
    np.testing.assert_array_equal(torch_valid, paddle_valid)
    torch_pred = model_torch.inpaint(torch_model, image, mask)
    paddle_pred = model_paddle.inpaint(paddle_model, image, mask)
    assert torch_pred.dtype == paddle_pred.dtype == np.float32
    assert torch_pred.shape == image.shape and 0 <= torch_pred.min() and torch_pred.max() <= 1
    assert np.abs(torch_pred - paddle_pred).max() < PARITY_ATOL


def test_parity_pconv_checkpoint_round_trip(tmp_path):
    torch_model, _ = twin_models(layers=4, width=4, seed=5)
    original = checkpoint.torch_state(torch_model)
    path = tmp_path / "weights.safetensors"
    checkpoint.save(path, original, {"method": "pconv", "framework": "torch"})
    state, metadata = checkpoint.load(path)
    assert metadata == {"method": "pconv", "framework": "torch"}
    paddle_model = model_paddle.PConvUNet(layers=4, width=4)
    checkpoint.load_paddle(paddle_model, state)
    back = checkpoint.paddle_state(paddle_model)
    # Paddle has no num_batches_tracked: the only keys it cannot give back.
    assert set(original) - set(back) == {f"enc_{i}.bn.num_batches_tracked" for i in (2, 3, 4)} | {
        f"dec_{i}.bn.num_batches_tracked" for i in (2, 3, 4)}
    assert "enc_2.bn.running_var" in back and "enc_1.conv.window" not in back
    for name, array in back.items():
        np.testing.assert_array_equal(array, original[name], err_msg=name)
        assert array.dtype == original[name].dtype, name
    fresh = model_torch.PConvUNet(layers=4, width=4)
    checkpoint.load_torch(fresh, back)
    assert fresh.enc_2.bn.num_batches_tracked.item() == 0


def bn_state(framework, model):
    state = (checkpoint.torch_state if framework == "torch" else checkpoint.paddle_state)(model)
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


@pytest.mark.parametrize("framework", PORTS)
@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_encoder_bn(framework, freeze):
    port = PORTS[framework]
    model = port.PConvUNet(layers=4, width=4)
    port.set_train_mode(model, True, freeze_encoder_bn=freeze)
    image, mask = random_inputs(32, seed=2)
    before = bn_state(framework, model)
    model(tensor(framework, image), tensor(framework, np.repeat(1 - mask, 3, axis=1)))
    after = bn_state(framework, model)
    changed = {k.split(".")[0] for k in before if not np.array_equal(before[k], after[k])}
    decoder = {f"dec_{i}" for i in (2, 3, 4)}
    assert changed == (decoder if freeze else decoder | {f"enc_{i}" for i in (2, 3, 4)})
    assert model.enc_2.bn.training is not freeze and model.dec_2.bn.training


def test_parity_pconv_batchnorm_training_step_follows_torch():
    """Plain paddle BatchNorm2D folds the biased batch variance into its running variance and
    torch the unbiased one; the port's BatchNorm2D follows torch: outputs, gradients and both
    running statistics agree after a train-mode step (hand-derived running values too)."""
    x = np.random.default_rng([9]).normal(size=(2, 4, 3, 3)).astype(np.float32)
    torch_bn = torch.nn.BatchNorm2d(4, eps=model_torch.BN_EPSILON, momentum=model_torch.BN_MOMENTUM)
    paddle_bn = model_paddle.BatchNorm2D(4, momentum=model_paddle.BN_MOMENTUM,
                                         epsilon=model_paddle.BN_EPSILON)
    tx = torch.tensor(x, requires_grad=True)
    px = paddle.to_tensor(x, stop_gradient=False)
    torch_out = torch_bn.train()(tx)
    paddle_bn.train()
    paddle_out = paddle_bn(px)
    weights = np.random.default_rng([10]).normal(size=x.shape).astype(np.float32)
    (torch_out * torch.tensor(weights)).sum().backward()
    (paddle_out * paddle.to_tensor(weights)).sum().backward()
    np.testing.assert_allclose(numpy(torch_out), numpy(paddle_out), atol=1e-5)
    np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(numpy(paddle_bn._mean), 0.1 * x.mean((0, 2, 3)), atol=1e-6)
    # running_var = 0.9 * 1 + 0.1 * unbiased batch variance (n = 2*3*3 = 18 values a channel)
    expected_var = 0.9 + 0.1 * x.var((0, 2, 3), ddof=1)
    np.testing.assert_allclose(numpy(torch_bn.running_var), expected_var, rtol=1e-5)
    np.testing.assert_allclose(numpy(paddle_bn._variance), expected_var, rtol=1e-5)


def tiny_mlps():
    """Linear -> BatchNorm -> ReLU -> Linear in each framework, the same sublayer names."""
    torch_model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4),
                                      torch.nn.ReLU(), torch.nn.Linear(4, 3)).eval()
    paddle_model = paddle.nn.Sequential(paddle.nn.Linear(5, 4),
                                        paddle.nn.BatchNorm1D(4, momentum=0.9, epsilon=1e-5),
                                        paddle.nn.ReLU(), paddle.nn.Linear(4, 3))
    paddle_model.eval()
    return torch_model, paddle_model


def test_checkpoint_converts_linear_and_batchnorm():
    torch_model, paddle_model = tiny_mlps()
    checkpoint.load_torch(torch_model, random_state(checkpoint.torch_state(torch_model), 11))
    state = checkpoint.torch_state(torch_model)
    checkpoint.load_paddle(paddle_model, state)
    native = paddle_model.state_dict()
    np.testing.assert_array_equal(native["0.weight"].numpy(), state["0.weight"].T)
    np.testing.assert_array_equal(native["1._mean"].numpy(), state["1.running_mean"])
    np.testing.assert_array_equal(native["1._variance"].numpy(), state["1.running_var"])
    x = np.random.default_rng([12]).normal(size=(6, 5)).astype(np.float32)
    with torch.no_grad():
        expected = numpy(torch_model(tensor("torch", x)))
    np.testing.assert_allclose(numpy(paddle_model(tensor("paddle", x))), expected, atol=1e-5)
    back = checkpoint.paddle_state(paddle_model)
    assert set(back) == set(state) - {"1.num_batches_tracked"}
    for name, array in back.items():
        np.testing.assert_array_equal(array, state[name], err_msg=name)


@pytest.mark.parametrize("framework", PORTS)
def test_loading_is_strict(framework):
    torch_model, paddle_model = tiny_mlps()
    model = torch_model if framework == "torch" else paddle_model
    loader = checkpoint.load_torch if framework == "torch" else checkpoint.load_paddle
    state = checkpoint.torch_state(torch_model)
    renamed = {("extra" if k == "0.bias" else k): v for k, v in state.items()}
    with pytest.raises(KeyError, match=r"missing keys \['0.bias'\].*unexpected keys \['extra'\]"):
        loader(model, renamed)
    with pytest.raises((ValueError, RuntimeError), match="3.weight"):
        loader(model, {**state, "3.weight": np.zeros((3, 5), np.float32)})


def test_build_and_inpaint_follow_the_contract():
    spec = {"params": {"layers": 4, "width": 8, "input_norm": "unit"}}
    for framework, port in PORTS.items():
        model = port.build(spec, width=4)
        assert not model.training and model.enc_1.conv.weight.shape[0] == 4, framework
        image, mask = random_inputs(32, seed=3, batch=1)
        pred = port.inpaint(model, image, mask)
        assert pred.shape == image.shape and pred.dtype == np.float32, framework
        assert 0 <= pred.min() and pred.max() <= 1, framework
    with pytest.raises(ValueError, match="divisible by 16"):
        model_torch.build(spec)(torch.zeros(1, 3, 40, 40), torch.ones(1, 3, 40, 40))
