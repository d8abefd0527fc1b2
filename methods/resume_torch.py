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
