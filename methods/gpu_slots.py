"""Run a command on GPUs of its own: python -m methods.gpu_slots N -- command [args ...]

Snakemake bounds the GPUs its running jobs ask for together (resources gpu; rules/common.smk
sets the bound to the machine's GPUs), but it does not say which GPUs a job gets, so every
job would see them all and land on device 0. This wrapper claims N GPUs no other job holds, by
an exclusive lock per GPU (fcntl.flock on a file in the machine's temporary folder), sets
CUDA_VISIBLE_DEVICES to them and runs the command in its place; the locks are held by open
files the command inherits, so they last exactly as long as the command and its children
(training ranks included), and the kernel releases them however it ends. Inside a SLURM
allocation (SLURM_JOB_ID set) the claims are among the allocation's own GPUs, in a lock folder
of that allocation: SLURM numbers each allocation's GPUs from 0, so two allocations' GPU 0 are
different GPUs. A job that asks for no GPU sees none (CUDA_VISIBLE_DEVICES empty), so it never
takes one unasked.
"""
import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path

from methods.devices import visible_gpus

WAIT = 2.0  # seconds between tries when every free GPU is held (another workflow's jobs)


def lock_folder():
    """Per user and machine, or per SLURM allocation inside one."""
    job = os.environ.get("SLURM_JOB_ID")
    name = f"inpaint-gpu-slots-{os.getuid()}" + (f"-slurm-{job}" if job else "")
    folder = Path(tempfile.gettempdir()) / name
    folder.mkdir(exist_ok=True)
    return folder


def try_claim(count, gpus, folder):
    """(gpus, open lock files) for count free GPUs, or None, holding nothing, if fewer are free."""
    held = []
    for gpu in gpus:
        fd = os.open(folder / f"gpu-{gpu.replace('/', '_')}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.append((gpu, fd))
        if len(held) == count:
            return held
    for _, fd in held:
        os.close(fd)
    return None


def claim(count, gpus, folder):
    """Wait until count GPUs are free and claim them."""
    if count > len(gpus):
        raise SystemExit(f"methods.gpu_slots: {count} GPUs asked for, {len(gpus)} visible here "
                         f"({', '.join(gpus) or 'none'}): the workflow's GPU bound "
                         "(--resources gpu=N, or a profile's resources) or train_gpus in "
                         "configs/config.yaml is more than this machine has")
    said = False
    while (held := try_claim(count, gpus, folder)) is None:
        if not said:
            print(f"methods.gpu_slots: waiting for {count} of GPUs {gpus} held by other jobs "
                  f"(locks in {folder})", file=sys.stderr, flush=True)
            said = True
        time.sleep(WAIT)
    return held


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        raise SystemExit("usage: python -m methods.gpu_slots N -- command [args ...]")
    count, command = int(argv[0]), argv[2:]
    env = dict(os.environ)
    if count == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    else:
        held = claim(count, visible_gpus(), lock_folder())
        for _, fd in held:
            os.set_inheritable(fd, True)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu for gpu, _ in held)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()
