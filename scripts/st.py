"""Minimal safetensors reader/writer for float32 tensors (torch + standard library only).

triad's checkpoints and golden fixtures are safetensors files holding F32 tensors only.
This module reads and writes that subset without the `safetensors` package:

    import st
    tensors, metadata = st.load("model.safetensors")   # name -> torch.float32 tensor, str -> str
    st.save("out.safetensors", tensors, {"key": "value"})

File layout (https://github.com/huggingface/safetensors):
    8 bytes      little-endian unsigned header length N
    N bytes      UTF-8 JSON header, padded with spaces to a multiple of 8:
                 {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...],
                  "data_offsets": [begin, end]}, ...}
                 (offsets are relative to the start of the data section)
    data         raw little-endian tensor bytes, tensors in header insertion order

Any dtype other than F32 is rejected with ValueError. A 0-dim tensor has shape [].
It can also be run as a script to list a file's contents:

    /usr/bin/python3 scripts/st.py FILE.safetensors
"""

import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_check import read_safetensors  # noqa: E402

_ALIGN = 8


def _tensor_bytes(t):
    """Return the raw little-endian float32 bytes of tensor t (C order)."""
    t = t.detach().to(device="cpu", dtype=torch.float32).contiguous()
    if sys.byteorder != "little":
        raise RuntimeError("st.py supports little-endian hosts only")
    if t.numel() == 0:
        return b""
    # Copy into a float32 view of a bytearray: no numpy needed.
    buf = bytearray(4 * t.numel())
    torch.frombuffer(buf, dtype=torch.float32).copy_(t.reshape(-1))
    return bytes(buf)


def save(path, tensors, metadata=None):
    """Write `tensors` (dict name -> tensor, stored as F32 in insertion order) to `path`.

    `metadata` is a dict of str -> str stored under "__metadata__" (omitted if empty).
    """
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError("metadata keys and values must be strings (key %r)" % (k,))
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is not a valid tensor name")
        if not torch.is_tensor(t):
            raise ValueError("tensor %r is not a torch tensor" % name)
        if not t.is_floating_point():
            raise ValueError("tensor %r: only floating-point tensors are stored (as F32)" % name)
        data = _tensor_bytes(t)
        header[name] = {
            "dtype": "F32",
            "shape": [int(d) for d in t.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * ((-len(head)) % _ALIGN)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for data in blobs:
            f.write(data)


def load(path):
    """Read a safetensors file of F32 tensors.

    Returns (tensors, metadata): tensors is a dict name -> torch.float32 tensor in file
    header order; metadata is the "__metadata__" dict (empty if absent). The file is
    validated by safetensors_check.read_safetensors (the reference library's rules);
    raises ValueError on a malformed file or a dtype other than F32.
    """
    raw, metadata = read_safetensors(path)
    tensors = {}
    for name, (dtype, shape, data) in raw.items():
        if dtype != "F32":
            raise ValueError("%s: tensor %r has dtype %s; only F32 is supported" % (path, name, dtype))
        if data:
            t = torch.frombuffer(bytearray(data), dtype=torch.float32).clone()
        else:
            t = torch.empty(0, dtype=torch.float32)
        tensors[name] = t.reshape(shape)
    return tensors, metadata


def main(argv):
    if len(argv) != 2:
        print("usage: %s FILE.safetensors" % argv[0], file=sys.stderr)
        return 2
    tensors, metadata = load(argv[1])
    for k, v in metadata.items():
        short = v if len(v) <= 70 else v[:67] + "..."
        print("meta %s = %s" % (k, short.replace("\n", "\\n")))
    for name, t in tensors.items():
        print("%-24s %-14s %s" % (name, list(t.shape),
                                  "" if t.numel() == 0 else "first=%.6g" % t.reshape(-1)[0].item()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
