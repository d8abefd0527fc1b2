"""Data-parallel training: which rank this process is, and which items of a batch are its own.

A training job of `ranks` processes is started by the framework's own launcher: torchrun
(torch.distributed.run) for torch, paddle.distributed.launch for paddle; methods/train.py
--ranks N starts it. Each rank draws its own slice of every global batch (methods/training.py
WHOLE), computes its gradients, and the ranks average them (parallel_torch.py,
parallel_paddle.py) before every optimiser step, so the global batch keeps the size the spec
gives and the weights follow the one-process run (tested to 1e-5 on the CPU, gloo). Rank 0
alone writes the log, the checkpoints and the weights; every rank resumes from the same
checkpoint. Without a launcher there is one rank and none of this does anything.
"""
import ctypes
import os
import signal
import sys

# set by methods/train.py before it becomes the launcher (exec keeps its pid), read by the ranks
LAUNCHER_PID = "INPAINT_LAUNCHER_PID"


class RanksError(ValueError):
    """A setting that cannot run on the ranks given (a batch that does not split over them)."""


def ranks():
    """(rank, number of ranks, local rank on this machine), from the launcher's environment."""
    if "WORLD_SIZE" in os.environ:  # torchrun
        keys = "RANK", "WORLD_SIZE", "LOCAL_RANK"
    elif "PADDLE_TRAINERS_NUM" in os.environ:  # paddle.distributed.launch
        keys = "PADDLE_TRAINER_ID", "PADDLE_TRAINERS_NUM", "PADDLE_LOCAL_RANK"
    else:
        return 0, 1, 0
    return tuple(int(os.environ.get(key, 0)) for key in keys)


def writer():
    """Whether this process writes the run's files (rank 0)."""
    return ranks()[0] == 0


def part(batch_size):
    """This rank's items of a global batch of batch_size: a contiguous slice of equal size."""
    rank, size, _ = ranks()
    if batch_size % size:
        raise RanksError(f"batch_size {batch_size} does not split over {size} ranks: give a "
                         f"batch_size that is a multiple of {size}, or another number of GPUs")
    share = batch_size // size
    return slice(rank * share, (rank + 1) * share)


def die_with_launcher():
    """Make this rank end when its launcher ends, even by SIGKILL. Both launchers start their
    ranks in sessions of their own (torch's subprocess_handler.py start_new_session=True,
    paddle's launch/utils/process_context.py os.setsid), so killing the launcher's process group
    (Ctrl-C in Snakemake, a test's SIGKILL) leaves them training on and appending to the log
    that a rerun resumes. Linux only (PR_SET_PDEATHSIG); a no-op outside a launcher."""
    launcher_pid = os.environ.get(LAUNCHER_PID)
    if launcher_pid is None or sys.platform != "linux":
        return
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(launcher_pid):  # the launcher had already ended before the prctl
        raise SystemExit(f"methods.train: rank {ranks()[0]}: its launcher (pid {launcher_pid}) "
                         "has ended")


def launcher(framework, count, log_dir, script):
    """The command that starts methods/train.py (script) as `count` ranks on this machine."""
    if framework == "torch":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={count}", "-m", "methods.train"]
    # paddle's launcher takes a script path; the script imports its package from the checkout,
    # which methods.train puts on PYTHONPATH
    return [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(count),
            "--log_dir", str(log_dir), str(script)]
