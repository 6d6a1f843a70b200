"""The dashboard's routes: the page at `/` and its static files at `/static/`.

Everything the page needs is in the package (tickcast/bridge/static/, the chart
library vendored with its licence, see static/vendor/README.md), so it works
offline from the bridge alone: no CDN, no build step. The page reads its token
from the URL fragment (`#token=`), which browsers never send, so these routes
take no credentials and serve no market data.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

PACKAGE = "tickcast.bridge"
PAGE = "dashboard.html"
STATIC = "static"
# The page is small and changes with each deploy: revalidate. The static files are
# named per version for the vendored library, so a short max-age is enough for ours.
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def page_html() -> str:
    return resources.files(PACKAGE).joinpath(PAGE).read_text(encoding="utf-8")


def install(app: FastAPI) -> None:
    """Add `/` and mount `/static` on the bridge's app."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page_html(), headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(packages=[(PACKAGE, STATIC)]), name="static")
