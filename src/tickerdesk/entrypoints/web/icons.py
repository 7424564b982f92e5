"""The app's icons, drawn here at start-up rather than committed as binaries: a rising
price line on a teal square, as PNGs of any size (the manifest names 192 and 512 px).

The square is filled to its edges, so the same picture serves as a `maskable` icon (the
line and the dot stay inside the central safe zone a launcher may crop to).
"""

from __future__ import annotations

import struct
import zlib
from functools import cache
from itertools import pairwise

BACKGROUND = (15, 76, 92)  # #0f4c5c, the header's colour
LINE = (255, 255, 255)
DOT = (255, 183, 3)  # #ffb703
# The price line in unit coordinates (0..1 from the top left), its width, and the dot at its end.
POINTS = [(0.24, 0.66), (0.41, 0.47), (0.55, 0.58), (0.74, 0.36)]
LINE_WIDTH = 0.075
DOT_RADIUS = 0.065


def _segment_distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return float(((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2) ** 0.5)


def _blend(under: tuple[int, int, int], over: tuple[int, int, int], alpha: float) -> tuple[int, int, int]:
    r, g, b = (round(u + (o - u) * alpha) for u, o in zip(under, over, strict=True))
    return r, g, b


def _pixels(size: int) -> list[bytearray]:
    rows = [bytearray(bytes(BACKGROUND) + b"\xff") * size for _ in range(size)]
    segments = list(pairwise(POINTS))
    half, pixel = LINE_WIDTH / 2, 1 / size
    xs = [x for x, _ in POINTS]
    ys = [y for _, y in POINTS]
    margin = max(half, DOT_RADIUS) + pixel
    left, right = int((min(xs) - margin) * size), int((max(xs) + margin) * size) + 1
    top, bottom = int((min(ys) - margin) * size), int((max(ys) + margin) * size) + 1
    end = POINTS[-1]
    for y in range(max(0, top), min(size, bottom)):
        row = rows[y]
        py = (y + 0.5) * pixel
        for x in range(max(0, left), min(size, right)):
            px = (x + 0.5) * pixel
            colour = BACKGROUND
            # coverage of a pixel by a shape whose edge is `d` away (in pixels), anti-aliased over one pixel
            distance = min(_segment_distance(px, py, a, b) for a, b in segments)
            line = max(0.0, min(1.0, (half - distance) * size + 0.5))
            if line:
                colour = _blend(colour, LINE, line)
            dot_distance = ((px - end[0]) ** 2 + (py - end[1]) ** 2) ** 0.5
            dot = max(0.0, min(1.0, (DOT_RADIUS - dot_distance) * size + 0.5))
            if dot:
                colour = _blend(colour, DOT, dot)
            row[4 * x:4 * x + 3] = bytes(colour)
    return rows


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@cache
def icon_png(size: int) -> bytes:
    """The icon as an RGBA PNG of `size` x `size` pixels."""
    raw = b"".join(b"\x00" + bytes(row) for row in _pixels(size))  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
