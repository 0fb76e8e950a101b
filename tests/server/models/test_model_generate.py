"""A generator-style model served for real: its chunks stream, and a crash in it ends the session."""

from __future__ import annotations

import httpx
from test_model_crash import heard_the_crash

from reactor_protocol.messages import Channel, Command, Envelope, Kind, Ping
from support.rtc_client import HEADERS, raw_client
from support.servers import ServerFactory
from support.waiting import eventually


async def test_a_crash_in_generate_ends_the_session(server_factory: ServerFactory) -> None:
    with server_factory(model="generating_models:ChunkCrash", width=None, height=None, fps=None) as server:
        async with raw_client(server.url) as first, raw_client(server.url, start=False) as second:
            for c in (first, second):
                c.send(Envelope.notification(Channel.CONTROL, Ping()))
            first.send(Envelope(Channel.DATA, Kind.REQUEST, Command("crash", {}), "data_1"))
            await heard_the_crash(first)
            await heard_the_crash(second)
            async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:

                async def closed() -> bool:
                    return (await http.get("/session")).status_code == 404

                await eventually(closed, interval=0.1, what="the crashed session to close")
                assert (await http.post("/start_session", json={})).status_code == 200
        assert "model chunk_crash crashed" in server.log()
