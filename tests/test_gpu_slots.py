"""GPU jobs on one machine: the workflow bounds them by the machine's GPUs, and each job sees
only its own (methods/gpu_slots.py). No GPU is needed: CUDA_VISIBLE_DEVICES stands for the
machine's GPUs, as devices.visible_gpus reads it first."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from methods import devices, gpu_slots

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def scratch_workflow(folder, jobs, gpus_per_job):
    """A Snakefile whose `jobs` jobs each ask for gpus_per_job GPUs, bounded the way
    rules/common.smk bounds them. Each logs when Snakemake starts and ends it (launch, finish)
    and, inside the wrapper the workflow's GPU rules use, when its command starts and ends on
    which CUDA_VISIBLE_DEVICES (start, end)."""
    (folder / "Snakefile").write_text(textwrap.dedent(f"""
        from methods import devices
        GPUS = devices.workflow_gpus(workflow.global_resources)
        rule all:
            input: expand("done{{i}}", i=range({jobs}))
        rule job:
            output: "done{{i}}"
            resources: gpu={gpus_per_job}
            shell: "echo $(date +%s.%N) launch - >> trace; "
                   "{sys.executable} -m methods.gpu_slots {{resources.gpu}} -- sh -c "
                   "'echo $(date +%s.%N) start $CUDA_VISIBLE_DEVICES >> trace; sleep 1.5; "
                   "echo $(date +%s.%N) end $CUDA_VISIBLE_DEVICES >> trace; touch {{output}}'; "
                   "echo $(date +%s.%N) finish - >> trace"
        """))


def run(folder, visible, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": visible,
           "TMPDIR": str(folder)}  # the GPU locks of this test only
    done = subprocess.run([str(BIN / "snakemake"), "--cores", "8", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [line.split() for line in (folder / "trace").read_text().splitlines()]
    return [(float(t), kind, devices) for t, kind, devices in sorted(events)]


def most_at_once(events, begin="start", finish="end"):
    running = peak = 0
    for _, kind, _ in events:
        running += (kind == begin) - (kind == finish)
        peak = max(peak, running)
    return peak


def test_without_a_flag_gpu_jobs_are_bounded_by_the_gpus_and_each_sees_its_own(tmp_path):
    """`snakemake --cores 8`, no --resources: 6 one-GPU jobs on a 2-GPU machine run at most 2
    at a time, never both on one GPU; --resources gpu=N overrides the bound."""
    scratch_workflow(tmp_path, 6, 1)
    events = run(tmp_path, "0,1")
    assert most_at_once(events, "launch", "finish") == 2  # Snakemake's bound
    assert most_at_once(events) == 2
    running = {}
    for _, kind, device in events:
        if kind == "start":
            assert device in ("0", "1") and device not in running.values()
            running[len(running)] = device
        elif kind == "end":
            running = {k: d for k, d in running.items() if d != device}
    (tmp_path / "trace").unlink()
    for path in tmp_path.glob("done*"):
        path.unlink()
    events = run(tmp_path, "0,1,2,3", "--resources", "gpu=3")
    assert most_at_once(events, "launch", "finish") == most_at_once(events) == 3


def test_a_two_gpu_job_gets_two_distinct_gpus(tmp_path):
    scratch_workflow(tmp_path, 2, 2)
    events = run(tmp_path, "4,6")
    assert most_at_once(events) == 1
    assert {devices for _, kind, devices in events if kind in ("start", "end")} == {"4,6"}


def test_claims_are_exclusive_and_released_with_the_holder(tmp_path):
    held = gpu_slots.try_claim(1, ["0", "1"], tmp_path)
    assert [gpu for gpu, _ in held] == ["0"]
    other = gpu_slots.try_claim(1, ["0", "1"], tmp_path)
    assert [gpu for gpu, _ in other] == ["1"]
    assert gpu_slots.try_claim(1, ["0", "1"], tmp_path) is None  # both held: nothing kept
    os.close(held[0][1])  # the holder ends: its GPU is free again
    assert [gpu for gpu, _ in gpu_slots.try_claim(1, ["0", "1"], tmp_path)] == ["0"]


def test_more_gpus_than_the_machine_has_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(SystemExit, match="2 GPUs asked for, 1 visible here .*train_gpus"):
        gpu_slots.claim(2, ["0"], tmp_path)


@pytest.mark.parametrize("count, env, expected", [
    ("0", {"CUDA_VISIBLE_DEVICES": "0,1"}, ""),  # a job that asks for none sees none
    ("1", {"CUDA_VISIBLE_DEVICES": "3,5", "SLURM_JOB_ID": "7"}, "3")])  # within the allocation
def test_jobs_without_gpus_see_none_and_slurm_jobs_claim_within_their_allocation(
        tmp_path, count, env, expected):
    done = subprocess.run([sys.executable, "-m", "methods.gpu_slots", count, "--", "sh", "-c",
                           "echo \"[$CUDA_VISIBLE_DEVICES]\""], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env, "TMPDIR": str(tmp_path)},
                          check=True)
    assert done.stdout.strip() == f"[{expected}]"
    if "SLURM_JOB_ID" in env:  # the allocation's own lock folder: its GPU 0 is not another's
        assert list(tmp_path.glob(f"inpaint-gpu-slots-{os.getuid()}-slurm-7/gpu-3.lock"))


def test_a_one_word_command_runs_and_a_malformed_call_is_refused(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-m", "methods.gpu_slots", "0", "--", "true"],
                         cwd=REPO, env=env)
    assert ran.returncode == 0
    with pytest.raises(SystemExit, match="usage: python -m methods.gpu_slots N -- command"):
        gpu_slots.main(["1", "true"])


def test_torch_on_the_cpu_flushes_subnormal_values_and_paddle_is_left_alone():
    """devices.flush_denormals: a subnormal float32 times one is zero after it. The flag is the
    calling thread's, so a train or predict run earlier in this process may have set it: it is
    cleared first and after."""
    import torch
    try:
        torch.set_flush_denormal(False)
        tiny = torch.tensor([1e-40], dtype=torch.float32)  # made after: a set flag zeroes it
        devices.flush_denormals("paddle", "cpu")
        assert (tiny * 1.0).item() != 0
        devices.flush_denormals("torch", "cpu")
        assert (tiny * 1.0).item() == 0
    finally:
        torch.set_flush_denormal(False)
