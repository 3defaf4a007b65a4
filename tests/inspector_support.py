"""Test photos made with Pillow: real JPEG/PNG bytes with chosen EXIF (orientation, GPS, time),
and the bad files an upload must refuse."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60, 4)
    return (float(d), float(m), s)


def jpeg(
    width: int = 64,
    height: int = 48,
    *,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    taken: str | None = "2026:11:21 10:15:00",
    color: tuple[int, int, int] = (200, 60, 40),
) -> bytes:
    """A JPEG whose left half is ``color`` and right half white, with the EXIF asked for."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    image.paste(Image.new("RGB", (width // 2, height), color), (0, 0))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.Base.Model] = "Secret Model 9"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
    if gps:
        lng, lat = gps
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(
            {
                ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
                ExifTags.GPS.GPSLatitude: _dms(lat),
                ExifTags.GPS.GPSLongitudeRef: "E" if lng >= 0 else "W",
                ExifTags.GPS.GPSLongitude: _dms(lng),
            }
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def png_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims a huge image (its pixels would need gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gif() -> bytes:
    """A real image, in a format we do not take."""
    out = io.BytesIO()
    Image.new("RGB", (48, 48), (1, 2, 3)).save(out, "GIF")
    return out.getvalue()
