#!/usr/bin/env python3
"""Turn Debian's dataset-fashion-mnist into ImageNet-layout PNG folders.

    tools/prepare_fashion_mnist.py [--source DIR] [--out DIR] [--force]

Reads the four IDX files (train/t10k images and labels, gzip) from --source
(default /usr/share/datasets/fashion-mnist) and writes 28x28 grayscale PNGs to

    OUT/train/<Class>/<index>.png   (60000 images)
    OUT/val/<Class>/<index>.png     (10000 images, the t10k split)

with the dataset's real class names made folder-safe. <index> is the image's position
in its split, zero-padded, so sorted file order is dataset order. OUT defaults to
data/fashion-mnist. Python standard library only.

Idempotent: a finished run leaves OUT/.complete; a later run with that marker in place
does nothing (use --force to rewrite).
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
SPLITS = [("train", "train", 60000), ("val", "t10k", 10000)]
MARKER = ".complete"


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def read_idx(path, magic, dims):
    """Returns (count, payload bytes) of an IDX file with the given magic and rank."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    header = 4 + 4 * dims
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        fail(f"{path} is not an IDX file of the expected kind")
    shape = struct.unpack(">" + "I" * dims, data[4:header])
    size = 1
    for d in shape:
        size *= d
    if len(data) != header + size:
        fail(f"{path} has {len(data) - header} bytes of data, expected {size}")
    return shape, data[header:]


def png_chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_gray(width, height, pixels):
    """An 8-bit grayscale PNG (filter type 0 on every row)."""
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 6))
            + png_chunk(b"IEND", b""))


def write_split(out, name, prefix, source, expected):
    (count, rows, cols), images = read_idx(
        os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"), 2051, 3)
    (label_count,), labels = read_idx(
        os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"), 2049, 1)
    if count != expected or label_count != count:
        fail(f"{prefix}: {count} images and {label_count} labels, expected {expected}")
    folders = [os.path.join(out, name, c) for c in CLASSES]
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    size = rows * cols
    for i in range(count):
        label = labels[i]
        if label >= len(CLASSES):
            fail(f"{prefix}: label {label} of image {i} is out of range")
        png = png_gray(cols, rows, images[i * size:(i + 1) * size])
        with open(os.path.join(folders[label], f"{i:05d}.png"), "wb") as f:
            f.write(png)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default="data/fashion-mnist")
    parser.add_argument("--force", action="store_true", help="rewrite a finished output")
    args = parser.parse_args()
    marker = os.path.join(args.out, MARKER)
    if os.path.exists(marker) and not args.force:
        print(f"{args.out}: already prepared ({open(marker).read().strip()})")
        return
    if os.path.exists(marker):
        os.remove(marker)
    counts = [write_split(args.out, name, prefix, args.source, n) for name, prefix, n in SPLITS]
    summary = f"train {counts[0]}, val {counts[1]} images in {len(CLASSES)} classes"
    with open(marker, "w") as f:
        f.write(summary + "\n")
    print(f"{args.out}: {summary}")


if __name__ == "__main__":
    main()
