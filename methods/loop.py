"""The training loop every learned method's train_torch / train_paddle runs.

A method gives its parts (networks and optimisers, by name), draw(step) (its batch of a step,
a pure function of (seed, step), drawn ahead in worker processes: methods/feed.py) and
update(step, batch) (its optimiser steps; returns the step's record, whose loss terms stay
tensors on the device). The loop does the rest, for both frameworks: resume from the last
checkpoint, progress, the log, the non-finite check, checkpoints, and data parallel ranks
(methods/parallel.py), where rank 0 alone writes.

Host syncs: a step queues its work on the device and returns; its loss terms are read back
with the others of the last LOG_EVERY steps in one transfer (a .item() per term per step would
stall a GPU's queue at every step). The non-finite check (methods/training.py check_finite)
runs on those records and on the weights, buffers and optimiser state at the same moment,
before any checkpoint is written, so the last checkpoint on disk is always a finite state; a
diverged run names the first step whose loss was not finite, or the read-back step at which a
tensor was found non-finite with finite losses.
"""
import importlib

from tqdm import tqdm

from methods import feed, parallel, training

LOG_EVERY = 50  # steps whose records are read back, checked and appended to log.jsonl at once
RESUME = {"torch": "resume_torch.pt", "paddle": "resume_paddle.pdparams"}


def settle(framework, pending):
    """The pending records with their tensors read back as floats in one transfer, averaged
    over the ranks: the loss of the global batch."""
    spread = importlib.import_module(f"methods.parallel_{framework}")
    cells = [(i, key) for i, record in enumerate(pending) for key, value in record.items()
             if spread.is_tensor(value)]
    values = spread.read_back([pending[i][key] for i, key in cells]) if cells else []
    records = [dict(record) for record in pending]
    for (i, key), value in zip(cells, values):
        records[i][key] = value
    return records


def run(*, name, framework, out_dir, parts, run_id, steps, settings, draw, update, workers):
    """Train from the last checkpoint in out_dir (or step 0) to `steps`."""
    resume = importlib.import_module(f"methods.resume_{framework}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path, log = out_dir / RESUME[framework], out_dir / "log.jsonl"
    start = resume.load(path, parts, run_id, writes=parallel.writer())
    every, pending = settings["checkpoint_every"], []
    bar = tqdm(total=steps, initial=start, desc=name, disable=not parallel.writer())
    for step, batch in feed.batches(draw, start, steps, workers):
        pending.append({"step": step, **update(step, batch)})
        bar.update()
        due = (step + 1) % every == 0 or step + 1 == steps
        if not due and len(pending) < LOG_EVERY:
            continue
        records, pending = settle(framework, pending), []
        for record in records[:-1]:  # check_finite checks the last with the tensors
            training.check_record(record, name)
        training.check_finite(framework, parts, records[-1], name)
        if parallel.writer():
            training.append_log(log, records)
            if due:
                resume.save(path, parts, step + 1, run_id)
    bar.close()
