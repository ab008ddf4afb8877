"""The page at `/` as plain HTTP sees it: served by the service, its assets shipped, nothing from elsewhere."""

from __future__ import annotations

import re

import httpx

from service.routes.page import STATIC_DIR
from tests.support.server import LiveServer


def test_root_serves_the_page_and_its_assets(curve_server: LiveServer) -> None:
    page = httpx.get(f"{curve_server.url}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/page.css", "/static/page.js"]
    for asset in assets:
        response = httpx.get(f"{curve_server.url}{asset}", timeout=30)
        assert response.status_code == 200 and response.content == (STATIC_DIR / asset.rsplit("/", 1)[1]).read_bytes()
    assert httpx.get(f"{curve_server.url}/static/nothing.js", timeout=30).status_code == 404


def test_the_page_loads_nothing_from_another_host() -> None:
    for path in STATIC_DIR.iterdir():
        # the one absolute URL is SVG's namespace name, which is never fetched
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")
        assert re.findall(r"(?:https?:)?//[\w.-]+\.\w+", text) == [], path.name
