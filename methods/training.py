"""Framework-neutral pieces of training, shared by every learned method and both ports.

Everything random here is a pure function of (seed, step, index): the batch drawn at step s does
not depend on what ran before, so an interrupted run resumed from its checkpoint sees exactly the
batches an uninterrupted run sees, and the torch and paddle ports see the same data.
"""
import contextlib
import importlib
import json
import math
import os
import zlib
from pathlib import Path

import numpy as np

from datasets import store
from datasets.io import atomic_write_text, sha256_file
from datasets.masks.buckets import LABELS
from datasets.masks.generate import irregular_mask
from methods import checkpoint


# The modules every learned method's training runs (rules/common.smk: editing one reruns them).
SHARED_TRAINING_CODE = ("training", "loop", "feed", "parallel", "parallel_torch",
                        "parallel_paddle", "checkpoint", "train", "resume_torch", "resume_paddle",
                        "batchnorm_paddle")


def load_split(data_dir):
    """A prepared training split (datasets/store.py): images[index] -> float32 (n,3,H,W) in
    [0,1], read from the memory-mapped store, so a split larger than memory trains too."""
    return store.open_train(data_dir)


# Tags the training stream's seeds apart from the mask sets' default_rng([seed, bucket, index])
# (bucket < 6), so that no training hole can ever be an evaluation mask, whatever the seeds.
TRAIN_STREAM = 7_270_111


def step_rng(seed, step):
    """The generator of one training step's draws."""
    return np.random.default_rng([seed, TRAIN_STREAM, step])


# The whole batch: `part`, a slice of the batch's items, is what one data-parallel rank draws
# (methods/parallel.py); the cheap draws are made for every item, so each item is the same
# whatever the number of ranks, and only the part's images are decoded and its holes drawn.
WHOLE = slice(None)


def sample_images(images, rng, batch_size, part=WHOLE):
    """batch_size images drawn with replacement, each flipped left-right with probability 1/2;
    the items `part` of them, decoded."""
    index = rng.integers(0, len(images), batch_size)[part]
    flip = (rng.random(batch_size) < 0.5)[part]
    image = images[index]
    image[flip] = image[flip][..., ::-1]
    return image


def sample_batch(images, step, batch_size, seed, part=WHOLE):
    """(image, hole) for one step: sample_images, and holes from the harness's free-form
    generator in a uniformly drawn bucket (the Partial Convolutions paper trains on its
    irregular masks, Sec. 4.1); the items `part` of the batch."""
    rng = step_rng(seed, step)
    image = sample_images(images, rng, batch_size, part)
    size = images.shape[-1]
    buckets = [int(rng.integers(0, len(LABELS))) for _ in range(batch_size)]
    hole = np.stack([irregular_mask(np.random.default_rng([seed, TRAIN_STREAM, step, i]), size,
                                    buckets[i])
                     for i in range(batch_size)[part]])
    return image, (hole[:, None] > 0).astype(np.float32)


def side_range(size, sides):
    """(low, high) px of a side given as fractions ((low_num, low_den), (high_num, high_den))
    of the image side `size`."""
    (lo_num, lo_den), (hi_num, hi_den) = sides
    return size * lo_num // lo_den, size * hi_num // hi_den


def rectangles(rng, batch_size, size, sides):
    """Holes (N,1,H,W) float32: one rectangle each, height and width drawn uniformly in
    side_range(size, sides) px, at a uniformly drawn place."""
    low, high = side_range(size, sides)
    holes = np.zeros((batch_size, 1, size, size), np.float32)
    for hole in holes:
        height, width = rng.integers(low, high + 1, 2)
        row, col = rng.integers(0, size - height + 1), rng.integers(0, size - width + 1)
        hole[0, row:row + height, col:col + width] = 1
    return holes


def patches_around(holes, patch):
    """Top-left corners (row, column) of patch x patch squares centred on each hole's bounding
    box (holes: (N,1,H,W)), moved inside the image where the hole lies near an edge: the local
    critics' view of an irregular hole."""
    size = holes.shape[-1]
    corners = []
    for i, hole in enumerate(holes):
        if not hole.any():
            raise ValueError(f"patches_around: hole {i} of the batch is empty")
        rows, cols = np.nonzero(hole[0])
        centre = np.array([rows.min() + rows.max() + 1, cols.min() + cols.max() + 1]) // 2
        corners.append(np.clip(centre - patch // 2, 0, size - patch))
    return np.array(corners, dtype=np.int64)


def init_state(shapes, seed, scheme="he"):
    """Initial weights as numpy arrays, the same in both frameworks.

    Convolution and linear weights: Kaiming normal, fan-in, gain sqrt(2) (He et al. 2015),
    biases zero, as naoto0804/pytorch-inpainting-with-partial-conv net.py weights_init('kaiming')
    does; fan-in is the product of the dimensions after the first, in torch's layout (a
    transposed convolution's (in, out, kh, kw) weight gets out*kh*kw, as torch's own
    initialiser computes it). BatchNorm scale 1, shift 0, running mean 0, variance 1; any other
    buffer 0. Each array has its own generator, seeded by (seed, crc32 of its name).

    scheme "glorot_uniform" draws convolution and linear weights instead from
    U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010), with fan_out the first
    dimension times the kernel size: TensorFlow's default for tf.layers.conv2d and dense, which
    TensorFlow upstreams (DeepFill v1) trained from."""
    if scheme not in ("he", "glorot_uniform"):
        raise ValueError(f"init_state: scheme must be 'he' or 'glorot_uniform', not {scheme!r}")
    state = {}
    for name, shape in shapes.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        if name.endswith("weight") and len(shape) in (2, 4) and scheme == "glorot_uniform":
            fan_in, fan_out = int(np.prod(shape[1:])), shape[0] * int(np.prod(shape[2:]))
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit, shape)
        elif name.endswith("weight") and len(shape) in (2, 4):
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif name.endswith(("weight", "running_var")):
            value = np.ones(shape)
        else:
            value = np.zeros(shape)
        dtype = np.int64 if name.endswith("num_batches_tracked") else np.float32
        state[name] = value.astype(dtype)
    return state


# Settings that change no result (only how often a run saves its state).
BOOKKEEPING = ("checkpoint_every",)


@contextlib.contextmanager
def untouched_global_rng(framework):
    """Build layers inside this. The frameworks' layer constructors draw default initial weights
    from the global generator, which the harness never uses (DESIGN.md: every draw comes from a
    seeded generator): its state is restored on exit, so building a model changes no later
    draw anywhere, and the drawn weights are replaced (initialised, loaders) anyway."""
    if framework == "torch":
        import torch
        with torch.random.fork_rng(devices=[]):
            yield
    else:
        import paddle
        saved = paddle.get_rng_state()
        try:
            yield
        finally:
            paddle.set_rng_state(saved)


def initialised(framework, factory, seed, scheme="he"):
    """factory() built inside untouched_global_rng, holding init_state(seed, scheme)."""
    with untouched_global_rng(framework):
        net = factory()
    state = (checkpoint.torch_state if framework == "torch" else checkpoint.paddle_state)(net)
    load = checkpoint.load_torch if framework == "torch" else checkpoint.load_paddle
    load(net, init_state({name: value.shape for name, value in state.items()}, seed, scheme))
    return net


def fingerprint(data_dir, params, settings, seed):
    """What a resumable checkpoint must share with the run that resumes it: the data, the model,
    the schedule and the seed (BOOKKEEPING settings change no result, so they are left out)."""
    schedule = {k: v for k, v in settings.items() if k not in BOOKKEEPING}
    manifest = sha256_file(Path(data_dir) / "manifest.tsv")
    return json.dumps({"data": manifest, "params": params, "settings": schedule, "seed": seed},
                      sort_keys=True)


def stage(step, steps, finetune_fraction):
    """1 (initial training) or 2 (fine-tuning) for a 0-based step."""
    return 1 if step < steps - int(round(steps * finetune_fraction)) else 2


class Diverged(RuntimeError):
    """A training step produced a loss term, gradient or weight that is not finite."""


def check_record(record, where):
    """Raise Diverged naming every loss term of a step's record (floats) that is not finite,
    with its value; steps are 0-based, as in log.jsonl."""
    bad = [f"{name} = {value}" for name, value in record.items()
           if isinstance(value, float) and not math.isfinite(value)]
    if bad:
        raise Diverged(f"{where}: step {record['step']} (0-based, as in log.jsonl): loss terms "
                       f"not finite: {', '.join(bad)}")


def optimiser_state(framework, name, optimiser):
    """(label, tensor) of an optimiser's state (Adam's moments, ADADELTA's accumulators)."""
    if framework == "torch":
        return [(f"{name}.{i}.{key}", value) for i, state in enumerate(optimiser.state.values())
                for key, value in state.items()]
    return [(f"{name}.{key}", value) for key, value in optimiser.state_dict().items()]


def check_finite(framework, parts, record, where):
    """Stop a run (Diverged) whose loss terms (record: the last step read back), gradients,
    weights, buffers or optimiser state are not all finite, naming the step and the term or
    tensor. The loop (methods/loop.py) checks every record it reads back with check_record and
    calls this after the last, every LOG_EVERY steps and before each checkpoint, so the last
    checkpoint on disk is a finite state; a tensor found non-finite here is named with the step
    of that read-back, which may be up to LOG_EVERY - 1 steps after the step that spoiled it.
    Gradients are checked before weights, so a non-finite gradient is named as the cause of the
    weights it spoiled. One device sync; torch and paddle share these function names."""
    check_record(record, where)
    lib = importlib.import_module(framework)
    layer_type = lib.nn.Module if framework == "torch" else lib.nn.Layer
    layers = [(name, part) for name, part in parts.items() if isinstance(part, layer_type)]
    found = [(("gradient", f"{n}.{k}"), p.grad) for n, layer in layers
             for k, p in layer.named_parameters()]
    found += [(("weight", f"{n}.{k}"), p) for n, layer in layers
              for k, p in layer.named_parameters()]
    found += [(("buffer", f"{n}.{k}"), b) for n, layer in layers for k, b in layer.named_buffers()]
    found += [(("optimiser state", label), t) for name, part in parts.items()
              if not isinstance(part, layer_type)
              for label, t in optimiser_state(framework, name, part)]
    found = [(label, t) for label, t in found
             if t is not None and lib.is_tensor(t) and lib.is_floating_point(t)]
    if not found:
        return
    finite = lib.stack([lib.isfinite(t).all() for _, t in found]).tolist()
    bad = [label for (label, _), ok in zip(found, finite) if not ok]
    if bad:
        kind, name = bad[0]
        raise Diverged(f"{where}: step {record['step']} (0-based, as in log.jsonl): every loss "
                       f"term is finite but the {kind} of {name} is not ({len(bad)} tensors "
                       "are not)")


def write_log(path, records):
    """log.jsonl, rewritten whole and atomically (on resume, and to start afresh)."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def append_log(path, records):
    """Add records to log.jsonl, flushed to disk, as the run goes: at a million steps the log
    grows to about 150 MB, which a rewrite at every checkpoint would write a thousand times."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write("".join(json.dumps(r) + "\n" for r in records))
        stream.flush()
        os.fsync(stream.fileno())


def fresh_start(path):
    """0, the first step of a run starting afresh, after emptying its log.jsonl at path (None:
    a process that does not write the log), so that no record of an earlier run is left to be
    read as this run's."""
    if path is not None and Path(path).exists():
        write_log(path, [])
    return 0


def read_log(path, upto_step):
    """The records of an earlier run up to (and including) the checkpointed step. A run killed
    while appending leaves a last line cut short, which is dropped (its step is after the
    checkpoint, since the log is written before each checkpoint)."""
    if not Path(path).is_file():
        return []
    lines, records = Path(path).read_text().splitlines(), []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise ValueError(f"{path}: line {number} is not a JSON record; delete the log "
                                 "and its checkpoint to train this run afresh") from None
    return [r for r in records if r["step"] <= upto_step]


def trim_log(path, upto_step):
    """Cut log.jsonl back to the checkpointed step, for a run that resumes after it."""
    write_log(path, read_log(path, upto_step))
