"""Photos from the inspector's phone: validated by content with Pillow, oriented by EXIF,
re-encoded without metadata as a display size and a thumbnail; the original's GPS position and
capture time are read out as evidence, and the original is kept untouched beside them.

Nothing here trusts the file name or the declared content type: the format is what Pillow finds
in the bytes. Dimensions are checked from the header before any pixel is decoded, so a small file
that would inflate to gigabytes (a decompression bomb) is refused without being decoded.
"""

from __future__ import annotations

import hashlib
import io
import math
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from core.i18n import SHANGHAI
from dispatch.errors import InvalidInput

#: Formats a phone camera or gallery gives and every browser shows.
ACCEPTED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
#: Sizes we serve: (folder suffix, longest side in pixels config key).
SIZES = {"display": "PHOTO_DISPLAY_PX", "thumb": "PHOTO_THUMB_PX"}

DEFAULTS: dict[str, Any] = {
    #: Where photos are stored; empty: ``<instance>/photos``.
    "PHOTO_DIR": "",
    #: Largest upload accepted per photo (bytes): a 50-megapixel phone JPEG is ~15 MB.
    "PHOTO_MAX_BYTES": 20 * 1024 * 1024,
    #: Largest image accepted (pixels, width × height): refused before decoding.
    "PHOTO_MAX_PIXELS": 60_000_000,
    #: Longest side of any accepted image (pixels); panoramas beyond this are refused.
    "PHOTO_MAX_SIDE": 16_000,
    #: Shortest side a photo must have to show anything (pixels).
    "PHOTO_MIN_SIDE": 32,
    #: Photos per submission (report or task).
    "PHOTO_MAX_COUNT": 6,
    "PHOTO_DISPLAY_PX": 1600,
    "PHOTO_THUMB_PX": 320,
    "PHOTO_JPEG_QUALITY": 82,
}


class PhotoRejected(InvalidInput):
    """An upload that is not an acceptable photo (the message says why, per file)."""


@dataclass
class Evidence:
    """What the original photo's metadata says about where and when it was taken."""

    taken_at: datetime | None = None
    gps_lng: float | None = None
    gps_lat: float | None = None


@dataclass
class ProcessedPhoto:
    """An accepted photo: the original bytes, the re-encoded sizes and the evidence."""

    uid: str
    original: bytes
    original_format: str
    sha256: str
    width: int
    height: int
    display: bytes
    thumb: bytes
    evidence: Evidence

    def descriptor(self, url_for_size: Any) -> dict[str, Any]:
        """The attachment entry stored on the case and its event (what pages render)."""
        return {
            "id": self.uid,
            "kind": "photo",
            "name": f"{self.uid[:8]}.jpg",
            "url": url_for_size(self.uid, "display"),
            "thumb": url_for_size(self.uid, "thumb"),
            "width": self.width,
            "height": self.height,
        }


def configure(app: Flask) -> None:
    """Photo settings: defaults unless the app's config (or environment) set them."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)


def photo_dir(app: Flask | None = None) -> Path:
    """The folder holding every photo file (created on first use)."""
    app = app or current_app
    raw = app.config.get("PHOTO_DIR") or str(Path(app.instance_path) / "photos")
    path = Path(raw)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _field(index: int) -> str:
    return f"photos[{index}]"


def process_upload(data: bytes, *, index: int = 0, config: Any = None) -> ProcessedPhoto:
    """Validate one upload and make its served sizes; raises ``PhotoRejected`` with a reason."""
    cfg = config if config is not None else current_app.config
    name = _field(index)
    if not data:
        raise PhotoRejected("the photo is empty", {name: "empty"})
    if len(data) > cfg["PHOTO_MAX_BYTES"]:
        raise PhotoRejected(
            f"the photo is too large ({len(data) // 1024 // 1024} MB; at most "
            f"{cfg['PHOTO_MAX_BYTES'] // 1024 // 1024} MB)",
            {name: "too large"},
        )
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns first: treat the warning as the refusal it is.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise PhotoRejected(
                "the photo has far too many pixels (a decompression bomb?)",
                {name: "too many pixels"},
            ) from None
        except UnidentifiedImageError:
            raise PhotoRejected(
                "not a photo: the content is not a JPEG, PNG or WebP image", {name: "wrong type"}
            ) from None
        except Exception:  # Pillow raises many kinds on malformed headers
            raise PhotoRejected("the photo is damaged", {name: "damaged"}) from None
        fmt = ACCEPTED_FORMATS.get(image.format or "")
        if fmt is None:
            raise PhotoRejected(
                f"{image.format} images are not accepted: send a JPEG, PNG or WebP photo",
                {name: "wrong type"},
            )
        width, height = image.size
        if min(width, height) < cfg["PHOTO_MIN_SIDE"]:
            raise PhotoRejected(
                f"the photo is too small to show anything ({width} × {height} pixels)",
                {name: "too small"},
            )
        if max(width, height) > cfg["PHOTO_MAX_SIDE"] or width * height > cfg["PHOTO_MAX_PIXELS"]:
            raise PhotoRejected(
                f"the photo is too large ({width} × {height} pixels; at most "
                f"{cfg['PHOTO_MAX_PIXELS'] // 1_000_000} megapixels)",
                {name: "too many pixels"},
            )
        if getattr(image, "n_frames", 1) > 1:
            raise PhotoRejected("animated images are not accepted", {name: "wrong type"})
        evidence = read_evidence(image)
        try:
            image.load()  # decode everything now: a truncated file fails here, not later
            oriented = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise PhotoRejected("the photo is too large", {name: "too many pixels"}) from None
        except Exception:  # truncated or corrupt data: every decoder fails its own way
            raise PhotoRejected(
                "the photo is damaged or incomplete (was the upload cut off?)", {name: "damaged"}
            ) from None
    rgb = _flatten(oriented)
    display = _encode(rgb, cfg["PHOTO_DISPLAY_PX"], cfg["PHOTO_JPEG_QUALITY"])
    thumb = _encode(rgb, cfg["PHOTO_THUMB_PX"], cfg["PHOTO_JPEG_QUALITY"])
    return ProcessedPhoto(
        uid=secrets.token_hex(16),
        original=data,
        original_format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        width=rgb.width,
        height=rgb.height,
        display=display,
        thumb=thumb,
        evidence=evidence,
    )


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB copy (transparency laid on white) that carries no metadata at all."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode != "RGB":
        return image.convert("RGB")
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    return clean


def _encode(image: Image.Image, longest: int, quality: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=, no icc_profile=: what we serve says nothing about the phone or the place.
    copy.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


# ---------------------------------------------------------------------------- evidence
def _ratio(value: Any) -> float:
    if isinstance(value, tuple) and len(value) == 2:  # (numerator, denominator)
        return float(value[0]) / float(value[1])
    return float(value)


def _degrees(dms: Any, ref: Any) -> float | None:
    try:
        d, m, s = (_ratio(v) for v in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if str(ref).strip().upper() in ("S", "W"):
        value = -value
    return value if math.isfinite(value) else None


def _taken_at(exif_ifd: dict[int, Any]) -> datetime | None:
    raw = exif_ifd.get(ExifTags.Base.DateTimeOriginal)
    if not raw:
        return None
    try:
        local = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = str(exif_ifd.get(ExifTags.Base.OffsetTimeOriginal) or "").strip("\x00 ")
    tz: Any = SHANGHAI  # phones here write local time without an offset
    if len(offset) == 6 and offset[0] in "+-" and offset[3] == ":":
        try:
            minutes = int(offset[1:3]) * 60 + int(offset[4:6])
            tz = timezone(timedelta(minutes=minutes if offset[0] == "+" else -minutes))
        except ValueError:
            pass
    return local.replace(tzinfo=tz).astimezone(UTC)


def read_evidence(image: Image.Image) -> Evidence:
    """The capture time and GPS position in the image's EXIF, where present and sane."""
    try:
        exif = image.getexif()
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # broken EXIF is common; the photo itself may be fine
        return Evidence()
    evidence = Evidence(taken_at=_taken_at(exif_ifd))
    if gps:
        lat = _degrees(
            gps.get(ExifTags.GPS.GPSLatitude, ()), gps.get(ExifTags.GPS.GPSLatitudeRef, "N")
        )
        lng = _degrees(
            gps.get(ExifTags.GPS.GPSLongitude, ()), gps.get(ExifTags.GPS.GPSLongitudeRef, "E")
        )
        # 0,0 is what some phones write when they had no fix.
        sane = lat is not None and lng is not None and -90 <= lat <= 90 and -180 <= lng <= 180
        if sane and not (lat == 0 and lng == 0):
            evidence.gps_lat, evidence.gps_lng = round(lat, 7), round(lng, 7)
    return evidence


# ---------------------------------------------------------------------------- files
def file_path(uid: str, size: str, app: Flask | None = None) -> Path:
    """Where one size (``original``, ``display``, ``thumb``) of a photo lives."""
    if not (len(uid) == 32 and all(c in "0123456789abcdef" for c in uid)):
        raise ValueError("not a photo id")
    suffix = {"original": ".orig", "display": ".jpg", "thumb": ".thumb.jpg"}[size]
    return photo_dir(app) / uid[:2] / f"{uid}{suffix}"


def write_files(photo: ProcessedPhoto) -> list[Path]:
    """Store the three files of a photo; returns their paths (to remove if the commit fails)."""
    written = []
    for size, content in (
        ("original", photo.original),
        ("display", photo.display),
        ("thumb", photo.thumb),
    ):
        path = file_path(photo.uid, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(content)
        tmp.replace(path)  # atomic: a reader never sees half a file
        written.append(path)
    return written


def remove_files(paths: list[Path]) -> None:
    """Remove files written for a submission that did not happen."""
    for path in paths:
        path.unlink(missing_ok=True)
