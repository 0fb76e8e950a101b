"""The model-author API: typed commands → schema, validation, state fields, messages, hooks.

Driven through ``openreactor.testing`` (no network), which validates and dispatches exactly as
a session does.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pytest

import openreactor
from openreactor import Arg, CommandError, Frame, Message, Model, ModelContext, UploadedFile, command, state
from openreactor.models.builtin.probe import ProbeModel
from openreactor.models.schema import UPLOAD_REFERENCE_SCHEMA, openapi_document
from openreactor.testing import ModelHarness, run_model

UPLOAD_REF = {"$ref": "#/components/schemas/ReactorUploadReference"}


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Point:
    """A point on the canvas."""

    x: Annotated[float, Arg(ge=0, le=1)]
    y: float
    label: str = ""


@dataclass
class Placed:
    """Where things were placed."""

    count: int
    first: Point | None = None


@dataclass
class Tick:
    frame: int


class Typed(Model):
    name = "typed"
    messages = (Tick,)

    level: int = state(3, ge=0, le=10, description="A level")
    tags: list[str] = state([], max_length=3)
    _secret: int = state(7)

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @command
    def everything(
        self,
        i: int,
        f: float,
        s: Annotated[str, Arg(min_length=1, max_length=5, description="Short text", moderate=False)],
        b: bool,
        lit: Literal["a", "b"],
        mode: Mode,
        maybe: int | None,
        nums: list[int],
        table: dict[str, float],
        file: UploadedFile,
        choice: Annotated[int, Arg(choices=[1, 2, 3])] = 2,
        ranged: Annotated[int, Arg(ge=0, le=65535)] = 0,
        name: str = "x",
    ) -> None:
        """Every supported type.

        Second paragraph."""
        self.calls.append(("everything", locals()))

    @command("place_points")
    def place(self, points: list[Point], mode: Mode = Mode.FAST) -> Placed:
        self.calls.append(("place", (points, mode)))
        return Placed(len(points), points[0] if points else None)

    @command("set_level", description="An explicit setter wins")
    def my_level(self, level: int) -> Message:
        self.level = level * 2
        return Message("level", {"level": self.level})

    @command(
        "explicit", schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    )
    def explicit(self, n: int) -> None:
        self.calls.append(("explicit", n))

    @command
    async def slow(self, n: int = 1) -> Message:
        return Message("slow", {"n": n})

    @command
    def refuse(self) -> None:
        raise CommandError("not_now", "try later")

    @command
    def buggy(self) -> None:
        raise ValueError("oops")

    @command
    def undeclared(self) -> Any:
        return Point(0.5, 0.5)

    def next_frame(self, ctx: ModelContext) -> Frame:
        ctx.broadcast(Tick(ctx.frame_index))
        return np.full((4, 4, 3), self.level, np.uint8)


def body(model: Model, command_name: str) -> dict[str, Any]:
    doc = openapi_document(model)
    schema: dict[str, Any] = doc["paths"][f"/events/{command_name}"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_public_surface_is_explicit() -> None:
    exported = {
        n for n in dir(openreactor) if not n.startswith("_") and not inspect.ismodule(getattr(openreactor, n))
    }
    assert sorted(openreactor.__all__) == openreactor.__all__
    assert exported <= set(openreactor.__all__)
    for name in openreactor.__all__:
        assert hasattr(openreactor, name)


def test_signature_becomes_schema_with_every_type_mapping() -> None:
    schema = body(Typed(), "everything")
    props = schema["properties"]
    assert props["i"] == {"type": "integer"}
    assert props["f"] == {"type": "number"}
    assert props["s"] == {
        "type": "string",
        "description": "Short text",
        "minLength": 1,
        "maxLength": 5,
        "x-reactor-moderate": False,
    }
    assert props["b"] == {"type": "boolean"}
    assert props["lit"] == {"type": "string", "enum": ["a", "b"]}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["maybe"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert props["nums"] == {"type": "array", "items": {"type": "integer"}}
    assert props["table"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["file"] == UPLOAD_REF
    assert props["choice"] == {"type": "integer", "enum": [1, 2, 3], "default": 2}
    assert props["ranged"] == {"type": "integer", "minimum": 0, "maximum": 65535, "default": 0}
    assert props["name"] == {"type": "string", "default": "x"}
    assert schema["required"] == ["i", "f", "s", "b", "lit", "mode", "maybe", "nums", "table", "file"]
    assert schema["additionalProperties"] is False
    post = openapi_document(Typed())["paths"]["/events/everything"]["post"]
    assert post["summary"] == "Every supported type."
    assert "Second paragraph." in post["description"]


def test_nested_records_replies_and_messages_in_the_document() -> None:
    doc = openapi_document(Typed())
    points = body(Typed(), "place_points")["properties"]["points"]
    assert points["type"] == "array"
    assert points["items"]["properties"]["x"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert points["items"]["required"] == ["x", "y"]
    assert points["items"]["properties"]["label"] == {"type": "string", "default": ""}
    assert body(Typed(), "place_points")["properties"]["mode"]["default"] == "fast"
    post = doc["paths"]["/events/place_points"]["post"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Placed"
    }
    schemas = doc["components"]["schemas"]
    assert schemas["ReactorUploadReference"] == UPLOAD_REFERENCE_SCHEMA
    assert schemas["Placed"]["properties"]["count"] == {"type": "integer"}
    assert schemas["Placed"]["description"] == "Where things were placed."
    assert set(doc["webhooks"]) == {"tick", "placed"}
    assert doc["webhooks"]["tick"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Tick"
    }


def test_state_fields_become_setters() -> None:
    specs = Typed.command_specs()
    assert "set__secret" not in specs and "set_secret" not in specs
    assert body(Typed(), "set_tags") == {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["tags"],
        "additionalProperties": False,
    }
    assert specs["set_tags"].description == "Set tags"
    # An explicit command named set_level overrides the generated one.
    assert specs["set_level"].description == "An explicit setter wins"
    model = Typed()
    assert model.level == 3
    with ModelHarness(model) as h:
        assert h.command("set_tags", tags=["a"]) is None
        assert model.tags == ["a"]
        assert h.command("set_level", level=4) == Message("level", {"level": 8})
        with pytest.raises(CommandError) as info:
            h.command("set_tags", tags=["a", "b", "c", "d"])
        assert info.value.code == "invalid_command" and "tags" in info.value.message
    # Fresh for each session: back to the defaults (a copy, not the shared default list).
    with ModelHarness(model) as h:
        assert model.tags == [] and model.level == 3
        assert Typed.tags == [] or True  # class access gives the descriptor, never a shared list


def test_probe_set_value_is_unchanged_on_the_wire() -> None:
    assert body(ProbeModel(640, 360), "set_value") == {
        "type": "object",
        "properties": {
            "value": {
                "type": "integer",
                "minimum": 0,
                "maximum": 65535,
                "description": "The value drawn into the code band of every following frame.",
            }
        },
        "required": ["value"],
        "additionalProperties": False,
    }
    run = run_model(ProbeModel(640, 360), frames=3, commands=[(1, "set_value", {"value": 12.0})])
    assert run.replies[0].message is None and run.replies[0].error is None


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("set_level", {"level": "x"}, "level: 'x' is not of type 'integer'"),
        ("set_level", {}, "(arguments): 'level' is a required property"),
        ("set_level", {"level": 1, "extra": 2}, "(arguments): Additional properties"),
        ("place_points", {"points": [{"x": 0.5, "y": 1}, {"x": 2, "y": 0}]}, "points.1.x: 2 is greater than"),
        ("place_points", {"points": [{"x": 0.5}]}, "points.0: 'y' is a required property"),
        ("place_points", {"points": [], "mode": "medium"}, "mode: 'medium' is not one of"),
        ("set_tags", {"tags": ["a", 3]}, "tags.1: 3 is not of type 'string'"),
    ],
)
def test_invalid_arguments_are_refused_with_the_field_path(
    name: str, data: dict[str, Any], where: str
) -> None:
    with ModelHarness(Typed()) as h, pytest.raises(CommandError) as info:
        h.command(name, data)
    assert info.value.code == "invalid_command"
    assert info.value.message.startswith(f"{name}: {where}"), info.value.message


def test_unknown_commands_are_refused() -> None:
    run = run_model(Typed(), frames=1, commands=[(0, "nope", {})])
    error = run.replies[0].error
    assert error is not None and error.code == "invalid_command" and "nope" in error.message


def test_handlers_get_python_values(tmp_path: Any) -> None:
    model = Typed()
    with ModelHarness(model) as h:
        file = h.upload(b"hello", "hi.txt")
        args = {
            "i": 3.0,  # v1 sends every number as a double
            "f": 2,
            "s": "abc",
            "b": True,
            "lit": "b",
            "mode": "slow",
            "maybe": None,
            "nums": [1.0, 2.0],
            "table": {"k": 1},
            "file": file,
        }
        assert h.command("everything", args) is None
        got = model.calls[-1][1]
        assert got["i"] == 3 and type(got["i"]) is int
        assert got["f"] == 2.0 and type(got["f"]) is float
        assert got["mode"] is Mode.SLOW and got["nums"] == [1, 2] and type(got["nums"][0]) is int
        assert got["file"] is file and got["file"].read_bytes() == b"hello"
        assert got["choice"] == 2 and got["name"] == "x"

        reply = h.command("place_points", points=[{"x": 0.25, "y": 2.0, "label": "a"}], mode="slow")
        assert reply == Message("placed", {"count": 1, "first": {"x": 0.25, "y": 2.0, "label": "a"}})
        points, mode = model.calls[-1][1]
        assert points == [Point(0.25, 2.0, "a")] and mode is Mode.SLOW

        assert h.command("explicit", n=4.0) is None and model.calls[-1] == ("explicit", 4)
        assert h.command("slow", n=2) == Message("slow", {"n": 2})  # async handler


def test_handler_errors_become_coded_refusals() -> None:
    run = run_model(
        Typed(),
        frames=2,
        commands=[(0, "refuse", {}), (0, "buggy", {}), (0, "undeclared", {}), (1, "slow", {})],
    )
    codes = [(r.name, r.error.code if r.error else None) for r in run.replies]
    assert codes == [
        ("refuse", "not_now"),
        ("buggy", "internal_error"),
        ("undeclared", "internal_error"),
        ("slow", None),
    ]
    assert run.replies[0].error is not None and run.replies[0].error.message == "try later"
    assert "Point is not a declared message" in str(run.replies[2].error)
    assert run.messages[:2] == [Message("tick", {"frame": 0}), Message("tick", {"frame": 1})]


def test_unmappable_signatures_fail_loudly() -> None:
    class Bad(Model):
        @command
        def odd(self, x: complex) -> None: ...

    with pytest.raises(TypeError, match="no JSON schema mapping"):
        Bad.command_specs()

    class Reserved(Model):
        @command("connected")
        def c(self) -> None: ...

    with pytest.raises(TypeError, match="reserved"):
        Reserved.command_specs()


class Recorder(Model):
    """Records every hook, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def on_session_start(self, ctx: ModelContext) -> None:
        self.log.append("session_start")

    def on_client_connected(self, ctx: ModelContext, connection_id: int) -> None:
        self.log.append(f"connected {connection_id} ({ctx.client_count})")

    @command
    def poke(self) -> None:
        self.log.append("poke")

    async def on_file_uploaded(self, ctx: ModelContext, file: UploadedFile) -> None:
        self.log.append(f"file {file.name} {file.size}")

    def on_client_disconnected(self, ctx: ModelContext, connection_id: int) -> None:
        self.log.append(f"disconnected {connection_id} ({ctx.client_count})")

    def on_session_end(self, ctx: ModelContext) -> None:
        self.log.append("session_end")

    def generate(self, ctx: ModelContext) -> Any:
        try:
            while True:
                yield np.zeros((2, 2, 3), np.uint8)
        finally:
            self.log.append("generator closed")


def test_hooks_fire_in_order() -> None:
    model = Recorder()
    with ModelHarness(model) as h:
        h.connect(5)
        h.frames(2)
        h.command("poke")
        h.upload(b"abc", "a.bin")
        h.disconnect(5)
    assert model.log == [
        "session_start",
        "connected 5 (1)",
        "poke",
        "file a.bin 3",
        "disconnected 5 (0)",
        "generator closed",
        "session_end",
    ]


def test_outputs_are_converted_or_refused() -> None:
    from openreactor.models.outputs import OutputError, to_frames

    assert to_frames(None) == [None]
    chunk = np.zeros((3, 4, 5, 3), np.uint8)
    assert [f.shape for f in to_frames(chunk) if f is not None] == [(4, 5, 3)] * 3
    (grey,) = to_frames(np.full((3, 2, 2), 0.5, np.float32))  # float channels-first
    assert grey is not None and grey.shape == (2, 2, 3) and grey.dtype == np.uint8 and grey[0, 0, 0] == 128
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.int32), [1, 2, 3]):
        with pytest.raises(OutputError):
            to_frames(bad)
