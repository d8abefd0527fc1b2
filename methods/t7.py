"""The smallest reader of Torch7's binary serialisation (torch.save in Lua) that GLCIC's released
model needs: nil, numbers, strings, booleans, tables, torch objects (nn modules are a class name
and a table of fields) and float/double/integer tensors with their storages.

Format (torch/torch7 File.lua writeObject/readObject, generic/Tensor.c and generic/Storage.c
write/read): every value starts with an int32 type code (0 nil, 1 number as a float64, 2 string
as an int32 length and bytes, 3 table, 4 torch object, 5 boolean as an int32; 6-8 are Lua
functions, which a model file has no business holding and are refused). Tables and torch objects
then carry an int32 reference index: a repeated index is the object already read. A table holds
an int32 count of key/value pairs, each two values. A torch object holds the version string
"V 1", then its class name (both length-prefixed, untagged), then its contents: a tensor is an
int32 dimension count, that many int64 sizes, that many int64 strides, an int64 1-based storage
offset and its storage (a torch object, or nil); a storage is an int64 element count and the
elements; any other class (an nn module) is one value, its table of fields. Longs are 8 bytes, as
torch7 writes them on 64-bit Linux and macOS (a file written where longs are 4 bytes is misread,
and fails with a bounds or type error, not a message that says so). Little-endian, as torch7
writes on x86 and ARM.

PyPI's torchfile (0.1.0, 2017) reads the same format but is unmaintained and views tensors into
their storage without checking that they fit; tests use it as the independent reference.
"""
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN = range(6)
FUNCTIONS = (6, 7, 8)
STORAGE_TYPES = {f"torch.{kind}Storage": dtype for kind, dtype in (
    ("Float", "<f4"), ("Double", "<f8"), ("Byte", "u1"), ("Char", "i1"), ("Short", "<i2"),
    ("Int", "<i4"), ("Long", "<i8"), ("Cuda", "<f4"), ("CudaDouble", "<f8"))}
TENSOR_TYPES = {name.replace("Storage", "Tensor") for name in STORAGE_TYPES}


class T7Error(ValueError):
    pass


@dataclass
class T7Object:
    """A torch object that is not a tensor or storage: its class name and its fields."""
    class_name: str
    fields: object


class Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.pos, self.where, self.seen = data, 0, where, {}

    def fail(self, what):
        raise T7Error(f"{self.where}: byte {self.pos}: {what} (not a Torch7 file torch7 can "
                      "read, or a damaged one)")

    def take(self, size):
        if size < 0 or self.pos + size > len(self.data):
            self.fail(f"{size} bytes needed, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def string(self):
        (size,) = self.unpack("<i")
        return self.take(size).decode("utf-8", "replace")

    def value(self):
        (kind,) = self.unpack("<i")
        if kind == NIL:
            return None
        if kind == NUMBER:
            number = self.unpack("<d")[0]
            return int(number) if number.is_integer() else number
        if kind == STRING:
            return self.string()
        if kind == BOOLEAN:
            return self.unpack("<i")[0] == 1
        if kind in FUNCTIONS:
            self.fail("a serialised Lua function")
        if kind not in (TABLE, TORCH):
            self.fail(f"unknown type code {kind}")
        (index,) = self.unpack("<i")
        if index in self.seen:
            return self.seen[index]
        return self.table(index) if kind == TABLE else self.torch_object(index)

    def table(self, index):
        table = self.seen[index] = {}
        (count,) = self.unpack("<i")
        for _ in range(count):
            key = self.value()
            table[key] = self.value()
        return table

    def torch_object(self, index):
        version = self.string()
        if not version.startswith("V "):
            self.fail(f"a torch object without a version string (found '{version[:40]}')")
        name = self.string()
        if name in STORAGE_TYPES:
            (size,) = self.unpack("<q")
            dtype = np.dtype(STORAGE_TYPES[name])
            self.seen[index] = np.frombuffer(self.take(size * dtype.itemsize), dtype).copy()
        elif name in TENSOR_TYPES:
            self.seen[index] = self.tensor(name)
        else:
            self.seen[index] = T7Object(name, None)
            self.seen[index].fields = self.value()
        return self.seen[index]

    def tensor(self, name):
        (ndim,) = self.unpack("<i")
        if not 0 <= ndim <= 8:
            self.fail(f"a {name} with {ndim} dimensions")
        sizes = self.unpack(f"<{ndim}q")
        strides = self.unpack(f"<{ndim}q")
        (offset,) = self.unpack("<q")
        storage = self.value()
        if ndim == 0 or storage is None:
            return np.zeros((0,), np.float32)
        if not isinstance(storage, np.ndarray):
            self.fail(f"a {name} whose storage is a {type(storage).__name__}")
        if min(sizes) < 0:
            self.fail(f"a {name} of size {list(sizes)}")
        if 0 in sizes:
            return np.zeros(sizes, storage.dtype)
        last = offset - 1 + sum((size - 1) * stride for size, stride in zip(sizes, strides))
        if min(strides) < 0 or offset < 1 or last >= storage.size:
            self.fail(f"a {name} of size {list(sizes)}, strides {list(strides)}, offset "
                      f"{offset} that does not fit its storage of {storage.size}")
        return np.lib.stride_tricks.as_strided(
            storage[offset - 1:], sizes, [s * storage.itemsize for s in strides]).copy()


def load(path):
    """The value a Torch7 file holds: dicts for tables, T7Object for nn modules, numpy arrays
    for tensors."""
    reader = Reader(Path(path).read_bytes(), str(path))
    try:
        value = reader.value()
    except (TypeError, RecursionError) as err:  # a table as a key; nesting without end
        reader.fail(f"{type(err).__name__}: {err}")
    if reader.pos != len(reader.data):
        reader.fail(f"{len(reader.data) - reader.pos} bytes after the end of the object")
    return value
