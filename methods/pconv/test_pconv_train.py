"""Partial Convolutions training: one optimiser step agrees across the ports, resume is exact,
and training without VGG16 weights refuses unless the deviation is asked for."""
import numpy as np
import paddle
import pytest
import torch

from methods import checkpoint, training
from methods.pconv import batches, train_paddle, train_torch

PARAMS = {"layers": 4, "width": 8, "input_norm": "unit"}
SETTINGS = {"steps": 4, "batch_size": 2, "lr": 2e-4, "finetune_lr": 5e-5,
            "finetune_fraction": 0.5, "vgg_terms": False, "checkpoint_every": 1,
            "holes": "irregular"}
NO_DOWNLOAD = {"weights_dir": None, "allow_download": False}


def test_parity_pconv_one_training_step_float32_cpu(split):
    paddle.set_device("cpu")
    images = training.load_split(split)
    image, hole = training.sample_batch(images, 0, 2, seed=0)
    results = {}
    for name, port, torch_like in (("torch", train_torch, True), ("paddle", train_paddle, False)):
        model = port.build_model(PARAMS, seed=0, device="cpu")
        if torch_like:
            optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
            train_torch.model_torch.set_train_mode(model, True, freeze_encoder_bn=False)
            terms = {k: float(v) for k, v in port.train_step(
                model, None, optimizer, image, hole, torch.device("cpu"), fast=False).items()}
            grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
            results[name] = (terms, checkpoint.torch_state(model), grads)
        else:
            optimizer = paddle.optimizer.Adam(learning_rate=2e-4, parameters=model.parameters())
            train_paddle.model_paddle.set_train_mode(model, True, freeze_encoder_bn=False)
            terms = {k: float(v) for k, v in port.train_step(
                model, None, optimizer, image, hole, "cpu", fast=False).items()}
            grads = {n: p.grad.numpy() for n, p in model.named_parameters()
                     if p.grad is not None}
            results[name] = (terms, checkpoint.paddle_state(model), grads)
    (t_terms, t_state, t_grads), (p_terms, p_state, p_grads) = results["torch"], results["paddle"]
    assert set(t_grads) == set(p_grads)
    for key, grad in t_grads.items():  # the backward passes agree, relative to each gradient
        assert np.abs(p_grads[key] - grad).max() <= 1e-4 * np.abs(grad).max() + 1e-9, key
    # Adam's first step moves each weight by about lr * sign(gradient): a gradient at float32
    # noise level (~1e-8) can step the two ports in opposite directions (2 lr = 4e-4 apart).
    # At this size none does; at the demo's size 1 weight in ~1e6 does (see the README).
    for term in t_terms:
        assert p_terms[term] == pytest.approx(t_terms[term], rel=1e-4, abs=1e-6), term
    # torch counts BatchNorm batches (num_batches_tracked); paddle has no such buffer.
    assert {k for k in set(t_state) ^ set(p_state)} == \
        {k for k in t_state if k.endswith("num_batches_tracked")}
    initial = training.init_state({k: v.shape for k, v in p_state.items()}, seed=0)
    moved = 0
    for key in p_state:
        np.testing.assert_allclose(p_state[key], t_state[key], atol=1e-4, err_msg=key)
        moved += not np.array_equal(t_state[key], initial[key])
    assert moved > len(p_state) // 2  # the step really changed the weights


@pytest.mark.parametrize("port", [train_torch, train_paddle], ids=["torch", "paddle"])
def test_pconv_resumed_run_ends_with_the_same_weights(port, split, tmp_path, monkeypatch):
    run = dict(steps=4, seed=0, device="cpu", params=PARAMS, settings=SETTINGS,
               backbones=NO_DOWNLOAD)
    full, _ = port.train(None, split, tmp_path / "full", **run)
    sample = training.sample_batch

    def interrupted(images, step, batch_size, seed, part=training.WHOLE):
        if step == 2:  # killed while drawing step 2's batch: steps 0 and 1 are checkpointed
            raise KeyboardInterrupt
        return sample(images, step, batch_size, seed, part)

    monkeypatch.setattr(training, "sample_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        port.train(None, split, tmp_path / "cut", **run)
    drawn = []  # a restart from step 0 would also end with the same weights: show it skips

    def recorded(images, step, batch_size, seed, part=training.WHOLE):
        drawn.append(step)
        return sample(images, step, batch_size, seed, part)

    monkeypatch.setattr(training, "sample_batch", recorded)
    resumed, deviations = port.train(None, split, tmp_path / "cut", **run)
    assert drawn == [2, 3]
    assert set(full) == set(resumed) and "vgg_terms: false" in deviations[0]
    for key in full:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    assert (tmp_path / "cut" / "log.jsonl").read_text() == \
        (tmp_path / "full" / "log.jsonl").read_text()


def cut_at_step_2(port, split, out, run, monkeypatch):
    """A run killed while drawing step 2's batch: steps 0 and 1 are checkpointed."""
    sample = training.sample_batch

    def interrupted(images, step, batch_size, seed, part=training.WHOLE):
        if step == 2:
            raise KeyboardInterrupt
        return sample(images, step, batch_size, seed, part)

    monkeypatch.setattr(training, "sample_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        port.train(None, split, out, **run)
    monkeypatch.setattr(training, "sample_batch", sample)


@pytest.mark.parametrize("port", [train_torch, train_paddle], ids=["torch", "paddle"])
def test_a_log_ahead_of_its_checkpoint_is_trimmed_and_a_missing_one_restarts(
        port, split, tmp_path, monkeypatch):
    """The log is written before the checkpoint, so a run killed between the two has records
    the checkpoint does not cover (steps 2 and 3 here): resuming drops them, and the resumed
    log is the uninterrupted run's. A log deleted beside its checkpoint holds the resumed
    steps only."""
    run = dict(steps=4, seed=0, device="cpu", params=PARAMS, settings=SETTINGS,
               backbones=NO_DOWNLOAD)
    port.train(None, split, tmp_path / "full", **run)
    cut_at_step_2(port, split, tmp_path / "cut", run, monkeypatch)
    log = tmp_path / "cut" / "log.jsonl"
    log.write_text(log.read_text() + '{"step": 2, "loss": 9.0}\n{"step": 3, "loss": 9.0}\n')
    port.train(None, split, tmp_path / "cut", **run)
    assert log.read_text() == (tmp_path / "full" / "log.jsonl").read_text()
    cut_at_step_2(port, split, tmp_path / "lost", run, monkeypatch)
    (tmp_path / "lost" / "log.jsonl").unlink()
    port.train(None, split, tmp_path / "lost", **run)
    steps = [line for line in (tmp_path / "lost" / "log.jsonl").read_text().splitlines()]
    assert steps == (tmp_path / "full" / "log.jsonl").read_text().splitlines()[2:]


def test_training_refuses_without_vgg16_unless_told(split, tmp_path):
    with pytest.raises(SystemExit, match="vgg_terms: false"):
        train_torch.train(None, split, tmp_path, steps=1, seed=0, device="cpu", params=PARAMS,
                          settings={**SETTINGS, "vgg_terms": True}, backbones=NO_DOWNLOAD)


@pytest.mark.parametrize("port", [train_torch, train_paddle], ids=["torch", "paddle"])
def test_a_checkpoint_of_other_settings_is_not_resumed(port, split, tmp_path):
    run = dict(steps=2, seed=0, device="cpu", params=PARAMS, backbones=NO_DOWNLOAD)
    port.train(None, split, tmp_path / "reused", settings=SETTINGS, **run)
    faster = {**SETTINGS, "lr": 1e-3}
    rerun, _ = port.train(None, split, tmp_path / "reused", settings=faster, **run)
    fresh, _ = port.train(None, split, tmp_path / "fresh", settings=faster, **run)
    for key in fresh:
        np.testing.assert_array_equal(rerun[key], fresh[key], err_msg=key)


def test_training_holes_are_never_evaluation_masks():
    # Same seed for both streams, on purpose: the training stream is tagged apart.
    from datasets.masks.build import generate
    definition = {"kind": "irregular", "resolution": 32, "per_bucket": 4, "seed": 1}
    evaluation = {mask.tobytes() for _, mask in generate(definition)}
    images = np.zeros((2, 3, 32, 32), np.float32)
    for step in range(6):
        _, hole = training.sample_batch(images, step, 4, seed=1)
        assert not {(h[0] * 255).astype(np.uint8).tobytes() for h in hole} & evaluation


def test_mixed_holes_put_a_rectangle_in_every_odd_item_and_keep_the_free_form_ones():
    images = np.zeros((3, 3, 64, 64), np.float32)
    settings = {"batch_size": 40, "holes": "mixed"}
    _, free_form = training.sample_batch(images, 5, 40, seed=2)
    _, hole = batches.sample_batch(images, 5, settings, seed=2)
    np.testing.assert_array_equal(hole[0::2], free_form[0::2])
    sides = []
    for box in hole[1::2, 0]:
        rows, cols = np.nonzero(box)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert box.sum() == height * width  # one filled rectangle
        sides += [height, width]
    # uniform in [3/8, 1/2] of 64 px: 40 draws of 9 values reach both ends
    assert min(sides) == 24 and max(sides) == 32
    # what one data-parallel rank draws is its part of the whole batch
    halves = [batches.sample_batch(images, 5, settings, seed=2, part=p)[1]
              for p in (slice(0, 20), slice(20, 40))]
    np.testing.assert_array_equal(np.concatenate(halves), hole)
    # "irregular" is the free-form draw itself
    np.testing.assert_array_equal(
        batches.sample_batch(images, 5, {**settings, "holes": "irregular"}, seed=2)[1], free_form)


def test_a_misspelt_holes_setting_is_refused():
    with pytest.raises(ValueError, match="pconv: holes must be one of .*'rectangles'"):
        batches.check({"holes": "rectangles"})
