"""Resumable training checkpoints, PyTorch side (read side by side with resume_paddle.py).

One file holds the state of every model and optimiser of a run (named parts), the next step and
the run's fingerprint (methods/training.py). It is written atomically, so a run killed at
any moment resumes from its last complete save. log.jsonl beside it grows as the run goes
(methods/loop.py) and is written before each save, so a run killed between the two has a log
ahead of its checkpoint, never behind it, and resuming trims the log to the checkpoint's step.
"""
import io

import torch
from tqdm import tqdm

from datasets.io import atomic_write_bytes
from methods import checkpoint, training


def save(path, parts, step, run_id):
    """parts: {name: module or optimiser}; step: the first step still to run."""
    buffer = io.BytesIO()
    torch.save({**{name: part.state_dict() for name, part in parts.items()},
                "step": step, "run": run_id}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load(path, parts, run_id, writes=True):
    """Restore parts from path; returns the step to start from, after cutting log.jsonl back to
    the steps before it: 0 for a fresh run, or when the file belongs to another run (other
    data, settings or seed), whose log.jsonl is then emptied (a log never outlives its run).
    writes: whether this process may write the log (data-parallel rank 0 alone)."""
    log = path.parent / "log.jsonl" if writes else None
    if not path.is_file():
        return training.fresh_start(log)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a file cut short fails inside the unpickler, in many ways
        raise checkpoint.CheckpointError(
            f"{path}: unreadable resumable checkpoint ({type(err).__name__}: "
            f"{(str(err).splitlines() or [''])[0][:300]}): delete it to train this run afresh"
        ) from err
    if saved.get("run") != run_id:
        tqdm.write(f"{path}: from a run with other settings; starting afresh")
        return training.fresh_start(log)
    for name, part in parts.items():
        part.load_state_dict(saved[name])
    if log is not None:
        training.trim_log(log, saved["step"] - 1)
    return saved["step"]
