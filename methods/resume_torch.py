"""Resumable training checkpoints, PyTorch side (read side by side with resume_paddle.py).

One file holds the state of every model and optimiser of a run (named parts), the next step and
the run's fingerprint (methods/training.py); log.jsonl is rewritten beside it at each save. Both
are written atomically, so a run killed at any moment resumes from its last complete save; the
log is written first, so one killed between the two writes has a log ahead of its checkpoint,
never behind it, and resuming trims the log to the checkpoint's step.
"""
import io

import torch
from tqdm import tqdm

from datasets.io import atomic_write_bytes
from methods import checkpoint, training


def save(path, parts, step, records, run_id):
    """parts: {name: module or optimiser}; step: the first step still to run."""
    buffer = io.BytesIO()
    torch.save({**{name: part.state_dict() for name, part in parts.items()},
                "step": step, "run": run_id}, buffer)
    training.write_log(path.parent / "log.jsonl", records)
    atomic_write_bytes(path, buffer.getvalue())


def load(path, parts, run_id):
    """Restore parts from path; returns the step to start from and the log records before it:
    0 and none for a fresh run, or when the file belongs to another run (other data, settings
    or seed), whose log.jsonl is then emptied (a log never outlives its run)."""
    if not path.is_file():
        return training.fresh_start(path.parent / "log.jsonl")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a file cut short fails inside the unpickler, in many ways
        raise checkpoint.CheckpointError(
            f"{path}: unreadable resumable checkpoint ({type(err).__name__}: "
            f"{(str(err).splitlines() or [''])[0][:300]}): delete it to train this run afresh"
        ) from err
    if saved.get("run") != run_id:
        tqdm.write(f"{path}: from a run with other settings; starting afresh")
        return training.fresh_start(path.parent / "log.jsonl")
    for name, part in parts.items():
        part.load_state_dict(saved[name])
    return saved["step"], training.read_log(path.parent / "log.jsonl", saved["step"] - 1)


def named_tensors(parts):
    """[((kind, name), tensor)] of every floating gradient, then weight, then buffer of the
    networks among parts (gradients first, so a non-finite gradient is named as the cause of
    the weights it spoiled)."""
    layers = [(name, part) for name, part in parts.items() if isinstance(part, torch.nn.Module)]
    found = [(("gradient", f"{n}.{k}"), p.grad) for n, layer in layers
             for k, p in layer.named_parameters()]
    found += [(("weight", f"{n}.{k}"), p) for n, layer in layers
              for k, p in layer.named_parameters()]
    found += [(("buffer", f"{n}.{k}"), b) for n, layer in layers for k, b in layer.named_buffers()]
    return [(label, t) for label, t in found if t is not None and torch.is_floating_point(t)]


def check_finite(parts, record, where):
    """Stop a run (training.Diverged) at the first step whose loss terms, gradients, weights or
    buffers are not all finite, naming the step and the term or tensor. Called after each step,
    before its record is kept or any state saved, so the last checkpoint on disk is the last
    good state. One device sync per step."""
    training.check_record(record, where)
    found = named_tensors(parts)
    if found:
        finite = torch.stack([torch.isfinite(t).all() for _, t in found]).tolist()
        training.first_nonfinite([label for label, _ in found], finite, where, record["step"])
