"""Read a TensorFlow V2 checkpoint (a tensor bundle) with numpy alone: no TensorFlow install.

A bundle `<prefix>` is `<prefix>.index` plus `<prefix>.data-00000-of-00001` (one shard). The
only maintained reader is TensorFlow itself (a 500 MB wheel, for reading 84 arrays), so this is
the smallest reader the format's documentation supports. Facts used:
- The index is a LevelDB-format table (tensorflow/core/lib/io/table_format.txt, the same as
  LevelDB's doc/table_format.md): data blocks, a metaindex block and an index block, then a
  48-byte footer: the metaindex and index block handles (varint offset, varint size), zero
  padding to 40 bytes, and the magic number 0xdb4775248b80fb57 as 8 little-endian bytes.
  A block is its entries (varints: shared key bytes, unshared key bytes, value bytes; then the
  unshared key bytes and the value), uint32 restart offsets and their uint32 count; each block
  is followed by a 5-byte trailer, a compression byte (0: none) and a masked CRC32C of the block
  and that byte. An index-block entry's value is the handle of one data block.
- Keys are tensor names; the empty key holds the BundleHeaderProto, the others a
  BundleEntryProto (tensorflow/core/protobuf/tensor_bundle.proto): dtype = 1, shape = 2 (a
  TensorShapeProto: repeated dim = 2, each Dim with size = 1), shard_id = 3, offset = 4,
  size = 5, crc32c = 6 (fixed32), slices = 7; the header: num_shards = 1, endianness = 2
  (0 little), version = 3.
- A tensor is `size` raw bytes at `offset` in its shard; its entry stores
  crc32c::Mask(CRC32C of those bytes) (tensor_bundle.cc BundleWriter::Add, checked by
  BundleReader::GetValue), Mask being LevelDB's rotate-right-by-15 plus 0xa282ead8.
CRC32C comes from the `crc32c` package (PyPI, a 54 kB C extension; Python would take seconds
for DeepFill v1's 14 MB).
"""
import struct
from collections import namedtuple
from pathlib import Path

import crc32c
import numpy as np

MAGIC = 0xDB4775248B80FB57
FOOTER = 48
TRAILER = 5
MASK_DELTA = 0xA282EAD8
DTYPES = {1: np.dtype("<f4")}  # DT_FLOAT; the released inpainting checkpoints hold no other
Entry = namedtuple("Entry", "dtype shape shard offset size crc32c")


class BundleError(ValueError):
    """A bundle that is not what it should be: the message names the file."""


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def varint(data, pos):
    """(value, next position) of the base-128 varint at pos."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def proto_fields(data):
    """[(field number, value)] of a protobuf message: ints for varint and fixed32 fields, bytes
    for length-delimited ones (the only wire types bundle protos use)."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 2:
            length, pos = varint(data, pos)
            value, pos = bytes(data[pos:pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire} of field {number} is not used by bundles")
        fields.append((number, value))
    return fields


def block(data, offset, size, where):
    """The contents of the block at (offset, size), its trailer's checksum verified."""
    body = data[offset:offset + size + 1]
    trailer = data[offset + size:offset + size + TRAILER]
    if len(trailer) != TRAILER:
        raise BundleError(f"{where}: block at {offset} (+{size}) runs past the end of the file")
    if trailer[0] != 0:
        raise BundleError(f"{where}: block at {offset} is compressed (type {trailer[0]}); "
                          "TensorFlow writes bundle indexes uncompressed")
    if masked(crc32c.crc32c(body)) != struct.unpack("<I", trailer[1:])[0]:
        raise BundleError(f"{where}: block at {offset} fails its CRC32C: the file is damaged")
    return data[offset:offset + size]


def block_entries(contents):
    """[(key, value)] of a table block, keys rebuilt from their shared prefixes."""
    restarts = struct.unpack_from("<I", contents, len(contents) - 4)[0]
    end = len(contents) - 4 * (restarts + 1)
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = varint(contents, pos)
        unshared, pos = varint(contents, pos)
        length, pos = varint(contents, pos)
        key = key[:shared] + bytes(contents[pos:pos + unshared])
        pos += unshared
        entries.append((key, bytes(contents[pos:pos + length])))
        pos += length
    return entries


def handle(value):
    offset, pos = varint(value, 0)
    size, pos = varint(value, pos)
    return offset, size, pos


def parse_entry(name, value, where):
    fields = dict.fromkeys(("dtype", "shard", "offset", "size", "crc32c"), 0)
    shape, sliced = [], False
    numbers = {1: "dtype", 3: "shard", 4: "offset", 5: "size", 6: "crc32c"}
    for number, field in proto_fields(value):
        if number == 2:
            for dim_number, dim in proto_fields(field):
                if dim_number == 3 and dim:
                    raise BundleError(f"{where}: {name} has an unknown rank")
                if dim_number == 2:
                    shape.append(dict(proto_fields(dim)).get(1, 0))
        elif number == 7:
            sliced = True
        elif number in numbers:
            fields[numbers[number]] = field
    if sliced:
        raise BundleError(f"{where}: {name} is saved in slices (partitioned variable), which "
                          "this reader does not join")
    return Entry(shape=tuple(shape), **fields)


def read_index(path):
    """(header {num_shards, endianness}, {tensor name: Entry}) of a bundle's .index file."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    if len(data) < FOOTER or struct.unpack_from("<Q", data, len(data) - 8)[0] != MAGIC:
        raise BundleError(f"{path}: not a TensorFlow checkpoint index (no table magic number "
                          "in its last 8 bytes)")
    footer = data[len(data) - FOOTER:]
    _, _, pos = handle(footer)  # the metaindex block: bundles keep nothing in it
    index_offset, index_size, _ = handle(footer[pos:])
    header, entries = None, {}
    for _, block_handle in block_entries(block(data, index_offset, index_size, path)):
        offset, size, _ = handle(block_handle)
        for key, value in block_entries(block(data, offset, size, path)):
            if key == b"":
                header = dict(proto_fields(value))
            else:
                name = key.decode()
                entries[name] = parse_entry(name, value, path)
    if header is None:
        raise BundleError(f"{path}: no bundle header (the empty key) in the index")
    header = {"num_shards": header.get(1, 0), "endianness": header.get(2, 0)}
    if header["num_shards"] != 1 or header["endianness"] != 0:
        raise BundleError(f"{path}: {header['num_shards']} shards, endianness "
                          f"{header['endianness']}: only one little-endian shard is read")
    return header, entries


def data_path(prefix):
    return Path(f"{prefix}.data-00000-of-00001")


def read_tensors(prefix, names=None):
    """{name: float32 array} of the bundle `prefix` (every tensor, or `names`), each checked
    against its entry: dtype, size = shape x 4 bytes, and the stored CRC32C."""
    index = Path(f"{prefix}.index")
    _, entries = read_index(index)
    shard = data_path(prefix)
    if not shard.is_file():
        raise BundleError(f"{shard}: missing (the data half of the checkpoint {index})")
    data = memoryview(shard.read_bytes())
    tensors = {}
    for name in entries if names is None else names:
        entry = entries[name]
        if entry.dtype not in DTYPES:
            raise BundleError(f"{index}: {name} has TensorFlow dtype {entry.dtype}, not float32")
        expected = int(np.prod(entry.shape, dtype=np.int64)) * DTYPES[entry.dtype].itemsize
        raw = data[entry.offset:entry.offset + entry.size]
        if entry.size != expected or len(raw) != entry.size:
            raise BundleError(f"{shard}: {name} should be {expected} bytes at {entry.offset} "
                              f"(shape {list(entry.shape)}), found {len(raw)} of {entry.size}")
        if masked(crc32c.crc32c(raw)) != entry.crc32c:
            raise BundleError(f"{shard}: {name} fails its CRC32C (stored in {index}): the "
                              "file is damaged or not this checkpoint's data")
        tensors[name] = np.frombuffer(raw, DTYPES[entry.dtype]).reshape(entry.shape).copy()
    return tensors
