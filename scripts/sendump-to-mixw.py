#!/usr/bin/env python3
"""Writes the mixture weights of a PocketSphinx PTM model's `sendump` as a sphinxtrain
`mixture_weights` file (s3 float format), which sphinxtrain's `bw` needs to accumulate
adaptation statistics. Debian's pocketsphinx-en-us ships only the quantised `sendump`.

sendump layout (as PocketSphinx reads it): int32-length-prefixed NUL-terminated strings (a
title, a header, then `key value` lines until a zero length); without a cluster codebook the
row and column counts follow (int32 each); then, per feature stream and codeword, one byte per
senone: the weight as -log base 1.0001, shifted right by 10 bits.

usage: sendump-to-mixw.py MODEL_DIR/sendump OUT/mixture_weights
"""
import math
import struct
import sys


def main(src, dst):
    data = open(src, "rb").read()
    pos = 0

    def i32():
        nonlocal pos
        (v,) = struct.unpack_from("<i", data, pos)
        pos += 4
        return v

    for _ in range(2):  # title, header
        n = i32()
        pos += n
    n_feat, n_clust, n_bits = None, 0, 8
    while True:
        n = i32()
        if n == 0:
            break
        key, _, val = data[pos:pos + n].rstrip(b"\0").decode().partition(" ")
        pos += n
        if key == "feature_count":
            n_feat = int(val)
        elif key == "cluster_count":
            n_clust = int(val)
        elif key == "cluster_bits":
            n_bits = int(val)
    if n_clust != 0 or n_bits != 8 or n_feat is None:
        sys.exit(f"{src}: unsupported sendump (clusters {n_clust}, bits {n_bits}, features {n_feat})")
    rows, cols = i32(), i32()  # codewords, senones
    need = n_feat * rows * cols
    if len(data) - pos != need:
        sys.exit(f"{src}: {len(data) - pos} bytes of weights, expected {need}")
    step = math.log(1.0001) * (1 << 10)
    table = [math.exp(-q * step) for q in range(256)]
    vals = []
    for s in range(cols):
        for f in range(n_feat):
            base = pos + f * rows * cols + s
            row = [table[data[base + d * cols]] for d in range(rows)]
            total = sum(row)
            vals.extend(x / total for x in row)
    out = bytearray(b"s3\nversion 1.0\nendhdr\n")
    out += struct.pack("<I", 0x11223344)
    out += struct.pack("<iiii", cols, n_feat, rows, cols * n_feat * rows)
    out += struct.pack(f"<{len(vals)}f", *vals)
    open(dst, "wb").write(out)
    print(f"{dst}: {cols} senones x {n_feat} streams x {rows} codewords", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
