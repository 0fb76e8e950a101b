"""Structured logs: JSON lines keyed by session/connection id, and never a key or a token."""

from __future__ import annotations

import json
import logging

import httpx

from openreactor.logs import ContextFilter, JsonFormatter, log_context, redact
from support.rtc_client import raw_client
from support.servers import ServerFactory, ServerProcess


def test_token_exchange_never_logs_the_key_or_the_jwt(server_factory: ServerFactory) -> None:
    server: ServerProcess
    with server_factory(extra=["--log-level", "debug"]) as server:
        _, key = server.create_key()
        r = httpx.post(f"{server.url}/tokens", headers={"Reactor-API-Key": key}, json=None)
        assert r.status_code == 200, r.text
        token = r.json()["jwt"]
        bearer = {"Authorization": f"Bearer {token}", "Reactor-API-Version": "1"}
        httpx.get(f"{server.url}/sessions/nope", headers=bearer)
        httpx.post(f"{server.url}/tokens", headers={"Reactor-API-Key": key + "x"})  # a refused key
    log = server.log()
    assert "/tokens" in log  # the requests were logged...
    assert key not in log and key[:12] not in log  # ...without the key
    assert token not in log and token.split(".")[2] not in log


async def test_json_logs_carry_session_and_connection_ids(server_factory: ServerFactory) -> None:
    with server_factory(extra=["--log-format", "json"]) as server:
        async with raw_client(server.url) as c:
            sid, cid = c.session_id, c.connection_id
        async with httpx.AsyncClient(base_url=server.url) as http:
            await http.post("/stop_session", json={}, headers={"Reactor-API-Version": "1"})
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert records, server.log()
    assert all(
        {"ts", "level", "logger", "message", "session_id", "connection_id"} <= r.keys() for r in records
    )
    assert any(r["session_id"] == sid and r["connection_id"] == cid for r in records), records
    assert any(r["session_id"] == sid and "ending" in r["message"] for r in records), records


def test_formatter_and_redaction_in_process() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", ("Bearer abc.def.ghijkl",), None)
    with log_context(session_id="s1", connection_id=7):
        ContextFilter().filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert (out["session_id"], out["connection_id"]) == ("s1", 7)
    assert redact("key rk_" + "A" * 43 + " jwt eyJhbGciOi.eyJzdWIiOiJ4.c2lnbmF0dXJl") == (
        "key [redacted] jwt [redacted]"
    )
    assert redact("Authorization: Bearer sometokenvalue") == "Authorization: Bearer [redacted]"
