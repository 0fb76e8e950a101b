"""Typed model SDKs generated from a model's OpenAPI document (SDK-API §1.5).

``openreactor codegen python --model NAME [--api-url URL | --schema FILE] [--out FILE]``
"""

from openreactor.codegen.python import CodegenError, generate_python, reserved_names

__all__ = ["CodegenError", "generate_python", "reserved_names"]
