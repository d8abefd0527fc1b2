"""GLCIC training: one step of each phase agrees across the ports, the adversarial gradient
reaches the completion network in proportion to alpha, and resume is exact."""
import numpy as np
import paddle
import pytest
import torch

from methods import checkpoint, training
from methods.glcic import batches, train_paddle, train_torch

PARAMS = {"width": 8, "centred_input": False}
SETTINGS = {"steps": 6, "completion_fraction": 0.34, "discriminator_fraction": 0.16,
            "batch_size": 2, "alpha": 0.0004, "lr": 1.0, "holes": "rectangles",
            "checkpoint_every": 1}
PORTS = {"torch": train_torch, "paddle": train_paddle}
# The batch of the parity test: of the batches of steps 0-9 (32 px, width 8), that of step 8
# holds a ReLU tie between the ports (see the test), the others none.
PARITY_STEP = 0


def floats(record):
    """A step's record with its tensors (loss terms, left on the device) as floats."""
    return {key: float(value) for key, value in record.items()}


def fresh(name, images):
    """C and D from the neutral initial weights, their optimisers, in training mode."""
    port = PORTS[name]
    if name == "paddle":
        paddle.set_device("cpu")
    nets = port.build_models(PARAMS, 0, images.shape[-1], "cpu")
    mean = batches.mean_pixel(images)
    if name == "torch":
        nets[0].mean_pixel.copy_(torch.from_numpy(mean))
    else:
        nets[0].mean_pixel.set_value(paddle.to_tensor(mean))
    for net in nets:
        net.train()
    return nets, port.optimizers(nets, SETTINGS)


def state(name, net):
    return (checkpoint.torch_state if name == "torch" else checkpoint.paddle_state)(net)


def gradients(net):
    """{parameter name: gradient} of the last backward pass (the same names in both ports)."""
    return {k: p.grad.numpy().copy() for k, p in net.named_parameters() if p.grad is not None}


def record_relu_inputs(name, nets):
    """Hooks that keep the sign of every ReLU input, in call order: each BatchNorm output and
    each discriminator's 1024-d fully-connected output."""
    signs = []

    def keep(_, __, out):
        signs.append((out.detach().numpy() if name == "torch" else out.numpy()) > 0)

    for net in nets:
        layers = net.named_modules() if name == "torch" else net.named_sublayers()
        for path, layer in layers:
            if isinstance(layer, (torch.nn.BatchNorm2d, paddle.nn.BatchNorm2D)) or \
                    path.endswith("_d.fc"):
                (layer.register_forward_hook if name == "torch"
                 else layer.register_forward_post_hook)(keep)
    return signs


def one_step(name, images, phase, alpha, step=0):
    nets, opts = fresh(name, images)
    signs = record_relu_inputs(name, nets)
    batch = batches.sample_batch(images, step, SETTINGS, seed=0)
    device = torch.device("cpu") if name == "torch" else "cpu"
    record = floats(PORTS[name].train_step(nets, opts, batch, phase, alpha, device, fast=False))
    return record, [state(name, net) for net in nets], gradients(nets[0]), signs


@pytest.mark.parametrize("phase", [1, 2, 3])
def test_parity_glcic_one_training_step_of_each_phase_float32_cpu(split, phase):
    images = training.load_split(split)
    t_record, t_states, t_grads, t_signs = one_step("torch", images, phase, SETTINGS["alpha"],
                                                    PARITY_STEP)
    p_record, p_states, p_grads, p_signs = one_step("paddle", images, phase, SETTINGS["alpha"],
                                                    PARITY_STEP)
    # A ReLU input within float32 noise of 0 (forward differences reach ~3e-5 in the deep
    # layers) may have opposite signs in the two ports, and then every gradient below it
    # differs by up to a few percent; such a tie is a property of the batch, not of the ports.
    # The step's batch is chosen to have none, and this checks it.
    assert len(t_signs) == len(p_signs)
    assert all(np.array_equal(t, p) for t, p in zip(t_signs, p_signs)), "a ReLU tie: pick a step"
    assert set(t_record) == set(p_record)
    for key, value in t_record.items():
        assert p_record[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    moved = 0
    for net, t_state, p_state in zip(("C", "D"), t_states, p_states):
        # torch counts BatchNorm batches (num_batches_tracked); paddle has no such buffer.
        assert set(t_state) - set(p_state) == {k for k in t_state if "num_batches" in k}
        initial = training.init_state({k: v.shape for k, v in p_state.items()}, seed=0)
        for key in p_state:
            np.testing.assert_allclose(p_state[key], t_state[key], atol=1e-4,
                                       err_msg=f"{net} {key}")
            moved += key != "mean_pixel" and not np.array_equal(t_state[key], initial[key])
    if phase != 2:  # C's backward pass agrees too, relative to each gradient
        assert set(t_grads) == set(p_grads)
        for key, grad in t_grads.items():
            assert np.abs(p_grads[key] - grad).max() <= 1e-4 * np.abs(grad).max() + 1e-9, key
    assert moved > 10  # the step really changed weights


@pytest.mark.parametrize("name", PORTS)
def test_the_completion_update_changes_with_alpha(split, name):
    """Phase 3 passes D's gradient to C: C's gradient is the MSE gradient plus alpha times the
    adversarial gradient (linear in alpha), and with alpha = 0 C updates exactly as in phase 1.
    (JixuH/PaddlePaddle_Image_Completion's generator minimises the MSE alone: its update
    would not change with alpha at all.)"""
    images = training.load_split(split)
    _, phase1, _, _ = one_step(name, images, 1, 0.0)
    _, alpha0, grad0, _ = one_step(name, images, 3, 0.0)
    _, alpha, grad_a, _ = one_step(name, images, 3, 0.0004)
    _, alpha2, grad_2a, _ = one_step(name, images, 3, 0.0008)
    for key in phase1[0]:
        np.testing.assert_allclose(alpha0[0][key], phase1[0][key], atol=1e-7, err_msg=key)
    changed = [k for k in grad0 if np.abs(alpha[0][k] - alpha0[0][k]).max() > 1e-7]
    assert len(changed) > len(grad0) // 2  # most of C's parameters moved differently
    for key in grad0:
        adversarial = grad_a[key] - grad0[key]
        assert np.abs(adversarial).max() > 0, key
        np.testing.assert_allclose(grad_2a[key] - grad0[key], 2 * adversarial,
                                   atol=1e-3 * np.abs(adversarial).max() + 1e-9, err_msg=key)


@pytest.mark.parametrize("name", PORTS)
def test_glcic_resumed_run_ends_with_the_same_weights(split, tmp_path, monkeypatch, name):
    """6 steps cover all three phases (2 + 1 + 3); a run killed at step 4 resumes to the same
    weights and log as an uninterrupted one."""
    port = PORTS[name]
    run = dict(steps=6, seed=0, device="cpu", params=PARAMS, settings=SETTINGS, backbones={})
    full, _ = port.train(None, split, tmp_path / "full", **run)
    assert [batches.phase(s, SETTINGS) for s in range(6)] == [1, 1, 2, 3, 3, 3]
    sample = batches.sample_batch

    def interrupted(images, step, settings, seed, part=training.WHOLE):
        if step == 4:  # killed while drawing step 4's batch: steps 0-3 are checkpointed
            raise KeyboardInterrupt
        return sample(images, step, settings, seed, part)

    monkeypatch.setattr(batches, "sample_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        port.train(None, split, tmp_path / "cut", **run)
    drawn = []  # a restart from step 0 would also end with the same weights: show it skips

    def recorded(images, step, settings, seed, part=training.WHOLE):
        drawn.append(step)
        return sample(images, step, settings, seed, part)

    monkeypatch.setattr(batches, "sample_batch", recorded)
    resumed, _ = port.train(None, split, tmp_path / "cut", **run)
    assert drawn == [4, 5]
    assert set(full) == set(resumed) and "mean_pixel" in full
    for key in full:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    assert (tmp_path / "cut" / "log.jsonl").read_text() == \
        (tmp_path / "full" / "log.jsonl").read_text()
