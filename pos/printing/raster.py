"""``GS v 0`` raster images: packing a 1-bit picture into the bytes printers take.

One dot is one bit, most significant bit leftmost, 1 = black; each row is a
whole number of bytes. The image is sent exactly as wide as its content (no
padding to the paper width); the caller positions it with ``ESC a``.
"""

from __future__ import annotations

from PIL import Image

GS_V0 = b"\x1dv0"
MAX_ROWS = 2303  # yH <= 8 in GS v 0


def gs_v0(data: bytes, *, width_bytes: int, height: int, mode: int = 0) -> bytes:
    """The command for ``height`` rows of ``width_bytes`` bytes; mode 0 normal, 1/2/3 double W/H/both."""
    if len(data) != width_bytes * height:
        raise ValueError(f"raster data is {len(data)} bytes, expected {width_bytes} x {height}")
    if not 0 <= mode <= 3:
        raise ValueError("GS v 0 mode must be 0..3")
    if not (0 < width_bytes < 256 * 256 and 0 < height <= MAX_ROWS):
        raise ValueError(f"raster image {width_bytes * 8}x{height} dots is out of range")
    header = GS_V0 + bytes([mode, width_bytes & 0xFF, width_bytes >> 8, height & 0xFF, height >> 8])
    return header + data


def image_bytes(image: Image.Image, *, mode: int = 0) -> bytes:
    """A Pillow image (any mode; dark pixels print) as ``GS v 0`` commands, split into bands if very tall."""
    bw = image.convert("L").point(lambda v: 255 if v < 128 else 0, mode="1")  # 1 = dark = printed
    width_bytes = (bw.width + 7) // 8
    padded = Image.new("1", (width_bytes * 8, bw.height), 0)
    padded.paste(bw, (0, 0))
    out = bytearray()
    for top in range(0, padded.height, MAX_ROWS):
        band = padded.crop((0, top, padded.width, min(padded.height, top + MAX_ROWS)))
        out += gs_v0(band.tobytes(), width_bytes=width_bytes, height=band.height, mode=mode)
    return bytes(out)
