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
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version, json_object
from openreactor.session_host import SessionClosedError
from openreactor.sessions.uploads import (
    UnknownUploadError,
    UploadConflictError,
    UploadError,
    UploadSizeError,
    UploadStorageError,
    UploadTooLargeError,
)

DEFAULT_MIME_TYPE = "application/octet-stream"
MAX_NAME_BYTES = 1024


def _status_of(exc: UploadError) -> int:
    if isinstance(exc, UnknownUploadError):
        return 404
    if isinstance(exc, UploadConflictError):
        return 409
    if isinstance(exc, UploadTooLargeError):
        return 413
    if isinstance(exc, UploadStorageError):
        # 507, not 413: the file is not too large, the server is out of room. Clients read 5xx as
        # retryable (reactor-sdk: SERVER_ERROR); 413 would tell them never to send this file again.
        return 507
    if isinstance(exc, UploadSizeError):
        return 400
    return 400


async def create_upload(request: Request) -> Response:
    check_api_version(request)
    host = await live_host(request)
    body = await json_object(request, allow_empty=False)
    name, size, mime_type = body.get("name"), body.get("size"), body.get("mime_type", DEFAULT_MIME_TYPE)
    if not isinstance(name, str) or not name or len(name.encode()) > MAX_NAME_BYTES:
        raise ApiError(400, f"'name' must be a non-empty string of at most {MAX_NAME_BYTES} bytes")
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ApiError(400, "'size' must be a non-negative integer (bytes)")
    if not isinstance(mime_type, str):
        raise ApiError(400, "'mime_type' must be a string")
    try:
        slot = await host.create_upload(name, size, mime_type or DEFAULT_MIME_TYPE)
    except UploadError as exc:
        raise ApiError(_status_of(exc), exc.message) from exc
    except SessionClosedError as exc:
        raise ApiError(404, str(exc)) from exc
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
    try:
        slot = await host.receive_upload(upload_id, request.stream(), length)
    except UploadError as exc:
        raise ApiError(_status_of(exc), exc.message) from exc
    return JSONResponse({"upload_id": slot.upload_id, "size": slot.size})


routes = [
    Route("/sessions/{session_id}/uploads", create_upload, methods=["POST"]),
    Route("/uploads/{upload_id}", upload_bytes, methods=["PUT"], name="upload_bytes"),
]
