"""Which device a stage runs on, by framework: the GPU when there is one, unless told.

Device names are each framework's own: torch 'cpu', 'cuda', 'cuda:1'; paddle 'cpu', 'gpu',
'gpu:1'. 'cuda' given to paddle means 'gpu' and 'gpu' given to torch means 'cuda', so a rule or
a user can pass one name for both ports. Framework-free (numpy) methods always run on the CPU.
Each framework is imported only when asked about, so a job never loads one it does not use.
"""
import os
import subprocess


def default(framework):
    """The GPU if one is visible (gpu_count) and the framework sees it, else the CPU; without
    a visible GPU the framework is not even imported."""
    if framework == "numpy" or not gpu_count():
        return "cpu"
    if framework == "torch":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if framework == "paddle":
        import paddle
        gpus = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count()
        return "gpu" if gpus else "cpu"
    raise ValueError(f"unknown framework '{framework}'")


def resolve(framework, requested=None):
    """`requested` in the framework's own spelling, or the default when None."""
    if requested is None:
        return default(framework)
    if framework == "numpy":
        if requested != "cpu":
            raise ValueError(f"framework-free methods run on the CPU, not on '{requested}'")
        return "cpu"
    kind, _, index = requested.partition(":")
    if kind not in ("cpu", "cuda", "gpu") or (index and not index.isdigit()):
        raise ValueError(f"unknown device '{requested}': expected cpu, cuda[:N] or gpu[:N]")
    if kind == "cpu":
        return "cpu"
    kind = "cuda" if framework == "torch" else "gpu"
    return f"{kind}:{index}" if index else kind


def flush_denormals(framework, device):
    """torch on the CPU computes with subnormal float32 values (below 1.2e-38) flushed to zero:
    MKL's products slow down some 40x on them, and they change no result. DeepFill v1's trained
    attention weights are full of them: its (8, 512, 256) x (8, 256, 256) product took 184 ms in
    a demo training step against 4.7 ms on ordinary values. TensorFlow, upstream's framework,
    flushes them in its CPU kernels too (tensorflow/core/platform/denormal.h). Paddle has no
    such switch and was not slowed (its demo step times follow its untrained ones)."""
    if framework == "torch" and device == "cpu":
        import torch
        torch.set_flush_denormal(True)


def describe(framework, device):
    """The device with the accelerator's name, for provenance records."""
    if device == "cpu" or framework == "numpy":
        return "cpu"
    if framework == "torch":
        import torch
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    import paddle
    index = int(device.partition(":")[2] or 0)
    return f"{device} ({paddle.device.cuda.get_device_name(index)})"


def visible_gpus():
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries, without importing a
    framework (the workflow asks at start): CUDA_VISIBLE_DEVICES' own entries when it is set
    (none when empty or -1), else the indices of the GPUs `nvidia-smi -L` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
        return [] if not entries or entries[0] == "-1" else entries
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                timeout=30, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    gpus = [line for line in listed.stdout.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(gpus))]


def gpu_count():
    """How many GPUs this process may use (visible_gpus)."""
    return len(visible_gpus())


def workflow_gpus(resources):
    """The GPUs the workflow's jobs may hold at once (resources: Snakemake's global resources):
    --resources gpu=N when given (a profile may give it), else the GPUs visible at start, which
    then become the bound; Snakemake treats a resource nobody bounds as unlimited, so without
    one `snakemake --cores 8` would start every GPU job at once, all on device 0."""
    if "gpu" not in resources:
        resources["gpu"] = gpu_count()
    return resources["gpu"].value


def cores_per_gpu(resources, gpus):
    """The cores each GPU's jobs may use when `gpus` GPU jobs run at once on this machine
    (--cores over the GPUs), or None (no bound) without GPUs or when the jobs go to a cluster
    (Snakemake then bounds _nodes, the jobs in flight), where each job gets CPUs of its own."""
    if not gpus or resources["_nodes"].value is not None:
        return None
    return max(1, resources["_cores"].value // gpus)
