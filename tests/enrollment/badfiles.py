"""Broken image files for enrollment tests (written into a folder as NUMBER.jpg)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height, with valid CRCs and almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))


def bad_files(faces_dir: Path) -> dict[str, bytes]:
    """name -> bytes: corrupt, empty, PDF named .jpg, 30000×30000 PNG, truncated JPEG."""
    jpeg = (faces_dir / "fixtures" / "single" / "obama.jpg").read_bytes()
    return {
        "corrupt": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        "empty": b"",
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF\n",
        "huge_png": png_header(30000, 30000),
        "truncated": jpeg[: len(jpeg) // 3],
    }


EXPECTED_BAD = {
    "corrupt": "unreadable_image",
    "empty": "unreadable_image",
    "pdf": "unreadable_image",
    "huge_png": "image_too_large",
    "truncated": "unreadable_image",
}
