#!/usr/bin/env python3
"""Embeds a file into C: embed-file.py INPUT OUTPUT.c SYMBOL HEADER.

Writes `const char SYMBOL[]` (the bytes, NUL-terminated) and
`const size_t SYMBOL_len` (without the NUL), so the library needs no data
file at run time.
"""
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: embed-file.py INPUT OUTPUT.c SYMBOL HEADER")
    src, dst, sym, header = sys.argv[1:]
    data = open(src, "rb").read()
    lines = [f"/* Generated from {src.split('/')[-1]} by tools/embed-file.py; do not edit. */",
             f'#include "{header}"', "",
             f"const char {sym}[] = {{"]
    for i in range(0, len(data), 16):
        lines.append("\t" + " ".join(f"0x{b:02x}," for b in data[i:i + 16]))
    lines.append("\t0x00,")
    lines.append("};")
    lines.append(f"const size_t {sym}_len = {len(data)};")
    with open(dst, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
