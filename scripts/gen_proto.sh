#!/usr/bin/env bash
# Regenerate src/reactor_protocol/_reactor_pb2.py and _reactor_pb2.pyi from reactor.proto.
#
# protoc comes from grpcio-tools 1.67.1 (protoc 27.2) in a throwaway tool venv, not from the
# project venv: the generated module's runtime guard then asserts protobuf >= 5.27.2, which every
# runtime allowed by pyproject's `protobuf>=5.28` satisfies. A newer protoc would raise that floor.
# The .pyi stub comes from mypy-protobuf's protoc-gen-mypy (project venv, or PATH).
#
# Usage: scripts/gen_proto.sh      (env: PROTOGEN_VENV overrides the tool venv's location)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$repo/src/reactor_protocol"
tools="${PROTOGEN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/openreactor-protogen}"
grpcio_tools_version="1.67.1"
expected_protoc="libprotoc 27.2"

if [[ ! -x "$tools/bin/python" ]]; then
    python3 -m venv "$tools"
fi
if ! "$tools/bin/python" -m grpc_tools.protoc --version 2>/dev/null | grep -qx "$expected_protoc"; then
    "$tools/bin/pip" install --quiet "grpcio-tools==$grpcio_tools_version"
fi
actual="$("$tools/bin/python" -m grpc_tools.protoc --version)"
if [[ "$actual" != "$expected_protoc" ]]; then
    echo "gen_proto: expected $expected_protoc, got $actual" >&2
    exit 1
fi

plugin="$repo/.venv/bin/protoc-gen-mypy"
if [[ ! -x "$plugin" ]]; then
    plugin="$(command -v protoc-gen-mypy || true)"
fi
if [[ -z "$plugin" ]]; then
    echo "gen_proto: protoc-gen-mypy not found (pip install mypy-protobuf)" >&2
    exit 1
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$tools/bin/python" -m grpc_tools.protoc \
    -I "$pkg" \
    --plugin=protoc-gen-mypy="$plugin" \
    --python_out="$out" \
    --mypy_out="$out" \
    "$pkg/reactor.proto"

# The module is private (`_reactor_pb2`); keep the generated classes' __module__ in step with it.
sed -e "s/'reactor_pb2'/'reactor_protocol._reactor_pb2'/" "$out/reactor_pb2.py" > "$pkg/_reactor_pb2.py"
cp "$out/reactor_pb2.pyi" "$pkg/_reactor_pb2.pyi"
echo "gen_proto: wrote $pkg/_reactor_pb2.py and $pkg/_reactor_pb2.pyi ($actual)"
