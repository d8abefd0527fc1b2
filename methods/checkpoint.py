"""Framework-neutral checkpoints: numpy arrays under torch's parameter names, in safetensors.

DESIGN.md (method contract) asks that weights move between a method's PyTorch and PaddlePaddle
ports. The neutral state is {torch state-dict name: float32 or int64 numpy array}; these are the
conversion rules, written once, for every learned method:

- BatchNorm buffers are renamed: torch running_mean / running_var <-> paddle _mean / _variance.
  torch's num_batches_tracked has no paddle counterpart: it stays in the neutral state, is
  ignored when loading into paddle, and is 0 when absent on loading into torch (torch reads it
  only when momentum=None, torch/nn/modules/batchnorm.py).
- Linear weights are transposed: torch stores (out, in), paddle (in, out).
- Conv weights need nothing: both store (out, in, kh, kw).

Layer types are found by walking each framework's sublayers, never by name patterns. Each
framework is imported inside the functions that need it, so a process using one port never
loads the other.
"""
import json
import struct
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as safetensors_bytes

from datasets.io import atomic_write_bytes

PADDLE_BN_RENAMES = {"_mean": "running_mean", "_variance": "running_var"}
TORCH_ONLY_BN_BUFFER = "num_batches_tracked"


def _join(prefix, leaf):
    return f"{prefix}.{leaf}" if prefix else leaf


def _neutral(array):
    """A C-contiguous copy, float32 for floating arrays, int64 for integer ones. Always a copy:
    torch's .numpy() shares memory with the live tensor, which training would change."""
    dtype = np.float32 if np.issubdtype(array.dtype, np.floating) else np.int64
    return np.array(array, dtype=dtype, order="C")


def _check_keys(expected, given, where):
    missing, unexpected = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    if missing or unexpected:
        raise KeyError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")


def _torch_bn_counters(module):
    """State names of num_batches_tracked for every torch BatchNorm inside module."""
    from torch import nn
    kinds = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    return {_join(prefix, TORCH_ONLY_BN_BUFFER) for prefix, sub in module.named_modules()
            if isinstance(sub, kinds) and sub.track_running_stats}


def _paddle_bn_kinds():
    import paddle
    return (paddle.nn.BatchNorm, paddle.nn.BatchNorm1D, paddle.nn.BatchNorm2D,
            paddle.nn.BatchNorm3D, paddle.nn.SyncBatchNorm)


def _paddle_names(layer):
    """{paddle state name: (torch state name, transpose)} for every persistable tensor."""
    import paddle
    sublayers = dict(layer.named_sublayers(include_self=True))
    names = {}
    for name in layer.state_dict():
        prefix, _, leaf = name.rpartition(".")
        sub = sublayers[prefix]
        if isinstance(sub, _paddle_bn_kinds()):
            leaf = PADDLE_BN_RENAMES.get(leaf, leaf)
        transpose = isinstance(sub, paddle.nn.Linear) and leaf == "weight"
        names[name] = (_join(prefix, leaf), transpose)
    return names


def torch_state(module):
    """The neutral state of a torch module."""
    return {name: _neutral(tensor.detach().cpu().numpy())
            for name, tensor in module.state_dict().items()}


def paddle_state(layer):
    """The neutral state of a paddle layer (torch names and layouts; no num_batches_tracked)."""
    state = layer.state_dict()
    return {torch_name: _neutral(state[name].numpy().T if transpose else state[name].numpy())
            for name, (torch_name, transpose) in _paddle_names(layer).items()}


def load_torch(module, state):
    """Load a neutral state into a torch module; missing or unexpected keys raise."""
    import torch
    state = dict(state)
    for name in _torch_bn_counters(module) - set(state):
        state[name] = np.zeros((), np.int64)
    _check_keys(module.state_dict(), state, type(module).__name__)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()},
                           strict=True)


def load_paddle(layer, state):
    """Load a neutral state into a paddle layer; missing or unexpected keys raise."""
    names = _paddle_names(layer)
    by_torch_name = {torch_name: (name, transpose) for name, (torch_name, transpose)
                     in names.items()}
    counters = {_join(prefix, TORCH_ONLY_BN_BUFFER)
                for prefix, sub in layer.named_sublayers(include_self=True)
                if isinstance(sub, _paddle_bn_kinds())}
    _check_keys(by_torch_name, set(state) - counters, type(layer).__name__)
    current = layer.state_dict()
    values = {}
    for torch_name, (name, transpose) in by_torch_name.items():
        array = np.asarray(state[torch_name])
        array = array.T if transpose else array
        if tuple(array.shape) != tuple(current[name].shape):
            raise ValueError(f"{type(layer).__name__}: {torch_name} has shape {array.shape}, "
                             f"the layer's {name} {tuple(current[name].shape)}")
        values[name] = np.ascontiguousarray(array)
    layer.set_state_dict(values)


class CheckpointError(ValueError):
    """A weights file that cannot be used: unreadable, cut short, or holding non-finite values."""


def nonfinite(state):
    """'name: k of n values' for each floating array of a state holding NaN or inf."""
    return [f"{name}: {int((~np.isfinite(a)).sum()):,} of {a.size:,} values"
            for name, a in state.items()
            if np.issubdtype(np.asarray(a).dtype, np.floating) and not np.isfinite(a).all()]


def save(path, state, metadata):
    """Write a neutral state and {str: str} metadata to a safetensors file, atomically; a state
    holding NaN or inf (a diverged run) is refused, so no such file is ever written."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"{path}: safetensors metadata must map str to str, got {metadata!r}")
    bad = nonfinite(state)
    if bad:
        raise CheckpointError(f"{path}: not written, the weights are not finite ({bad[0]}"
                              f"{f' and {len(bad) - 1} more tensors' if len(bad) > 1 else ''})")
    data = safetensors_bytes({k: _neutral(np.asarray(v)) for k, v in state.items()},
                             metadata=metadata)
    atomic_write_bytes(path, data)


def check_complete(path):
    """Raise CheckpointError unless path is a whole safetensors file: its 8-byte header length,
    JSON header and the data the header's offsets cover add up to the file's size (the format:
    huggingface/safetensors README, "Format"). Reads only the header, so a workflow can check
    a large file before scheduling the jobs that read it."""
    path = Path(path)
    fix = ("delete it and run the workflow again to retrain it (or copy it again, if it was "
           "copied)")
    size = path.stat().st_size
    try:
        with open(path, "rb") as stream:
            (length,) = struct.unpack("<Q", stream.read(8))
            header = json.loads(stream.read(length)) if 8 + length <= size else None
    except (struct.error, ValueError) as err:
        raise CheckpointError(f"{path}: not a safetensors file ({err}): {fix}") from err
    if header is None:
        raise CheckpointError(f"{path}: cut short ({size:,} bytes, shorter than its header): "
                              f"{fix}")
    try:
        end = max([entry["data_offsets"][1] for name, entry in header.items()
                   if name != "__metadata__"], default=0)
    except (AttributeError, KeyError, TypeError, IndexError) as err:
        raise CheckpointError(f"{path}: not a safetensors header ({err!r}): {fix}") from err
    if 8 + length + end != size:
        raise CheckpointError(f"{path}: {size:,} bytes where its header describes "
                              f"{8 + length + end:,}, so it was cut short or appended to: {fix}")


def load(path):
    """(state, metadata) from a file written by save(); a file cut short, unreadable or holding
    non-finite values raises CheckpointError naming it and the fix."""
    check_complete(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            state, metadata = {name: f.get_tensor(name) for name in f.keys()}, f.metadata()
    except SafetensorError as err:
        raise CheckpointError(f"{path}: unreadable ({err}): delete it and run the workflow "
                              "again to retrain it") from err
    bad = nonfinite(state)
    if bad:
        raise CheckpointError(
            f"{path}: the weights are not finite ({'; '.join(bad[:3])}"
            f"{f'; {len(bad) - 3} more tensors' if len(bad) > 3 else ''}), so they come from a "
            "diverged run: delete the file and retrain with a smaller learning rate")
    return state, dict(metadata or {})
