"""``openreactor codegen python --model NAME [--api-url URL | --schema FILE] [--out FILE]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from openreactor.codegen.python import CodegenError, generate_python


def add_parser(sub: Any) -> None:
    """Register the ``codegen`` subcommand on ``openreactor``'s subparsers."""
    codegen = sub.add_parser("codegen", help="generate a typed client for a model from its schema")
    codegen.add_argument("language", choices=["python"], help="the SDK to generate for")
    codegen.add_argument("--model", help="model name (also: a built-in model to read the schema from)")
    source = codegen.add_mutually_exclusive_group()
    source.add_argument("--api-url", metavar="URL", help="read GET {URL}/schema from a running server")
    source.add_argument("--schema", type=Path, metavar="FILE", help="read the OpenAPI document from a file")
    codegen.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    codegen.add_argument("--class-name", help="name of the generated class (default: <Model>Model)")


def _load(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if args.schema is not None:
        return json.loads(args.schema.read_text()), str(args.schema)
    if args.api_url is not None:
        import httpx

        url = args.api_url.rstrip("/") + "/schema"
        response = httpx.get(url, timeout=15.0)
        response.raise_for_status()
        return response.json(), url
    if not args.model:
        raise CodegenError("give --model NAME (a built-in model) or --schema FILE or --api-url URL")
    from openreactor.models.loader import load_model
    from openreactor.models.schema import openapi_document

    return openapi_document(load_model(args.model, {})), f"model {args.model}"


def run(args: argparse.Namespace) -> int:
    try:
        doc, source = _load(args)
        code = generate_python(doc, model_name=args.model, class_name=args.class_name, source=source)
    except (CodegenError, OSError, ValueError) as exc:
        print(f"openreactor codegen: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # network errors, a model that will not load, …
        print(f"openreactor codegen: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(code)
    else:
        args.out.write_text(code)
    return 0
