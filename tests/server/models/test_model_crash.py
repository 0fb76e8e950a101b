"""A model that raises (in ``next_frame``, or inside a ``generate()`` stream of chunks) ends its
session, every client hears why, and the server starts the next session."""

from __future__ import annotations

import httpx
import pytest

from reactor_protocol.messages import Channel, Command, Envelope, Kind, Ping, SessionEnded
from support.rtc_client import HEADERS, RawClient, is_error, raw_client
from support.servers import ServerFactory
from support.waiting import eventually


def ended(env: Envelope) -> bool:
    return isinstance(env.payload, SessionEnded)


async def heard_the_crash(c: RawClient) -> None:
    seen: list[Envelope] = []
    while not (any(ended(e) for e in seen) and any(is_error("model_error")(e) for e in seen)):
        seen.append(await c.receive())
    assert SessionEnded("model_error") in [e.payload for e in seen]
    notice = next(e for e in seen if is_error("model_error")(e) and e.kind is Kind.NOTIFICATION)
    assert "boom (on purpose)" in notice.payload.message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "name"), [("crashy_models:CrashOnCommand", "crashy"), ("generating_models:ChunkCrash", "chunk_crash")]
)
async def test_crash_reaches_every_client(server_factory: ServerFactory, model: str, name: str) -> None:
    with server_factory(model=model, width=None, height=None, fps=None) as server:
        async with raw_client(server.url) as first, raw_client(server.url, start=False) as second:
            for c in (first, second):
                c.send(Envelope.notification(Channel.CONTROL, Ping()))
            first.send(Envelope(Channel.DATA, Kind.REQUEST, Command("crash", {}), "data_1"))
            await heard_the_crash(first)
            await heard_the_crash(second)
            async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:

                async def closed() -> bool:
                    return (await http.get("/session")).status_code == 404

                # The goodbye is sent first, then the session closes.
                await eventually(closed, interval=0.1, what="the crashed session to close")
                signalling = f"/sessions/{first.session_id}/transport/webrtc/connections"
                assert (await http.post(signalling, json={})).status_code == 404
                # The server itself is fine: a new session starts.
                assert (await http.post("/start_session", json={})).status_code == 200
        assert f"model {name} crashed" in server.log()
