"""The browser playground at ``/``: a page built on the JS SDK (``js/playground``), shipped prebuilt.

``scripts/build_js.sh`` rebuilds the assets into ``openreactor/playground``; the page talks to
this same server in local mode (same origin, so no CORS is needed).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

PLAYGROUND_DIR = Path(__file__).resolve().parent.parent / "playground"


async def index(request: Request) -> Response:
    page = PLAYGROUND_DIR / "index.html"
    if not page.is_file():
        return PlainTextResponse("the playground is not built (run scripts/build_js.sh)", status_code=404)
    return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})


routes = [
    Route("/", index, methods=["GET"]),
    Mount("/playground", app=StaticFiles(directory=PLAYGROUND_DIR, check_dir=False), name="playground"),
]
