"""DeepFill v1 training: one critic step and one generator step agree across the ports, the
gradient penalty and reconstruction losses have their upstream values, the adversarial
gradient reaches the generator, and resume is exact."""
import numpy as np
import paddle
import pytest
import torch

from methods import checkpoint, training
from methods.deepfill_v1 import batches, geometry, train_paddle, train_torch

PARAMS = {"cnum": 4, "critic_cnum": 8}
SETTINGS = {"steps": 4, "batch_size": 2, "lr": 1e-4, "beta1": 0.5, "beta2": 0.9,
            "critic_steps": 1, "gan_loss_alpha": 0.001, "global_wgan_loss_alpha": 1.0,
            "wgan_gp_lambda": 10.0, "coarse_l1_alpha": 1.2, "l1_loss_alpha": 1.2,
            "ae_loss_alpha": 1.2, "discount_gamma": 0.9, "holes": "rectangles",
            "checkpoint_every": 1}
PORTS = {"torch": train_torch, "paddle": train_paddle}


def floats(record):
    """A step's record with its tensors (loss terms, left on the device) as floats."""
    return {key: float(value) for key, value in record.items()}


def fresh(name, size, settings=SETTINGS):
    if name == "paddle":
        paddle.set_device("cpu")
    port = PORTS[name]
    nets = port.build_models(PARAMS, 0, size, "cpu" if name == "paddle" else torch.device("cpu"))
    for net in nets:
        net.train()
    return nets, port.optimizers(nets, settings)


def state(name, net):
    return (checkpoint.torch_state if name == "torch" else checkpoint.paddle_state)(net)


def gradients(name, net):
    """{torch state name: gradient} of the last backward pass, paddle's Linear transposed."""
    if name == "torch":
        return {k: p.grad.numpy().copy() for k, p in net.named_parameters() if p.grad is not None}
    linear = {f"{path}.weight" for path, layer in net.named_sublayers()
              if isinstance(layer, paddle.nn.Linear)}
    return {k: (p.grad.numpy().T if k in linear else p.grad.numpy()).copy()
            for k, p in net.named_parameters() if p.grad is not None}


def one_step(name, images, kind, settings=SETTINGS):
    nets, opts = fresh(name, images.shape[-1], settings)
    batch = batches.sample_batch(images, 0, settings, seed=0)
    device = torch.device("cpu") if name == "torch" else "cpu"
    port = PORTS[name]
    if kind == "critic":
        record = floats(port.critic_step(nets, opts[1], batch, settings, device, fast=False))
        net = nets[1]
    else:
        record = floats(port.generator_step(nets, opts[0], batch, settings, device, fast=False))
        net = nets[0]
    return record, [state(name, n) for n in nets], gradients(name, net)


@pytest.mark.parametrize("kind", ["critic", "generator"])
def test_parity_deepfill_v1_one_critic_and_one_generator_step_float32_cpu(split, kind):
    images = training.load_split(split)
    t_record, t_states, t_grads = one_step("torch", images, kind)
    p_record, p_states, p_grads = one_step("paddle", images, kind)
    assert set(t_record) == set(p_record)
    for key, value in t_record.items():
        assert p_record[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert set(t_grads) == set(p_grads) and len(t_grads) > 10
    for key, grad in t_grads.items():  # the backward passes agree, relative to each gradient
        assert np.abs(p_grads[key] - grad).max() <= 1e-4 * np.abs(grad).max() + 1e-9, key
    moved = 0
    for t_state, p_state in zip(t_states, p_states):
        initial = training.init_state({k: v.shape for k, v in t_state.items()}, 0,
                                      "glorot_uniform")
        assert set(t_state) == set(p_state)
        for key in t_state:
            np.testing.assert_allclose(p_state[key], t_state[key], atol=1e-4, err_msg=key)
            moved += not np.array_equal(t_state[key], initial[key])
    # The step moved exactly the trained network's weights with a gradient (a WGAN critic's
    # output bias has none: it cancels between the real and the fake terms).
    assert moved == sum(np.abs(g).max() > 0 for g in t_grads.values()) > 10


@pytest.mark.parametrize("name", PORTS)
def test_gradient_penalty_is_restricted_to_the_hole(name):
    """A linear critic D(x) = <w, x> has gradient w everywhere, so the penalty is hand-derived:
    mean over images of (sqrt(sum of w^2 over the image's hole) - 1)^2."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 3, 8, 8)).astype(np.float32) * 0.2
    real, fake = rng.random((2, 2, 3, 8, 8)).astype(np.float32)
    hole = np.zeros((2, 1, 8, 8), np.float32)
    hole[0, :, 2:5, 2:6], hole[1, :, 0:8, 6:8] = 1, 1
    expected = np.mean([(np.sqrt((w[0] ** 2 * h).sum()) - 1) ** 2 for h in hole])
    alpha = np.array([0.3, 0.8], np.float32)
    if name == "torch":
        weight = torch.from_numpy(w)
        penalty = train_torch.gradient_penalty(lambda x: (x * weight).sum((1, 2, 3))[:, None],
                                               *map(torch.from_numpy, (real, fake, alpha, hole)),
                                               fast=False).item()
    else:
        weight = paddle.to_tensor(w)
        penalty = train_paddle.gradient_penalty(lambda x: (x * weight).sum((1, 2, 3))[:, None],
                                                *map(paddle.to_tensor, (real, fake, alpha, hole)),
                                                fast=False).item()
    assert penalty == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", PORTS)
def test_reconstruction_losses_have_upstreams_weights(name):
    """real 0, coarse output 1, refined output 0.5 everywhere: l1 = (1.2 x 1 + 0.5) x mean of
    the discount mask over the local patch; ae = (1.2 x 1 + 0.5) x known fraction / known
    fraction = 1.7, whatever the hole."""
    size = 16
    hole = np.zeros((2, 1, size, size), np.float32)
    hole[:, :, 4:12, 2:9] = 1
    corners = np.array([[0, 0], [8, 8]])
    arrays = (np.zeros((2, 3, size, size), np.float32), np.ones((2, 3, size, size), np.float32),
              np.full((2, 3, size, size), 0.5, np.float32), hole)
    convert = torch.from_numpy if name == "torch" else paddle.to_tensor
    l1, ae = PORTS[name].reconstruction_losses(*map(convert, arrays), corners, SETTINGS)
    discount = geometry.discount_mask(8, 8, SETTINGS["discount_gamma"]).mean()
    assert float(l1) == pytest.approx(1.7 * discount, rel=1e-6)
    assert float(ae) == pytest.approx(1.7, rel=1e-6)


@pytest.mark.parametrize("name", PORTS)
def test_the_generator_update_changes_with_the_adversarial_weight(split, name):
    """The critics' gradient reaches the generator: its gradient is the reconstruction gradient
    plus gan_loss_alpha times the adversarial one (linear in the weight)."""
    images = training.load_split(split)
    grads = [one_step(name, images, "generator", {**SETTINGS, "gan_loss_alpha": a})[2]
             for a in (0.0, 0.5, 1.0)]
    changed = 0
    for key in grads[0]:
        adversarial = grads[1][key] - grads[0][key]
        changed += np.abs(adversarial).max() > 1e-9
        np.testing.assert_allclose(grads[2][key] - grads[0][key], 2 * adversarial,
                                   rtol=1e-3, atol=1e-3 * np.abs(adversarial).max() + 1e-6,
                                   err_msg=key)
    assert changed > len(grads[0]) // 2


@pytest.mark.parametrize("name", PORTS)
def test_deepfill_v1_resumed_run_ends_with_the_same_weights(split, tmp_path, monkeypatch, name):
    """4 generator steps, each after one critic step; a run killed while drawing step 3's
    critic batch resumes to the same generator weights and log as an uninterrupted one."""
    port = PORTS[name]
    run = dict(steps=4, seed=0, device="cpu", params=PARAMS, settings=SETTINGS, backbones={})
    full, _ = port.train(None, split, tmp_path / "full", **run)
    sample = batches.sample_batch

    def interrupted(images, draw, settings, seed, part=training.WHOLE):
        if draw == batches.draw_index(3, 0, settings):
            raise KeyboardInterrupt
        return sample(images, draw, settings, seed, part)

    monkeypatch.setattr(batches, "sample_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        port.train(None, split, tmp_path / "cut", **run)
    drawn = []  # a restart from step 0 would also end with the same weights: show it skips

    def recorded(images, draw, settings, seed, part=training.WHOLE):
        drawn.append(draw)
        return sample(images, draw, settings, seed, part)

    monkeypatch.setattr(batches, "sample_batch", recorded)
    resumed, _ = port.train(None, split, tmp_path / "cut", **run)
    assert min(drawn) == batches.draw_index(3, 0, settings=SETTINGS)
    assert set(full) == set(resumed)
    for key in full:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    assert (tmp_path / "cut" / "log.jsonl").read_text() == \
        (tmp_path / "full" / "log.jsonl").read_text()


def linear_nets(name, size, seed=8):
    """A generator whose outputs are 0 (so the completed image is the input with its hole at 0)
    and critics D(x) = <w, x>: every WGAN quantity is then a hand-computable sum."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(1, 3, s, s)).astype(np.float32) * 0.1 for s in (size // 2, size)]
    if name == "torch":
        class Zero(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.p = torch.nn.Parameter(torch.zeros(()))

            def forward(self, x, mask):
                return x * 0 + self.p, x * 0 + self.p

        class Linear(torch.nn.Module):
            def __init__(self, w):
                super().__init__()
                self.w = torch.nn.Parameter(torch.tensor(w))  # a copy: Adam steps it in place

            def forward(self, x):
                return (x * self.w).sum((1, 2, 3))[:, None]

        class Pair(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.local_critic, self.global_critic = Linear(weights[0]), Linear(weights[1])

            def forward(self, local, whole):
                return self.local_critic(local), self.global_critic(whole)
    else:
        class Zero(paddle.nn.Layer):
            def __init__(self):
                super().__init__()
                self.p = self.create_parameter(
                    [1], default_initializer=paddle.nn.initializer.Constant(0.0))

            def forward(self, x, mask):
                return x * 0 + self.p, x * 0 + self.p

        class Linear(paddle.nn.Layer):
            def __init__(self, w):
                super().__init__()
                self.w = self.create_parameter(list(w.shape))
                self.w.set_value(w)

            def forward(self, x):
                return (x * self.w).sum((1, 2, 3))[:, None]

        class Pair(paddle.nn.Layer):
            def __init__(self):
                super().__init__()
                self.local_critic, self.global_critic = Linear(weights[0]), Linear(weights[1])

            def forward(self, local, whole):
                return self.local_critic(local), self.global_critic(whole)
    return (Zero(), Pair()), weights


@pytest.mark.parametrize("name", PORTS)
def test_wgan_terms_have_upstreams_signs_and_inputs(split, name):
    """Critic loss E D(completed) - E D(real) for each critic (upstream gan_wgan_loss), the
    local critic on the box, the penalty on the hole (the box's part for the local critic);
    generator term -E D_global(completed) - E D_local(completed box)."""
    images = training.load_split(split)
    size, side = images.shape[-1], batches.local_size(images.shape[-1])
    image, hole, corners, _ = batch = batches.sample_batch(images, 0, SETTINGS, seed=0)
    real = image * 2 - 1
    fake = real * (1 - hole)
    crop = lambda x: np.stack([x[i, :, t:t + side, l:l + side]  # noqa: E731
                               for i, (t, l) in enumerate(corners)])
    device = torch.device("cpu") if name == "torch" else "cpu"
    nets, (w_local, w_global) = linear_nets(name, size)
    opts = PORTS[name].optimizers(nets, SETTINGS)
    record = floats(PORTS[name].critic_step(nets, opts[1], batch, SETTINGS, device,
                                            fast=False))
    score = lambda w, x: (x * w).sum((1, 2, 3)).mean()  # noqa: E731
    wgan = (score(w_local, crop(fake)) - score(w_local, crop(real)) +
            score(w_global, fake) - score(w_global, real))
    penalty = (np.mean([(np.sqrt((w_local[0] ** 2 * h).sum()) - 1) ** 2 for h in crop(hole)]) +
               np.mean([(np.sqrt((w_global[0] ** 2 * h).sum()) - 1) ** 2 for h in hole]))
    assert record["d_wgan"] == pytest.approx(wgan, rel=1e-4, abs=1e-5)
    assert record["d_penalty"] == pytest.approx(penalty, rel=1e-4)
    nets, _ = linear_nets(name, size)
    opts = PORTS[name].optimizers(nets, SETTINGS)
    record = floats(PORTS[name].generator_step(nets, opts[0], batch, SETTINGS, device,
                                               fast=False))
    adversarial = -score(w_global, fake) - score(w_local, crop(fake))
    assert record["g_adversarial"] == pytest.approx(adversarial, rel=1e-4, abs=1e-5)
