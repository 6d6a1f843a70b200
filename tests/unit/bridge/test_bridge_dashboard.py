"""The dashboard's routes (bridge/pages.py): the page and its static files come from
the package, with no CDN, and the vendored chart library is the file its README
names. The page's behaviour is tested in a real Chromium against a real bridge
(tests/e2e/test_dashboard_browser.py); there is no fake DOM here."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from fastapi.testclient import TestClient

from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource
from tickcast.config import Settings

VENDOR = "static/vendor/lightweight-charts.standalone.production.js"


def _client() -> TestClient:
    return TestClient(create_app(Settings.from_env({}), source=MemorySource()))


def test_the_page_and_the_chart_library_are_served_from_the_bridge() -> None:
    client = _client()
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    lib = client.get("/" + VENDOR)
    assert lib.status_code == 200
    assert "javascript" in lib.headers["content-type"]
    assert "LightweightCharts" in lib.text
    assert (
        client.get("/static/vendor/LICENSE-lightweight-charts")
        .text.lstrip()
        .startswith("Apache License")
    )
    assert client.get("/static/../app.py").status_code == 404


def test_every_script_and_stylesheet_of_the_page_is_local() -> None:
    html = resources.files("tickcast.bridge").joinpath("dashboard.html").read_text()
    sources = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"([^\"]+)\"", html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    client = _client()
    for src in sources:
        assert client.get(src).status_code == 200, src


def test_the_vendored_file_is_the_one_its_readme_records() -> None:
    vendor = resources.files("tickcast.bridge").joinpath("static/vendor")
    readme = vendor.joinpath("README.md").read_text()
    digest = hashlib.sha256(
        vendor.joinpath("lightweight-charts.standalone.production.js").read_bytes()
    ).hexdigest()
    assert f"`{digest}`" in readme
    assert "| 4.2.3 |" in readme


def test_the_token_never_goes_into_a_url_the_page_builds() -> None:
    html = resources.files("tickcast.bridge").joinpath("dashboard.html").read_text()
    script = html[html.rindex("<script>") :]
    # the WebSocket URL is host + /ws only; the token is the first message and a header
    assert re.search(r'const wsUrl = [^;]*"/ws";', script)
    assert '{ type: "auth", token }' in script
    assert 'Authorization: "Bearer " + token' in script
    assert "?token=" not in script
