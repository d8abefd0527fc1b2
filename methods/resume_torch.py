"""Resumable training checkpoints, PyTorch side (read side by side with resume_paddle.py).

One file holds the state of every model and optimiser of a run (named parts), the next step and
the run's fingerprint (methods/training.py); log.jsonl is rewritten beside it at each save. Both
are written atomically, so a run killed at any moment resumes from its last complete save.
"""
import io

import torch
from tqdm import tqdm

from datasets.io import atomic_write_bytes
from methods import training


def save(path, parts, step, records, run_id):
    """parts: {name: module or optimiser}; step: the first step still to run."""
    buffer = io.BytesIO()
    torch.save({**{name: part.state_dict() for name, part in parts.items()},
                "step": step, "run": run_id}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    training.write_log(path.parent / "log.jsonl", records)


def load(path, parts, run_id):
    """Restore parts from path; returns the step to start from and the log records before it:
    0 and none for a fresh run, or when the file belongs to another run (other data, settings
    or seed)."""
    if not path.is_file():
        return 0, []
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("run") != run_id:
        tqdm.write(f"{path}: from a run with other settings; starting afresh")
        return 0, []
    for name, part in parts.items():
        part.load_state_dict(saved[name])
    return saved["step"], training.read_log(path.parent / "log.jsonl", saved["step"] - 1)
