"""Small checks against a real coturn; prints ``@@RESULT <json>``. Runs inside ``netns-run``.

``server-relay``
    our server's own ICE agent with ``turn_for_server``: the RTCConfiguration ``Peer`` builds
    (``server_ice_servers``) gathers a relay candidate on coturn.
``expiry``
    what the credential lifetime means to coturn: an allocation made in time keeps refreshing
    after the username's expiry, and a new allocation with the expired username is refused.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import aioice.stun as stun
import aioice.turn
from aiortc import RTCPeerConnection
from turn_relay_launcher import (
    MEDIA,
    TURN_PORT,
    start_coturn,
    stop,
    turn_facts,
    wait_for_allocations_to_close,
)

from openreactor.ice import server_ice_servers, turn_credentials
from openreactor.settings import Settings
from openreactor.transport.peer import _rtc_configuration
from reactor_rtc import set_host_addresses

EXPIRY_TTL_S = 1


async def server_relay(secret_file: Path) -> dict[str, Any]:
    settings = Settings(
        turn_urls=(f"turn:{MEDIA}:{TURN_PORT}?transport=udp",),
        turn_secret_file=secret_file,
        turn_for_server=True,
    )
    pc = RTCPeerConnection(_rtc_configuration(server_ice_servers(settings, "server-check")))
    pc.addTransceiver("video", direction="sendonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        return {
            "candidates": [c for c in pc.localDescription.sdp.splitlines() if c.startswith("a=candidate:")]
        }
    finally:
        await pc.close()  # releases the allocation, so coturn logs it closed


async def outcome(request: Any) -> str:
    try:
        await request
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the outcome is the point
        return f"{type(exc).__name__}: {exc}"


async def expiry(secret_file: Path) -> dict[str, Any]:
    creds = turn_credentials(secret_file.read_bytes(), "expiry-check", EXPIRY_TTL_S)
    server = (MEDIA, TURN_PORT)

    async def allocate() -> aioice.turn.TurnTransport:
        transport, _ = await aioice.turn.create_turn_endpoint(
            asyncio.DatagramProtocol, server, creds["username"], creds["password"]
        )
        return transport

    transport = await allocate()
    inner = transport._TurnTransport__inner_protocol  # aioice keeps the STUN client private
    await asyncio.sleep(EXPIRY_TTL_S + 1.5)
    refresh = stun.Message(message_method=stun.Method.REFRESH, message_class=stun.Class.REQUEST)
    refresh.attributes["LIFETIME"] = 600
    permission = stun.Message(message_method=stun.Method.CREATE_PERMISSION, message_class=stun.Class.REQUEST)
    permission.attributes["XOR-PEER-ADDRESS"] = (MEDIA, 9)
    result = {
        "refresh_after_expiry": await outcome(inner.request_with_retry(refresh)),
        "permission_after_expiry": await outcome(inner.request_with_retry(permission)),
        "new_allocation_after_expiry": await outcome(allocate()),
    }
    transport.close()
    return result


def main(check: str) -> dict[str, Any]:
    set_host_addresses([MEDIA])
    with tempfile.TemporaryDirectory(prefix="openreactor-turn-") as tmp:
        workdir = Path(tmp)
        secret = secrets.token_urlsafe(24)
        (workdir / "turn.secret").write_text(secret)
        turn = start_coturn(workdir, secret, listen=MEDIA)
        try:
            run = server_relay if check == "server-relay" else expiry
            result = asyncio.run(run(workdir / "turn.secret"))
            wait_for_allocations_to_close(workdir / "turn.log", 5)
        finally:
            stop(turn)
        return {**result, "turn": turn_facts((workdir / "turn.log").read_text(errors="replace"))}


if __name__ == "__main__":
    print("@@RESULT " + json.dumps(main(sys.argv[1])), flush=True)
