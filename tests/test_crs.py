"""Tests for grids.crs: WGS-84 / CGCS2000 / GCJ-02 / BD-09 conversions, scalar and vectorised."""

from __future__ import annotations

import math

import numpy as np
import prcoords
import pytest

from grids.crs import (
    CRS,
    distance_m,
    from_wgs84,
    from_wgs84_many,
    out_of_china,
    to_wgs84,
    to_wgs84_many,
)

HENGYANG = (112.57, 26.89)
PARIS = (2.35, 48.85)
OFFSET_CRSES = [CRS.GCJ02, CRS.BD09]


def _random_points(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Seeded WGS-84 points across (most of) China, plus Hengyang as the last one."""
    rng = np.random.default_rng(20240611)
    lngs = np.append(rng.uniform(100.0, 122.0, n), HENGYANG[0])
    lats = np.append(rng.uniform(20.0, 42.0, n), HENGYANG[1])
    return lngs, lats


LNGS, LATS = _random_points()
POINTS = list(zip(LNGS.tolist(), LATS.tolist(), strict=True))


def _max_distance(lngs1, lats1, lngs2, lats2) -> float:
    return max(
        distance_m(a, b, c, d) for a, b, c, d in zip(lngs1, lats1, lngs2, lats2, strict=True)
    )


# --- CRS.parse ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("wgs84", CRS.WGS84),
        ("WGS-84", CRS.WGS84),
        ("wgs_84", CRS.WGS84),
        ("EPSG:4326", CRS.WGS84),
        ("4326", CRS.WGS84),
        (" gps ", CRS.WGS84),
        ("cgcs2000", CRS.CGCS2000),
        ("CGCS2000", CRS.CGCS2000),
        ("epsg:4490", CRS.CGCS2000),
        ("4490", CRS.CGCS2000),
        ("gcj-02", CRS.GCJ02),
        ("GCJ02", CRS.GCJ02),
        ("amap", CRS.GCJ02),
        ("Gaode", CRS.GCJ02),
        ("tencent", CRS.GCJ02),
        ("mars", CRS.GCJ02),
        ("bd-09", CRS.BD09),
        ("BD09", CRS.BD09),
        ("baidu", CRS.BD09),
        ("bd09ll", CRS.BD09),
        (CRS.GCJ02, CRS.GCJ02),
    ],
)
def test_parse_aliases(raw: str, expected: CRS) -> None:
    assert CRS.parse(raw) is expected


@pytest.mark.parametrize(
    "raw", ["", "wgs", "utm", "epsg:3857", "3857", "gcj", "bd09mc", "google", "wgs8"]
)
def test_parse_rejects_unknown_names(raw: str) -> None:
    with pytest.raises(ValueError, match="unknown coordinate system") as info:
        CRS.parse(raw)
    message = str(info.value)
    for name in ("wgs84", "epsg:4490", "gcj-02", "gaode", "baidu", "bd09ll"):
        assert name in message


def test_crs_is_a_string_with_canonical_value() -> None:
    assert isinstance(CRS.BD09, str)
    assert CRS.BD09 == "bd09"
    assert CRS("gcj02") is CRS.GCJ02
    assert {c.value for c in CRS} == {"wgs84", "cgcs2000", "gcj02", "bd09"}


# --- helpers ------------------------------------------------------------------------------------


def test_distance_m() -> None:
    assert distance_m(*HENGYANG, *HENGYANG) == 0.0
    assert distance_m(112.0, 26.0, 112.0, 27.0) == pytest.approx(6371008.8 * math.pi / 180)
    # a degree of longitude shrinks with cos(latitude)
    assert distance_m(112.0, 60.0, 113.0, 60.0) == pytest.approx(
        6371008.8 * math.pi / 180 * 0.5, rel=1e-4
    )


def test_out_of_china_box() -> None:
    assert not out_of_china(*HENGYANG)
    assert not out_of_china(116.404, 39.915)  # Beijing
    assert not out_of_china(87.6, 43.8)  # Ürümqi
    assert out_of_china(*PARIS)
    assert out_of_china(151.2, -33.9)  # Sydney
    assert out_of_china(112.57, 0.5)
    assert out_of_china(112.57, 56.0)
    assert out_of_china(70.0, 30.0)
    assert out_of_china(140.0, 30.0)


# --- identity systems ---------------------------------------------------------------------------


@pytest.mark.parametrize("crs", [CRS.WGS84, CRS.CGCS2000])
def test_wgs84_and_cgcs2000_are_identity(crs: CRS) -> None:
    for func in (to_wgs84, from_wgs84):
        result = func(112, 26, crs)
        assert result == (112.0, 26.0)
        assert all(type(v) is float for v in result)
    for func in (to_wgs84_many, from_wgs84_many):
        lngs, lats = func(LNGS, LATS, crs)
        assert np.array_equal(lngs, LNGS)
        assert np.array_equal(lats, LATS)
        assert lngs is not LNGS


def test_string_crs_is_accepted() -> None:
    assert to_wgs84(*HENGYANG, "gaode") == to_wgs84(*HENGYANG, CRS.GCJ02)
    assert from_wgs84(*HENGYANG, "Baidu") == from_wgs84(*HENGYANG, CRS.BD09)
    with pytest.raises(ValueError, match="unknown coordinate system"):
        to_wgs84(*HENGYANG, "utm")
    with pytest.raises(ValueError, match="unknown coordinate system"):
        from_wgs84_many(LNGS, LATS, "nope")


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", OFFSET_CRSES)
def test_scalar_round_trip_within_a_centimetre(crs: CRS) -> None:
    worst = 0.0
    for lng, lat in POINTS:
        back = to_wgs84(*from_wgs84(lng, lat, crs), crs)
        worst = max(worst, distance_m(lng, lat, *back))
    assert worst < 0.01
    # in fact the iteration converges to ~1e-10 degrees (about 0.01 mm)
    assert worst < 1e-4


@pytest.mark.parametrize("crs", OFFSET_CRSES)
def test_vectorised_round_trip_within_a_centimetre(crs: CRS) -> None:
    back_lngs, back_lats = to_wgs84_many(*from_wgs84_many(LNGS, LATS, crs), crs)
    assert _max_distance(LNGS, LATS, back_lngs, back_lats) < 0.01


@pytest.mark.parametrize("crs", OFFSET_CRSES)
def test_inverse_then_forward_reproduces_the_input(crs: CRS) -> None:
    # Treat the random points as GCJ-02 / BD-09 input, as from a map click.
    worst = 0.0
    for lng, lat in POINTS:
        again = from_wgs84(*to_wgs84(lng, lat, crs), crs)
        worst = max(worst, distance_m(lng, lat, *again))
    assert worst < 0.01


@pytest.mark.parametrize("lng", [105.0, 104.9999999, 105.0000001])
def test_round_trip_across_the_sqrt_kink_at_105e(lng: float) -> None:
    # transform_lat/lon use sqrt(|lng - 105|): not differentiable there, the iteration must cope
    for crs in OFFSET_CRSES:
        back = to_wgs84(*from_wgs84(lng, 30.0, crs), crs)
        assert distance_m(lng, 30.0, *back) < 0.01


# --- vectorised == scalar -----------------------------------------------------------------------


@pytest.mark.parametrize("crs", OFFSET_CRSES)
def test_vectorised_matches_scalar(crs: CRS) -> None:
    fwd_lngs, fwd_lats = from_wgs84_many(LNGS, LATS, crs)
    inv_lngs, inv_lats = to_wgs84_many(LNGS, LATS, crs)
    for i, (lng, lat) in enumerate(POINTS):
        f_lng, f_lat = from_wgs84(lng, lat, crs)
        i_lng, i_lat = to_wgs84(lng, lat, crs)
        assert abs(fwd_lngs[i] - f_lng) < 1e-9 and abs(fwd_lats[i] - f_lat) < 1e-9
        assert abs(inv_lngs[i] - i_lng) < 1e-9 and abs(inv_lats[i] - i_lat) < 1e-9


def test_vectorised_shapes_broadcasting_and_no_mutation() -> None:
    lngs = LNGS[:12].reshape(3, 4).copy()
    lats = LATS[:12].reshape(3, 4).copy()
    before = (lngs.copy(), lats.copy())
    out_lngs, out_lats = to_wgs84_many(lngs, lats, CRS.BD09)
    assert out_lngs.shape == out_lats.shape == (3, 4)
    assert out_lngs.dtype == np.float64
    assert np.array_equal(lngs, before[0]) and np.array_equal(lats, before[1])
    # a scalar latitude broadcasts against an array of longitudes; lists are accepted
    b_lngs, b_lats = from_wgs84_many([112.5, 112.6], 26.89, CRS.GCJ02)
    assert b_lngs.shape == b_lats.shape == (2,)
    assert (b_lngs[1], b_lats[1]) == pytest.approx(from_wgs84(112.6, 26.89, CRS.GCJ02), abs=1e-12)


def test_vectorised_nan_stays_nan_and_does_not_stall_others() -> None:
    lngs = np.array([112.57, np.nan, 116.404])
    lats = np.array([26.89, 30.0, np.nan])
    for crs in OFFSET_CRSES:
        out_lngs, out_lats = to_wgs84_many(lngs, lats, crs)
        assert np.isnan(out_lngs[1]) or np.isnan(out_lats[1])
        assert np.isnan(out_lngs[2]) or np.isnan(out_lats[2])
        assert (out_lngs[0], out_lats[0]) == pytest.approx(to_wgs84(*HENGYANG, crs), abs=1e-9)


def test_vectorised_mixed_inside_and_outside_china() -> None:
    lngs = np.array([HENGYANG[0], PARIS[0]])
    lats = np.array([HENGYANG[1], PARIS[1]])
    g_lngs, g_lats = from_wgs84_many(lngs, lats, CRS.GCJ02)
    assert (g_lngs[1], g_lats[1]) == PARIS
    assert (g_lngs[0], g_lats[0]) == pytest.approx(from_wgs84(*HENGYANG, CRS.GCJ02), abs=1e-12)
    w_lngs, w_lats = to_wgs84_many(lngs, lats, CRS.GCJ02)
    assert (w_lngs[1], w_lats[1]) == PARIS
    assert (w_lngs[0], w_lats[0]) == pytest.approx(to_wgs84(*HENGYANG, CRS.GCJ02), abs=1e-9)


# --- independent oracle: prcoords (Coords are (lat, lon)!) --------------------------------------


def test_forward_agrees_with_prcoords() -> None:
    worst_gcj = worst_bd = worst_gcj_bd = 0.0
    for lng, lat in POINTS:
        ref = prcoords.wgs_gcj((lat, lng))
        worst_gcj = max(worst_gcj, distance_m(*from_wgs84(lng, lat, CRS.GCJ02), ref.lon, ref.lat))
        ref = prcoords.wgs_bd((lat, lng))
        worst_bd = max(worst_bd, distance_m(*from_wgs84(lng, lat, CRS.BD09), ref.lon, ref.lat))
        # GCJ-02 -> BD-09 alone: take our exact GCJ inverse, then go forward to BD-09
        ref = prcoords.gcj_bd((lat, lng))
        ours = from_wgs84(*to_wgs84(lng, lat, CRS.GCJ02), CRS.BD09)
        worst_gcj_bd = max(worst_gcj_bd, distance_m(*ours, ref.lon, ref.lat))
    assert worst_gcj < 0.05
    assert worst_bd < 0.05
    assert worst_gcj_bd < 0.05


def test_inverse_agrees_with_prcoords_precise_inverse() -> None:
    worst_gcj = worst_bd = 0.0
    for lng, lat in POINTS:
        # treat each point as GCJ-02 / BD-09 input
        ref = prcoords.gcj_wgs_bored((lat, lng))
        worst_gcj = max(worst_gcj, distance_m(*to_wgs84(lng, lat, CRS.GCJ02), ref.lon, ref.lat))
        ref = prcoords.bd_wgs_bored((lat, lng))
        worst_bd = max(worst_bd, distance_m(*to_wgs84(lng, lat, CRS.BD09), ref.lon, ref.lat))
    assert worst_gcj < 0.1
    assert worst_bd < 0.1


def test_our_inverse_beats_the_one_step_inverse() -> None:
    # prcoords.gcj_wgs is the classic one-step inverse; its error must be visibly larger than ours
    worst_ours = worst_simple = 0.0
    for lng, lat in POINTS:
        ours = to_wgs84(lng, lat, CRS.GCJ02)
        simple = prcoords.gcj_wgs((lat, lng))
        worst_ours = max(worst_ours, distance_m(lng, lat, *from_wgs84(*ours, CRS.GCJ02)))
        again = from_wgs84(simple.lon, simple.lat, CRS.GCJ02)
        worst_simple = max(worst_simple, distance_m(lng, lat, *again))
    assert worst_simple > 0.1  # the one-step inverse is off by up to about a metre
    assert worst_ours < 1e-4


# --- magnitudes at Hengyang and behaviour outside China -----------------------------------------


def test_offset_magnitudes_at_hengyang() -> None:
    assert 550 < distance_m(*HENGYANG, *from_wgs84(*HENGYANG, CRS.GCJ02)) < 750
    assert 1000 < distance_m(*HENGYANG, *from_wgs84(*HENGYANG, CRS.BD09)) < 1400


def test_outside_china_gcj02_is_wgs84() -> None:
    assert from_wgs84(*PARIS, CRS.GCJ02) == PARIS
    assert to_wgs84(*PARIS, CRS.GCJ02) == PARIS
    with pytest.warns(UserWarning, match="Non-Chinese"):
        ref = prcoords.wgs_gcj((PARIS[1], PARIS[0]))
    assert (ref.lon, ref.lat) == PARIS


def test_outside_china_bd09_still_applies_the_baidu_offset() -> None:
    # BD-09 is defined on top of GCJ-02, which is WGS-84 here; Baidu's own ~1 km shift remains.
    # prcoords.wgs_bd does the same (it warns about the GCJ step, then applies gcj_bd).
    bd = from_wgs84(*PARIS, CRS.BD09)
    assert 500 < distance_m(*PARIS, *bd) < 2000
    with pytest.warns(UserWarning, match="Non-Chinese"):
        ref = prcoords.wgs_bd((PARIS[1], PARIS[0]))
    assert distance_m(*bd, ref.lon, ref.lat) < 0.05
    assert distance_m(*PARIS, *to_wgs84(*bd, CRS.BD09)) < 0.01
    b_lngs, b_lats = from_wgs84_many([PARIS[0]], [PARIS[1]], CRS.BD09)
    assert (b_lngs[0], b_lats[0]) == pytest.approx(bd, abs=1e-12)


# --- published values ---------------------------------------------------------------------------
# wandergis/coordtransform, test/app.js: results printed for the input (116.404, 39.915).
# They pin the forward formulas to the widely used reference implementation.  Its inverses are
# the classic one-step approximations, so ours (iterated) are only required to lie close by.


def test_published_wgs84_to_gcj02_pair() -> None:
    assert from_wgs84(116.404, 39.915, CRS.GCJ02) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )


def test_published_gcj02_to_bd09_pair() -> None:
    wgs = to_wgs84(116.404, 39.915, CRS.GCJ02)
    assert from_wgs84(*wgs, CRS.BD09) == pytest.approx(
        (116.41036949371029, 39.92133699351021), abs=1e-9
    )


def test_published_one_step_inverses_are_close_to_ours() -> None:
    # gcj02towgs84(116.404, 39.915) -> [116.39775550083061, 39.91359571849836] (one-step)
    ours = to_wgs84(116.404, 39.915, CRS.GCJ02)
    assert 0.0 < distance_m(*ours, 116.39775550083061, 39.91359571849836) < 1.0
    # bd09togcj02(116.404, 39.915) -> [116.39762729119315, 39.90865673957631] (one-step)
    gcj = from_wgs84(*to_wgs84(116.404, 39.915, CRS.BD09), CRS.GCJ02)
    assert distance_m(*gcj, 116.39762729119315, 39.90865673957631) < 1.0
