"""Request bodies (``http.bodies``): one schema validates and is published; refusals name the field.

And the worker RPC table (``workers.rpc``): every entry is a ``SessionHost`` call, every error the
session host raises travels by name.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from openreactor.http.bodies import (
    BODIES,
    Candidates,
    CreateSession,
    CreateUpload,
    Offer,
    StartSession,
    StopSession,
    TokenRequest,
    body_schema,
    parse_body,
)
from openreactor.http.errors import ApiError
from openreactor.http.openapi import SCHEMAS
from openreactor.session_host import SessionHost
from openreactor.sessions import uploads
from openreactor.transport.peer import TrackMapping
from openreactor.workers import rpc


def refusal(cls: type[Any], raw: dict[str, Any]) -> str:
    with pytest.raises(ApiError) as caught:
        parse_body(cls, raw)
    assert caught.value.status == 400
    return caught.value.detail


def test_the_published_schema_is_the_validated_one() -> None:
    for cls in BODIES:
        assert SCHEMAS[cls.__name__] == body_schema(cls)


@pytest.mark.parametrize(
    ("cls", "raw", "detail"),
    [
        (StartSession, {"generation": "batch"}, "generation 'batch' is not supported by this server (only 'streamed')"),
        (StopSession, {"reason": None}, "reason must be a string of at most 64 characters"),
        (StopSession, {"reason": "x" * 65}, "reason must be a string of at most 64 characters"),
        (CreateSession, {}, "the body needs model.name"),
        (CreateSession, {"model": "probe"}, "the body needs model.name"),
        (CreateSession, {"model": {"name": ""}}, "the body needs model.name"),
        (CreateSession, {"model": {"name": "probe", "version": 2}}, "model.version must be a string"),
        (
            CreateSession,
            {"model": {"name": "probe"}, "extra_configs": {"generation": "batch"}},
            "generation 'batch' is not supported by this server (only 'streamed')",
        ),
        (Offer, {"no_offer": 1}, "the body needs an 'sdp_offer' string"),
        (Offer, {"sdp_offer": " \r\n"}, "the body needs an 'sdp_offer' string"),
        (Offer, {"sdp_offer": 5, "sdp": "v=0"}, "the body needs an 'sdp_offer' string"),
        (Offer, {"sdp_offer": "v=0", "track_mapping": "main_video"}, "track_mapping must be a list"),
        (Offer, {"sdp_offer": "v=0", "track_mapping": [{"name": "a"}]}, "each track_mapping entry needs string 'name' and 'mid'"),
        (Offer, {"sdp_offer": "v=0", "track_mapping": [7]}, "each track_mapping entry needs string 'name' and 'mid'"),
        (Candidates, {"candidates": 5}, "'candidates' must be a list"),
        # Several wrong fields: the first one declared is named, as the hand parsers did.
        (CreateUpload, {"name": "", "size": -1, "mime_type": 3}, "'name' must be a non-empty string of at most 1024 bytes"),
        (CreateUpload, {"name": "a", "size": True}, "'size' must be a non-negative integer (bytes)"),
        (CreateUpload, {"name": "a", "size": 1, "mime_type": None}, "'mime_type' must be a string"),
        (CreateUpload, {"name": "é" * 513, "size": 1}, "'name' must be a non-empty string of at most 1024 bytes"),
    ],
)  # fmt: skip
def test_refusals_name_the_wrong_field(cls: type[Any], raw: dict[str, Any], detail: str) -> None:
    assert refusal(cls, raw) == detail


def test_what_the_hand_parsers_accepted_is_accepted() -> None:
    offer = parse_body(Offer, {"sdp": "v=0", "track_mapping": [{"name": "v", "mid": "0", "kind": None}], "x": 1})
    assert offer.sdp_offer == "v=0"
    assert offer.mapping() == [TrackMapping("v", "None", "", "0")]
    assert parse_body(Offer, {"sdp_offer": "v=0", "track_mapping": None}).mapping() == []
    assert parse_body(CreateUpload, {"name": "a", "size": 3.0}).size == 3
    assert parse_body(CreateUpload, {"name": "a", "size": 3}).mime_type == "application/octet-stream"
    assert parse_body(Candidates, {}).candidates == []
    assert parse_body(Candidates, {"candidates": [1, "x", {"candidate": "c"}]}).candidates == [1, "x", {"candidate": "c"}]
    assert parse_body(StopSession, {}).reason == "client_ended"
    assert parse_body(TokenRequest, {"expires_after": "soon"}).expires_after == "soon"
    created = parse_body(CreateSession, {"model": {"name": "probe"}, "extra_configs": None})
    assert (created.model.name, created.model.version) == ("probe", None)


def test_every_rpc_method_is_a_session_host_call() -> None:
    host_calls = {name for name, _ in inspect.getmembers(SessionHost, inspect.iscoroutinefunction)}
    assert set(rpc.METHODS) - {"wait_closed"} <= host_calls
    assert host_calls - set(rpc.METHODS) == {"receive_upload"}  # the bytes go by PUT /uploads/{id}


def test_every_upload_error_travels_by_name() -> None:
    upload_errors = {c for c in vars(uploads).values() if isinstance(c, type) and issubclass(c, uploads.UploadError)}
    assert upload_errors <= set(rpc.ERRORS.values())
    for name, cls in rpc.ERRORS.items():
        response = rpc.refusal(cls("why"))
        assert response.body and f'"error":"{name}"'.encode() in response.body
