"""``GET /openapi.json`` describes every route the app registers, and only those."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Mount, Route

from openreactor.http.openapi import PATHS, openapi_document
from openreactor.serve import create_serve_app
from openreactor.settings import Settings


def registered(app_routes: list[object]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in app_routes:
        if isinstance(route, Route):
            out |= {(route.path, m.lower()) for m in (route.methods or {"GET"}) if m != "HEAD"}
        elif isinstance(route, Mount):
            out.add((f"{route.path}/{{path}}", "get"))
        else:
            raise AssertionError(f"unexpected route type {type(route).__name__}")
    return out


@pytest.mark.parametrize("optional", [False, True], ids=["default", "debug+playground"])
def test_every_registered_route_is_described(tmp_path: Path, optional: bool) -> None:
    settings = Settings(model="echo", state_dir=tmp_path, debug_endpoints=optional, playground=optional)
    app = create_serve_app(settings)
    doc = openapi_document(app.routes)
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert described == registered(app.routes)
    assert (
        ("/debug/resources", "get") in described if optional else ("/debug/resources", "get") not in described
    )
    assert ("/openapi.json", "get") in described


def test_refusals_are_documented_with_the_error_body() -> None:
    for path, ops in PATHS.items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            for status, response in op["responses"].items():
                content = response.get("content", {})
                if status.startswith("4") and "application/json" in content:
                    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path


def test_the_coordinator_describes_every_route_it_registers(tmp_path: Path) -> None:
    from openreactor.cluster.coordinator import create_coordinator_app

    app = create_coordinator_app(Settings(redis_url="redis://127.0.0.1:1/0", state_dir=tmp_path))
    doc = openapi_document(app.routes)
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert described == registered(app.routes)
    assert {("/sessions", "post"), ("/tokens", "post"), ("/health", "get")} <= described
    assert ("/start_session", "post") not in described  # no local plane on a coordinator
