#!/usr/bin/python3
"""Writes the h2_frames seeds (scripts in the format fuzz/h2_frames_fuzz.cc reads) next to this
file: ordinary requests, a stream reset while its handler waits, and the known floods."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY, CL, BIG = 0, 1, 6  # known field names


def field(name, value=b""):
    if name == BIG:
        return bytes([BIG]) + struct.pack(">H", value)
    return bytes([name, len(value)]) + value


def headers(stream, flags, method, path, fields):
    return bytes([0, stream, flags, method, path, len(fields)]) + b"".join(fields)


def data(stream, flags, length):
    return bytes([2, stream, flags]) + struct.pack(">H", length)


SEEDS = {
    # GET /echo with a key, answered whole.
    "get": headers(0, 1, 0, 0, [field(KEY, b"k")]),
    # POST /stream with a body, answered as a stream, a window update for the answer.
    "post_stream": headers(0, 0, 1, 1, [field(KEY, b"k"), field(CL, b"100")]) + data(0, 1, 100) +
                   bytes([6, 0]) + struct.pack(">I", 1 << 20),
    # No key: 401 from the head; the body still comes.
    "no_key": headers(1, 0, 1, 0, []) + data(1, 1, 3000),
    # /slow, reset while its handler waits (the abort path).
    "reset_slow": headers(2, 1, 0, 2, [field(KEY, b"k")]) + bytes([3, 2]) + struct.pack(">I", 8),
    # A header block split across CONTINUATION frames.
    "continuation": headers(3, 3, 0, 0, [field(KEY, b"k")]) + bytes([1, 3, 0, 1]) + field(5, b"a=b"),
    # A value past the head limit (431).
    "big_field": headers(4, 1, 0, 0, [field(KEY, b"k"), field(BIG, 5000)]),
    # Rapid reset: HEADERS then RST, repeated.
    "rapid_reset": headers(5, 1, 0, 2, [field(KEY, b"k")]) + bytes([3, 5]) + struct.pack(">I", 8) +
                   bytes([11, 200]),
    # A PING flood.
    "ping_flood": bytes([5, 0]) + b"12345678" + bytes([11, 255]),
    # SETTINGS with odd values, then a request.
    "settings": bytes([4, 0, 3]) + struct.pack(">HI", 4, 0) + struct.pack(">HI", 5, 1 << 24) +
                struct.pack(">HI", 0x99, 7) + headers(6, 1, 0, 0, [field(KEY, b"k")]),
    # A raw, broken HPACK block.
    "raw_block": bytes([10, 7, 5]) + struct.pack(">H", 4) + b"\xff\xff\xff\xff",
}

for name, script in SEEDS.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(script)
