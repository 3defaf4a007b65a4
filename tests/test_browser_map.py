"""The grid map in a real headless Chromium: grids drawn, click to locate, type coordinates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shapely
from flask import Flask

from grids.crs import CRS, from_wgs84
from tests.browser import live_server, log_in_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def base_url(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def map_user(app: Flask) -> Iterator[str]:
    """A committed user to log in with through the real login page."""
    from sqlalchemy import select

    from core.db import database
    from dispatch.models import User
    from tests.factories import make_user

    with database(app).new_session() as sess:
        make_user(sess, "map-browser", "operator")
        sess.commit()
    yield "map-browser"
    with database(app).new_session() as sess:
        sess.delete(sess.scalar(select(User).where(User.username == "map-browser")))
        sess.commit()


def test_map_draws_grids_and_locates_a_click(
    browser, base_url: str, map_user: str, demo_city
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_page(page, base_url, map_user, "/grids/map")
    page.wait_for_selector("#map[data-loaded='140']", timeout=15_000)
    assert page.locator("path.leaflet-interactive").count() >= 140
    assert page.inner_text("h1") == "网格地图"

    # Click the centre of a community grid on screen: the panel shows that grid and its officer.
    target = next(f for f in demo_city.features if f.code == demo_city.enclave_code)
    pt = target.geometry.representative_point()
    xy = page.evaluate(
        "([lat, lng]) => { const m = window.__gridMap;"
        " const p = m.latLngToContainerPoint([lat, lng]);"
        " const r = m.getContainer().getBoundingClientRect();"
        " return [p.x + r.left, p.y + r.top]; }",
        [pt.y, pt.x],
    )
    page.mouse.click(*xy)
    page.wait_for_selector("#locate-code")
    assert page.inner_text("#locate-code") == demo_city.enclave_code
    assert page.get_attribute("#locate-result", "data-status") == "inside"
    page.wait_for_selector("#grid-info-code")
    assert page.inner_text("#grid-info-code") == demo_city.enclave_code
    assert "责任人" in page.inner_text("#grid-info")
    assert not errors


def test_typed_gcj02_coordinates_and_english(
    browser, base_url: str, map_user: str, demo_city
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log_in_page(page, base_url, map_user, "/grids/map?lang=en")
    page.wait_for_selector("#map[data-loaded='140']", timeout=15_000)
    community = next(f for f in demo_city.features if int(f.level) == 4)
    pt = max(shapely.get_parts(community.geometry), key=lambda g: g.area).representative_point()
    lng, lat = from_wgs84(pt.x, pt.y, CRS.GCJ02)
    page.fill("#locate-lng", f"{lng:.7f}")
    page.fill("#locate-lat", f"{lat:.7f}")
    page.select_option("#locate-crs", "gcj02")
    page.press("#locate-lat", "Enter")  # keyboard submit
    page.wait_for_selector("#locate-code")
    assert page.inner_text("#locate-code") == community.code
    assert "Inside grid" in page.inner_text("#locate-result")

    # A point in the river: no grid, said plainly.
    river_pt = demo_city.river.buffer(-60 / 100_000).representative_point()
    page.fill("#locate-lng", f"{river_pt.x:.7f}")
    page.fill("#locate-lat", f"{river_pt.y:.7f}")
    page.select_option("#locate-crs", "wgs84")
    page.click("#locate-submit")
    page.wait_for_selector("#locate-result[data-status='outside']")
    assert "manual placement" in page.inner_text("#locate-result")
