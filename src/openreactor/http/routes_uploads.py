"""Uploads (PROTOCOL.md §7): a slot per file on the session, then one raw ``PUT`` of its bytes.

``POST /sessions/{sid}/uploads`` is a session route (version headers, bearer on cloud-owned
sessions). ``PUT /uploads/{id}`` is what the presigned URL points at: clients send it with no
``Authorization`` and no version headers, so the unguessable id is the only credential.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import live_host, registry_of
from openreactor.http.bodies import DEFAULT_MIME_TYPE, CreateUpload, read_body
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version


async def create_upload(request: Request) -> Response:
    check_api_version(request)
    host = await live_host(request)
    body = await read_body(request, CreateUpload)
    slot = await host.create_upload(body.name, body.size, body.mime_type or DEFAULT_MIME_TYPE)
    return JSONResponse(
        {
            "presigned_id": slot.upload_id,
            "presigned_url": str(request.url_for("upload_bytes", upload_id=slot.upload_id)),
            "path": f"sessions/{host.session_id}/uploads/{slot.upload_id}/{slot.path.name}",
        },
        status_code=201,
    )


async def upload_bytes(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    host = await registry_of(request).host_of_upload(upload_id)
    if host is None:
        raise ApiError(404, f"no upload {upload_id}")
    raw_length = request.headers.get("content-length")
    length: int | None = None
    if raw_length is not None:
        try:
            length = int(raw_length)
        except ValueError as exc:
            raise ApiError(400, f"malformed Content-Length {raw_length!r}") from exc
    slot = await host.receive_upload(upload_id, request.stream(), length)
    return JSONResponse({"upload_id": slot.upload_id, "size": slot.size})


routes = [
    Route("/sessions/{session_id}/uploads", create_upload, methods=["POST"]),
    Route("/uploads/{upload_id}", upload_bytes, methods=["PUT"], name="upload_bytes"),
]
