"""Refusals across the worker RPC keep what the caller needs: a session that ended says why.

A front (the pool's, or a coordinator) may hear that a session ended from the worker before its own
record does (a coordinator's Redis record lags the worker node by a heartbeat). The refusal then
carries the end reason, and the front reports the session closed with it, never the stale state.
"""

from __future__ import annotations

import httpx
import pytest

from openreactor.session_host import SessionClosedError
from openreactor.workers import rpc
from openreactor.workers.remote import RemoteSessionHost

SID = "5f0c3a52-8d47-4a63-9d1b-0b8f3e2f6c11"


def ended_on_the_worker(request: httpx.Request) -> httpx.Response:
    refusal = rpc.refusal(SessionClosedError(f"session {SID} has ended (server_shutdown)", "server_shutdown"))
    return httpx.Response(refusal.status_code, content=refusal.body, headers={"content-type": "application/json"})


def test_the_end_reason_travels_with_the_refusal() -> None:
    response = ended_on_the_worker(httpx.Request("POST", "http://worker/x"))
    with pytest.raises(SessionClosedError) as info:
        rpc.result_of(response)
    assert info.value.end_reason == "server_shutdown"
    unknown = rpc.refusal(SessionClosedError("session x is not on this worker"))
    with pytest.raises(SessionClosedError) as info:
        rpc.result_of(httpx.Response(unknown.status_code, content=unknown.body))
    assert info.value.end_reason is None


async def test_a_front_with_a_stale_record_reports_the_end_it_hears_of() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(ended_on_the_worker)) as client:
        stale = {"session_id": SID, "state": "active", "model": {"name": "probe"}}
        host = RemoteSessionHost(SID, client, "http://worker", stale)
        described = await host.describe()
    assert host.closed and host.end_reason == "server_shutdown"
    assert (described["state"], described.get("end_reason")) == ("closed", "server_shutdown")
