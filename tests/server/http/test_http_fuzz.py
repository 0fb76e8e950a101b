"""schemathesis against a live ``openreactor serve --model echo``, driven by ``GET /openapi.json``.

Every operation gets a small, derandomized batch of schema-conforming and schema-violating requests
(half of those that take a ``session_id`` aim at the running session). The server must never answer
500, never hang (each request has a timeout), and every refusal must carry the protocol's error
body ``{"detail": "<text>"}``. The document's accuracy is checked on the way (documented status
codes, content types and response schemas).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.paths import SHARED
from support.servers import run_server

REQUEST_TIMEOUT_S = 10.0
EXAMPLES_PER_OPERATION = 20
DELIBERATE_5XX = (501, 503)
TEXT_BODY_PATHS = ("/",)
"""The playground page: its 404 (not built) is plain text."""


@pytest.fixture(scope="module")
def echo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_server(
        tmp_path_factory.mktemp("fuzz"), model="echo", width=None, height=None, fps=None
    ) as server:
        yield server.url


def running_session(url: str) -> str:
    """The id of the local session, started if none runs."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as http:
        started = http.post("/start_session", json={})
        if started.status_code == 200:
            return str(started.json()["session_id"])
        current = http.get("/session")
        assert current.status_code == 200, current.text
        return str(current.json()["session_id"])


def aim_at_live_resources(case: Any, url: str) -> None:
    """Point the case at a running session, a fresh connection and a fresh upload slot, with valid
    version headers, so that the bodies reach the handlers behind the session checks."""
    params = case.path_parameters if case.path_parameters is not None else {}
    if not {"session_id", "connection_id", "upload_id"} & set(params):
        return
    sid = running_session(url)
    headers = {"Reactor-API-Version": "1", "Reactor-WebRTC-Version": "1.0"}
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S, headers=headers) as http:
        if "connection_id" in params:
            made = http.post(f"/sessions/{sid}/transport/webrtc/connections", json={})
            if made.status_code == 201:
                params["connection_id"] = str(made.json()["connection_id"])
        if "upload_id" in params:
            slot = http.post(f"/sessions/{sid}/uploads", json={"name": "fuzz.bin", "size": 16})
            if slot.status_code == 201:
                params["upload_id"] = slot.json()["presigned_id"]
    if "session_id" in params:
        params["session_id"] = sid
    if case.headers is not None:
        for name in ("Reactor-API-Version", "Reactor-WebRTC-Version", "Authorization"):
            case.headers.pop(name, None)


def check_error_body(path: str, response: Any) -> None:
    if response.status_code < 400 or path in TEXT_BODY_PATHS:
        return
    content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: lists of values
    assert content_type.startswith("application/json"), (
        response.status_code,
        content_type,
        response.text[:200],
    )
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body


def fuzz_operation(operation: Any, url: str, statuses: dict[str, set[int]]) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    strategy = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, aim=st.booleans())
    def run(case: Any, aim: bool) -> None:
        if aim:
            aim_at_live_resources(case, url)
        response = case.call(base_url=url, timeout=REQUEST_TIMEOUT_S)
        statuses.setdefault(label, set()).add(response.status_code)
        # 501 (client API version too new) and 503 (capacity) are the protocol's answers, not crashes.
        assert response.status_code < 500 or response.status_code in DELIBERATE_5XX, (
            label,
            response.status_code,
            response.text[:300],
        )
        case.validate_response(
            response,
            checks=[
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
        check_error_body(operation.path, response)

    run()


@pytest.mark.timeout(900)  # a fixed amount of work (hypothesis examples): the bound is for a hang, not speed
def test_no_500_no_hang_and_coded_refusals(echo_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{echo_url}/openapi.json", timeout=REQUEST_TIMEOUT_S)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    statuses: dict[str, set[int]] = {}
    started = time.monotonic()

    for operation in operations:
        fuzz_operation(operation, echo_url, statuses)

    assert all(500 not in codes for codes in statuses.values()), statuses
    # The server is still fine afterwards.
    assert httpx.get(f"{echo_url}/health", timeout=REQUEST_TIMEOUT_S).status_code == 200
    print(f"{sum(1 for _ in statuses)} operations fuzzed in {time.monotonic() - started:.1f} s: {statuses}")


def test_openapi_json_is_served(echo_url: str, tmp_path: Path) -> None:
    doc = httpx.get(f"{echo_url}/openapi.json", timeout=REQUEST_TIMEOUT_S).json()
    assert doc["openapi"].startswith("3.")
    assert "/sessions/{session_id}/transport/webrtc/sdp_params" in doc["paths"]
    assert "/debug/resources" not in doc["paths"]  # not enabled on this server


OFFER = SHARED / "reference" / "captures" / "sdp_offer_stepped.txt"


@pytest.mark.parametrize("route", ["legacy", "connection"])
def test_offer_aiortc_cannot_close_is_a_400_not_a_500(echo_url: str, route: str) -> None:
    """Regression (found by fuzzing mutated offers): with ``a=mid:0`` removed, aiortc fails to build
    the answer *and* then fails to close the half-built peer connection; that second error escaped
    the offer route as a 500."""
    lines = OFFER.read_text().replace("\r\n", "\n").strip().split("\n")
    offer = "\r\n".join(line for line in lines if line != "a=mid:0") + "\r\n"
    headers = {"Reactor-API-Version": "1", "Reactor-WebRTC-Version": "1.0"}
    with httpx.Client(base_url=echo_url, timeout=REQUEST_TIMEOUT_S, headers=headers) as http:
        base = f"/sessions/{running_session(echo_url)}/transport/webrtc"
        if route == "connection":
            made = http.post(f"{base}/connections", json={})
            assert made.status_code == 201, made.text
            base = f"{base}/connections/{made.json()['connection_id']}"
        answer = http.post(f"{base}/sdp_params", json={"sdp_offer": offer})
        assert answer.status_code == 400, answer.text
        assert "cannot negotiate" in answer.json()["detail"]
        assert http.get("/health").status_code == 200
