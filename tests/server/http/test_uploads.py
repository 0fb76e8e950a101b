"""Uploads (PROTOCOL.md §7) over real HTTP, and commands that carry FileRefs over real WebRTC."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from reactor_protocol.messages import (
    Channel,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelMessage,
    Ping,
    UploadRef,
)
from support.rtc_client import HEADERS, RawClient, is_error, raw_client
from support.servers import ServerFactory, ServerProcess

ECHO = {"model": "echo", "width": 320, "height": 180, "fps": 10}


@pytest.fixture
def echo(server_factory: ServerFactory) -> Iterator[ServerProcess]:
    with server_factory(**ECHO, extra=["--max-upload-mb", "1", "--debug-endpoints"]) as server:
        yield server


def slot(http: httpx.Client, sid: str, name: str, size: int, mime: str = "application/octet-stream") -> dict:
    r = http.post(f"/sessions/{sid}/uploads", json={"name": name, "size": size, "mime_type": mime})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_slot_then_put_then_conflict(echo: ServerProcess) -> None:
    with httpx.Client(base_url=echo.url, headers=HEADERS, timeout=10) as http:
        sid = http.post("/start_session", json={}).json()["session_id"]
        body = os.urandom(5000)
        s = slot(http, sid, "photo.png", len(body), "image/png")
        assert set(s) == {"presigned_id", "presigned_url", "path"}
        url = urlsplit(s["presigned_url"])
        assert (url.scheme, url.netloc) == ("http", urlsplit(echo.url).netloc), "absolute, from Host"
        assert s["path"] == f"sessions/{sid}/uploads/{s['presigned_id']}/photo.png"
    # The PUT carries no Authorization and no version headers (PROTOCOL.md §7).
    r = httpx.put(s["presigned_url"], content=body, headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert httpx.put(s["presigned_url"], content=body).status_code == 409
    assert httpx.put(f"{echo.url}/uploads/{'0' * 32}", content=b"x").status_code == 404
    assert httpx.get(f"{echo.url}/debug/resources").json()["upload_files"] == 1


def test_presigned_url_follows_the_host_header(echo: ServerProcess) -> None:
    with httpx.Client(base_url=echo.url, headers=HEADERS, timeout=10) as http:
        sid = http.post("/start_session", json={}).json()["session_id"]
        r = http.post(
            f"/sessions/{sid}/uploads",
            json={"name": "a", "size": 1, "mime_type": "x/y"},
            headers={"Host": "files.example.org:9999"},
        )
        assert r.status_code == 201
        assert r.json()["presigned_url"].startswith("http://files.example.org:9999/uploads/")


def test_size_rules_and_limits(echo: ServerProcess) -> None:
    limit = 1 << 20
    with httpx.Client(base_url=echo.url, headers=HEADERS, timeout=10) as http:
        sid = http.post("/start_session", json={}).json()["session_id"]
        over = http.post(
            f"/sessions/{sid}/uploads", json={"name": "big", "size": limit + 1, "mime_type": "x"}
        )
        assert over.status_code == 413, "declared size over the limit is refused at slot creation"
        for bad in (
            {"size": 3},
            {"name": "a", "size": -1},
            {"name": "a", "size": "3"},
            {"name": 1, "size": 3},
        ):
            assert http.post(f"/sessions/{sid}/uploads", json=bad).status_code == 400, bad
        assert http.post("/sessions/nope/uploads", json={"name": "a", "size": 1}).status_code == 404
        small = slot(http, sid, "s.bin", 10)
        full = slot(http, sid, "full.bin", limit)
    put = small["presigned_url"]
    assert httpx.put(put, content=b"123456789").status_code == 400  # short
    assert httpx.put(put, content=b"12345678901").status_code == 400  # long
    assert httpx.put(put, content=b"1234567890").status_code == 200, "a refused body can be retried"

    def stream(total: int, step: int = 64 * 1024) -> Iterator[bytes]:
        while total > 0:
            yield b"x" * min(step, total)
            total -= step

    # No Content-Length (chunked): the server counts while streaming and stops at the limit.
    r = httpx.put(full["presigned_url"], content=stream(limit + 100_000))
    assert r.status_code == 413, r.text
    r = httpx.put(full["presigned_url"], content=b"x" * (limit + 1))  # Content-Length over the limit
    assert r.status_code == 413
    assert httpx.put(full["presigned_url"], content=stream(limit)).status_code == 200


def test_uploads_go_when_the_session_ends(echo: ServerProcess) -> None:
    with httpx.Client(base_url=echo.url, headers=HEADERS, timeout=10) as http:
        sid = http.post("/start_session", json={}).json()["session_id"]
        done, pending = slot(http, sid, "a.txt", 2), slot(http, sid, "b.txt", 2)
        assert httpx.put(done["presigned_url"], content=b"hi").status_code == 200
        assert http.get("/debug/resources").json()["upload_files"] == 1
        assert http.post("/stop_session").status_code == 200
        assert http.get("/debug/resources").json()["upload_files"] == 0
        assert httpx.put(pending["presigned_url"], content=b"hi").status_code == 404
        assert http.post(f"/sessions/{sid}/uploads", json={"name": "c", "size": 1}).status_code == 404


# -- commands carrying FileRefs, over WebRTC --------------------------------------------------------


async def upload(http: httpx.AsyncClient, sid: str, name: str, body: bytes, *, put: bool = True) -> UploadRef:
    r = await http.post(
        f"/sessions/{sid}/uploads", json={"name": name, "size": len(body), "mime_type": "x/y"}
    )
    assert r.status_code == 201, r.text
    if put:
        assert (await http.put(r.json()["presigned_url"], content=body)).status_code == 200
    return UploadRef(r.json()["presigned_id"], name, "x/y", len(body))


def described(ref: UploadRef, body: bytes) -> dict:
    return {
        "upload_id": ref.upload_id,
        "name": ref.name,
        "mime_type": ref.mime_type,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def inline(ref: UploadRef) -> dict:
    return {"upload_id": ref.upload_id, "name": ref.name, "mime_type": ref.mime_type, "size": float(ref.size)}


async def ping(c: RawClient) -> None:
    c.send(Envelope.notification(Channel.CONTROL, Ping()))


async def test_top_level_and_nested_refs_reach_the_model_as_files(echo: ServerProcess) -> None:
    async with raw_client(echo.url) as c:
        await ping(c)
        a, b = os.urandom(3000), b"second file"
        ref_a, ref_b = (
            await upload(c.http, c.session_id, "a.bin", a),
            await upload(c.http, c.session_id, "b.txt", b),
        )
        c.send(Envelope.notification(Channel.CONTROL, FileUploaded(ref_a.upload_id, "a.bin", "x/y", len(a))))
        cmd = Command("mix", {"layers": [{"file": inline(ref_b)}], "alpha": 0.5}, {"base": ref_a})
        reply = await c.request(Channel.DATA, cmd, "data_1")
        assert reply.payload == ModelMessage(
            "echo",
            {
                "command": "mix",
                "data": {
                    "layers": [{"file": described(ref_b, b)}],
                    "alpha": 0.5,
                    "base": described(ref_a, a),
                },
            },
        )
        # Plain commands still echo as before; the file_uploaded notification drew no error.
        plain = await c.request(Channel.DATA, Command("hello", {"n": 1.0}), "data_2")
        assert plain.payload == ModelMessage("echo", {"command": "hello", "data": {"n": 1.0}})
        assert not [e for e in c.others if isinstance(e.payload, ErrorMessage)], c.others


async def test_unknown_upload_is_refused_at_once(echo: ServerProcess) -> None:
    async with raw_client(echo.url) as c:
        await ping(c)
        ghost = UploadRef("f" * 32, "ghost.png", "image/png", 10)
        started = asyncio.get_running_loop().time()
        reply = await c.request(Channel.DATA, Command("use", {}, {"image": ghost}), "data_1", timeout=8)
        assert isinstance(reply.payload, ErrorMessage) and reply.payload.code == "unresolved_upload"
        assert ghost.upload_id in reply.payload.message
        assert asyncio.get_running_loop().time() - started < 5, "no 10 s wait for an id never issued"
        nested = await c.request(Channel.DATA, Command("use", {"x": [inline(ghost)]}), "data_2")
        assert isinstance(nested.payload, ErrorMessage) and nested.payload.code == "unresolved_upload"


async def test_upload_of_another_session_is_refused(echo: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=echo.url, headers=HEADERS, timeout=10) as http:
        first = (await http.post("/start_session", json={})).json()["session_id"]
        old = await upload(http, first, "old.bin", b"old")
        assert (await http.post("/stop_session")).status_code == 200
    async with raw_client(echo.url) as c:
        assert c.session_id != first
        await ping(c)
        reply = await c.request(Channel.DATA, Command("use", {}, {"f": old}), "data_1", timeout=8)
        assert isinstance(reply.payload, ErrorMessage) and reply.payload.code == "unresolved_upload"


async def test_command_waits_for_late_bytes_and_keeps_its_place(echo: ServerProcess) -> None:
    async with raw_client(echo.url) as c:
        await ping(c)
        body = b"late bytes"
        r = await c.http.post(
            f"/sessions/{c.session_id}/uploads", json={"name": "late.bin", "size": len(body)}
        )
        ref = UploadRef(r.json()["presigned_id"], "late.bin", "application/octet-stream", len(body))
        c.send(Envelope(Channel.DATA, Kind.REQUEST, Command("first", {}, {"f": ref}), "data_1"))
        c.send(Envelope(Channel.DATA, Kind.REQUEST, Command("second", {}), "data_2"))
        await asyncio.sleep(0.5)
        assert c.inbox.empty(), "nothing is answered before the file lands"
        assert (await c.http.put(r.json()["presigned_url"], content=body)).status_code == 200
        first, second = await c.receive(timeout=8), await c.receive(timeout=8)
        assert [first.request_id, second.request_id] == ["data_1", "data_2"], "arrival order is kept"
        assert isinstance(first.payload, ModelMessage)
        assert first.payload.data["data"]["f"]["sha256"] == hashlib.sha256(body).hexdigest()  # type: ignore[index]


async def test_bytes_that_never_land_give_unresolved_upload(echo: ServerProcess) -> None:
    async with raw_client(echo.url) as c:
        await ping(c)
        ref = await upload(c.http, c.session_id, "never.bin", b"0123", put=False)
        reply = await c.request(Channel.DATA, Command("use", {}, {"f": ref}), "data_1", timeout=15)
        assert isinstance(reply.payload, ErrorMessage) and reply.payload.code == "unresolved_upload"
        assert "not received in time" in reply.payload.message


async def test_v0_command_with_uploads(echo: ServerProcess) -> None:
    async with raw_client(echo.url, channels=("data",), legacy=True) as c:
        ref = await upload(c.http, c.session_id, "js.png", b"png!")
        c.send_raw(
            "data",
            '{"scope": "application", "data": {"type": "set_image", "data": {"strength": 0.7}, '
            f'"uploads": {{"image": {{"upload_id": "{ref.upload_id}", "name": "js.png", '
            '"mime_type": "x/y", "size": 4}}}}',
        )
        reply = await c.receive(wire="v0", timeout=8)
        assert isinstance(reply.payload, ModelMessage)
        assert reply.payload.data["data"]["image"] == described(ref, b"png!")  # type: ignore[index]
        assert reply.payload.data["data"]["strength"] == 0.7  # type: ignore[index]


async def test_typed_file_argument_is_validated_in_wire_form(server_factory: ServerFactory) -> None:
    with server_factory(model="session_models:Chatty", width=None, height=None, fps=None) as server:
        async with raw_client(server.url) as c:
            await ping(c)
            ref = await upload(c.http, c.session_id, "pic.png", b"\x89PNG\r\n\x1a\nrest")
            ok = await c.request(
                Channel.DATA, Command("set_image", {"strength": 0.25}, {"image": ref}), "data_1"
            )
            assert ok.payload == ModelMessage(
                "image_set",
                {
                    "kind": "UploadedFile",
                    "name": "pic.png",
                    "size": 12,
                    "head": "89504e470d0a1a0a",
                    "strength": 0.25,
                },
            )
            bad = await c.request(
                Channel.DATA, Command("set_image", {"strength": 2.0}, {"image": ref}), "data_2"
            )
            assert isinstance(bad.payload, ErrorMessage) and bad.payload.code == "invalid_command"
            assert "strength" in bad.payload.message
            missing = await c.request(Channel.DATA, Command("set_image", {}), "data_3")
            assert isinstance(missing.payload, ErrorMessage) and missing.payload.code == "invalid_command"
            not_a_ref = await c.request(Channel.DATA, Command("set_image", {"image": "pic.png"}), "data_4")
            assert isinstance(not_a_ref.payload, ErrorMessage) and not_a_ref.payload.code == "invalid_command"
            assert not [e for e in c.others if is_error("unresolved_upload")(e)]


# -- errors never show the server's file system paths ---------------------------------------------


async def test_a_model_error_about_an_upload_names_the_file_not_the_server_path(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    uploads = tmp_path / "upload-root"
    extra = ["--upload-dir", str(uploads)]
    with server_factory(model="world", width=320, height=180, fps=10, extra=extra) as server:
        async with raw_client(server.url) as c:
            await ping(c)
            ref = await upload(c.http, c.session_id, "holiday.png", b"this is not an image at all")
            reply = await c.request(Channel.DATA, Command("set_image", {}, {"image": ref}), "data_1")
            assert isinstance(reply.payload, ErrorMessage), reply
            assert reply.payload.code == "invalid_image", reply.payload
            # Pillow's message quotes the file it opened: the client sees its own file name instead.
            assert "holiday.png" in reply.payload.message, reply.payload.message
            assert str(tmp_path) not in reply.payload.message, reply.payload.message
            assert "<uploads>" not in reply.payload.message, reply.payload.message


def test_an_upload_that_cannot_be_stored_does_not_name_the_server_path(server_factory: ServerFactory, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("the upload root cannot be created under a file")
    extra = ["--upload-dir", str(not_a_folder / "uploads")]
    with server_factory(model="echo", width=None, height=None, fps=None, extra=extra) as server:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as http:
            sid = http.post("/start_session", json={}).json()["session_id"]
            target = slot(http, sid, "notes.txt", 2)
            assert str(tmp_path) not in json.dumps(target), target
            r = httpx.put(target["presigned_url"], content=b"hi")
            assert r.status_code >= 500, r.text
            assert str(tmp_path) not in r.text and "a-file" not in r.text, r.text
