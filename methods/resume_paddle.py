"""Resumable training checkpoints, PaddlePaddle side (read side by side with resume_torch.py).

One file holds the state of every model and optimiser of a run (named parts), the next step and
the run's fingerprint (methods/training.py); log.jsonl is rewritten beside it at each save. Both
are written atomically, so a run killed at any moment resumes from its last complete save.
"""
import io

import paddle
from tqdm import tqdm

from datasets.io import atomic_write_bytes
from methods import training


def save(path, parts, step, records, run_id):
    """parts: {name: layer or optimiser}; step: the first step still to run."""
    buffer = io.BytesIO()
    paddle.save({**{name: part.state_dict() for name, part in parts.items()},
                 "step": step, "run": run_id}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    training.write_log(path.parent / "log.jsonl", records)


def load(path, parts, run_id):
    """Restore parts from path; returns the step to start from and the log records before it:
    0 and none for a fresh run, or when the file belongs to another run (other data, settings
    or seed)."""
    if not path.is_file():
        return 0, []
    saved = paddle.load(str(path))
    if saved.get("run") != run_id:
        tqdm.write(f"{path}: from a run with other settings; starting afresh")
        return 0, []
    for name, part in parts.items():
        part.set_state_dict(saved[name])
    return saved["step"], training.read_log(path.parent / "log.jsonl", saved["step"] - 1)
