#!/usr/bin/env python3
"""Writes a safetensors file of random float32 tensors (standard library only).

    tools/random_safetensors.py OUT name=d0,d1,... [name=...] [--seed S]
"""
import json
import random
import struct
import sys


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--seed")]
    seed = next((int(a.split("=")[1]) for a in sys.argv[1:] if a.startswith("--seed=")), 0)
    if len(args) < 2:
        sys.exit("usage: random_safetensors.py OUT name=d0,d1,... [--seed=S]")
    rng = random.Random(seed)
    header, blobs, offset = {}, [], 0
    for spec in args[1:]:
        name, dims = spec.split("=")
        shape = [int(d) for d in dims.split(",")]
        count = 1
        for d in shape:
            count *= d
        blob = struct.pack(f"<{count}f", *(rng.gauss(0, 1) for _ in range(count)))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(args[0], "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    main()
