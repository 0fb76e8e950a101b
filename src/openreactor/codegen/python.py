"""Generate a typed Python client class for one model from its OpenAPI 3.1 document.

The output subclasses ``reactor_sdk.Reactor``; every generated method is one ``send_command``
call (SDK-API §1.5)::

    class ProbeModel(Reactor):
        MODEL_NAME: Final = "probe"
        TRACKS: Final = (("main_video", "video", "recvonly"),)

        async def set_value(self, *, value: int) -> None:
            await self.send_command("set_value", _drop_unset({"value": value}))

Rules: command names are kept (made identifiers; a clash with the SDK's public surface gets a
``_command`` suffix); arguments are keyword-only; optional arguments default to ``UNSET`` and
are omitted from the wire so the model's default applies; ``enum`` becomes ``Literal``; upload
references become ``FileRef``; a declared reply is returned as a dataclass; each webhook
message gets a dataclass and an ``on_<message>`` decorator; the header records the provenance.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

UPLOAD_FORMAT = "reactor-upload-reference"
UPLOAD_COMPONENT = "ReactorUploadReference"
_REF_PREFIX = "#/components/schemas/"
_DIRECTIONS = {"out": "recvonly", "in": "sendonly", "recvonly": "recvonly", "sendonly": "sendonly"}
_HELPER_NAMES = {"MODEL_NAME", "TRACKS", "SCHEMA_VERSION"}
_MODULE_NAMES = {
    "Any",
    "Awaitable",
    "Callable",
    "DEFAULT_API_URL",
    "DecodeError",
    "FileRef",
    "Final",
    "Literal",
    "Mapping",
    "Reactor",
    "TypeVar",
    "UNSET",
    "Unset",
    "dataclass",
}


class CodegenError(ValueError):
    """The document cannot be turned into a client (not OpenAPI, broken ``$ref``, …)."""


def reserved_names() -> frozenset[str]:
    """Names a generated member must not take: the installed SDK's public ``Reactor`` surface
    (class members and instance attributes) and the generated class's own constants."""
    from reactor_sdk import Reactor

    names = {n for n in dir(Reactor) if not n.startswith("_")}
    names |= {n for n in vars(Reactor("codegen", local=True)) if not n.startswith("_")}
    return frozenset(names | _HELPER_NAMES)


# ----------------------------------------------------------------------------------------------
# names


def identifier(name: str) -> str:
    """``name`` as a Python identifier: other characters become ``_``; keywords get ``_``."""
    out = re.sub(r"\W", "_", name, flags=re.ASCII)
    if not out or out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out) or keyword.issoftkeyword(out):
        out += "_"
    return out


def camel(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts)
    if not out or out[0].isdigit():
        out = "M" + out
    return out


def class_name_for(model_name: str) -> str:
    """``acme/vista`` → ``VistaModel``; ``probe`` → ``ProbeModel``."""
    return camel(model_name.rsplit("/", 1)[-1]) + "Model"


def _doc(text: str, indent: str) -> str:
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if not text:
        return ""
    lines = text.splitlines()
    if len(lines) == 1 and not text.endswith('"'):
        return f'{indent}"""{text}"""\n'
    rest = "\n".join((indent + line) if line.strip() else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{rest}\n{indent}"""\n'


# ----------------------------------------------------------------------------------------------
# schema → types


@dataclass
class _Field:
    wire: str
    attr: str
    annotation: str
    required: bool
    integer: bool
    doc: str


@dataclass
class _Record:
    name: str
    wire_type: str | None
    fields: list[_Field]
    doc: str


@dataclass
class _Command:
    wire: str
    method: str
    params: list[_Field]
    doc: str
    reply: str | None


@dataclass
class _Model:
    model_name: str
    version: str
    tracks: list[tuple[str, str, str]]
    commands: list[_Command] = field(default_factory=list)
    records: dict[str, _Record] = field(default_factory=dict)
    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (wire, decorator, record)


class _Types:
    def __init__(self, components: Mapping[str, Any]) -> None:
        self.components = components
        self.uses_literal = False

    def resolve(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        if not isinstance(schema, Mapping):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if depth > 32:
                raise CodegenError(f"$ref cycle at {ref}")
            if not ref.startswith(_REF_PREFIX) or ref[len(_REF_PREFIX) :] not in self.components:
                raise CodegenError(f"unresolvable $ref {ref!r}")
            target = self.resolve(self.components[ref[len(_REF_PREFIX) :]], depth + 1)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return {**target, **rest, "x-ref": ref[len(_REF_PREFIX) :]}
        return dict(schema)

    @staticmethod
    def is_upload(schema: Mapping[str, Any]) -> bool:
        return schema.get("format") == UPLOAD_FORMAT or schema.get("x-ref") == UPLOAD_COMPONENT

    def is_integer(self, schema: Any) -> bool:
        s = self.resolve(schema)
        return s.get("type") == "integer" or (
            isinstance(s.get("type"), list) and "integer" in s["type"] and "number" not in s["type"]
        )

    def annotation(self, schema: Any, *, files: bool) -> str:
        """The Python type of a JSON schema. ``files``: upload references become ``FileRef``
        (command arguments) rather than their wire object (messages)."""
        s = self.resolve(schema)
        if not s:
            return "Any"
        if self.is_upload(s):
            return "FileRef" if files else "dict[str, Any]"
        if "const" in s:
            return self._literal([s["const"]])
        if isinstance(s.get("enum"), list) and s["enum"]:
            return self._literal(s["enum"])
        for key in ("anyOf", "oneOf"):
            options = s.get(key)
            if isinstance(options, list) and options:
                return _union(self.annotation(o, files=files) for o in options)
        kind = s.get("type")
        if isinstance(kind, list):
            return _union(self.annotation({**s, "type": k}, files=files) for k in kind)
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "string":
            return "str"
        if kind == "boolean":
            return "bool"
        if kind == "null":
            return "None"
        if kind == "array":
            items = s.get("items")
            return f"list[{self.annotation(items, files=files) if items else 'Any'}]"
        if kind == "object":
            return "dict[str, Any]"
        return "Any"

    def _literal(self, values: list[Any]) -> str:
        literal = [
            v
            for v in values
            if v is not None and isinstance(v, str | int | bool) and not isinstance(v, float)
        ]
        parts = []
        if literal:
            self.uses_literal = True
            parts.append(
                "Literal[" + ", ".join(_q(v) if isinstance(v, str) else repr(v) for v in literal) + "]"
            )
        if any(v is None for v in values):
            parts.append("None")
        if any(isinstance(v, float) for v in values):
            parts.append("float")
        return _union(parts) if parts else "Any"

    def fields(self, schema: Any, *, files: bool, taken: Iterable[str] = ()) -> list[_Field]:
        s = self.resolve(schema)
        props = s.get("properties") or {}
        if not isinstance(props, Mapping):
            raise CodegenError("'properties' must be an object")
        required = set(s.get("required") or ())
        used = set(taken)
        out: list[_Field] = []
        for wire, sub in props.items():
            attr = identifier(str(wire))
            while attr in used:
                attr += "_"
            used.add(attr)
            resolved = self.resolve(sub)
            out.append(
                _Field(
                    wire=str(wire),
                    attr=attr,
                    annotation=self.annotation(sub, files=files),
                    required=wire in required,
                    integer=self.is_integer(sub),
                    doc=_constraint_doc(resolved),
                )
            )
        return out


def _q(value: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(value, ensure_ascii=False)


def _union(parts: Iterable[str]) -> str:
    seen: list[str] = []
    for part in parts:
        for piece in _split_union(part):
            if piece not in seen:
                seen.append(piece)
    if "Any" in seen:
        return "Any"
    if "None" in seen:  # None last reads best: ``int | None``
        seen = [p for p in seen if p != "None"] + ["None"]
    return " | ".join(seen) if seen else "Any"


def _split_union(annotation: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(annotation):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(annotation[start:i].strip())
            start = i + 1
    out.append(annotation[start:].strip())
    return [p for p in out if p]


_CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "default",
)


def _constraint_doc(schema: Mapping[str, Any]) -> str:
    text = str(schema.get("description") or "").strip()
    hints = [f"{_snake(k)}={schema[k]!r}" for k in _CONSTRAINTS if k in schema]
    if hints:
        text = f"{text} ({', '.join(hints)})" if text else f"({', '.join(hints)})"
    return text


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _json_schema_of(operation: Mapping[str, Any], key: str = "requestBody") -> Any:
    body = operation.get(key)
    if not isinstance(body, Mapping):
        return None
    content = body.get("content")
    if not isinstance(content, Mapping):
        return None
    media = content.get("application/json")
    return media.get("schema") if isinstance(media, Mapping) else None


# ----------------------------------------------------------------------------------------------
# document → model description


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _analyse(doc: Mapping[str, Any], model_name: str | None) -> tuple[_Model, _Types]:
    if not isinstance(doc, Mapping) or not str(doc.get("openapi", "")).startswith("3."):
        raise CodegenError("not an OpenAPI 3.x document (no 'openapi: 3.x' field)")
    info = _mapping(doc.get("info"))
    name = model_name or str(info.get("title") or "")
    if not name:
        raise CodegenError("no model name: pass --model or give the document an info.title")
    components = _mapping(_mapping(doc.get("components")).get("schemas"))
    types = _Types(components)
    x_reactor = _mapping(doc.get("x-reactor"))
    tracks = []
    for t in x_reactor.get("tracks") or []:
        if isinstance(t, Mapping) and t.get("direction") in _DIRECTIONS:
            tracks.append((str(t.get("name")), str(t.get("kind", "video")), _DIRECTIONS[t["direction"]]))
    model = _Model(name, str(info.get("version") or ""), tracks)

    reserved = set(reserved_names())
    taken: set[str] = set()

    def member(base: str, suffix: str) -> str:
        out = base if base not in reserved and base not in taken else base + suffix
        while out in reserved or out in taken:
            out += "_"
        taken.add(out)
        return out

    record_names: set[str] = set(_MODULE_NAMES)

    def record_for(schema: Any, fallback: str, wire_type: str | None, suffix: str) -> str:
        resolved = types.resolve(schema)
        base = camel(resolved["x-ref"]) if resolved.get("x-ref") else camel(fallback) + suffix
        for existing in model.records.values():
            if existing.name == base or (resolved.get("x-ref") and existing.name == camel(resolved["x-ref"])):
                if wire_type and existing.wire_type is None:
                    existing.wire_type = wire_type
                return existing.name
        name = base
        while name in record_names or name == class_name_for(model.model_name):
            name += "Message"
        record_names.add(name)
        doc_text = str(resolved.get("description") or resolved.get("title") or "")
        model.records[name] = _Record(name, wire_type, types.fields(resolved, files=False), doc_text)
        return name

    # Messages first: a reply that is also a message shares its dataclass.
    webhooks = doc.get("webhooks") or {}
    for wire_type, item in webhooks.items():
        operation = item.get("post") if isinstance(item, Mapping) else None
        if not isinstance(operation, Mapping):
            continue
        record = record_for(_json_schema_of(operation) or {}, str(wire_type), str(wire_type), "Message")
        model.records[record].doc = model.records[record].doc or str(operation.get("summary") or "")
        decorator = member(f"on_{identifier(str(wire_type))}".replace("__", "_"), "_message")
        model.messages.append((str(wire_type), decorator, record))

    paths = doc.get("paths") or {}
    for path, item in paths.items():
        if not str(path).startswith("/events/") or not isinstance(item, Mapping):
            continue
        operation = item.get("post")
        if not isinstance(operation, Mapping):
            continue
        wire = str(path)[len("/events/") :]
        schema = _json_schema_of(operation) or {}
        params = types.fields(schema, files=True, taken={"self"})
        reply = None
        responses = operation.get("responses") or {}
        ok = responses.get("200") if isinstance(responses, Mapping) else None
        if isinstance(ok, Mapping):
            reply_schema = _json_schema_of({"reply": ok}, "reply")
            if reply_schema:
                reply = record_for(reply_schema, wire, None, "Reply")
        text = str(operation.get("description") or operation.get("summary") or "").strip()
        model.commands.append(_Command(wire, member(identifier(wire), "_command"), params, text, reply))
    return model, types


# ----------------------------------------------------------------------------------------------
# rendering


def _render_record(record: _Record) -> str:
    lines = ["@dataclass(frozen=True)", f"class {record.name}:"]
    doc = record.doc or (f'The "{record.wire_type}" message.' if record.wire_type else "")
    if record.wire_type:
        doc = f'{doc}\n\nWire type: "{record.wire_type}".' if doc and record.wire_type not in doc else doc
    body = _doc(doc, "    ")
    if body:
        lines.append(body.rstrip("\n"))
        lines.append("")
    ordered = [f for f in record.fields if f.required] + [f for f in record.fields if not f.required]
    for f in ordered:
        annotation = f.annotation if f.required else _union([f.annotation, "None"])
        lines.append(f"    {f.attr}: {annotation}" + ("" if f.required else " = None"))
        if f.doc:
            lines.append(_doc(f.doc, "    ").rstrip("\n"))
    lines += [
        "",
        "    @classmethod",
        f"    def from_data(cls, data: Mapping[str, Any] | None) -> {record.name}:",
        '        """Build from a message\'s ``data`` (numbers declared integer become ``int``)."""',
        "        data = data or {}",
        "        return cls(",
    ]
    for f in ordered:
        getter = f"data[{_q(f.wire)}]" if f.required else f"data.get({_q(f.wire)})"
        value = f"_int({getter})" if f.integer else getter
        lines.append(f"            {f.attr}={value},")
    lines.append("        )")
    return "\n".join(lines) + "\n"


def _render_command(cmd: _Command) -> str:
    args = ["self"]
    if cmd.params:
        args.append("*")
        for p in cmd.params:
            if p.required:
                args.append(f"{p.attr}: {p.annotation}")
            else:
                args.append(f"{p.attr}: {_union([p.annotation, 'Unset'])} = UNSET")
    ret = cmd.reply or "None"
    head = f"    async def {cmd.method}({', '.join(args)}) -> {ret}:"
    if len(head) > 100:
        head = (
            f"    async def {cmd.method}(\n" + "".join(f"        {a},\n" for a in args) + f"    ) -> {ret}:"
        )
    doc_lines = [cmd.doc] if cmd.doc else [f"Send the {cmd.wire!r} command."]
    documented = [p for p in cmd.params if p.doc]
    if documented:
        doc_lines.append("")
        doc_lines += [f"{p.attr}: {p.doc}" for p in documented]
    doc_lines.append("")
    doc_lines.append(f"Sends ``send_command({cmd.wire!r}, …)``; arguments left out are not sent.")
    body = _doc("\n".join(doc_lines), "        ")
    payload = "{" + ", ".join(f"{_q(p.wire)}: {p.attr}" for p in cmd.params) + "}"
    data = f"_drop_unset({payload})" if any(not p.required for p in cmd.params) else payload
    call = f"self.send_command({_q(cmd.wire)}, {data})"
    if len(call) > 70 and cmd.params:
        drop = any(not p.required for p in cmd.params)
        pad = " " * (20 if drop else 16)
        entries = "".join(f"{pad}{_q(p.wire)}: {p.attr},\n" for p in cmd.params)
        if drop:
            arg = f"_drop_unset(\n                {{\n{entries}                }}\n            )"
        else:
            arg = f"{{\n{entries}            }}"
        call = f"self.send_command(\n            {_q(cmd.wire)},\n            {arg},\n        )"
    if cmd.reply is None:
        code = f"        await {call}\n"
    else:
        code = (
            f"        reply = await {call}\n"
            "        if reply is None:\n"
            f"            raise DecodeError({_q('command ' + repr(cmd.wire) + ' returned no reply')}, "
            'operation="send_command")\n'
            f'        return {cmd.reply}.from_data(reply.get("data"))\n'
        )
    return head + "\n" + body + code


def _render_message_decorator(wire: str, decorator: str, record: str) -> str:
    return (
        f"    def {decorator}(self, handler: _H) -> _H:\n"
        f'        """Decorator: calls ``handler({record})`` for every {wire!r} message (sync or\n'
        '        ``async def``). Returns the handler unchanged."""\n\n'
        "        def _dispatch(message: dict[str, Any]) -> Any:\n"
        f'            if message.get("type") == {_q(wire)}:\n'
        f'                return handler({record}.from_data(message.get("data")))\n'
        "            return None\n\n"
        '        self.on("message", _dispatch)\n'
        "        return handler\n"
    )


def generate_python(
    doc: Mapping[str, Any],
    *,
    model_name: str | None = None,
    class_name: str | None = None,
    source: str | None = None,
) -> str:
    """The source of a module holding a typed client class for the model described by ``doc``."""
    from reactor_sdk import __version__ as sdk_version

    model, types = _analyse(doc, model_name)
    cls = class_name or class_name_for(model.model_name)
    if not cls.isidentifier() or keyword.iskeyword(cls):
        raise CodegenError(f"invalid class name {cls!r}")
    has_reply = any(c.reply for c in model.commands)
    uses_int = any(f.integer for r in model.records.values() for f in r.fields)

    blocks: list[str] = []
    blocks.append(
        f'"""Typed client for the model {model.model_name!r}.\n\n'
        "Generated by ``openreactor codegen python``. Do not edit: regenerate instead.\n\n"
        f"- model: {model.model_name}\n"
        f"- schema version: {model.version or 'unknown'}\n"
        f"- generated against: reactor_sdk {sdk_version}\n"
        + (f"- source: {source}\n" if source else "")
        + '"""\n\n'
        "from __future__ import annotations\n"
    )
    typing_names = ["Any", "Final"]
    if types.uses_literal:
        typing_names.append("Literal")
    if model.messages:
        typing_names.append("TypeVar")
    abc_names = ["Callable", "Mapping"] if model.messages else ["Mapping"]
    imports = [f"from collections.abc import {', '.join(abc_names)}"]
    if model.records:
        imports.append("from dataclasses import dataclass")
    imports.append(f"from typing import {', '.join(sorted(typing_names))}")
    sdk_names = ["DEFAULT_API_URL", "FileRef", "Reactor"] + (["DecodeError"] if has_reply else [])
    blocks.append("\n".join(imports) + "\n\n" + f"from reactor_sdk import {', '.join(sorted(sdk_names))}\n")
    names = sorted([cls, *model.records, "UNSET", "Unset"])
    header = "__all__ = [" + ", ".join(_q(n) for n in names) + "]\n"
    if model.messages:
        header += '\n_H = TypeVar("_H", bound=Callable[..., Any])\n'
    blocks.append(header)
    out: list[str] = ["\n".join(blocks)]
    out.append(
        "\n\nclass Unset:\n"
        '    """The type of :data:`UNSET`: an argument left out (the model\'s default applies)."""\n\n'
        "    _instance: Unset | None = None\n\n"
        "    def __new__(cls) -> Unset:\n"
        "        if cls._instance is None:\n"
        "            cls._instance = super().__new__(cls)\n"
        "        return cls._instance\n\n"
        "    def __repr__(self) -> str:\n"
        '        return "UNSET"\n\n'
        "    def __bool__(self) -> bool:\n"
        "        return False\n\n\n"
        "UNSET: Final = Unset()\n\n\n"
        "def _drop_unset(data: dict[str, Any]) -> dict[str, Any]:\n"
        "    return {key: value for key, value in data.items() if not isinstance(value, Unset)}\n"
    )
    if uses_int:
        out.append(
            "\n\ndef _int(value: Any) -> Any:\n"
            '    """The wire carries every number as a double: ``3.0`` → ``3`` where the schema says integer."""\n'
            "    if isinstance(value, float) and value.is_integer():\n"
            "        return int(value)\n"
            "    if isinstance(value, list):\n"
            "        return [_int(item) for item in value]\n"
            "    return value\n"
        )
    for record in model.records.values():
        out.append("\n\n" + _render_record(record))

    body = [f"class {cls}(Reactor):"]
    description = str((doc.get("info") or {}).get("description") or "").strip()
    class_doc = (description + "\n\n" if description else "") + (
        f"A ``Reactor`` bound to the model {model.model_name!r}, with one typed method per command."
    )
    body.append(_doc(class_doc, "    ").rstrip("\n"))
    body.append("")
    body.append(f"    MODEL_NAME: Final = {_q(model.model_name)}")
    body.append(f"    SCHEMA_VERSION: Final = {_q(model.version)}")
    if len(model.tracks) > 1:
        tracks = (
            "(\n" + "".join(f"        ({_q(n)}, {_q(k)}, {_q(d)}),\n" for n, k, d in model.tracks) + "    )"
        )
    else:
        tracks = "(" + "".join(f"({_q(n)}, {_q(k)}, {_q(d)})," for n, k, d in model.tracks) + ")"
    body.append(f"    TRACKS: Final = {tracks}")
    body.append('    """Declared tracks as ``(name, kind, direction)``, named from the client\'s side."""')
    body.append("")
    body.append(
        "    def __init__(\n"
        "        self,\n"
        "        api_key: str | None = None,\n"
        "        api_url: str = DEFAULT_API_URL,\n"
        "        local: bool = False,\n"
        "        **kw: Any,\n"
        "    ) -> None:\n"
        "        super().__init__(self.MODEL_NAME, api_key, api_url, local, **kw)"
    )
    for cmd in model.commands:
        body.append("\n" + _render_command(cmd).rstrip("\n"))
    for wire, decorator, record_name in model.messages:
        body.append("\n" + _render_message_decorator(wire, decorator, record_name).rstrip("\n"))
    out.append("\n\n" + "\n".join(body) + "\n")
    return "".join(out).rstrip("\n") + "\n"
