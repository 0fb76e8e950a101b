"""WebRTC signalling over HTTP (PROTOCOL.md §3): per-connection routes and the legacy flat ones."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import live_host
from openreactor.http.bodies import Candidates, NewConnection, Offer, read_body
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version, check_webrtc_version
from openreactor.ice import client_ice_servers
from openreactor.session_host import LEGACY_CONNECTION_ID, SessionHost

BASE = "/sessions/{session_id}/transport/webrtc"


async def _host(request: Request) -> SessionHost:
    check_api_version(request)
    check_webrtc_version(request)
    return await live_host(request)


def _cid(request: Request) -> int:
    raw = request.path_params["connection_id"]
    try:
        cid = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"connection id {raw!r} is not an integer") from exc
    if not 0 <= cid < 2**32:
        raise ApiError(400, "connection id must be an unsigned 32-bit integer")
    return cid


async def ice_servers(request: Request) -> Response:
    host = await _host(request)
    # Fresh TURN credentials per request, labelled with the session for the TURN server's log.
    servers: list[dict[str, Any]] = client_ice_servers(request.app.state.settings, host.session_id)
    return JSONResponse({"ice_servers": servers})


async def create_connection(request: Request) -> Response:
    host = await _host(request)
    await read_body(request, NewConnection)
    cid, track_map = await host.create_connection()
    return JSONResponse({"connection_id": cid, "track_map": track_map}, status_code=201)


async def offer(request: Request) -> Response:
    host = await _host(request)
    cid = _cid(request)
    body = await read_body(request, Offer)
    # The answer is built here, so the client's first poll finds it.
    await host.offer(cid, body.sdp_offer, body.mapping())
    return JSONResponse({"connection_id": cid}, status_code=202)


async def _answer_response(host: SessionHost, cid: int) -> Response:
    """202 while the answer is pending, else 200 with it (repeated until the next offer)."""
    answer = await host.answer(cid)
    if answer is None:
        return Response(status_code=202)
    return JSONResponse({"sdp_answer": answer, "connection_id": cid})


async def _candidates_response(request: Request, host: SessionHost, cid: int) -> Response:
    body = await read_body(request, Candidates)
    await host.add_candidates(cid, body.candidates)
    return Response(status_code=202)


async def get_answer(request: Request) -> Response:
    return await _answer_response(await _host(request), _cid(request))


async def ice_candidates(request: Request) -> Response:
    return await _candidates_response(request, await _host(request), _cid(request))


# -- legacy flat routes (js-sdk 2.9.0): one implicit v0 connection per session -------------------


async def legacy_offer(request: Request) -> Response:
    host = await _host(request)
    body = await read_body(request, Offer)
    await host.offer(LEGACY_CONNECTION_ID, body.sdp_offer, body.mapping(), create=True, wire="v0")
    return JSONResponse({"connection_id": LEGACY_CONNECTION_ID}, status_code=202)


async def legacy_answer(request: Request) -> Response:
    host = await _host(request)
    raw = request.query_params.get("connection_id")
    return await _answer_response(host, int(raw) if raw and raw.isdigit() else LEGACY_CONNECTION_ID)


async def legacy_candidates(request: Request) -> Response:
    return await _candidates_response(request, await _host(request), LEGACY_CONNECTION_ID)


routes = [
    Route(f"{BASE}/ice_servers", ice_servers, methods=["GET"]),
    Route(f"{BASE}/connections", create_connection, methods=["POST"]),
    Route(f"{BASE}/connections/{{connection_id}}/sdp_params", offer, methods=["POST", "PUT"]),
    Route(f"{BASE}/connections/{{connection_id}}/sdp_params", get_answer, methods=["GET"]),
    Route(f"{BASE}/connections/{{connection_id}}/ice_candidates", ice_candidates, methods=["POST"]),
    Route(f"{BASE}/sdp_params", legacy_offer, methods=["POST", "PUT"]),
    Route(f"{BASE}/sdp_params", legacy_answer, methods=["GET"]),
    Route(f"{BASE}/ice_candidates", legacy_candidates, methods=["POST"]),
]
