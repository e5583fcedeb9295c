#!/usr/bin/env python3
"""Check a safetensors file with the Python standard library only.

Usage: safetensors_check.py FILE...

Parses each file (u64 little-endian header length, JSON header, data), prints
every tensor's name, dtype and shape and the metadata keys, and exits 1 if any
file is inconsistent. The checks follow the reference implementation
(huggingface/safetensors), which is what safetensors.torch.load_file applies:
header length within the file and at most 100 MB, UTF-8 JSON object, known
dtypes, integer shapes, data_offsets inside the data and matching the shape,
tensors neither overlapping nor leaving gaps, and the data fully covered,
string-only metadata, no duplicate names.

read_safetensors(path) is the reusable part (the PyTorch golden-test script
imports it); it raises SafetensorsError on any inconsistency.
"""

import json
import struct
import sys

MAX_HEADER = 100_000_000
METADATA_KEY = "__metadata__"

# Bytes per element (the 4-bit and sub-byte types of newer versions are left out).
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "F64": 8, "I64": 8, "U64": 8,
}


class SafetensorsError(ValueError):
    """The file is not a consistent safetensors file."""


def _unique_object(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise SafetensorsError(f"header names {k!r} twice")
        seen[k] = v
    return seen


def _is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_safetensors(path):
    """Reads and validates a safetensors file.

    Returns (tensors, metadata): tensors maps each name, in header order, to
    (dtype, shape, data) with shape a tuple of ints and data the raw
    little-endian bytes; metadata maps str to str (empty when absent).
    Raises OSError when the file cannot be read, SafetensorsError (a
    ValueError) with a message naming the file and tensor when it is
    inconsistent.
    """
    with open(path, "rb") as f:
        buf = f.read()

    def fail(msg):
        raise SafetensorsError(f"{path}: {msg}")

    if len(buf) < 8:
        fail(f"file is {len(buf)} bytes, a safetensors file has at least 8")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER:
        fail(f"header length {n} exceeds the limit of {MAX_HEADER} bytes")
    if n > len(buf) - 8:
        fail(f"header length {n} is larger than the {len(buf) - 8} bytes that follow it")
    try:
        text = buf[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"header is not valid UTF-8 ({e})")
    if not text.startswith("{"):
        fail("header does not start with '{'")
    try:
        header = json.loads(text, object_pairs_hook=_unique_object)
    except SafetensorsError as e:
        fail(str(e))
    except ValueError as e:
        fail(f"header is not valid JSON ({e})")
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    data = buf[8 + n:]

    metadata = header.pop(METADATA_KEY, None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        fail(f"{METADATA_KEY} must be an object of strings")
    for k, v in metadata.items():
        if not isinstance(v, str):
            fail(f"metadata {k!r} is not a string")

    tensors = {}
    ranges = []
    for name, info in header.items():
        if not isinstance(info, dict):
            fail(f"tensor {name!r}: expected an object with dtype, shape and data_offsets")
        dtype = info.get("dtype")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if dtype not in DTYPE_SIZES:
            fail(f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            fail(f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(_is_uint(o) for o in offs)):
            fail(f"tensor {name!r}: data_offsets must be [begin, end], got {offs!r}")
        b, e = offs
        if b > e:
            fail(f"tensor {name!r}: data_offsets [{b}, {e}] end before they begin")
        numel = 1
        for d in shape:
            numel *= d
        want = numel * DTYPE_SIZES[dtype]
        if e - b != want:
            fail(f"tensor {name!r} has shape {tuple(shape)} ({want} bytes as {dtype}) "
                 f"but data_offsets [{b}, {e}] span {e - b} bytes")
        if e > len(data):
            fail(f"truncated: tensor {name!r} ends at byte {e} of the data, "
                 f"file has {len(data)}")
        ranges.append((b, e, name))
        tensors[name] = (dtype, tuple(shape), data[b:e])

    # The reference implementation requires the tensors to tile the data
    # section exactly: sorted by offset, each starts where the previous ends.
    at = 0
    prev = None
    for b, e, name in sorted(ranges):
        if b < at:
            fail(f"tensors {prev!r} and {name!r} overlap (byte {b} < {at})")
        if b > at:
            fail(f"gap of {b - at} bytes before tensor {name!r} (at byte {at})")
        at, prev = e, name
    if at != len(data):
        fail(f"{len(data) - at} bytes after the last tensor are not described by the header")
    return tensors, metadata


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    status = 0
    for path in argv[1:]:
        try:
            tensors, metadata = read_safetensors(path)
        except (OSError, SafetensorsError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
            continue
        total = sum(len(t[2]) for t in tensors.values())
        print(f"{path}: {len(tensors)} tensors, {total} bytes of data")
        for name, (dtype, shape, _) in tensors.items():
            print(f"  {name}\t{dtype}\t{list(shape)}")
        print("  metadata keys: " + (", ".join(metadata) if metadata else "(none)"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
