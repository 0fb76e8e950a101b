"""An app server that keeps the API key away from browsers (docs/browser-auth.md).

    REACTOR_API_KEY=rk_... python examples/app_server/app.py \\
        --api-url http://127.0.0.1:8080 --model probe --port 3000

* ``POST /api/reactor-token`` exchanges the key it holds for a short-lived JWT scoped to one
  model (``POST {api}/tokens``) and hands the browser ``{"jwt", "expires_at"}``: the key itself
  never leaves this process.
* ``GET /`` serves openreactor's playground in cloud mode: the page gets its JWTs from the route
  above and creates its own session on the API with them.

The page calls the API's bearer-token routes (``/sessions``, signalling, uploads) cross-origin,
which openreactor answers for any origin: no ``--cors-origin`` is needed.

Needs only starlette, uvicorn and httpx (openreactor's server extra has them).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

log = logging.getLogger("app_server")

TOKEN_ROUTE = "/api/reactor-token"
CONFIG_ELEMENT_ID = "openreactor-playground-config"
"""Read by the playground (js/playground/cloud.ts); its presence switches the page to cloud mode."""
UPSTREAM_TIMEOUT_S = 10.0


def default_playground_dir() -> Path | None:
    """The playground built into the installed openreactor package, found without importing it."""
    spec = importlib.util.find_spec("openreactor")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "playground"


@dataclass(frozen=True)
class AppConfig:
    api_url: str
    """Where this server reaches the openreactor API."""
    model: str
    """The only model the browser's tokens may create sessions for."""
    api_key: str | None = field(default=None, repr=False)
    public_api_url: str | None = None
    """Where browsers reach the API, if not at ``api_url`` (e.g. behind a proxy)."""
    expires_after_s: int = 600
    max_sessions: int | None = None
    """Per token; the page fetches a new token only when its token is about to expire."""
    max_session_duration_s: int | None = None
    playground_dir: Path | None = field(default_factory=default_playground_dir)

    @property
    def browser_api_url(self) -> str:
        return (self.public_api_url or self.api_url).rstrip("/")


def token_request_body(config: AppConfig) -> dict[str, Any]:
    """The ``POST /tokens`` body: short-lived, and scoped to the one model this app offers."""
    detail: dict[str, Any] = {"type": "session", "resources": {"models": {"match": [config.model]}}}
    constraints: dict[str, int] = {}
    if config.max_sessions is not None:
        constraints["max_sessions"] = config.max_sessions
    if config.max_session_duration_s is not None:
        constraints["max_session_duration_seconds"] = config.max_session_duration_s
    if constraints:
        detail["constraints"] = constraints
    return {"expires_after": config.expires_after_s, "authorization_details": [detail]}


def _failure(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _upstream_detail(response: httpx.Response, key: str) -> str:
    """The API's own explanation (its ``detail``), short, and never echoing the key."""
    try:
        body = response.json()
        text = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        text = None
    text = str(text) if text else (response.text.strip() or response.reason_phrase)
    return text[:300].replace(key, "[redacted]")


async def reactor_token(request: Request) -> Response:
    config: AppConfig = request.app.state.config
    client: httpx.AsyncClient = request.app.state.client
    key = config.api_key
    if not key:
        return _failure(500, "token exchange unavailable", "this app server has no API key (set REACTOR_API_KEY)")
    # A real app authenticates its own user here (session cookie, CSRF token) and rate-limits per
    # user: whoever can call this route can stream on the key's account until the token expires.
    try:
        upstream = await client.post(
            "/tokens", headers={"Reactor-API-Key": key}, json=token_request_body(config)
        )
    except httpx.HTTPError as exc:
        log.warning("POST %s/tokens failed: %s", config.api_url, type(exc).__name__)
        return _failure(502, "token exchange failed", f"the Reactor API is unreachable ({type(exc).__name__})")
    if upstream.status_code == 429:
        retry = upstream.headers.get("Retry-After")
        return _failure(
            429,
            "token exchange rate-limited",
            _upstream_detail(upstream, key),
            {"Retry-After": retry} if retry and retry.isdigit() else None,
        )
    if not upstream.is_success:
        # The browser did nothing wrong: this server's key (revoked, unknown) or the API failed.
        detail = _upstream_detail(upstream, key)
        log.warning("POST %s/tokens answered %s: %s", config.api_url, upstream.status_code, detail)
        return _failure(502, "token exchange failed", f"POST /tokens answered {upstream.status_code}: {detail}")
    try:
        body = upstream.json()
    except ValueError:
        body = None
    jwt = body.get("jwt") if isinstance(body, dict) else None
    expires_at = body.get("expires_at") if isinstance(body, dict) else None
    if not isinstance(jwt, str) or not jwt or not isinstance(expires_at, int | float):
        return _failure(502, "token exchange failed", "POST /tokens answered without jwt and expires_at")
    return JSONResponse({"jwt": jwt, "expires_at": int(expires_at)}, headers={"Cache-Control": "no-store"})


def _embed_json(value: object) -> str:
    """JSON that cannot end the ``<script>`` element it sits in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def index(request: Request) -> Response:
    config: AppConfig = request.app.state.config
    page = config.playground_dir / "index.html" if config.playground_dir else None
    if page is None or not page.is_file():
        return PlainTextResponse("the playground is not built (scripts/build_js.sh)", status_code=404)
    settings = {
        "mode": "cloud",
        "apiUrl": config.browser_api_url,
        "modelName": config.model,
        "tokenEndpoint": TOKEN_ROUTE,
    }
    element = f'<script type="application/json" id="{CONFIG_ELEMENT_ID}">{_embed_json(settings)}</script>'
    html = page.read_text(encoding="utf-8").replace("</head>", f"  {element}\n  </head>", 1)
    # The page may talk to this server and the API only: an injected script could not ship the
    # JWT elsewhere. (WebRTC media is outside connect-src.)
    csp = (
        f"default-src 'self'; connect-src 'self' {_origin(config.browser_api_url)}; "
        "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache", "Content-Security-Policy": csp})


def create_app(config: AppConfig, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The ASGI app; ``transport`` replaces the network in tests."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=config.api_url.rstrip("/"), timeout=UPSTREAM_TIMEOUT_S, transport=transport
        ) as client:
            app.state.config = config
            app.state.client = client
            yield

    routes: list[Route | Mount] = [
        Route("/", index, methods=["GET"]),
        Route(TOKEN_ROUTE, reactor_token, methods=["POST"]),
    ]
    if config.playground_dir is not None:
        # The built page loads its assets from /playground/assets/.
        routes.append(Mount("/playground", app=StaticFiles(directory=config.playground_dir, check_dir=False)))
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", default=os.environ.get("REACTOR_API_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--public-api-url", default=None, help="the API's URL as browsers reach it (default --api-url)")
    parser.add_argument("--model", required=True, help="the model the browser's tokens are scoped to")
    parser.add_argument(
        "--api-key-file",
        type=Path,
        help="read the key from this file (default: $REACTOR_API_KEY); never pass a key as an argument, ps shows those",
    )
    parser.add_argument("--expires-after", type=int, default=600, help="token lifetime in seconds (default 600)")
    parser.add_argument("--max-sessions", type=int, default=None, help="sessions one token may create")
    parser.add_argument("--max-session-duration", type=int, default=None, help="seconds; the API ends longer sessions")
    parser.add_argument("--playground-dir", type=Path, default=None, help="a built playground (default: openreactor's own)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    key = args.api_key_file.read_text().strip() if args.api_key_file else os.environ.get("REACTOR_API_KEY", "")
    if not key:
        parser.error("no API key: set REACTOR_API_KEY or pass --api-key-file")
    if not 30 <= args.expires_after <= 6 * 3600:
        parser.error("--expires-after must be between 30 and 21600 seconds")
    config = AppConfig(
        api_url=args.api_url,
        model=args.model,
        api_key=key,
        public_api_url=args.public_api_url,
        expires_after_s=args.expires_after,
        max_sessions=args.max_sessions,
        max_session_duration_s=args.max_session_duration,
        playground_dir=args.playground_dir or default_playground_dir(),
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    print(
        f"app server on http://{args.host}:{args.port} (API {config.api_url}, model {config.model})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
