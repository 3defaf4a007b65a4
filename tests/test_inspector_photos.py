"""Photo validation and re-encoding: real type by content, size and pixel limits, decompression
bombs, truncated files, EXIF orientation, metadata stripped, GPS and time kept as evidence."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from dispatch.inspector import photos
from dispatch.inspector.photos import PhotoRejected, process_upload
from tests.inspector_support import gif, jpeg, png_header_bomb

CFG = dict(photos.DEFAULTS)


def _reason(data: bytes, **cfg: object) -> str:
    with pytest.raises(PhotoRejected) as info:
        process_upload(data, config={**CFG, **cfg})
    return info.value.fields["photos[0]"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"GIF89a not really", "wrong type"),
        (b"%PDF-1.7\n" + b"x" * 500, "wrong type"),
        (gif(), "wrong type"),
        (jpeg()[:200], "damaged"),
        (jpeg(400, 300)[:-600], "damaged"),
        (png_header_bomb(), "too many pixels"),  # beyond Pillow's own bomb guard
        (png_header_bomb(9_000, 8_000), "too many pixels"),  # beyond ours only
        (png_header_bomb(20_000, 40), "too many pixels"),  # one side too long
        (png_header_bomb(1, 1), "too small"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    assert _reason(data) == reason


def test_too_many_bytes_is_refused_before_decoding() -> None:
    assert _reason(jpeg(), PHOTO_MAX_BYTES=100) == "too large"


def test_exif_orientation_is_applied_and_metadata_stripped() -> None:
    # 64 × 48, red on the left; orientation 6 means "rotate 90° clockwise to view".
    photo = process_upload(jpeg(gps=(112.57, 26.89), orientation=6), config=CFG)
    assert (photo.width, photo.height) == (48, 64)
    for served in (photo.display, photo.thumb):
        image = Image.open(io.BytesIO(served))
        assert image.format == "JPEG"
        assert image.size == (48, 64)
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info and "icc_profile" not in image.info
        assert b"TestPhone" not in served and b"Secret Model" not in served
        top = image.convert("RGB").getpixel((24, 5))
        bottom = image.convert("RGB").getpixel((24, 58))
        assert top[0] > 150 and top[1] < 120  # the red half is on top once turned upright
        assert bottom == pytest.approx((255, 255, 255), abs=12)
    # The evidence comes from the original, which is kept as it was uploaded.
    assert photo.evidence.gps_lng == pytest.approx(112.57, abs=1e-5)
    assert photo.evidence.gps_lat == pytest.approx(26.89, abs=1e-5)
    assert photo.evidence.taken_at == datetime(2026, 11, 21, 2, 15, tzinfo=UTC)  # 10:15 Beijing
    assert b"TestPhone" in photo.original


def test_display_and_thumbnail_sizes() -> None:
    photo = process_upload(jpeg(4000, 3000), config=CFG)
    assert Image.open(io.BytesIO(photo.display)).size == (1600, 1200)
    assert Image.open(io.BytesIO(photo.thumb)).size == (320, 240)
    assert len(photo.thumb) < len(photo.display)


def test_png_with_transparency_is_flattened() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(out, "PNG")
    photo = process_upload(out.getvalue(), config=CFG)
    assert photo.original_format == "png"
    image = Image.open(io.BytesIO(photo.display)).convert("RGB")
    assert image.getpixel((5, 5)) == pytest.approx((255, 255, 255), abs=3)


def test_no_gps_and_zero_gps_are_no_evidence() -> None:
    assert process_upload(jpeg(), config=CFG).evidence.gps_lng is None
    assert process_upload(jpeg(gps=(0.0, 0.0)), config=CFG).evidence.gps_lat is None
